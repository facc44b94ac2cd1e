"""Image and task records: Glance's fields, defaults and validation. No I/O.

A stored image keeps custom properties in a nested ``properties`` dict so
they can never collide with core fields; ``image_view`` flattens them to
top-level keys the way Glance's v2 API shows them.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

from glancectl.errors import AttributeForbidden, InvalidValue, LimitExceeded
from glancectl import lifecycle
from glancectl.lifecycle import ImageStatus, TaskStatus

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
MAX_NAME_LEN = 255
# Glance keeps min_disk and min_ram in 4-byte INT columns (glance.db.sqlalchemy.api._validate_db_int).
MAX_DB_INT = 2**31 - 1
# Glance's API schema sets no length on a property value; its image_properties.value
# column is a Text, 65535 bytes in MySQL, so that is the longest value Glance keeps.
MAX_PROPERTY_VALUE_BYTES = 65535
# The stores a location's metadata may name (Glance's enabled_backends here), by URL scheme.
LOCATION_STORES = {"file": "file", "http": "http", "https": "http"}
_STORE_NAMES = frozenset(LOCATION_STORES.values())
_LOCATION_KEYS = ("url", "metadata")

READ_ONLY_ATTRIBUTES = frozenset(
    {"id", "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
     "created_at", "updated_at", "direct_url", "file", "schema", "self", "owner"}
)
RESERVED_ATTRIBUTES = frozenset({"deleted", "deleted_at", "location", "locations"})
# Core attributes have their own options; setting them as properties would bypass validation.
CORE_SETTABLE = {
    "name": "--name", "visibility": "--visibility", "protected": "--protected",
    "os_hidden": "--hidden", "min_disk": "--min-disk", "min_ram": "--min-ram",
    "disk_format": "--disk-format", "container_format": "--container-format", "tags": "--tag",
}

IMAGE_FIELDS = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "disk_format",
    "container_format", "min_disk", "min_ram", "size", "virtual_size", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "tags", "locations", "direct_url",
    "created_at", "updated_at",
)
# Keys of the stored record that are bookkeeping, never shown.

TASK_FIELDS = (
    "id", "type", "status", "input", "result", "message", "owner", "image_id",
    "expires_at", "created_at", "updated_at",
)
# What Glance's task list shows of each task (no input, result or message).
TASK_SUMMARY_FIELDS = ("id", "type", "status", "owner", "expires_at", "created_at", "updated_at")
RUN_LATER = "run_later"  # bookkeeping: left pending on purpose, for 'glancectl task run'
# What 'task list' reads of each task (and the task summaries hold): the summary, the finer
# sort key, the image it may filter by, and whether it was left pending on purpose.
TASK_LISTED_FIELDS = (*TASK_SUMMARY_FIELDS, "created_ns", "image_id", RUN_LATER)
# What an image listing reads of each image (and the image summaries hold): what it filters
# and sorts by, but for tags, properties and hashes (a listing by those reads whole images).
IMAGE_LISTED_FIELDS = ("id", "name", "status", "visibility", "owner", "protected", "os_hidden",
                       "disk_format", "container_format", "size", "created_at", "created_ns",
                       "updated_at")
_VIEW_FIELDS = tuple(key for key in IMAGE_FIELDS if key != "direct_url")
# The keys a view copies from the record unchanged (a listing of them needs no view).
IMAGE_PLAIN_FIELDS = tuple(key for key in _VIEW_FIELDS if key != "locations")
TASK_PLAIN_FIELDS = TASK_SUMMARY_FIELDS
# The keys a listing sorts by (``listing``); here so that --help can name them without loading it.
IMAGE_SORT_KEYS = (
    "name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at",
)
TASK_SORT_KEYS = ("type", "status", "id", "created_at", "updated_at")
# The keys of an image record in the order new_image writes them (updates keep the order).
_STORED_ORDER = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "disk_format",
    "container_format", "min_disk", "min_ram", "size", "virtual_size", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "tags", "locations", "properties",
    "created_at", "created_ns", "updated_at",
)
_STORED_LEN = len(_STORED_ORDER)


def creation_stamp() -> tuple[str, int]:
    """created_at at Glance's one-second resolution, and the nanosecond ``created_ns`` of the
    same clock reading: the hidden key that keeps records made in one second in order."""
    now_ns = time.time_ns()
    return isotime(datetime.fromtimestamp(now_ns // 10**9, timezone.utc)), now_ns


def utcnow() -> str:
    """Glance's timestamp form: ISO 8601, UTC, seconds, with a Z."""
    return isotime(datetime.now(timezone.utc))


