"""`image push` / `image pull` against a real Glance 33 on loopback (tests/realglance.py),
and the same cases against `glancectl serve` (tests/glanceserver.py), which speaks the same API.

Cases that do not depend on the far side (no cloud, bad credentials) run once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests import imagefactory
from tests.conftest import FORMATS, LAUNCHER, Glancectl, start_launcher
from tests.glanceserver import start_server
from tests.realglance import TAG_QUOTA, free_port, real_glance  # noqa: F401  (the fixture)
from tests.httpserver import http_server  # noqa: F401  (the fixture)

MiB = 1024 * 1024
SECRET = "s3cret-never-printed-" + uuid.uuid4().hex


def write_clouds(path, clouds: dict) -> str:
    path.write_text(json.dumps({"clouds": clouds}))  # YAML is a superset of JSON
    return str(path)


@pytest.fixture(scope="module", params=["glance33", "serve"])
def remote_api(request, tmp_path_factory) -> dict:
    """The clouds.yaml entry of the far side: a real Glance 33, or `glancectl serve`."""
    if request.param == "glance33":
        return request.getfixturevalue("real_glance").cloud
    server = start_server(tmp_path_factory.mktemp("serve") / "home",
                          env={"GLANCECTL_IMAGE_TAG_QUOTA": str(TAG_QUOTA)})
    request.addfinalizer(server.stop)
    return {"auth_type": "none", "auth": {"endpoint": server.url}}


def use_clouds(tmp_path, monkeypatch, loop: dict, real) -> str:
    """A clouds.yaml with `loop`, `down` and `badauth`, and none of the machine's OS_* settings."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    path = write_clouds(tmp_path / "clouds.yaml", {
        "loop": loop,
        "down": {"auth_type": "none", "auth": {"endpoint": f"http://127.0.0.1:{free_port()}"}},
        "badauth": {"auth_type": "password", "auth": {
            "auth_url": real.endpoint, "username": "nobody", "password": SECRET,
            "project_name": "p", "user_domain_name": "Default", "project_domain_name": "Default"}},
    })
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", path)
    return path


@pytest.fixture
def clouds(tmp_path, remote_api, real_glance, monkeypatch):  # noqa: F811
    return use_clouds(tmp_path, monkeypatch, remote_api, real_glance)


@pytest.fixture
def offline_clouds(tmp_path, real_glance, monkeypatch):  # noqa: F811
    """For cases where the far side does not matter: run once, not once per far side."""
    return use_clouds(tmp_path, monkeypatch, real_glance.cloud, real_glance)


@pytest.fixture
def sdk(clouds):
    import openstack

    return openstack.connect(cloud="loop")


@pytest.fixture
def other(tmp_path, monkeypatch) -> Glancectl:
    """A second, empty local store: the machine a pull brings the image to."""
    return Glancectl(tmp_path / "other-home", monkeypatch)


def remote_images(sdk, name: str) -> list:
    return [i for i in sdk.image.images(name=name)]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_round_trip_push_then_pull_keeps_bytes_metadata_and_id(gctl, other, clouds, sdk, tmp_path):
    disk = imagefactory.random_raw(tmp_path, 3 * MiB + 17)
    name = unique("round")
    local = gctl.create(name, *FORMATS, "--file", str(disk), "--visibility", "private",
                        "--min-disk", "2", "--min-ram", "64", "--property", "os_distro=cirros",
                        "--property", "owner_specified.x=y", "--tag", "gold", "--tag", "test",
                        "--protected")

    pushed = gctl.ok("image", "push", name, "--os-cloud", "loop", "-f", "json").json()

    assert pushed["id"] == local["id"]  # the ID was free remotely, so it is kept
    for field in ("name", "disk_format", "container_format", "visibility", "min_disk", "min_ram",
                  "size", "checksum", "os_hash_value", "os_distro", "owner_specified.x", "protected"):
        assert pushed[field] == local[field], field
    assert sorted(pushed["tags"]) == ["gold", "test"]
    assert pushed["status"] == "active"
    assert sdk.image.get_image(local["id"]).is_protected  # set last, after the data

    pulled = other.ok("image", "pull", local["id"], "--os-cloud", "loop", "-f", "json").json()

    assert pulled["id"] == local["id"]
    for field in ("name", "disk_format", "container_format", "visibility", "min_disk", "min_ram",
                  "size", "virtual_size", "checksum", "os_hash_value", "os_distro",
                  "owner_specified.x", "protected", "status"):
        assert pulled[field] == local[field], field
    assert sorted(pulled["tags"]) == sorted(local["tags"])
    assert not any(key.startswith("os_glance") or key == "stores" for key in pulled)
    copy = tmp_path / "copy"
    other.ok("image", "download", name, "--file", str(copy))
    assert copy.read_bytes() == disk.read_bytes()


