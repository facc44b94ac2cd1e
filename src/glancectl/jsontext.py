"""JSON text as glancectl prints it: Glance's field names, indented by 2, UTF-8.

Both the CLI's output and the renderings kept beside the image shards
(``renderings``) write it here, so a listing prints the same bytes whether
it renders a record now or reads the rendering a writer kept.
"""

from __future__ import annotations

import functools
import json
import re
from operator import itemgetter
from typing import Callable, Iterable, Mapping

# json leaves DEL and the C1 controls raw; escape them so a terminal never acts on them. And
# a lone surrogate (only a hand edit of a record makes one), for which UTF-8 has no bytes:
# it can only be inside a string, so as the JSON escape it was read from.
_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), *range(0xD800, 0xE000))}
_C1_UTF8 = re.compile(rb"\x7f|\xc2[\x80-\x9f]")  # DEL and the C1 controls, in UTF-8


def to_json(value, *, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False).translate(_ESCAPES)


def list_items(values: Iterable) -> list[bytes]:
    """Each value as ``to_json`` prints it as an element of a list (indented by 2), UTF-8.

    DEL and the C1 controls may be left raw: ``escape_controls`` escapes them,
    as ``to_json`` does, in the text the items are joined into. orjson when it
    is installed, in one call per list: the standard library's indenting
    encoder is pure Python, and took most of a long listing's time. A value
    orjson refuses (an integer past 64 bits, a lone surrogate) goes through
    ``to_json``, alone: the others are the same whatever shares their list.
    """
    values = list(values)
    items = orjson_items(values)
    if items is not None:
        return items
    dumps = _indenting_orjson()
    if dumps is None:
        return list(map(_item_by_json, values))
    return [_item(dumps, value) for value in values]


class ListItems:
    """A listing's ``keep`` for JSON: each record's ``view`` as an element of the list;
    ``many`` takes a whole list of records (a shard) in one encoding call."""

    def __init__(self, view: Callable[[Mapping], object]):
        self.view = view

    def __call__(self, record: Mapping) -> bytes:
        return list_items([self.view(record)])[0]

    def many(self, batch: list) -> list[bytes]:
        return list_items(map(self.view, batch))


def orjson_items(values: Iterable) -> list[bytes] | None:
    """``list_items`` of ``values`` in one orjson call, or None if orjson is not installed or
    refuses one of them."""
    dumps = _indenting_orjson()
    if dumps is None:
        return None
    try:
        # Each [value] indented, less its "[\n" and "\n]": the value indented as an element.
        return list(map(_INSIDE_BRACKETS, map(dumps, zip(values))))
    except TypeError:  # orjson.JSONEncodeError
        return None


def _item(dumps, value) -> bytes:
    try:
        return dumps([value])[2:-2]
    except TypeError:
        return _item_by_json(value)


def _item_by_json(value) -> bytes:
    return b"  " + to_json(value).encode().replace(b"\n", b"\n  ")


def escape_controls(text: bytes) -> bytes:
    """UTF-8 JSON text with DEL and the C1 controls escaped, as ``to_json`` escapes them."""
    if b"\x7f" not in text and b"\xc2" not in text:  # nearly always: two quick scans
        return text
    return _C1_UTF8.sub(lambda match: b"\\u%04x" % ord(match.group().decode()), text)


@functools.lru_cache(maxsize=None)
def _indenting_orjson():
    try:
        import orjson
    except ImportError:
        return None
    return functools.partial(orjson.dumps, option=orjson.OPT_INDENT_2)


_INSIDE_BRACKETS = itemgetter(slice(2, -2))