def isotime(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"'{value}' is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is a time before year 1 in UTC
        raise InvalidValue(f"'{value}' is not a time between the years 1 and 9999 in UTC") from None


def scrub_due_at(image: Mapping, scrub_time: float | None) -> str | None:
    """When a pending_delete image becomes due for scrub: deleted_at + scrub_time."""
    if scrub_time is None or not image.get("deleted_at"):
        return None
    return isotime(parse_time(image["deleted_at"]) + timedelta(seconds=scrub_time))


def current_owner() -> str:
    import getpass  # only writers need it; not on every command's start-up

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "local"


# -- validation --------------------------------------------------------------
def _choice(value: str, choices: Iterable[str], what: str) -> str:
    if value not in choices:
        raise InvalidValue(f"Invalid {what} '{value}'. Valid values: {', '.join(choices)}")
    return value


def validate_disk_format(value: str) -> str:
    return _choice(value, DISK_FORMATS, "disk format")


def validate_container_format(value: str) -> str:
    return _choice(value, CONTAINER_FORMATS, "container format")


def validate_visibility(value: str) -> str:
    return _choice(value, VISIBILITIES, "visibility")


def validate_name(value: str) -> str:
    if len(value) > MAX_NAME_LEN:
        raise InvalidValue(f"name is {len(value)} characters long; the limit is {MAX_NAME_LEN}")
    return value


def validate_min(value: int, what: str) -> int:
    """min_disk and min_ram, on create, set and in an import task's image_properties."""
    if value < 0:
        raise InvalidValue(f"{what} must be 0 or greater (got {value})")
    if value > MAX_DB_INT:
        raise InvalidValue(f"'{what}' value out of range, must not exceed {MAX_DB_INT}.")
    return value


def validate_tag(tag: str) -> str:
    if len(tag) > MAX_NAME_LEN:
        raise InvalidValue(f"tag is {len(tag)} characters long; the limit is {MAX_NAME_LEN}")
    if not tag:
        raise InvalidValue("a tag cannot be empty")
    return tag


def validate_property_key(key: str) -> str:
    if key in READ_ONLY_ATTRIBUTES:
        raise AttributeForbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED_ATTRIBUTES or key.startswith("os_glance"):
        raise AttributeForbidden(f"Attribute '{key}' is reserved.")
    if key in CORE_SETTABLE:
        raise InvalidValue(f"'{key}' is a core attribute, not a property; use {CORE_SETTABLE[key]}.")
    if not key:
        raise InvalidValue("a property name cannot be empty")
    if len(key) > MAX_NAME_LEN:
        raise InvalidValue(f"property name is {len(key)} characters long; the limit is {MAX_NAME_LEN}")
    return key


def validate_property_value(key: str, value) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"property '{key}' must be a string, got {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_PROPERTY_VALUE_BYTES:
        raise InvalidValue(
            f"property '{key}' is {len(value.encode('utf-8', 'surrogatepass'))} bytes long; "
            f"a property value is at most {MAX_PROPERTY_VALUE_BYTES} bytes")
    return value


def validate_properties(properties: Mapping) -> dict:
    """Custom properties as Glance takes them: settable keys, string values within its limits."""
    return {validate_property_key(key): validate_property_value(key, value)
            for key, value in properties.items()}


def split_key_value(text: str) -> tuple[str, str]:
    """``K=V`` as given to --property, to set a property or to filter on one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InvalidValue(f"--property expects KEY=VALUE, got '{text}'")
    return key, value


def parse_property(text: str) -> tuple[str, str]:
    """``K=V`` for a property to set: the key must be one a user may set."""
    key, value = split_key_value(text)
    return validate_property_key(key), validate_property_value(key, value)


def merged_tags(existing: Iterable[str], added: Iterable[str]) -> list[str]:
    """Tags are a set in Glance; keep first-seen order so output is stable."""
    result: list[str] = []
    for tag in [*existing, *added]:
        if validate_tag(tag) not in result:
            result.append(tag)
    return result


def location_entry(url: str, metadata: Mapping | None = None, *, given: bool = True) -> dict:
    """A location as Glance records it: its metadata names the store that serves the URL.

    Like Glance's ``store_utils.update_store_in_locations``, a missing store,
    or one that is not a known backend (an older glancectl's ``"local"``), is
    set from the URL's scheme; every other metadata key is kept. ``given``:
    metadata a user gives, which must be JSON that any parser reads back.
    """
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidValue("location metadata must be a JSON object")
    if given and not _all_finite(metadata):
        # Python's json reads 1e999 as inf and NaN as nan; written back, they are not JSON.
        raise InvalidValue("location metadata must hold finite numbers (not NaN or Infinity)")
    entry = dict(metadata or {})
    if entry.get("store") not in _STORE_NAMES:
        store = LOCATION_STORES.get(url.partition(":")[0].lower())
        if store is not None:
            entry["store"] = store
    return {"url": url, "metadata": entry}


def _location_view(location: Mapping) -> Mapping:
    """A stored location as shown: its store named; a mis-shaped one shown as it is."""
    metadata = location.get("metadata")
    if type(metadata) is dict and metadata.get("store") in _STORE_NAMES and tuple(location) == _LOCATION_KEYS:
        return location  # as location_entry wrote it: shown unchanged (a listing has many)
    url = location.get("url")
    if not isinstance(url, str) or not isinstance(metadata, (Mapping, type(None))):
        return location
    return location_entry(url, metadata, given=False)


def _all_finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(map(_all_finite, value.values()))
    if isinstance(value, list):
        return all(map(_all_finite, value))
    return True


def check_quota(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise LimitExceeded(
            f"The limit has been exceeded on the number of allowed image {what}. "
            f"Attempted: {count}, Maximum: {limit}"
        )


# -- building and showing ----------------------------------------------------
def new_image(
    *,
    image_id: str | None,
    name: str | None,
    disk_format: str | None,
    container_format: str | None,
    visibility: str,
    protected: bool,
    os_hidden: bool,
    min_disk: int,
    min_ram: int,
    properties: Mapping[str, str],
    tags: Iterable[str],
    owner: str,
) -> dict:
    now, now_ns = creation_stamp()
    return {
        "id": image_id or str(uuid.uuid4()),
        "name": validate_name(name) if name is not None else None,
        "status": ImageStatus.QUEUED.value,
        "visibility": validate_visibility(visibility),
        "protected": protected,
        "os_hidden": os_hidden,
        "disk_format": validate_disk_format(disk_format) if disk_format else None,
        "container_format": validate_container_format(container_format) if container_format else None,
        "min_disk": validate_min(min_disk, "min_disk"),
        "min_ram": validate_min(min_ram, "min_ram"),
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "os_hash_algo": None,
        "os_hash_value": None,
        "owner": owner,
        "tags": merged_tags([], tags),
        "locations": [],
        "properties": validate_properties(properties),
        "created_at": now,
        "created_ns": now_ns,
        "updated_at": now,
    }


def image_view(record: Mapping) -> dict:
    """The record as Glance v2 shows it: core fields, then custom properties at top level."""
    keys = tuple(record)
    if keys[:_STORED_LEN] == _STORED_ORDER:
        # As new_image wrote it, perhaps with bookkeeping added since (status_reason,
        # deleted_at ...): a copy less those keys has every core field in the view's
        # order, in a third of the time (a listing calls this per image).
        view = record.copy()
        del view["properties"], view["created_ns"]
        for key in keys[_STORED_LEN:]:
            if key != "direct_url" or not view[key]:
                del view[key]
    else:
        get = record.get
        view = dict(zip(_VIEW_FIELDS, map(get, _VIEW_FIELDS)))
        if get("direct_url"):
            view["direct_url"] = record["direct_url"]
    if view["locations"] != []:  # each named as Glance shows it (most images have one)
        view["locations"] = [_location_view(loc) for loc in view["locations"] or ()]
    image_id = record["id"]
    view["file"] = f"/v2/images/{image_id}/file"
    view["schema"] = "/v2/schemas/image"
    view["self"] = f"/v2/images/{image_id}"
    properties = record.get("properties")
    if properties:
        for key in sorted(properties):
            if key not in view:
                view[key] = properties[key]
    return view


image_label = lifecycle.image_label  # one way to name an image in every message


def new_task(*, task_type: str, task_input: Mapping, owner: str, image_id: str | None = None) -> dict:
    """A pending task, as Glance records one: no result, an empty message, no expiry yet."""
    now, now_ns = creation_stamp()
    return {
        "id": str(uuid.uuid4()),
        "type": task_type,
        "status": TaskStatus.PENDING.value,
        "input": dict(task_input),
        "result": None,
        "message": "",
        "owner": owner,
        "image_id": image_id,
        "expires_at": None,
        "created_at": now,
        "created_ns": now_ns,
        "updated_at": now,
    }


def task_view(record: Mapping, *, summary: bool = False) -> dict:
    """The task as Glance v2 shows it; image_id only when the task has an image."""
    keys = TASK_SUMMARY_FIELDS if summary else TASK_FIELDS
    view = {key: record.get(key) for key in keys if key != "image_id" or record.get("image_id")}
    view["self"] = f"/v2/tasks/{record['id']}"
    view["schema"] = "/v2/schemas/task"
    return view