@imagefactory.needs_qemu_img
def test_qcow2_push_by_plain_upload_agrees_on_virtual_size(gctl, other, clouds, sdk, tmp_path):
    disk = imagefactory.qcow2(tmp_path, size=16 * MiB)
    name = unique("qcow")
    local = gctl.create(name, "--disk-format", "qcow2", "--container-format", "bare",
                        "--file", str(disk))
    assert local["virtual_size"] == 16 * MiB

    pushed = gctl.ok("image", "push", local["id"], "--os-cloud", "loop", "--method", "upload",
                     "-f", "json").json()

    assert pushed["virtual_size"] == local["virtual_size"] == 16 * MiB
    assert pushed["size"] == local["size"] == disk.stat().st_size
    assert "os_glance_import_task" not in pushed  # a plain upload, not an import
    pulled = other.ok("image", "pull", name, "--os-cloud", "loop", "-f", "json").json()
    assert pulled["virtual_size"] == 16 * MiB
    assert pulled["disk_format"] == "qcow2"


def test_second_push_and_pull_send_nothing(gctl, other, clouds, sdk, tmp_path, home):
    disk = imagefactory.random_raw(tmp_path, 2 * MiB)
    name = unique("again")
    local = gctl.create(name, *FORMATS, "--file", str(disk))
    first = gctl.ok("image", "push", name, "--os-cloud", "loop", "-f", "json").json()
    # Nothing can be re-sent if the local data is gone: a re-send would fail.
    (home / "data" / local["id"]).rename(tmp_path / "moved-away")

    second = gctl.ok("image", "push", name, "--os-cloud", "loop", "-f", "json")

    assert "up to date" in second.stderr
    assert second.json()["id"] == first["id"]
    assert second.json()["updated_at"] == first["updated_at"]
    assert [i.id for i in remote_images(sdk, name)] == [first["id"]]

    pulled = other.ok("image", "pull", name, "--os-cloud", "loop", "-f", "json").json()
    data_file = other.home / "data" / pulled["id"]
    before = data_file.stat()
    again = other.ok("image", "pull", name, "--os-cloud", "loop", "-f", "json")
    assert "up to date" in again.stderr
    assert again.json() == pulled
    assert data_file.stat().st_mtime_ns == before.st_mtime_ns
    assert data_file.stat().st_ino == before.st_ino
    assert len(other.ok("image", "list", "-f", "json").json()) == 1


def test_second_push_after_a_metadata_change_sends_only_the_metadata(gctl, clouds, sdk, tmp_path,
                                                                     home):
    name = unique("changed")
    local = gctl.create(name, *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, MiB)),
                        "--property", "keep=1", "--tag", "b", "--tag", "a")
    gctl.ok("image", "push", name, "--os-cloud", "loop")
    gctl.ok("image", "set", name, "--property", "added=2", "--min-ram", "128", "--protected")
    (home / "data" / local["id"]).rename(tmp_path / "moved-away")  # proves no data is re-sent

    result = gctl.ok("image", "push", name, "--os-cloud", "loop", "-f", "json")

    assert "up to date" in result.stderr
    remote = sdk.image.get_image(local["id"])
    assert (remote.min_ram, remote.is_protected) == (128, True)
    assert remote.properties["added"] == "2" and remote.properties["keep"] == "1"
    assert sorted(remote.tags) == ["a", "b"]
    assert result.json()["added"] == "2"


