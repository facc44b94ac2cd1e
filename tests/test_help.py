"""--help is documentation: every command of the live app has a summary and examples."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from glancectl import __version__
from glancectl.cli.main import cli
from tests.conftest import LAUNCHER, REPO


def walk(command: click.Command, path: tuple[str, ...] = ()):
    """Every command and group of the app as it is registered now, with its path."""
    yield path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            yield from walk(command.get_command(click.Context(command), name), (*path, name))


COMMANDS = list(walk(cli))


def test_the_walk_sees_the_whole_app():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "image", "image create", "image location add", "config show", "lifecycle",
            "completion"} <= paths


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "glancectl" for p, _ in COMMANDS])
def test_every_command_has_a_summary_and_examples(gctl, path, command):
    assert command.help, f"{' '.join(path)} has no help text"
    summary = command.help.strip().split("\n\n")[0]
    assert "\n" not in summary, f"the summary must be one line: {summary!r}"
    assert 10 <= len(summary) <= 80 and summary.endswith("."), summary
    shown = gctl.ok(*path, "--help").stdout
    assert summary in shown
    assert "Example" in shown, f"'glancectl {' '.join(path)} --help' shows no example"
    # Examples are real command lines of this command.
    examples = shown.split("Example", 1)[1]
    assert f"glancectl {' '.join(path)}".strip() in examples


@pytest.mark.parametrize("args, sections", [
    (["image", "create"], ["Metadata:", "Data:", "Output:", "Options:"]),
    (["image", "list"], ["Filters:", "Sorting and paging:", "Output:", "Options:"]),
    (["image", "upload"], ["Data:", "Output:", "Options:"]),
])
def test_options_are_grouped_in_sections(gctl, args, sections):
    shown = gctl.ok(*args, "--help").stdout
    found = [line for line in shown.splitlines() if line in sections]
    assert found == sections


def test_group_listings_show_whole_summaries(gctl):
    for args in ([], ["image"], ["image", "location"]):
        listing = gctl.ok(*args, "--help").stdout.split("Commands:", 1)[1]
        assert "..." not in listing


def test_version(gctl):
    result = gctl.ok("--version")
    assert result.stdout == f"glancectl, version {__version__}\n"


def test_version_and_help_import_nothing_heavy():
    """`glancectl --version` stays fast: no Rich, no data-path modules, no home lookup."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'src')!r})\n"
        "from glancectl.cli.main import cli\n"
        "try:\n"
        "    cli.main(['--version'], prog_name='glancectl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('rich', 'glancectl.inspection', 'glancectl.sources', 'platformdirs')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


def test_launcher_version():
    result = subprocess.run([sys.executable, str(LAUNCHER), "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"glancectl, version {__version__}"


def help_rows(text: str):
    """(section, term, description) for every row of every option section of a --help page.

    A section is a heading at column 0 and its rows up to the next blank line; a row
    is a term indented by two, its description on the same line or the lines below.
    """
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        heading = lines[index]
        index += 1
        if not heading.endswith(":") or heading.startswith((" ", "Usage")):
            continue
        while index < len(lines) and lines[index].strip():
            term_line = lines[index]
            index += 1
            term, _, description = term_line[2:].partition("  ")
            more = []
            while index < len(lines) and lines[index].startswith("   "):
                more.append(lines[index].strip())
                index += 1
            yield heading[:-1], term.strip(), " ".join([description.strip(), *more]).strip()


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "glancectl" for p, _ in COMMANDS])
def test_no_help_row_has_an_empty_description(gctl, path, command):
    """Whatever Click is installed (8.5.1 gives undocumented arguments a blank row)."""
    rows = list(help_rows(gctl.ok(*path, "--help").stdout))
    assert rows, "no option rows found"
    blank = [f"{section}: {term}" for section, term, description in rows if not description]
    assert not blank, f"'glancectl {' '.join(path)} --help' has rows with no description: {blank}"


def test_help_names_only_options_the_command_has(gctl):
    """`task run` has no --wait, so its epilog must not send people to it."""
    shown = gctl.ok("task", "run", "--help").stdout
    assert "--wait exits" not in shown and "task run exits with the code" in shown
    assert "--wait exits with the code" in gctl.ok("task", "create", "--help").stdout
