"""A real ``glancectl serve`` on a free loopback port, for tests that drive real clients.

    from tests.glanceserver import glance_server  # noqa: F401  (registers the fixture)

    def test_list(glance_server):
        glance_server.get("/v2/images").json()

The fixture is module-scoped (one server and one store home per test module,
so tests use unique names); ``start_server`` starts one for a test of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.conftest import LAUNCHER

START_TIMEOUT = 30.0


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    home: Path
    env: dict = field(default_factory=dict)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        # As openstacksdk asks; without it errors come as webob's HTML page, as from Glance.
        kwargs["headers"] = {"Accept": "application/json", **(kwargs.get("headers") or {})}
        return requests.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def create(self, **body) -> dict:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        response = self.request("POST", "/v2/images", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, image_id: str, data: bytes) -> requests.Response:
        return self.request("PUT", f"/v2/images/{image_id}/file", data=data,
                            headers={"Content-Type": "application/octet-stream"})

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read().decode()


def server_env(home: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLANCECTL_", "OS_"))}
    env.update({"GLANCECTL_HOME": str(home)}, **(extra or {}))
    for name in ("no_proxy", "NO_PROXY"):  # web-download workers fetch from loopback servers
        env[name] = ",".join(filter(None, (env.get(name), "127.0.0.1", "localhost")))
    return env


def start_server(home: Path, *args: str, env: dict | None = None) -> Server:
    full_env = server_env(home, env)
    proc = subprocess.Popen([sys.executable, str(LAUNCHER), "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    deadline = time.monotonic() + START_TIMEOUT
    url = proc.stdout.readline().decode().strip()  # the endpoint, printed once listening
    if not url.startswith("http://"):
        proc.kill()
        raise AssertionError(f"serve did not start: {url!r} {proc.stderr.read().decode()}")
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/versions", timeout=5)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return Server(proc, url, home, full_env)


@pytest.fixture(scope="module")
def glance_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("serve") / "home")
    yield server
    code, stderr = server.stop()
    assert code == 0, stderr


@pytest.fixture(scope="module")
def sdk(glance_server):
    """An openstacksdk connection with no authentication, as the issue's clients use it."""
    import openstack

    conn = openstack.connect(auth_type="none", endpoint=glance_server.url,
                             image_endpoint_override=glance_server.url)
    yield conn
    conn.close()
