"""Start-up is part of the product: a command loads what it needs, not what others need.

`bench/startup.py` measures the time; these tests pin what the quick commands
import, so a module-level import that puts a heavy module back on their path fails
here, on any machine, instead of only as a slower benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def modules_loaded(home, *args: str) -> tuple[set[str], str]:
    """The modules a glancectl run has imported by the time it ends, and its stdout."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(REPO / 'src')!r})\n"
        "from glancectl.cli.main import cli\n"
        "try:\n"
        f"    cli.main({list(args)!r}, prog_name='glancectl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"GLANCECTL_HOME": str(home), "PATH": "/usr/bin:/bin"})
    return set(json.loads(result.stderr.splitlines()[-1])), result.stdout


# Each only some commands need: listings, the data path, Rich, the other commands of `image`
# and the other groups, the operations that change images (and their dataclasses), settings
# (only writes need them), the name index (a lookup by ID needs none), and pathlib with what
# it imports (a read by ID opens its shard by a string path: store.Store.root).
NOT_FOR_SHOW = ("glancectl.listing", "glancectl.datafiles", "rich", "glancectl.cli.image_list",
                "glancectl.cli.image_edit", "glancectl.cli.image_data", "glancectl.cli.task",
                "glancectl.operations.images", "dataclasses", "glancectl.config",
                "glancectl.nameindex", "zlib", "pathlib", "urllib.parse", "ipaddress")


def test_image_show_by_id_loads_no_listing_data_path_or_other_groups(gctl, home):
    image = gctl.create("cirros", "--disk-format", "raw", "--container-format", "bare")
    loaded, stdout = modules_loaded(home, "image", "show", image["id"], "-f", "value", "-c", "name")
    assert stdout == "cirros\n"
    assert sorted(m for m in NOT_FOR_SHOW if m in loaded) == []


def test_version_opens_no_store(tmp_path):
    loaded, stdout = modules_loaded(tmp_path / "home", "--version")
    assert stdout.startswith("glancectl, version")
    assert sorted(m for m in ("glancectl.store", "tinydb", "glancectl.cli.image", "pathlib")
                  if m in loaded) == []


def test_a_mistyped_command_is_matched_against_commands_not_loaded_yet(gctl):
    """Commands load lazily, but "Did you mean" still knows every one of them."""
    for args, meant in ((["imag"], "image"), (["image", "creat"], "create"),
                        (["image", "lst"], "list"), (["image", "uplod"], "upload"),
                        (["task", "lst"], "list")):
        result = gctl(*args)
        assert result.exit_code == 2
        said = result.stderr.partition("Did you mean")[2]
        assert f"'{meant}'" in said, (args, result.stderr)
