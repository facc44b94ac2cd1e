"""Habits from openstack and glance: accepted, hidden from --help, one test each."""

from __future__ import annotations

import pytest

from tests.conftest import FORMATS


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "d.raw"
    path.write_bytes(b"glancectl" * 1000)
    return path


def test_image_save_is_download(gctl, data_file, tmp_path):
    gctl.ok("image", "create", "cirros", *FORMATS, "--file", str(data_file))
    out = tmp_path / "saved.raw"
    gctl.ok("image", "save", "cirros", "--file", str(out))
    assert out.read_bytes() == data_file.read_bytes()
    refused = gctl("image", "save", "nope", "--file", str(tmp_path / "x"))
    assert refused.exit_code == 3 and not (tmp_path / "x").exists()


def test_set_deactivate_and_activate(gctl):
    made = gctl.create("a", *FORMATS, "--size", "0")
    shown = gctl.ok("image", "set", "a", "--deactivate", "--name", "b", "-f", "json").json()
    assert (shown["status"], shown["name"]) == ("deactivated", "b")
    assert gctl.show(made["id"])["status"] == "deactivated"
    assert gctl.ok("image", "set", "b", "--activate", "-f", "value", "-c", "status").stdout == "active\n"


def test_set_deactivate_refused_changes_nothing(gctl):
    made = gctl.create("q")
    refused = gctl("image", "set", "q", "--deactivate", "--name", "renamed")
    assert refused.exit_code == 4 and "Not allowed to deactivate image in status 'queued'" in refused.stderr
    assert gctl.show(made["id"])["name"] == "q"


@pytest.mark.parametrize("flag", ["public", "private", "community", "shared"])
def test_visibility_flags_on_create_set_and_list(gctl, flag):
    other = "private" if flag == "public" else "public"
    made = gctl.create("v", f"--{other}")
    assert made["visibility"] == other
    gctl.ok("image", "set", "v", f"--{flag}")
    assert gctl.show(made["id"])["visibility"] == flag
    gctl.create("w", f"--{other}")
    listed = gctl.ok("image", "list", f"--{flag}", "-f", "value", "-c", "name").stdout
    assert listed == "v\n"


def test_two_visibilities_are_refused(gctl):
    result = gctl("image", "create", "x", "--public", "--visibility", "private")
    assert result.exit_code == 2 and "give one visibility" in result.stderr
    assert gctl.ok("image", "list", "-q").stdout == ""


def test_progress_is_accepted_and_draws_nothing_off_a_terminal(gctl, data_file, tmp_path):
    made = gctl.ok("image", "create", "p", *FORMATS, "--file", str(data_file), "--progress")
    assert made.stderr == ""
    result = gctl("image", "download", "p", "--file", str(tmp_path / "o"), "--progress")
    assert result.exit_code == 0 and result.stderr == ""
    gctl.create("s", *FORMATS)
    staged = gctl("image", "stage", "s", "--file", str(data_file), "--progress")
    assert staged.exit_code == 0 and staged.stderr == ""


def test_import_method_is_method(gctl, data_file):
    image = gctl.create("direct", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(data_file))
    result = gctl("image", "import", image["id"], "--import-method", "glance-direct", "--wait",
                  "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["status"] == "active"


def test_import_without_a_method_is_a_usage_error(gctl):
    image = gctl.create("m", *FORMATS)
    result = gctl("image", "import", image["id"])
    assert result.exit_code == 2 and "Missing option '--method'" in result.stderr
    clash = gctl("image", "import", image["id"], "--method", "glance-direct",
                 "--import-method", "web-download")
    assert clash.exit_code == 2 and gctl.show(image["id"])["status"] == "queued"


def test_property_filter_is_property(gctl):
    made = gctl.create("x", "--property", "os_distro=cirros")
    gctl.create("y", "--property", "os_distro=ubuntu")
    assert gctl.ok("image", "list", "--property-filter", "os_distro=cirros", "-q").stdout == made["id"] + "\n"


def test_sort_key_and_sort_dir(gctl):
    for name in ("b", "c", "a"):
        gctl.create(name)
    names = lambda *args: gctl.ok("image", "list", *args, "-f", "value", "-c", "name").stdout.split()
    assert names("--sort-key", "name", "--sort-dir", "asc") == ["a", "b", "c"]
    assert names("--sort-key", "name") == ["c", "b", "a"]  # Glance's default direction: desc
    assert names("--sort-dir", "asc") == names("--sort", "created_at:asc")
    mixed = gctl("image", "list", "--sort-key", "name", "--sort", "name:asc")
    assert mixed.exit_code == 2 and "cannot be combined" in mixed.stderr
    uneven = gctl("image", "list", "--sort-key", "name", "--sort-key", "id", "--sort-dir", "asc",
                  "--sort-dir", "desc", "--sort-dir", "asc")
    assert uneven.exit_code == 2 and "Number of sort dirs" in uneven.stderr


@pytest.mark.parametrize("args", [["image", "list"], ["image", "create", "x"],
                                  ["image", "set", "x"], ["image", "unset", "x"]])
def test_glance_style_tags_point_to_tag(gctl, args):
    gctl.create("x", "--tag", "a")
    result = gctl(*args, "--tags", "a", "b")
    assert result.exit_code == 2
    assert "one tag per --tag: --tag a --tag" in result.stderr and "Did you mean" not in result.stderr
    assert len(gctl.ok("image", "list", "-q").stdout.split()) == 1


@pytest.mark.parametrize("args, hidden", [
    (["image"], ["save"]),
    (["image", "set"], ["--deactivate", "--activate", "--public", "--private", "--community",
                        "--shared", "--tags"]),
    (["image", "create"], ["--public", "--progress", "--tags"]),
    (["image", "list"], ["--public", "--property-filter", "--sort-key", "--sort-dir", "--tags"]),
    (["image", "import"], ["--import-method", "--progress"]),
    (["image", "upload"], ["--progress"]),
])
def test_aliases_are_hidden_from_help(gctl, args, hidden):
    shown = gctl.ok(*args, "--help").stdout
    words = shown.replace(",", " ").split()
    assert not [h for h in hidden if h in words]
