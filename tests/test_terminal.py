"""Colour and progress only on terminals, and never colour under NO_COLOR."""

from __future__ import annotations

import io
import re

import pytest

from glancectl.cli.context import Env
from glancectl.cli.output import OutputOptions, render_many
from glancectl.cli.progress import byte_progress
from tests.conftest import FORMATS

SGR = re.compile(r"\x1b\[([0-9;]*)m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def colours(text: str) -> set[int]:
    """Foreground/background colour codes among the SGR sequences in ``text``."""
    codes = {int(c) for params in SGR.findall(text) for c in params.split(";") if c}
    return {c for c in codes if 30 <= c <= 49 or 90 <= c <= 107}


def draw_progress(env: Env, total: int = 1000, done: int = 500, **kwargs) -> str:
    with byte_progress(env, "Uploading", total, **kwargs) as update:
        if update is not None:
            update(done)
    return env.stderr.getvalue()


@pytest.mark.parametrize("environ, coloured", [
    ({}, True),
    ({"NO_COLOR": "1"}, False),
    ({"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
])
def test_progress_on_a_terminal_respects_no_color(environ, coloured):
    drawn = draw_progress(Env(stdout=Terminal(), stderr=Terminal(), environ=environ))
    assert "Uploading" in drawn and "500/1,000 bytes" in drawn
    assert bool(colours(drawn)) is coloured


def test_progress_counts_in_binary_units():
    """32 MiB is 32.0 MiB, not "33.6 MB" (Rich's default counts in powers of 1000)."""
    drawn = draw_progress(Env(stdout=Terminal(), stderr=Terminal(), environ={"NO_COLOR": "1"}),
                          total=32 * 1024**2, done=16 * 1024**2)
    assert "16.0/32.0 MiB" in drawn
    assert " MB" not in drawn and " kB" not in drawn


def test_no_progress_off_a_terminal_or_when_turned_off():
    assert draw_progress(Env(stdout=Terminal(), stderr=io.StringIO(), environ={})) == ""
    assert draw_progress(Env(stdout=Terminal(), stderr=Terminal(), environ={}), enabled=False) == ""


@pytest.mark.parametrize("tty", [False, True])
def test_tables_are_plain_off_a_terminal(tty):
    out = Terminal() if tty else io.StringIO()
    env = Env(stdout=out, stderr=io.StringIO(), environ={"NO_COLOR": "1"})
    render_many(env, OutputOptions(), [{"id": "x", "name": "n", "status": "active"}],
                ("id", "name", "status"))
    text = out.getvalue()
    assert ("\x1b[" in text) is tty and not colours(text)
    assert text.startswith("+---") is not tty


def test_a_piped_upload_draws_nothing_on_stderr(gctl, tmp_path):
    data = tmp_path / "data.raw"
    data.write_bytes(b"x" * 300_000)
    result = gctl.ok("image", "create", "piped", *FORMATS, "--file", str(data), "-q")
    assert result.stderr == ""


def test_image_bytes_never_go_to_a_terminal_and_never_come_from_one(tmp_path):
    import os
    import pty

    from tests.conftest import run_launcher_with

    home = tmp_path / "h"
    data = tmp_path / "d.raw"
    data.write_bytes(b"y" * 4096)
    made = run_launcher_with(["image", "create", "t", *FORMATS, "--file", str(data), "-q"], home=home)
    image_id = made.stdout.decode().strip()
    queued = run_launcher_with(["image", "create", "q", *FORMATS, "-q"], home=home).stdout.decode().strip()
    primary, secondary = pty.openpty()
    try:
        out = run_launcher_with(["image", "download", image_id], home=home, stdout=secondary)
        assert out.returncode == 2
        assert "refusing to write image data to a terminal" in out.stderr.decode()
        into = run_launcher_with(["image", "upload", queued], home=home, stdin=secondary)
        assert into.returncode == 2 and "pipe the data into standard input" in into.stderr.decode()
    finally:
        os.close(primary)
        os.close(secondary)
    shown = run_launcher_with(["image", "show", queued, "-f", "value", "-c", "status"], home=home)
    assert shown.stdout.decode().strip() == "queued"


def test_terminal_tables_never_break_ids_and_fall_back_to_plain_when_too_wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    image_id = "0ec17d86-b8e5-4fdf-9f03-09d14dfd2bfa"
    narrow = Terminal()
    render_many(Env(stdout=narrow, stderr=io.StringIO(), environ={"NO_COLOR": "1"}), OutputOptions(),
                [{"id": image_id, "name": "a long name that has to wrap " * 3, "status": "active"}],
                ("id", "name", "status"))
    text = narrow.getvalue()
    assert "─" in text and not text.startswith("+---")
    assert image_id in text, "the ID stays on one line"
    wide = Terminal()
    row = {"id": image_id, "checksum": "3aee638a288897b033c8273cf03b2b5c", "os_hash_value": "f" * 64}
    render_many(Env(stdout=wide, stderr=io.StringIO(), environ={"NO_COLOR": "1"}), OutputOptions(),
                [row], ("id", "checksum", "os_hash_value"))
    assert wide.getvalue().startswith("+---"), "no room for whole values: the plain table, uncut"
    assert "f" * 64 in wide.getvalue()
