"""Reproductions from a hostile review of the renderings (branch listjson): each test fails
on 883ea90..6b669e8 and shows a listing whose bytes depend on whether the renderings were
used, or that differ from what glancectl printed before the renderings (787774d)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FORMATS, run_launcher
from tests.test_renderings import afresh, listing

# Two IDs of one shard (00), so both images' items are rendered by one call.
FIRST = "00000000-0000-4000-8000-000000000001"
SECOND = "00000000-0000-4000-8000-000000000002"
PAST_64_BITS = "18446744073709551616"  # 2**64: json reads it exactly, orjson as a float


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(b"x" * 100)
    return path


def located(gctl, source: Path, name: str, image_id: str, metadata: str) -> dict:
    return gctl.create(name, *FORMATS, "--id", image_id, "--location", source.as_uri(),
                       "--location-metadata", metadata)


def test_location_metadata_past_64_bits_lists_the_same_with_or_without_renderings(gctl, home, source):
    """The writer renders the records it holds (json.loads: the exact integer); a fresh
    listing renders what orjson reads back (a float). Everything here is plain CLI use."""
    located(gctl, source, "big", FIRST, '{"n": %s}' % PAST_64_BITS)
    # 787774d printed "n": 1.8446744073709552e+19, as the listing does with no renderings.
    assert listing(gctl) == afresh(gctl, home)


def test_doctor_finds_nothing_wrong_after_plain_cli_writes(gctl, home, source):
    located(gctl, source, "big", FIRST, '{"n": %s}' % PAST_64_BITS)
    result = gctl("doctor", "-f", "json")
    # Fails: renderings "missing or out of date ... renders those images on every listing",
    # exit 7 -- yet the listing does use the rendering (it fits the shard file exactly).
    assert result.exit_code == 0, result.stdout


def test_an_image_lists_the_same_whatever_shares_its_shard(gctl, home, source):
    """One record orjson cannot encode sends every item of its shard through json.dumps,
    which writes floats differently (1e-07, not 1e-7; Infinity, not null)."""
    located(gctl, source, "small", FIRST, '{"e": 1e-7}')
    alone = listing(gctl, "--name", "small")
    assert b'"e": 1e-7,' in alone or b'"e": 1e-7\n' in alone
    located(gctl, source, "big", SECOND, '{"n": %s}' % PAST_64_BITS)
    assert listing(gctl, "--name", "small") == alone
    item = alone[2:-3]  # less "[\n" and "\n]\n"
    assert item in listing(gctl)


def test_a_listing_is_strict_json_when_a_shard_holds_infinity_and_a_big_integer(gctl, home, source):
    """--location-metadata '{"x": 1e999}' was read by json.loads as inf, and with a neighbour
    orjson refuses the whole shard went through json.dumps, printing the bare word Infinity,
    which no JSON parser but Python's accepts. Such metadata is refused now (exit 2), and a
    hand-edited one lists as orjson writes it (null) whatever shares its shard."""
    for metadata in ('{"x": 1e999}', '{"x": NaN}', '{"x": [-Infinity]}', '{"x": {"y": 1e400}}'):
        refused = gctl("image", "create", "inf", *FORMATS, "--location", source.as_uri(),
                       "--location-metadata", metadata)
        assert refused.exit_code == 2 and "finite numbers" in refused.stderr, refused.stderr
    assert gctl.ok("image", "list", "-q").stdout == ""
    located(gctl, source, "inf", FIRST, '{"x": 1e300}')
    located(gctl, source, "big", SECOND, '{"n": %s}' % PAST_64_BITS)
    shard = home / "images" / "00.json"
    shard.write_bytes(shard.read_bytes().replace(b"1e+300", b"1e999"))

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    gctl.ok("image", "set", SECOND, "--name", "big2")  # rendered again, with the hand edit
    for text in (listing(gctl), afresh(gctl, home)):
        assert b'"x": null' in text
        json.loads(text, parse_constant=refuse)


def test_a_rendering_whose_data_was_lost_is_never_shown(gctl, home):
    """The renderings are written unsynced: a crash can leave one at its full length with its
    data lost (zeros), and the shard file untouched, so its identity still fits. Only the
    header's crc32 keeps the listing from printing NUL bytes as the image."""
    gctl.create("torn", *FORMATS, "--id", FIRST)
    expected = afresh(gctl, home)
    rendering = home / "rendered" / "00.items"
    text = rendering.read_bytes()
    body_starts = text.index(b"\n") + 1
    with open(rendering, "r+b") as handle:
        handle.seek(body_starts)
        handle.write(b"\0" * (len(text) - body_starts))
    assert listing(gctl) == expected


def test_a_fifo_in_place_of_a_rendering_does_not_hang_a_listing_or_doctor(gctl, home):
    """open(2) of a FIFO blocks until a writer comes: the listing (and doctor's check) wait
    forever, where 787774d never opened rendered/ at all. Opening with O_NONBLOCK and
    refusing what is not a regular file (fstat) would render afresh instead."""
    gctl.create("fifo", *FORMATS, "--id", FIRST)
    expected = afresh(gctl, home)
    rendering = home / "rendered" / "00.items"
    rendering.unlink()
    os.mkfifo(rendering, 0o600)
    listed = run_launcher("image", "list", "-f", "json", home=home, timeout=20)
    assert (listed.returncode, listed.stdout) == (0, expected)
    assert run_launcher("doctor", home=home, timeout=20).returncode == 7


def test_one_rendering_that_cannot_be_written_does_not_stop_the_others(gctl, home):
    """Renderings.rebuild raises at the first shard it cannot write, so doctor --repair (and
    the sweep's render_all) leave every later shard unrendered: here the other shard."""
    gctl.create("first", *FORMATS, "--id", FIRST)
    gctl.create("later", *FORMATS, "--id", "ff000000-0000-4000-8000-000000000001")
    for rendering in (home / "rendered").glob("*.items"):
        rendering.unlink()
    (home / "rendered" / "00.items").mkdir(mode=0o700)
    gctl("doctor", "--repair")
    finding = next(f for f in gctl("doctor", "-f", "json").json() if f["check"] == "renderings")
    assert "for 1 image shard," in finding["problem"], finding["problem"]


def test_a_shard_rewritten_while_its_rendering_is_made_is_never_shown_stale(gctl, home, monkeypatch):
    """Renderings used to render, then name the shard by os.stat(path): whatever file is at
    the path by then. Another program that rewrites the shard meanwhile (sed -i: a new file
    renamed into place; or an edit in place) gets its file named in the header of a
    rendering of glancectl's records, which every later listing trusts. The identity of the
    very inode glancectl wrote (an fstat of the file it renamed into place) would not."""
    from glancectl.sidecars import Sidecars

    made = gctl.create("before", *FORMATS, "--id", FIRST)
    shard = home / "images" / "00.json"
    write_sidecar = Sidecars._write

    def rendering_while_another_program_edits(self, shard_path, encoded, shard_stat, *rest):
        if b'"name": "after"' in encoded[0]:
            edited = shard.with_name("sed-edit")
            edited.write_bytes(shard.read_bytes().replace(b'"name":"after"', b'"name":"EDITED"'))
            os.replace(edited, shard)
        return write_sidecar(self, shard_path, encoded, shard_stat, *rest)

    monkeypatch.setattr(Sidecars, "_write", rendering_while_another_program_edits)
    gctl.ok("image", "set", made["id"], "--name", "after")
    monkeypatch.setattr(Sidecars, "_write", write_sidecar)
    assert gctl.show(made["id"])["name"] == "EDITED"
    assert json.loads(listing(gctl))[0]["name"] == "EDITED"
