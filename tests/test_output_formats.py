"""Output habits from openstackclient/cliff: -f yaml/shell, --noindent, --prefix, --long,
--human-readable, and a first table that fits a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from glancectl.cli.output import human_size
from tests.conftest import FORMATS, REPO


@pytest.fixture
def demo(gctl, tmp_path):
    """The Quick start's image: 1 MiB of data from a file."""
    data = tmp_path / "demo.raw"
    data.write_bytes(b"\x01" * 1048576)
    return gctl.ok("image", "create", "demo", *FORMATS, "--file", str(data), "-f", "json").json()


def test_the_quick_start_table_fits_a_terminal(gctl, tmp_path):
    data = tmp_path / "demo.raw"
    data.write_bytes(b"\x01" * 1048576)
    made = gctl.ok("image", "create", "demo", *FORMATS, "--file", str(data))
    widths = [len(line) for line in made.stdout.splitlines()]
    assert max(widths) <= 80, made.stdout
    assert "os_hash_value" not in made.stdout and "locations" not in made.stdout
    assert max(len(line) for line in gctl.ok("image", "list").stdout.splitlines()) <= 80


def test_long_json_and_columns_still_give_the_wide_fields(gctl, demo):
    long = gctl.ok("image", "show", "demo", "--long").stdout
    assert demo["os_hash_value"] in long and "locations" in long
    assert gctl.ok("image", "show", "demo", "-f", "json").json()["os_hash_value"] == demo["os_hash_value"]
    assert demo["os_hash_value"] in gctl.ok("image", "show", "demo", "-c", "os_hash_value").stdout
    assert demo["os_hash_value"] in gctl.ok("image", "show", "demo", "-f", "value").stdout


@pytest.mark.parametrize("args", [["image", "show", "demo"], ["image", "list"],
                                  ["image", "list", "-c", "id", "-c", "size"], ["config", "show"],
                                  ["lifecycle", "task"], ["usage"], ["import", "info"]])
def test_yaml_is_the_json_document(gctl, demo, args):
    as_json = gctl.ok(*args, "-f", "json").json()
    shown = gctl.ok(*args, "-f", "yaml").stdout
    assert yaml.safe_load(shown) == as_json
    assert not shown.lstrip().startswith(("{", "["))


def test_noindent_prints_one_line(gctl, demo):
    for args in (["image", "show", "demo"], ["image", "list"]):
        compact = gctl.ok(*args, "-f", "json", "--noindent").stdout
        assert compact.count("\n") == 1 and compact.endswith("\n")
        assert json.loads(compact) == gctl.ok(*args, "-f", "json").json()


HOSTILE = 'it\'s "a" $HOME `touch pwned` $(touch pwned) \\ back\nslash'


def test_shell_output_evaluates_back_to_the_values(gctl, tmp_path):
    made = gctl.create("x", "--property", f"note={HOSTILE}", "--property", "os-distro=cirros",
                       "--tag", "a", "--tag", "b")
    shown = gctl.ok("image", "show", made["id"], "-f", "shell", "--prefix", "img_").stdout
    assert 'img_name="x"\n' in shown and f'img_id="{made["id"]}"' in shown
    script = (shown + 'printf "%s\\0" "$img_note" "$img_os_distro" "$img_tags" "$img_protected"'
              ' "$img_size"')
    result = subprocess.run(["sh", "-c", script], capture_output=True, cwd=tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split("\0")[:-1] == [HOSTILE, "cirros", "a, b", "False", ""]
    assert not (tmp_path / "pwned").exists()


def test_shell_columns_and_task_records(gctl):
    made = gctl.create("x")
    assert gctl.ok("image", "show", "x", "-f", "shell", "-c", "status").stdout == 'status="queued"\n'
    task = gctl.ok("task", "create", "--type", "import", "--no-worker", "-f", "shell", "--input",
                   '{"import_from": "file:///nonexistent", "import_from_format": "raw",'
                   ' "image_properties": {}}').stdout
    assert 'status="pending"' in task and 'type="import"' in task


def test_shell_is_for_one_record_and_is_refused_on_lists_before_any_work(gctl):
    result = gctl("image", "list", "-f", "shell")
    assert result.exit_code == 2 and "'shell' is not one of" in result.stderr
    result = gctl("task", "run", "-f", "shell")
    assert result.exit_code == 2 and result.stdout == ""


def test_yaml_loads_only_when_asked_for(tmp_path):
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'src')!r})\n"
        "from glancectl.cli.main import cli\n"
        "try:\n"
        f"    cli.main(['--home', {str(tmp_path)!r}, 'image', 'list', '-f', sys.argv[1]],"
        " prog_name='glancectl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('yaml' in sys.modules, file=sys.stderr)\n"
    )
    for fmt, loaded in (("json", "False"), ("table", "False"), ("yaml", "True")):
        result = subprocess.run([sys.executable, "-c", code, fmt], capture_output=True, text=True,
                                timeout=60)
        assert result.stderr.splitlines()[-1] == loaded, (fmt, result.stderr)


