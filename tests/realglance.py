"""A real Glance 33 API on loopback, for the push/pull tests.

``glance==33.0.0`` and gunicorn are installed once into a virtual environment
cached outside the repository (``$XDG_CACHE_HOME/glancectl-test/glance-33.0.0``),
built in a temp directory under a file lock and renamed into place only when
complete, so two pytest processes never both build it and a killed build is
never mistaken for a finished one. The server runs Glance's stock
``unauthenticated-context`` pipeline (no Keystone) with sqlite and a file
store; openstacksdk reaches it with ``auth_type: none`` and an endpoint.

Run as a script to warm the cache: ``python3 -m tests.realglance``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

GLANCE_VERSION = "33.0.0"
INSTALL_TIMEOUT = 1800  # about 100 packages; minutes on a busy 2-core machine
START_TIMEOUT = 120
TAG_QUOTA = 3  # small, so a remote quota refusal is cheap to provoke


class Unavailable(Exception):
    """The server could not be installed or started (the reason is the message)."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "glancectl-test"


def venv_path(version: str = GLANCE_VERSION) -> Path:
    return cache_root() / f"glance-{version}"


def ensure_venv(version: str = GLANCE_VERSION) -> Path:
    """The cached virtualenv with glance and gunicorn, built once."""
    final = venv_path(version)
    if (final / "bin" / "python").exists():
        return final
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"glance-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest may be building it
        if (final / "bin" / "python").exists():
            return final
        building = root / f"glance-{version}.tmp"
        shutil.rmtree(building, ignore_errors=True)  # what a killed build left
        try:
            subprocess.run([sys.executable, "-m", "venv", str(building)], check=True,
                           capture_output=True, timeout=300)
            subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q",
                            f"glance=={version}", "gunicorn"],
                           check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            tail = getattr(exc, "stderr", b"") or b""
            raise Unavailable(f"could not install glance=={version}: {exc} "
                              f"{tail.decode(errors='replace')[-500:]}") from exc
        # The scripts' shebangs name the build path, so the server is always run
        # as `<venv>/bin/python -m ...`, which works from the final path.
        os.rename(building, final)
        return final


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF = """\
[DEFAULT]
enabled_backends = file:file, http:http
worker_self_reference_url = http://127.0.0.1:{port}
enabled_import_methods = [glance-direct,web-download,copy-image]
image_tag_quota = {tag_quota}
log_file = {root}/glance-api.log

[database]
connection = sqlite:///{root}/glance.sqlite?timeout=30

[glance_store]
default_backend = file

[file]
filesystem_store_datadir = {root}/images

[os_glance_staging_store]
filesystem_store_datadir = {root}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {root}/tasks

[oslo_concurrency]
lock_path = {root}/locks

[import_filtering_opts]
allowed_hosts = [127.0.0.1]

[oslo_policy]
# The unauthenticated context is admin but has no roles; Glance 33's new
# policy defaults want role:admin, so they would refuse every call.
enforce_new_defaults = false
enforce_scope = false
"""


# Glance's stock unauthenticated context has no project, and Glance 33 cannot
# record an import task without an owner ("NOT NULL constraint failed:
# tasks.owner"), so stage + import would always fail. This is the stock filter
# with a fixed project: still no Keystone, and every caller is admin.
CONTEXT_FILTER = """\
import glance.context
from glance.api.middleware.context import UnauthenticatedContextMiddleware


class ProjectContext(UnauthenticatedContextMiddleware):
    def process_request(self, req):
        req.context = glance.context.RequestContext(
            user_id="glancectl-test", project_id="glancectl-test", roles=["admin"], is_admin=True)
"""


@dataclass
class GlanceServer:
    """One running Glance API; ``cloud`` is a clouds.yaml entry that reaches it."""

    endpoint: str
    root: Path
    process: subprocess.Popen

    @property
    def cloud(self) -> dict:
        return {"auth_type": "none", "auth": {"endpoint": self.endpoint}}

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.root / "glance-api.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(root: Path, *, tag_quota: int = TAG_QUOTA, version: str = GLANCE_VERSION,
          workers: int = 1) -> GlanceServer:
    """Configure, migrate and start Glance under ``root``; raises Unavailable."""
    venv = ensure_venv(version)
    python = str(venv / "bin" / "python")
    port = free_port()
    for sub in ("images", "staging", "tasks", "locks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "glance-api.conf"
    conf.write_text(CONF.format(port=port, root=root, tag_quota=tag_quota))
    paste = (venv / "etc" / "glance" / "glance-api-paste.ini").read_text()
    stock = "glance.api.middleware.context:UnauthenticatedContextMiddleware.factory"
    if stock not in paste:
        raise Unavailable(f"Glance {version}'s paste file has no unauthenticated context filter")
    (root / "glance-api-paste.ini").write_text(
        paste.replace(stock, "glancectl_test_context:ProjectContext.factory"))
    (root / "glancectl_test_context.py").write_text(CONTEXT_FILTER)
    env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(root), "PYTHONPATH": str(root)}
    try:
        subprocess.run([python, "-m", "glance.cmd.manage", "--config-file", str(conf), "db_sync"],
                       check=True, capture_output=True, env=env, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"glance-manage db_sync failed: {exc} "
                          f"{(getattr(exc, 'stderr', b'') or b'').decode(errors='replace')[-500:]}")
    log = open(root / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [python, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--threads", "8", "--timeout", "600", "glance.wsgi.api:application"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    log.close()
    server = GlanceServer(f"http://127.0.0.1:{port}", root, process)
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while True:
        if process.poll() is not None:
            raise Unavailable(f"gunicorn exited with {process.returncode}: "
                              + (root / "gunicorn.log").read_text(errors="replace")[-1500:])
        try:
            with urllib.request.urlopen(f"{server.endpoint}/v2/images", timeout=5) as reply:
                if reply.status == 200:
                    return server
        except OSError as exc:
            last = exc
        if time.monotonic() > deadline:
            server.stop()
            raise Unavailable(f"Glance did not answer within {START_TIMEOUT} s ({last}): "
                              f"{server.log_tail()}")
        time.sleep(0.5)



@pytest.fixture(scope="session")
def real_glance(tmp_path_factory):
    """A real Glance for the whole session; skipped (failed under CI=true) when unavailable."""
    try:
        server = start(tmp_path_factory.mktemp("glance"))
    except Unavailable as exc:
        reason = f"a real Glance {GLANCE_VERSION} could not be installed or started: {exc}"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield server
    server.stop()


if __name__ == "__main__":
    print(ensure_venv())
