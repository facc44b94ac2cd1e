"""Shell completion through Click's protocol: what each shell receives, and what it never does."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from glancectl.cli.completion import complete_images, complete_tasks, image_candidates
from glancectl.cli.main import cli
from tests.conftest import LAUNCHER, REPO


def complete(args: list[str], incomplete: str = "") -> list:
    """Click's own completion entry point, in process: the CompletionItems a shell would get."""
    return ShellComplete(cli, {}, "glancectl", "_GLANCECTL_COMPLETE").get_completions(args, incomplete)


def values(args: list[str], incomplete: str = "") -> list[str]:
    return [item.value for item in complete(args, incomplete)]


def protocol(shell: str, home: Path, words: str, cword: int | str) -> subprocess.CompletedProcess:
    """The real executable answering a shell's Tab press (the scripts in completions/ do this)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    env.update(_GLANCECTL_COMPLETE=f"{shell}_complete", COMP_WORDS=words, COMP_CWORD=str(cword),
               GLANCECTL_HOME=str(home))
    return subprocess.run([sys.executable, str(LAUNCHER)], env=env, capture_output=True, text=True,
                          timeout=60)


def tree(path: Path) -> dict:
    """Every path below ``path`` with its size and mtime: any write shows up."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}


@pytest.fixture
def images(gctl):
    made = {
        "cirros": gctl.create("cirros", "--disk-format", "raw", "--container-format", "bare",
                              "--size", "0"),
        "centos": gctl.create("centos"),
        "dup1": gctl.create("dup"),
        "dup2": gctl.create("dup"),
        "unnamed": gctl.ok("image", "create", "-f", "json").json(),
        "gone": gctl.create("gone"),
    }
    gctl.ok("image", "delete", made["gone"]["id"])
    return made