def test_pull_into_a_store_where_the_id_is_taken_gets_a_new_id(gctl, other, clouds, tmp_path):
    name = unique("taken")
    local = gctl.create(name, *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, MiB)))
    gctl.ok("image", "push", name, "--os-cloud", "loop")
    other.create("squatter", "--id", local["id"])

    pulled = other.ok("image", "pull", name, "--os-cloud", "loop", "-f", "json").json()

    assert pulled["id"] != local["id"]
    assert (pulled["name"], pulled["status"], pulled["os_hash_value"]) == (
        name, "active", local["os_hash_value"])
    assert other.show(local["id"])["name"] == "squatter"  # untouched


def test_remote_quota_refusal_exits_6_and_leaves_no_remote_image(gctl, clouds, sdk, tmp_path):
    name = unique("tags")
    tags = [arg for i in range(TAG_QUOTA + 1) for arg in ("--tag", f"t{i}")]
    gctl.create(name, *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, MiB)), *tags)

    result = gctl("image", "push", name, "--os-cloud", "loop")

    assert result.exit_code == 6, result.stderr
    assert "413" in result.stderr and "tags" in result.stderr
    assert result.stdout == ""
    assert remote_images(sdk, name) == []


@pytest.mark.parametrize("status", ["queued", "deactivated"])
def test_pull_of_a_remote_image_that_is_not_active_exits_4(other, clouds, sdk, status):
    from openstack.image.v2.image import Image

    name = unique(status)
    made = Image.new(name=name, disk_format="raw", container_format="bare").create(sdk.image)
    if status == "deactivated":
        made.upload(sdk.image, data=b"x" * 4096, size=4096)
        sdk.image.deactivate_image(made)

    result = other("image", "pull", name, "--os-cloud", "loop")

    assert result.exit_code == 4, result.stderr
    assert f"Image {made.id} in cloud loop is {status}" in result.stderr
    assert not other.home.exists() or other.ok("image", "list", "-f", "json").json() == []


def test_pull_missing_remote_exits_3(other, clouds):
    result = other("image", "pull", unique("nothing-by-this-name"), "--os-cloud", "loop")
    assert result.exit_code == 3, result.stderr
    assert "exists in cloud loop" in result.stderr


def test_pull_over_the_local_size_cap_is_left_queued_and_a_retry_finishes(gctl, other, clouds,
                                                                            tmp_path):
    name = unique("capped")
    local = gctl.create(name, *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, 2 * MiB)))
    gctl.ok("image", "push", name, "--os-cloud", "loop")

    result = other("image", "pull", name, "--os-cloud", "loop",
                   env={"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)})

    assert result.exit_code == 6, result.stderr
    assert "larger than 1048576 bytes" in result.stderr
    left = other.show(local["id"])
    assert left["status"] == "queued" and left["size"] is None
    assert not (other.home / "data" / local["id"]).exists()

    retried = other.ok("image", "pull", name, "--os-cloud", "loop", "-f", "json").json()
    assert (retried["id"], retried["status"]) == (local["id"], "active")
    assert retried["os_hash_value"] == local["os_hash_value"]


def start_push(home, name, *extra):
    return start_launcher("image", "push", name, "--os-cloud", "loop", "--method", "upload",
                          *extra, home=home)


def wait_until_streaming(sdk, proc, name, source_reads, timeout=60.0):
    """The remote image the push made, once the push is reading its source.

    Glance and `glancectl serve` mark the image saving as the body arrives;
    should a server not show it, the push is interrupted after a short grace.
    """
    deadline = time.monotonic() + timeout
    streaming_since = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        found = remote_images(sdk, name)
        if streaming_since is None and found and source_reads():
            streaming_since = time.monotonic()
        if found and (found[0].status == "saving" or (
                streaming_since is not None and time.monotonic() - streaming_since > 2)):
            return found[0]
        time.sleep(0.2)
    raise AssertionError("the push never started sending data")


@pytest.mark.parametrize("keep", [False, True], ids=["cleaned-up", "keep-on-failure"])
def test_push_interrupted_mid_stream(gctl, clouds, sdk, http_server, keep):  # noqa: F811
    # The local data comes from an http location that turns slow once registered (which
    # reads it to hash it), so the push is mid-stream for minutes if need be; the signal
    # lands whenever the machine gets there.
    data = os.urandom(16 * MiB)
    url = http_server.add("/slow.raw", data)
    name = unique("interrupted")
    gctl.create(name, *FORMATS, "--location", url)
    http_server.add_slow("/slow.raw", data, delay=0.2, max_seconds=300)
    reads = len(http_server.requests)  # the registration's, before the push starts
    proc = start_push(gctl.home, name, *(["--keep-on-failure"] if keep else []))
    try:
        remote = wait_until_streaming(sdk, proc, name, lambda: len(http_server.requests) > reads)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, err
    if keep:
        assert [i.id for i in remote_images(sdk, name)] == [remote.id]
    else:
        assert [(i.id, i.status) for i in remote_images(sdk, name)] == [], err
        assert sdk.image.find_image(remote.id, ignore_missing=True) is None


def test_unreachable_endpoint_exits_9(gctl, offline_clouds, tmp_path):
    gctl.create("img", *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, 1024)))

    for args in (("image", "push", "img", "--os-cloud", "down"),
                 ("image", "pull", "img", "--os-cloud", "down")):
        result = gctl(*args)
        assert result.exit_code == 9, result.stderr
        assert "cannot use cloud down" in result.stderr
        assert glance_down_endpoint(offline_clouds) in result.stderr
        assert result.stdout == ""


