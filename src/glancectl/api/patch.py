"""Glance's JSON-patch for images (application/openstack-images-v2.1-json-patch).

Turns a patch document into the same ``ImageChanges`` that ``image set`` /
``image unset`` build, plus the location changes, which have their own
operations. Parsing only: types, read-only and reserved names, quotas and
lifecycle rules are all checked below, in operations and records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glancectl import records
from glancectl.errors import InvalidValue
from glancectl.operations.images import SPEC_TYPES, ImageChanges, typed_attribute

OPS = ("add", "replace", "remove")
CORE = frozenset(SPEC_TYPES) - {"id", "tags"}


@dataclass
class Patch:
    changes: ImageChanges = field(default_factory=ImageChanges)
    locations: list[tuple[str, object]] = field(default_factory=list)  # (op, url | entry | index)


def _path(raw) -> tuple[str, str | None]:
    """'/name' -> ('name', None); '/locations/-' -> ('locations', '-'); '~1' and '~0' decoded."""
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise InvalidValue(f"Json path should start with a '/', got {raw!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in raw[1:].split("/")]
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "locations"):
        raise InvalidValue(f"Invalid JSON pointer for this resource: '{raw}'")
    return parts[0], parts[1] if len(parts) == 2 else None


def parse(document) -> Patch:
    if not isinstance(document, list):
        raise InvalidValue("Request body must be a JSON array of operation objects.")
    patch = Patch()
    for operation in document:
        if not isinstance(operation, dict) or operation.get("op") not in OPS:
            raise InvalidValue(
                f"Operation objects must contain exactly one member named \"op\" with one "
                f"of {', '.join(OPS)}; got {operation!r}")
        if "path" not in operation or (operation["op"] != "remove" and "value" not in operation):
            raise InvalidValue(f"Operation \"{operation['op']}\" requires a member named "
                               f"\"{'path' if 'path' not in operation else 'value'}\".")
        _apply(patch, operation["op"], *_path(operation["path"]), operation.get("value"))
    return patch


def _apply(patch: Patch, op: str, name: str, index: str | None, value) -> None:
    wanted = patch.changes
    if name == "locations":
        _location(patch, op, index, value)
    elif name == "tags":
        if op == "remove":
            raise InvalidValue("Cannot remove the tags attribute; replace it with [].")
        wanted.replace_tags = typed_attribute("tags", value, "tags")
    elif name in CORE:
        if op == "remove":
            raise InvalidValue(f"Cannot remove the core attribute '{name}'.")
        setattr(wanted, name, typed_attribute(name, value, name))
    elif op == "remove":
        wanted.unset_properties.append(records.validate_property_key(name))
    else:
        if not isinstance(value, str):
            raise InvalidValue(f"Property '{name}' must be a string, got {value!r}")
        wanted.set_properties[records.validate_property_key(name)] = value


def _location(patch: Patch, op: str, index: str | None, value) -> None:
    if op == "add":
        if index != "-" and not (index or "").isdigit():
            raise InvalidValue("Add a location with the path /locations/-")
        if not isinstance(value, dict) or not isinstance(value.get("url"), str):
            raise InvalidValue("A location must be an object with a 'url' and 'metadata'.")
        patch.locations.append(("add", value))
    elif op == "remove":
        if index is None or not index.isdigit():
            raise InvalidValue("Remove a location with the path /locations/N")
        patch.locations.append(("remove", int(index)))
    else:
        if index is not None or not isinstance(value, list):
            raise InvalidValue("Replace /locations with a list of location objects.")
        patch.locations.append(("replace", value))
