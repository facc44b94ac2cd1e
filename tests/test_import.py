"""Interoperable import through the CLI: stage, glance-direct, web-download, the import lock."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess

import pytest

from glancectl.store import Store
from tests.conftest import FORMATS, start_launcher
from tests.httpserver import http_server  # noqa: F401  (fixture)
from tests.test_tasks import closed_port_url, leftovers, wait_for

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(2 * MiB + 5)


@pytest.fixture
def blob_file(tmp_path, blob):
    path = tmp_path / "blob.raw"
    path.write_bytes(blob)
    return path


def staged(home) -> list:
    directory = home / "staging"
    return sorted(directory.iterdir()) if directory.is_dir() else []


def only_task(gctl, image_id) -> dict:
    [task] = gctl.ok("image", "tasks", image_id, "-f", "json").json()
    return task


def assert_active_with(gctl, image_id, blob):
    image = gctl.show(image_id)
    assert image["status"] == "active", image
    assert image["size"] == len(blob) == image["virtual_size"]
    assert image["checksum"] == hashlib.md5(blob).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(blob).hexdigest()
    return image


# -- stage --------------------------------------------------------------------------
def test_stage_then_glance_direct_import(gctl, home, blob, blob_file):
    image = gctl.create("direct", *FORMATS)
    after_stage = gctl.ok("image", "stage", image["id"], "--file", str(blob_file), "-f", "json").json()
    assert after_stage["status"] == "uploading" and after_stage["size"] is None
    assert staged(home) == [home / "staging" / image["id"]]
    assert (home / "staging" / image["id"]).read_bytes() == blob

    again = gctl("image", "stage", image["id"], "--file", str(blob_file))
    assert again.exit_code == 4
    assert "already has staged data (it is uploading); data can be staged only once" in again.stderr

    result = gctl("image", "import", image["id"], "--method", "glance-direct", "--wait", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["status"] == "active"
    assert_active_with(gctl, image["id"], blob)
    assert (home / "data" / image["id"]).read_bytes() == blob
    assert staged(home) == [] and leftovers(home) == []
    task = only_task(gctl, image["id"])
    assert task["type"] == "api_image_import" and task["status"] == "success"
    assert task["input"] == {"image_id": image["id"],
                             "import_req": {"method": {"name": "glance-direct"}}}
    assert task["result"] == {"image_id": image["id"]}


def test_stage_from_stdin_needs_no_formats(gctl, home, blob):
    image = gctl.create("bare-record")
    gctl.ok("image", "stage", image["id"], input=blob)
    assert gctl.show(image["id"])["status"] == "uploading"
    refused = gctl("image", "import", image["id"], "--method", "glance-direct")
    assert refused.exit_code == 4
    assert "Properties disk_format, container_format must be set prior to saving data." in refused.stderr
    assert gctl.ok("image", "tasks", image["id"], "-q").stdout == ""


@pytest.mark.parametrize("case", ["size_cap", "format_mismatch"])
def test_failed_stage_returns_to_queued_and_keeps_nothing(gctl, home, blob_file, case):
    if case == "size_cap":
        image, env, code = gctl.create("capped", *FORMATS), {"GLANCECTL_IMAGE_SIZE_CAP": "1MB"}, 6
    else:
        image = gctl.create("liar", "--disk-format", "qcow2", "--container-format", "bare")
        env, code = None, 5
    result = gctl("image", "stage", image["id"], "--file", str(blob_file), env=env)
    assert result.exit_code == code, result.stderr
    assert gctl.show(image["id"])["status"] == "queued"
    assert staged(home) == [] and leftovers(home) == []


def test_stage_refused_for_an_image_with_data(gctl, blob_file):
    image = gctl.create("full", *FORMATS, "--file", str(blob_file))
    result = gctl("image", "stage", image["id"], "--file", str(blob_file))
    assert result.exit_code == 4 and "from active to uploading is not allowed" in result.stderr


# -- import refusals ------------------------------------------------------------------
def test_import_method_rules(gctl, blob_file, http_server):
    url = http_server.add("/x.img", b"x")
    queued = gctl.create("queued", *FORMATS)
    direct = gctl("image", "import", queued["id"], "--method", "glance-direct")
    assert direct.exit_code == 4
    assert "Image needs to be staged before 'glance-direct' method can be used." in direct.stderr

    stage = gctl.create("staged", *FORMATS)
    gctl.ok("image", "stage", stage["id"], "--file", str(blob_file))
    web = gctl("image", "import", stage["id"], "--method", "web-download", "--uri", url)
    assert web.exit_code == 4
    assert "Image needs to be in 'queued' state to use 'web-download' method." in web.stderr

    for args, words in [
        (["--method", "web-download"], "needs a URI"),
        (["--method", "glance-direct", "--uri", url], "only used with the web-download method"),
        (["--method", "web-download", "--uri", "file:///etc/hostname"], "a URL starting with http:// or https://"),
        (["--method", "copy-image"], "Invalid value for '--method'"),
    ]:
        result = gctl("image", "import", queued["id"], *args)
        assert result.exit_code == 2 and words in result.stderr, (args, result.stderr)
    assert gctl("image", "import", "nothing-here", "--method", "glance-direct").exit_code == 3
    unformatted = gctl.create("no-formats")
    result = gctl("image", "import", unformatted["id"], "--method", "web-download", "--uri", url)
    assert result.exit_code == 4 and "must be set prior to saving data" in result.stderr
    for image in (queued, stage, unformatted):
        assert gctl.ok("image", "tasks", image["id"], "-q").stdout == "", "nothing was recorded"


def test_an_active_import_locks_the_image(gctl, home, blob, blob_file):
    image = gctl.create("locked", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(blob_file))
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--no-worker")
    task = only_task(gctl, image["id"])
    assert task["status"] == "pending"
    for args in (["image", "import", image["id"], "--method", "glance-direct"],
                 ["image", "upload", image["id"], "--file", str(blob_file)],
                 ["image", "stage", image["id"], "--file", str(blob_file)]):
        result = gctl(*args)
        assert result.exit_code == 4, (args, result.stderr)
        assert result.stderr.startswith("Error: Image has active task"), result.stderr
        assert task["id"] in result.stderr
    ran = gctl.ok("task", "run", "-f", "json").json()
    assert [t["status"] for t in ran] == ["success"]
    assert_active_with(gctl, image["id"], blob)
    assert "import_task" not in gctl.show(image["id"])


# -- web-download -------------------------------------------------------------------------
def test_web_download_imports_a_url(gctl, home, http_server, blob):
    url = http_server.add("/disk.img", blob)
    image = gctl.create("web", *FORMATS)
    result = gctl("image", "import", image["id"], "--method", "web-download", "--uri", url, "--wait")
    assert result.exit_code == 0, result.stderr
    assert_active_with(gctl, image["id"], blob)
    task = only_task(gctl, image["id"])
    assert task["input"]["import_req"] == {"method": {"name": "web-download", "uri": url}}
    assert task["status"] == "success" and leftovers(home) == []


@pytest.mark.parametrize("case", ["unreachable", "http_404", "size_cap", "format_mismatch"])
def test_failed_web_download_goes_back_to_queued(gctl, home, http_server, blob, case):
    env, disk_format = None, "raw"
    if case == "unreachable":
        url, code, words = closed_port_url(), 2, "could not reach"
    elif case == "http_404":
        url, code, words = http_server.url("/missing.img"), 2, "HTTP 404 Not Found"
    elif case == "size_cap":
        url = http_server.add("/big.img", blob, framing="chunked")
        env, code, words = {"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)}, 6, f"larger than {MiB} bytes"
    else:
        url, disk_format, code, words = http_server.add("/raw.img", blob), "qcow2", 5, "qcow2"
    image = gctl.create("web", "--disk-format", disk_format, "--container-format", "bare")
    result = gctl("image", "import", image["id"], "--method", "web-download", "--uri", url,
                  "--wait", "-f", "json", env=env)
    assert result.exit_code == code, result.stderr
    assert result.json()["status"] == "queued", "the image as it ended up is still printed"
    assert words in result.stderr and "import of image" in result.stderr
    task = only_task(gctl, image["id"])
    assert task["status"] == "failure" and words in task["message"]
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["size"] is None and after["locations"] == []
    assert leftovers(home) == [] and staged(home) == []
    # Nothing is left locked: the next import can go ahead.
    retry = http_server.add("/retry.img", blob)
    if case != "format_mismatch":
        gctl.ok("image", "import", image["id"], "--method", "web-download", "--uri", retry, "--wait")
        assert_active_with(gctl, image["id"], blob)


def test_failed_glance_direct_import_removes_the_staged_data(gctl, home, blob_file):
    image = gctl.create("direct", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(blob_file))
    result = gctl("image", "import", image["id"], "--method", "glance-direct", "--wait",
                  env={"GLANCECTL_IMAGE_SIZE_CAP": "1MB"})
    assert result.exit_code == 6, result.stderr
    assert gctl.show(image["id"])["status"] == "queued"
    assert staged(home) == [] and leftovers(home) == []


# -- create --import ----------------------------------------------------------------------
def test_create_with_import_in_one_step(gctl, home, http_server, blob, blob_file):
    url = http_server.add("/disk.img", blob)
    by_url = gctl("image", "create", "from-url", *FORMATS, "--import", "--uri", url, "--wait",
                  "-f", "json")
    assert by_url.exit_code == 0, by_url.stderr
    assert_active_with(gctl, by_url.json()["id"], blob)
    by_file = gctl("image", "create", "from-file", *FORMATS, "--import", "--file", str(blob_file),
                   "--wait", "-q")
    assert by_file.exit_code == 0, by_file.stderr
    assert_active_with(gctl, by_file.stdout.strip(), blob)
    by_stdin = gctl("image", "create", "from-stdin", *FORMATS, "--import", "--wait", "-q",
                    input=blob)
    assert_active_with(gctl, by_stdin.stdout.strip(), blob)
    methods = [only_task(gctl, ref)["input"]["import_req"]["method"]["name"]
               for ref in ("from-url", "from-file", "from-stdin")]
    assert methods == ["web-download", "glance-direct", "glance-direct"]
    assert staged(home) == []
    for args in (["--uri", url], ["--import", "--uri", url, "--file", str(blob_file)],
                 ["--import", "--location", url]):
        result = gctl("image", "create", "bad", *FORMATS, *args)
        assert result.exit_code == 2, (args, result.stderr)


# -- processes racing, and dying ---------------------------------------------------------------
def launch(home, *args: str) -> subprocess.Popen:
    return start_launcher(*args, home=home)


@pytest.mark.slow
def test_two_imports_racing_on_one_image_one_wins(gctl, home, http_server, blob):
    # Slow enough that the winner is still importing when the loser looks.
    url = http_server.add_slow("/slow.img", blob, chunk_size=256 * 1024, delay=0.2)
    image = gctl.create("contested", *FORMATS)
    procs = [launch(home, "image", "import", image["id"], "--method", "web-download", "--uri", url)
             for _ in range(2)]
    outcomes = sorted((p.wait(timeout=30), p.stderr.read().decode()) for p in procs)
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in outcomes] == [0, 4], outcomes
    assert outcomes[1][1].startswith("Error: Image has active task"), outcomes[1][1]
    task = only_task(gctl, image["id"])
    wait_for(lambda: gctl.ok("task", "show", task["id"], "-f", "value", "-c", "status").stdout
             .strip() == "success", "the winner's import")
    assert_active_with(gctl, image["id"], blob)


@pytest.mark.slow
def test_killed_import_worker_requeues_the_image_and_unlocks_it(gctl, home, http_server, blob):
    url = http_server.add_slow("/slow.img", blob, chunk_size=256 * 1024, delay=0.15)
    image = gctl.create("interrupted", *FORMATS)
    gctl.ok("image", "import", image["id"], "--method", "web-download", "--uri", url)
    task_id = only_task(gctl, image["id"])["id"]

    def importing():
        record = Store(home).tasks.get(task_id)
        return record if gctl.show(image["id"])["status"] == "importing" else None

    record = wait_for(importing, "the worker to start importing")
    os.kill(record["worker_pid"], signal.SIGKILL)
    wait_for(lambda: not Store(home).lease_is_live(task_id), "the lease to drop")
    # Any look at the task settles it; nobody waits for an age to pass.
    shown = gctl.ok("task", "show", task_id, "-f", "json").json()
    assert shown["status"] == "failure" and "ended before finishing" in shown["message"]
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["size"] is None
    assert leftovers(home) == [] and staged(home) == []
    gctl.ok("image", "import", image["id"], "--method", "web-download",
            "--uri", http_server.add("/fast.img", blob), "--wait")
    assert_active_with(gctl, image["id"], blob)


@pytest.mark.slow
def test_a_terminated_import_worker_fails_its_task_and_requeues_the_image(gctl, home, http_server,
                                                                          blob):
    # Long enough that the signal lands mid-stream however slow the machine is.
    url = http_server.add_slow("/slow.img", os.urandom(8 * MiB), chunk_size=64 * 1024, delay=0.1,
                               max_seconds=30)
    image = gctl.create("terminated", *FORMATS)
    proc = launch(home, "image", "import", image["id"], "--method", "web-download", "--uri", url,
                  "--wait")

    def importing():
        tasks = Store(home).tasks.all()
        found = [t for t in tasks if t.get("image_id") == image["id"] and t.get("worker_pid")]
        return found[0] if found and gctl.show(image["id"])["status"] == "importing" else None

    task = wait_for(importing, "the worker to start importing")
    os.kill(task["worker_pid"], signal.SIGTERM)  # docker stop, systemd, timeout(1)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert b"terminated (SIGTERM) before finishing" in err
    shown = gctl.ok("task", "show", task["id"], "-f", "json").json()
    assert shown["status"] == "failure" and "terminated (SIGTERM)" in shown["message"]
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["size"] is None
    assert Store(home).images.get(image["id"]).get("import_task") is None, "the image is unlocked"
    assert leftovers(home) == [] and staged(home) == []
    assert not Store(home).lease_is_live(task["id"])


@pytest.mark.slow
def test_ctrl_c_while_waiting_leaves_the_import_running(home, http_server, blob, gctl):
    url = http_server.add_slow("/slow.img", blob, chunk_size=256 * 1024, delay=0.15)
    image = gctl.create("patient", *FORMATS)
    proc = launch(home, "image", "import", image["id"], "--method", "web-download", "--uri", url,
                  "--wait")
    wait_for(lambda: gctl.show(image["id"])["status"] == "importing", "the import to start")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"stopped waiting" in err and b"carries on in the background" in err
    task_id = only_task(gctl, image["id"])["id"]
    wait_for(lambda: gctl.ok("task", "show", task_id, "-f", "value", "-c", "status").stdout
             .strip() == "success", "the import to finish on its own")
    assert_active_with(gctl, image["id"], blob)