@pytest.mark.parametrize("size, text", [(0, "0 B"), (512, "512 B"), (1024, "1 KiB"),
                                        (13107200, "12.5 MiB"), (32 * 1024**2, "32 MiB"),
                                        (1024**4, "1 TiB")])
def test_human_size_is_binary(size, text):
    assert human_size(size) == text


def test_human_readable_on_show_and_list(gctl, tmp_path):
    data = tmp_path / "d.raw"
    data.write_bytes(b"\x02" * 13107200)
    gctl.ok("image", "create", "big", *FORMATS, "--file", str(data))
    assert gctl.ok("image", "show", "big", "-c", "size", "-f", "value", "--human-readable").stdout == "12.5 MiB\n"
    listed = gctl.ok("image", "list", "--long", "--human-readable").stdout
    assert "12.5 MiB" in listed and "13107200" not in listed
    assert 'size="12.5 MiB"' in gctl.ok("image", "show", "big", "-f", "shell", "--human-readable").stdout
    # Documents for scripts keep Glance's bytes.
    assert gctl.ok("image", "show", "big", "-f", "json", "--human-readable").json()["size"] == 13107200


def test_list_long_adds_the_hash_columns(gctl, demo):
    short = gctl.ok("image", "list").stdout
    long = gctl.ok("image", "list", "--long").stdout
    assert demo["os_hash_value"] not in short
    for text in ("Checksum", "Hash Algorithm", "Hash Value", demo["checksum"], demo["os_hash_value"],
                 "sha512"):
        assert text in long
    assert gctl.ok("image", "list", "-c", "Hash Value", "-f", "value").stdout == demo["os_hash_value"] + "\n"


def test_list_help_says_which_order(gctl):
    shown = " ".join(gctl.ok("image", "list", "--help").stdout.split())
    assert "newest first (created_at:desc), not by name" in shown
    assert "--sort name:asc" in shown


def test_yaml_without_pyyaml_says_how_to_install(tmp_path):
    from tests.conftest import LAUNCHER
    from tests.test_launcher import without_module

    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "yaml"), "GLANCECTL_HOME": str(tmp_path / "h")}
    listed = subprocess.run([sys.executable, str(LAUNCHER), "image", "list", "-f", "json"],
                            capture_output=True, env=env, timeout=60)
    assert listed.returncode == 0 and listed.stdout == b"[]\n"
    result = subprocess.run([sys.executable, str(LAUNCHER), "image", "list", "-f", "yaml"],
                            capture_output=True, env=env, timeout=60)
    assert result.returncode == 69
    assert b"missing dependency 'yaml'" in result.stderr and b"pip install" in result.stderr


def test_shell_values_on_a_terminal_show_control_characters_as_escapes():
    import io

    from glancectl.cli.context import Env
    from glancectl.cli.output import OutputOptions, render_one

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for out, expected in ((io.StringIO(), 'name="a\x1b[31mb"\n'), (Terminal(), 'name="a\\\\x1b[31mb"\n')):
        render_one(Env(stdout=out, stderr=io.StringIO(), environ={}), OutputOptions(format="shell"),
                   {"name": "a\x1b[31mb"})
        assert out.getvalue() == expected


def _standard_json(value) -> str:
    """What the standard library prints, with to_json's escapes: the bytes every path must match."""
    c1 = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}
    return json.dumps(value, indent=2, ensure_ascii=False).translate(c1) + "\n"


