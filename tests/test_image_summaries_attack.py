"""Reproductions from a hostile review of the image summaries (branch attack-image-summaries):
each test shows an image listing that prints differently from glancectl 93bda61 on the same
store, since listings read summaries and filter a column at a time."""

from __future__ import annotations

import pytest

from tests.conftest import FORMATS
from tests.test_doctor import _edit_image


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
    _edit_image(home / "images" / f"{odd['id'][:2]}.json", odd["id"], lambda r: r.update(edited))
    gctl.create("after", *FORMATS)  # any glancectl write: the summaries are written too
    for when in (("--created-at", "gt:2000-01-01T00:00:00Z"), ("--updated-at", "gt:2000-01-01T00:00:00Z")):
        for args in ((), ("-f", "json"), ("-q",), ("--long",)):
            result = gctl("image", "list", *hidden_by, *when, *args)
            assert result.exit_code == 0, (when, args, result.stderr)
            assert kept["id"] in result.stdout and odd["id"] not in result.stdout