def glance_down_endpoint(clouds_path) -> str:
    return json.loads(open(clouds_path).read())["clouds"]["down"]["auth"]["endpoint"]


def test_unknown_cloud_exits_9(gctl, offline_clouds):
    result = gctl("image", "pull", "x", "--os-cloud", "nowhere")
    assert result.exit_code == 9, result.stderr
    assert "nowhere" in result.stderr and "not found" in result.stderr


def test_wrong_credentials_exit_9_and_never_print_the_secret(gctl, offline_clouds, tmp_path):
    gctl.create("img", *FORMATS, "--file", str(imagefactory.random_raw(tmp_path, 1024)))

    from_clouds_yaml = gctl("--debug", "image", "push", "img", "--os-cloud", "badauth")
    from_environment = gctl("--debug", "image", "pull", "img", env={
        "OS_AUTH_URL": f"http://127.0.0.1:{free_port()}/v3", "OS_USERNAME": "nobody",
        "OS_PASSWORD": SECRET, "OS_PROJECT_NAME": "p", "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default", "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")})

    for result in (from_clouds_yaml, from_environment):
        assert result.exit_code == 9, result.stderr
        assert result.stderr.startswith("Error: ")
        assert SECRET not in result.stderr + result.stdout


def test_push_refuses_an_image_without_data(gctl, offline_clouds):
    gctl.create("empty", *FORMATS)
    result = gctl("image", "push", "empty", "--os-cloud", "loop")
    assert result.exit_code == 4, result.stderr
    assert "only an active image can be pushed" in result.stderr


def test_other_commands_do_not_import_openstacksdk():
    code = ("import sys; from glancectl.cli.main import cli\n"
            "try: cli.main(['image', '--help'], prog_name='glancectl')\n"
            "except SystemExit: pass\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('openstack', 'keystoneauth1')], 'openstacksdk was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=LAUNCHER.parent, env={**os.environ, "PYTHONPATH": "src"})
    assert proc.returncode == 0, proc.stderr
    assert "push" in proc.stdout and "pull" in proc.stdout


def test_push_without_openstacksdk_exits_69_naming_the_extra(tmp_path):
    from tests.test_launcher import without_module

    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "openstack"),
           "GLANCECTL_HOME": str(tmp_path / "h")}
    result = subprocess.run([sys.executable, str(LAUNCHER), "image", "push", "x", "--os-cloud", "c"],
                            capture_output=True, env=env)
    assert result.returncode == 69, result.stderr
    assert b"pip install -e '.[cloud]'" in result.stderr
    assert not (tmp_path / "h").exists()