def test_list_json_prints_what_the_standard_encoder_prints_for_awkward_records(gctl, home):
    """A listing's JSON is made in bulk (orjson, records of the stored shape taking a
    shortcut); it must be the standard encoder's text, byte for byte, for any record."""
    gctl.create("plain", *FORMATS, "--property", "os_distro=debian")
    gctl.create("controls", "--property", "note=x\u0085y\x7fz\u00a0", "--property", "emoji=🐍",
                "--property", 'quote="\\', "--tag", "ü")
    located, huge = gctl.create("located"), gctl.create("huge")
    # A store written by hand or an older version: a number orjson cannot encode, keys in
    # another order than glancectl writes them, a location as older versions named it.
    for shard in sorted((home / "images").glob("*.json")):
        doc = json.loads(shard.read_text())
        for key, record in doc["images"].items():
            if record["id"] == huge["id"]:
                record["properties"]["big"] = 2 ** 70
                doc["images"][key] = dict(reversed(list(record.items())))
            if record["id"] == located["id"]:
                record["locations"] = [{"url": "http://example.com/x.img", "metadata": {"store": "local"}}]
        shard.write_text(json.dumps(doc))
    listed = gctl.ok("image", "list", "-f", "json").stdout
    compact = gctl.ok("image", "list", "-f", "json", "--noindent").stdout  # the standard encoder
    document = json.loads(compact)
    assert listed == _standard_json(document)
    assert {i["name"] for i in document} == {"plain", "controls", "located", "huge"}
    assert "x\\u0085y\\u007fz\u00a0" in listed and "🐍" in listed and 2 ** 70 in [
        i.get("big") for i in document]
    assert [i["locations"] for i in document if i["name"] == "located"] == [
        [{"url": "http://example.com/x.img", "metadata": {"store": "http"}}]]


def _reordered(record: dict) -> dict:
    return dict(reversed(list(record.items())))


@pytest.mark.parametrize("later", [
    {},
    {"status_reason": None, "locations": [{"url": "file:///d/x", "metadata": {"store": "local"}}]},
    {"deleted_at": "2026-01-01T00:00:00Z", "direct_url": "http://example.com/x"},
    {"direct_url": None, "exit_code": 3, "locations": None},
    {"locations": [{"url": "http://example.com/x", "metadata": {"store": "http", "k": "v"}},
                   {"metadata": {"store": "file"}, "url": "file:///d/y"},
                   {"url": 3, "metadata": {"store": "file"}}, {"url": "https://e/z", "metadata": {}}]},
])
def test_a_record_in_another_key_order_shows_the_same_as_one_glancectl_wrote(later):
    """image_view's shortcut for records as new_image writes them (and as later writes
    append to them) gives the general answer."""
    from glancectl import records

    made = records.new_image(image_id=None, name="n", disk_format="raw", container_format="bare",
                             visibility="shared", protected=False, os_hidden=False, min_disk=0,
                             min_ram=0, properties={"b": "2", "a": "1"}, tags=["t"], owner="me")
    made.update(later)
    shown = records.image_view(made)
    assert list(shown.items()) == list(records.image_view(_reordered(made)).items())
    general = [records.location_entry(loc["url"], loc["metadata"]) if type(loc["url"]) is str else loc
               for loc in made["locations"] or ()]
    assert [list(loc.items()) for loc in shown["locations"]] == [list(loc.items()) for loc in general]
    assert list(shown)[-5:] == ["file", "schema", "self", "a", "b"] and shown["id"] == made["id"]
    assert not {"properties", "created_ns", "status_reason", "deleted_at", "exit_code"} & set(shown)
    assert ("direct_url" in shown) == bool(later.get("direct_url"))
    # A hand-edited store: a property named like a core field never hides the field.
    made["properties"]["name"] = "a clash"
    assert records.image_view(made)["name"] == "n" and list(records.image_view(made))[-2:] == ["a", "b"]


def test_list_rows_show_control_characters_as_visible_escapes(gctl):
    """A row of plain text prints as it is; a row with a terminal escape, a list or a
    null shows each value made safe, in every text format."""
    gctl.create("plain", "--tag", "a")
    gctl.create("evil\x1b]0;owned\x07", "--tag", "x", "--tag", "y")
    for args in ([], ["-f", "value"], ["-f", "csv"], ["-c", "name", "-c", "tags", "-c", "size"],
                 ["-f", "value", "-c", "name", "-c", "tags", "-c", "protected", "-c", "size"]):
        out = gctl.ok("image", "list", *args).stdout
        assert "\x1b" not in out and "\x07" not in out, args
        assert "evil\\x1b]0;owned\\x07" in out and "plain" in out, args
    lines = gctl.ok("image", "list", "-f", "value", "-c", "name", "-c", "tags", "-c", "protected",
                    "-c", "size").stdout.splitlines()
    assert sorted(lines) == sorted(["plain a False ", "evil\\x1b]0;owned\\x07 x, y False "])
