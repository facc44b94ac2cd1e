"""Reproductions from a hostile review of the image summaries (branch attack-image-summaries):
each test shows an image listing that prints differently from glancectl 93bda61 on the same
store, since listings read summaries and filter a column at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glancectl.storage import write_atomic

from tests.conftest import FORMATS


def _hand_edit(home: Path, image_id: str, **fields) -> None:
    shard = home / "images" / f"{image_id[:2]}.json"
    doc = json.loads(shard.read_bytes())
    record = next(r for r in doc["images"].values() if r["id"] == image_id)
    record.update(fields)
    write_atomic(shard, json.dumps(doc).encode())


@pytest.mark.parametrize("edited, hidden_by", [
    ({"status": "deleted", "created_at": "garbage"}, ()),  # left out by the default status filter
    ({"name": "other", "created_at": "garbage"}, ("--name", "kept")),  # by an earlier filter
    ({"name": "other", "updated_at": ""}, ("--name", "kept")),
])
def test_a_time_filter_never_reads_the_time_of_an_image_an_earlier_filter_left_out(
        gctl, home, edited, hidden_by):
    """A hand-edited time that is no ISO time, on an image the listing leaves out anyway: the
    per-record filter of 93bda61 never parsed it (its tests stopped at the first that failed);
    the column-at-a-time filter parsed every record's and failed the listing (exit 2)."""
    kept = gctl.create("kept", *FORMATS)
    odd = gctl.create("odd", *FORMATS)
    _hand_edit(home, odd["id"], **edited)
    gctl.create("after", *FORMATS)  # any glancectl write: the summaries are written too
    for when in (("--created-at", "gt:2000-01-01T00:00:00Z"), ("--updated-at", "gt:2000-01-01T00:00:00Z")):
        for args in ((), ("-f", "json"), ("-q",), ("--long",)):
            result = gctl("image", "list", *hidden_by, *when, *args)
            assert result.exit_code == 0, (when, args, result.stderr)
            assert kept["id"] in result.stdout and odd["id"] not in result.stdout


def test_a_rendering_whose_lengths_were_damaged_is_never_shown(gctl, home):
    """Two images in one shard, the split between them moved by 3 bytes (the same total):
    were the header's "lengths" not under its crc32, -f json would print each image's JSON
    cut in the wrong place."""
    first = gctl.create("first", *FORMATS)
    gctl.ok("image", "create", "second", "--id", first["id"][:2] + gctl.create("x")["id"][2:],
            *FORMATS, "-q")
    expected = gctl.ok("image", "list", "-f", "json").stdout_bytes
    rendering = home / "rendered" / f"{first['id'][:2]}.items"
    header, body = rendering.read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    assert len(fields["lengths"]) == 2
    fields["lengths"][0] += 3
    fields["lengths"][-1] -= 3
    rendering.write_bytes(json.dumps(fields).encode() + b"\n" + body)
    result = gctl("image", "list", "-f", "json")
    assert result.exit_code == 0
    assert result.stdout_bytes == expected