def test_image_argument_offers_unique_names_else_ids(gctl, images, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    got = {item.value: item.help for item in complete(["image", "show"])}
    # A name only one image has completes by name; duplicates and unnamed images by ID.
    assert set(got) == {"cirros", "centos", images["dup1"]["id"], images["dup2"]["id"],
                        images["unnamed"]["id"]}
    assert got["cirros"] == f"active, {images['cirros']['id']}"
    assert got[images["dup1"]["id"]] == "dup, queued"
    assert got[images["unnamed"]["id"]] == "(no name), queued"
    assert "gone" not in got and images["gone"]["id"] not in got  # deleted images are left out


def test_typed_prefix_matches_names_and_ids(gctl, images, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    assert values(["image", "upload"], "ci") == ["cirros"]
    assert set(values(["image", "upload"], "c")) >= {"centos", "cirros"}
    image_id = images["centos"]["id"]
    assert image_id in values(["image", "set"], image_id[:6])
    assert image_id in values(["image", "set"], image_id[:6].upper())
    assert values(["image", "delete", "cirros"], "cen") == ["centos"]  # every IMAGE of delete
    assert values(["image", "location", "add"], "ci") == ["cirros"]


def test_home_option_on_the_command_line_is_used(gctl, images, tmp_path, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(tmp_path / "elsewhere"))
    assert values(["--home", str(gctl.home), "image", "show"], "ci") == ["cirros"]
    assert values(["image", "show"], "ci") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_protocol_through_the_real_executable(gctl, images, shell):
    if shell == "fish":  # fish passes the partial word itself as COMP_CWORD
        result = protocol(shell, gctl.home, "glancectl image show ci", "ci")
    else:
        result = protocol(shell, gctl.home, "glancectl image show ci", 3)
    assert result.returncode == 0 and result.stderr == ""
    help_ = f"active, {images['cirros']['id']}"  # zsh and fish show it next to the value
    assert result.stdout.splitlines() == {
        "bash": ["plain,cirros"],
        "zsh": ["plain", "cirros", help_],
        "fish": [f"plain,cirros\t{help_}"],
    }[shell]


def test_fish_script_runs_on_every_click():
    """Click 8.4.0/8.4.1's fish script cannot run; glancectl's own is the same on every Click."""
    script = (REPO / "completions" / "glancectl.fish").read_text()
    assert 'set -l metadata (string split -m 1 "," -- $completion);' in script
    assert "\t" not in script and "split \n" not in script


def test_commands_and_options_complete_too(gctl, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    assert {"completion", "image", "lifecycle"} <= set(values([]))
    assert values(["image"], "up") == ["upload"]
    assert values(["completion"]) == ["bash", "zsh", "fish"]
    assert values(["lifecycle"]) == ["image", "task"]
    assert [i.type for i in complete(["image", "upload", "x", "--file"])] == ["file"]
    assert [i.type for i in complete(["--home"])] == ["dir"]


def test_missing_home_gives_nothing_and_creates_nothing(tmp_path):
    home = tmp_path / "nowhere"
    assert values(["--home", str(home), "image", "show"]) == []
    result = protocol("bash", home, "glancectl image show ", 3)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")
    assert not home.exists()


def test_completion_never_writes_to_the_store(gctl, images):
    before = tree(gctl.home)
    for shell in ("bash", "zsh"):
        assert protocol(shell, gctl.home, "glancectl image show ", 3).stdout
    assert values(["--home", str(gctl.home), "image", "show"])
    assert tree(gctl.home) == before


def test_unreadable_store_means_no_candidates_not_a_traceback(gctl, images):
    shard = next((gctl.home / "images").glob("*.json"))
    shard.write_text("{ not json")
    result = protocol("zsh", gctl.home, "glancectl image show ", 3)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


def write_records(home: Path, table: str, records: list[dict]) -> None:
    """Records in the store's layout (<table>/<xx>.json), written as the store writes them."""
    shards: dict[str, dict] = {}
    for record in records:
        rows = shards.setdefault(record["id"][:2], {})
        rows[str(len(rows) + 1)] = record
    (home / table).mkdir(parents=True, exist_ok=True)
    for prefix, rows in shards.items():
        payload = json.dumps({table: rows}, separators=(",", ":"), ensure_ascii=False)
        (home / table / f"{prefix}.json").write_text(payload)


def write_tasks(home: Path, tasks: list[dict]) -> None:
    write_records(home, "tasks", tasks)


def test_complete_tasks_offers_ids_with_type_and_status(tmp_path):
    home = tmp_path / "h"
    ids = ["0a1b2c3d-0000-4000-8000-000000000001", "0a1bffff-0000-4000-8000-000000000002",
           "ffffffff-0000-4000-8000-000000000003"]
    write_tasks(home, [{"id": ids[0], "type": "import", "status": "success"},
                       {"id": ids[1], "type": "api_image_import", "status": "processing"},
                       {"id": ids[2], "type": "import", "status": "failure"}])
    ctx = cli.make_context("glancectl", ["--home", str(home)], resilient_parsing=True)
    items = complete_tasks(ctx, None, "0a1b")
    assert [(i.value, i.help) for i in items] == [(ids[0], "import, success"),
                                                  (ids[1], "api_image_import, processing")]
    assert len(complete_tasks(ctx, None, "")) == 3
    missing = cli.make_context("glancectl", ["--home", str(tmp_path / "none")], resilient_parsing=True)
    assert complete_tasks(missing, None, "") == []
    assert not (tmp_path / "none").exists()


def test_names_a_shell_cannot_take_are_offered_by_id():
    records = [{"id": "aaaa", "name": "two\nlines", "status": "queued"},
               {"id": "bbbb", "name": "esc\x1b[31m", "status": "active"},
               {"id": "cccc", "name": "my image", "status": "active"},
               {"id": "dddd", "name": "it's", "status": "active"},
               {"id": "eeee", "name": "cirros-0.6.2_x86:64", "status": "active"}]
    assert [(i.value, i.help) for i in image_candidates(records, "")] == [
        ("aaaa", "(no name), queued"), ("bbbb", "(no name), active"),
        ("cccc", "my image, active"), ("cirros-0.6.2_x86:64", "active, eeee"),
        ("dddd", "it's, active")]


def test_awkward_names_read_from_the_store_complete_as_the_rules_say(tmp_path):
    """Names checked for the shell in one pass must give what checking each one gives."""
    ids = [f"{i:x}{i:x}000000-0000-4000-8000-000000000000" for i in range(1, 10)]
    records = [{"id": ids[0], "name": "web", "status": "active"},
               {"id": ids[1], "name": "web server", "status": "active"},   # unsafe, unique
               {"id": ids[2], "name": "db", "status": "queued"},
               {"id": ids[3], "name": "w b", "status": "active"},         # unsafe, shared
               {"id": ids[4], "name": "w b", "status": "killed"},
               {"id": ids[5], "name": "", "status": "active"},            # empty: by ID
               {"id": ids[6], "name": None, "status": "active"},
               {"id": ids[7], "name": "web", "status": "deleted"},        # gone: not counted
               {"id": ids[8], "name": ids[0], "status": "active", "properties": {"name": "x y"}}]
    home = tmp_path / "h"
    write_records(home, "images", records)
    ctx = cli.make_context("glancectl", ["--home", str(home)], resilient_parsing=True)
    expected = {
        "": [(ids[0], f"active, {ids[8]}"), (ids[1], "web server, active"),
             (ids[3], "w b, active"), (ids[4], "w b, killed"), (ids[5], "(no name), active"),
             (ids[6], "(no name), active"), ("db", f"queued, {ids[2]}"), ("web", f"active, {ids[0]}")],
        "w": [("web", f"active, {ids[0]}")],
        "w b": [(ids[3], "w b, active"), (ids[4], "w b, killed")],
        "web": [("web", f"active, {ids[0]}")],
        # A name that is another image's ID: both offered, in the order the store holds them.
        ids[0][:3]: [(ids[0], "web, active"), (ids[0], f"active, {ids[8]}")],
    }
    for typed, want in expected.items():
        assert [(i.value, i.help) for i in complete_images(ctx, None, typed)] == want, typed
        assert [(i.value, i.help) for i in image_candidates(records, typed)] == want, typed


def test_reading_only_the_shards_that_can_match_finds_every_candidate(tmp_path):
    rng = random.Random(7)
    words = ["cirros", "ubuntu", "Ubuntu", "debian", "déjà", "cd", "my image", "a/b"]
    records = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": f"{rng.choice(words)}-{i:04d}" if i % 10 else None,
                "status": rng.choice(["active", "queued", "deleted"]),
                "properties": {"note": "name", "k": '"name":"x'}} for i in range(2000)]
    records += [{**records[i], "id": str(uuid.uuid4()), "name": "exact", "status": "active"}
                for i in (0, 1)]  # two live images with one name
    home = tmp_path / "h"
    write_records(home, "images", records)
    ctx = cli.make_context("glancectl", ["--home", str(home)], resilient_parsing=True)
    prefixes = ["", "c", "cd", "CD", "ub", "Ub", "dé", "my", "a/", "exact", "zz",
                records[5]["id"][:1], records[5]["id"][:3], records[5]["id"][:3].upper()]
    for prefix in prefixes:
        got = [(i.value, i.help) for i in complete_images(ctx, None, prefix)]
        want = [(i.value, i.help) for i in image_candidates(records, prefix)]
        assert got == want, prefix
    # Two images have the name: it completes by prefix, and typed whole offers their IDs.
    assert [i.value for i in complete_images(ctx, None, "ex")] == ["exact"]
    assert sorted(i.value for i in complete_images(ctx, None, "exact")) == sorted(r["id"] for r in records[-2:])


def test_ten_thousand_images_complete_quickly():
    """Reading and matching 10,000 records in process; bench/completion.py times the round trip."""
    records = [{"id": f"{i:08x}-0000-4000-8000-000000000000", "name": f"image-{i:05d}",
                "status": "active"} for i in range(10_000)]
    start = time.perf_counter()
    items = image_candidates(records, "image-01")
    assert len(items) == 1000
    assert time.perf_counter() - start < 1.0


def test_task_argument_completes_task_ids(tmp_path):
    """params.task_argument() is what TASK arguments use; checked on a stand-in command."""
    import click

    from glancectl.cli.params import task_argument

    @click.group()
    @click.option("--home")
    def root(home):
        pass

    @root.command()
    @task_argument()
    def show(task_id):
        pass

    home = tmp_path / "h"
    task_id = "0a1b2c3d-0000-4000-8000-000000000001"
    write_tasks(home, [{"id": task_id, "type": "import", "status": "pending"}])
    got = ShellComplete(root, {}, "glancectl", "_X").get_completions(["--home", str(home), "show"], "0a")
    assert [(i.value, i.help) for i in got] == [(task_id, "import, pending")]


def test_a_shared_name_completes_by_prefix_then_offers_its_images(gctl, images, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    got = complete(["image", "show"], "du")
    assert [(i.value, i.help) for i in got] == [("dup", "2 images")]
    got = {i.value: i.help for i in complete(["image", "show"], "dup")}
    assert got == {images["dup1"]["id"]: "dup, queued", images["dup2"]["id"]: "dup, queued"}


def test_download_offers_only_images_with_data(gctl, images, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    assert values(["image", "download"]) == ["cirros"]
    assert values(["image", "save"]) == ["cirros"]
    assert values(["image", "download"], "ce") == []
    assert "centos" in values(["image", "show"], "ce")


def test_delete_does_not_offer_what_is_already_on_the_line(gctl, images, monkeypatch):
    monkeypatch.setenv("GLANCECTL_HOME", str(gctl.home))
    assert "cirros" not in values(["image", "delete", "cirros"])
    assert "centos" in values(["image", "delete", "cirros"])
    assert values(["image", "delete", "cirros"], "ci") == []
    dup1 = images["dup1"]["id"]
    assert dup1 not in values(["image", "delete", dup1])
    assert images["dup2"]["id"] in values(["image", "delete", dup1])


@pytest.mark.parametrize("args, incomplete, expected", [
    (["image", "list", "--status"], "de", ["deactivated", "deleted"]),
    (["image", "list", "--status"], "in:active,q", ["in:active,queued"]),
    (["image", "list", "--status"], "in:ki", ["in:killed"]),
    (["image", "list", "--disk-format"], "qc", ["qcow2"]),
    (["image", "list", "--container-format"], "in:bare,o", ["in:bare,ovf", "in:bare,ova"]),
    (["image", "list", "--sort"], "na", ["name"]),
    (["image", "list", "--sort"], "name:", ["name:asc", "name:desc"]),
    (["image", "list", "--sort"], "name:asc,si", ["name:asc,size"]),
    (["task", "list", "--sort"], "ty", ["type"]),
    (["task", "list", "--status"], "f", ["failure"]),
    (["image", "list", "--visibility"], "p", ["public", "private"]),
    (["image", "create", "--disk-format"], "v", ["vhd", "vhdx", "vmdk", "vdi"]),
    (["image", "show", "x", "-f"], "y", ["yaml"]),
])
def test_option_values_complete(args, incomplete, expected):
    assert values(args, incomplete) == expected
