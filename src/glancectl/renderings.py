"""Renderings: each image's JSON as ``image list -f json`` prints it, kept beside its shard.

Building every image's Glance view and encoding it took most of a long JSON
listing's time, so the writers keep it, as a sidecar (``sidecars``: when one
is trusted, and how it is written) under ``rendered/``::

    <xx>.items   the sidecar header, with "lengths": [n, ...], then each record's
                 rendering in the shard's order

A writer renders its records as a listing would render them read back from
the file.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Callable, Iterable, Mapping

from glancectl import records
from glancectl.jsontext import ListItems, list_items, orjson_items
from glancectl.sidecars import Encoded, Sidecars


def image_items(stored: Iterable[Mapping]) -> list[bytes]:
    """Each image's Glance view as an element of a JSON list: what a rendering holds."""
    return list_items(map(records.image_view, stored))


class ImageItems(ListItems):
    """A listing's ``keep`` for ``image list -f json``: each image's item, which the listing
    may read from the renderings rather than make (``operations.images.list_images``)."""

    def __init__(self):
        super().__init__(records.image_view)


class Renderings(Sidecars):
    # Bump whenever the rendering changes (records.image_view, jsontext.list_items): a
    # rendering of another version is stale. tests/test_renderings.py pins the rendering.
    VERSION = 3
    SUFFIX = ".items"
    SHARDS = "image shard"
    IF_STALE = "'image list -f json' renders those images on every listing"

    def encode(self, stored: list) -> Encoded:
        return _encoded(image_items(stored))

    def encode_written(self, stored: list, read_back: Callable[[], list]) -> Encoded:
        """A listing renders the records as it reads them back, which differs only where
        orjson cannot write a value as it is (an integer past 64 bits, read back as a
        float), so only then are they read back."""
        return _encoded(orjson_items(map(records.image_view, stored)) or image_items(read_back()))

    def decode(self, fields: dict, body: memoryview, count: int | None) -> list[memoryview] | None:
        """Each record's rendering, if there are ``count`` of them."""
        lengths = fields["lengths"]
        if not (type(lengths) is list and len(lengths) == count
                and set(map(type, lengths)) <= {int} and min(lengths, default=0) >= 0
                and sum(lengths) == len(body)):
            return None
        ends = list(accumulate(lengths, initial=0))
        return list(map(body.__getitem__, map(slice, ends[:-1], ends[1:])))


def _encoded(items: list[bytes]) -> Encoded:
    return b"".join(items), {"lengths": list(map(len, items))}
