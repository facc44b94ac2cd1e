"""Image metadata operations: create, find, list, set, unset, delete.

Each reads as a story: load under the lock, ask the lifecycle, save from
the expected status, return the record. No formatting happens here.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from glancectl import lifecycle, records
from glancectl.errors import Conflict, GlancectlError, InvalidValue, NotFound, PropertyNotFound
from glancectl.lifecycle import ImageStatus
from glancectl.operations import recovery
# Finding an image is its own module, light enough for `image show`; most callers look here.
from glancectl.operations.lookup import find_image, find_live_image, get_api_image  # noqa: F401
from glancectl.store import ColumnRecords, Store, checked_uuid

if TYPE_CHECKING:
    from glancectl.config import Settings
    from glancectl.listing import ImageFilter, KeptBatch


@contextmanager
def editing(store: Store, ref: str, *, scrub_time: float | None = None) -> Iterator[dict]:
    """Hold the store lock for a change to the live image ``ref``, and yield it.

    With no store home yet there is nothing to change: the image is reported
    missing without creating a home, a lock file or anything else.
    """
    if not store.exists():
        find_live_image(store, ref)  # raises NotFound, and reads nothing
    with store.writing():
        yield find_live_image(store, ref, scrub_time=scrub_time)


def save(store: Store, record: dict, changes: Mapping) -> dict:
    """Write ``changes`` only if the record is still in the status it was read in."""
    if not changes:
        return record
    fields = dict(changes)
    fields["updated_at"] = records.utcnow()
    if not store.images.update(record["id"], fields, expect_status=record["status"]):
        raise Conflict(f"image {record['id']} changed while it was being updated; retry")
    return {**record, **fields}


def move(store: Store, record: dict, status: str, **extra) -> dict:
    """Ask the lifecycle, then save the new status together with ``extra`` fields."""
    changes = lifecycle.image_status_changes(record, status)
    changes.update(extra)
    return save(store, record, changes)


@dataclass
class ImageSpec:
    """What a user gives on create."""

    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    properties: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    image_id: str | None = None


# The JSON types of Glance's core image attributes, for a body or an import task's input.
SPEC_TYPES = {"name": str, "visibility": str, "protected": bool, "os_hidden": bool,
              "min_disk": int, "min_ram": int, "tags": list, "disk_format": str,
              "container_format": str, "id": str}


def typed_attribute(key: str, value, what: str):
    """``value`` if it has the JSON type of core attribute ``key``."""
    wanted = SPEC_TYPES[key]
    ok = type(value) is bool if wanted is bool else (
        isinstance(value, wanted) and not isinstance(value, bool))
    if key == "tags":
        ok = ok and all(isinstance(tag, str) for tag in value)
    if key == "name" and value is None:
        ok = True  # Glance allows a null name
    if not ok:
        raise InvalidValue(f"{what} '{key}' must be {wanted.__name__}, got {value!r}")
    return value


def spec_from_json(given, *, what: str) -> ImageSpec:
    """An ImageSpec from Glance's JSON image attributes: core ones typed, the rest properties."""
    if not isinstance(given, dict):
        raise InvalidValue(f"{what} must be a JSON object")
    core = {key: typed_attribute(key, value, what)
            for key, value in given.items() if key in SPEC_TYPES}
    custom = {records.validate_property_key(key): value
              for key, value in given.items() if key not in SPEC_TYPES}
    for key, value in custom.items():
        if not isinstance(value, str):
            raise InvalidValue(f"{what} '{key}' must be a string, got {value!r}")
    return ImageSpec(
        name=core.get("name"), disk_format=core.get("disk_format"),
        container_format=core.get("container_format"),
        visibility=core.get("visibility", "shared"),
        protected=core.get("protected", False), os_hidden=core.get("os_hidden", False),
        min_disk=records.validate_min(core.get("min_disk", 0), "min_disk"),
        min_ram=records.validate_min(core.get("min_ram", 0), "min_ram"),
        properties=custom, tags=core.get("tags", []), image_id=core.get("id"),
    )


def create_image(
    store: Store, settings: Settings, spec: ImageSpec, *, initial: Mapping | None = None
) -> dict:
    """Insert a new image, queued unless ``initial`` registers it with data already.

    ``initial`` (status active plus size or locations) is how ``--size 0`` and
    ``--location`` register an image that never passes through saving. Every
    check runs before the single insert, so a refusal leaves nothing behind.
    """
    record = new_image_record(settings, spec, initial=initial)
    with store.writing():
        check_id_free(store, record["id"])
        store.images.insert(record)
    return record


def check_creatable(store: Store, settings: Settings, spec: ImageSpec) -> None:
    """Refuse now what ``create_image`` would refuse later (an import task's image)."""
    check_id_free(store, new_image_record(settings, spec)["id"])


def check_id_free(store: Store, image_id: str) -> None:
    if store.images.get(image_id) is not None:
        raise InvalidValue(f"An image with identifier {image_id} already exists")


def new_image_record(settings: Settings, spec: ImageSpec, *, initial: Mapping | None = None
                     ) -> dict:
    """The record ``create_image`` inserts, with every rule checked; nothing is written."""
    if initial:
        lifecycle.check_new_image_takes_data(spec.disk_format, spec.container_format)
    image_id = checked_uuid(spec.image_id) if spec.image_id else None
    record = records.new_image(
        image_id=image_id,
        name=spec.name,
        disk_format=spec.disk_format,
        container_format=spec.container_format,
        visibility=spec.visibility,
        protected=spec.protected,
        os_hidden=spec.os_hidden,
        min_disk=spec.min_disk,
        min_ram=spec.min_ram,
        properties=spec.properties,
        tags=spec.tags,
        owner=records.current_owner(),
    )
    records.check_quota(len(record["properties"]), settings.image_property_quota, "properties")
    records.check_quota(len(record["tags"]), settings.image_tag_quota, "tags")
    if initial:
        record.update(lifecycle.image_status_changes(record, initial["status"]))
        record.update({k: v for k, v in initial.items() if k != "status"})
        records.check_quota(len(record["locations"]), settings.image_location_quota, "locations")
    lifecycle.check_initial_image_status(record["status"])
    return record


def list_images(
    store: Store,
    image_filter: ImageFilter,
    *,
    sort: str | None = None,
    marker: str | None = None,
    limit: int | None = None,
    keep: Callable[[Mapping], object] | None = None,
) -> list:
    """The images ``image_filter`` matches, sorted and paged; ``keep`` picks what is kept of each.

    With a ``renderings.ImageItems`` to keep, each image's item is read from the
    shard's renderings where they fit it (``renderings``). Where the filter and
    ``keep`` need no field but the listed ones (``records.IMAGE_LISTED_FIELDS``),
    each shard's summary is read instead of the shard where it fits (``summaries``).
    """
    # Imported here: of this module's users, only listings need them (start-up of `image show`).
    from glancectl.listing import IMAGE_SORT_KEYS, FieldValues, parse_sort, select_batches
    from glancectl.renderings import ImageItems

    keys = parse_sort(sort, IMAGE_SORT_KEYS, "created_at:desc")
    if marker:
        marker = checked_uuid(marker)
    table = store.images
    listed = frozenset(table.listed_fields)
    summarised = image_filter.fields <= listed and (
        isinstance(keep, ImageItems) or (isinstance(keep, FieldValues) and set(keep.keys) <= listed))
    if isinstance(keep, ImageItems):
        shards = table.rendered_shards(summarised=summarised)
    elif summarised:
        shards = ((records, None, partial(table.whole_shard, path))
                  for path, _, records in table.summarised_shards())
    else:
        shards = ((records, None, None) for records in table.shards())
    return select_batches(_settled_matches(store, image_filter, shards), keys,
                          marker=marker, limit=limit, keep=keep)


Rendered = Callable[[], "list | None"]  # reads a shard's renderings: None unless they fit


def _settled_matches(store: Store, image_filter: ImageFilter,
                     shards: Iterable[tuple[list[dict] | ColumnRecords, Rendered | None,
                                            Callable[[], tuple[list[dict], Rendered | None]] | None]],
                     ) -> Iterator[list[dict] | ColumnRecords | KeptBatch]:
    """The images ``image_filter`` keeps, a shard at a time, after settling any whose writer
    died; with their renderings for a JSON listing, where the shard's fit.

    Each shard comes as (its records, what reads its renderings for a JSON listing, what
    reads it whole where its records are its summary: see ``ShardedTable.rendered_shards``).
    """
    from glancectl.listing import KeptBatch

    for records, rendered, whole in shards:
        matches = _matches(store, image_filter, records, rendered)
        if matches is None:  # the summary will not do
            matches = _matches(store, image_filter, *whole())
        records, chosen, items = matches
        picked = (records.compress(chosen) if type(records) is ColumnRecords
                  else list(compress(records, chosen)))
        if items is None:
            yield picked
        elif sum(chosen) * 2 < len(chosen):  # a few: copied, so the shard's rendering is freed
            yield KeptBatch(picked, list(map(bytes, compress(items, chosen))))
        else:
            yield KeptBatch(picked, list(compress(items, chosen)))


def _matches(store: Store, image_filter: ImageFilter, records: list[dict] | ColumnRecords,
             rendered: Rendered | None) -> tuple[list[dict] | ColumnRecords, list[bool], list | None] | None:
    """(the records, which ``image_filter`` keeps, their renderings or None), or None where
    the records are a shard's summary that will not do: an image in it needs settling, or
    a JSON listing shows some and the shard's renderings do not fit."""
    summary = type(records) is ColumnRecords
    statuses = getattr(records, "columns", {}).get("status") or list(map(_STATUS, records))
    if not lifecycle.IN_FLIGHT_STATUSES.isdisjoint(statuses):  # only these can have a dead writer
        if summary:
            return None
        records = [recovery.settled(store, r) if r["status"] in lifecycle.IN_FLIGHT_STATUSES else r
                   for r in records]
        rendered = None  # rendered before any settling
    chosen = image_filter.chosen(records)
    items = rendered() if rendered is not None and any(chosen) else None
    if summary and rendered is not None and items is None and any(chosen):
        return None
    return records, chosen, items


_STATUS = itemgetter("status")


@dataclass
class ImageChanges:
    """What a user asks ``image set`` / ``image unset`` to change; None means leave it."""

    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str | None = None
    protected: bool | None = None
    os_hidden: bool | None = None
    min_disk: int | None = None
    min_ram: int | None = None
    set_properties: dict = field(default_factory=dict)
    add_tags: list = field(default_factory=list)
    unset_properties: list = field(default_factory=list)
    remove_tags: list = field(default_factory=list)
    activation: str | None = None  # "deactivate" or "reactivate", with the other changes
    replace_tags: list | None = None  # the whole set, as an API PATCH of /tags gives it

    def is_empty(self) -> bool:
        return self == ImageChanges()


def update_image(store: Store, settings: Settings, ref: str, wanted: ImageChanges) -> dict:
    with editing(store, ref, scrub_time=settings.scrub_time) as record:
        changes: dict = {}
        if wanted.name is not None:
            changes["name"] = records.validate_name(wanted.name)
        if wanted.visibility is not None:
            changes["visibility"] = records.validate_visibility(wanted.visibility)
        for flag in ("protected", "os_hidden"):
            if getattr(wanted, flag) is not None:
                changes[flag] = getattr(wanted, flag)
        for size in ("min_disk", "min_ram"):
            if getattr(wanted, size) is not None:
                changes[size] = records.validate_min(getattr(wanted, size), size)
        if wanted.disk_format is not None or wanted.container_format is not None:
            lifecycle.check_formats_mutable(record)
            if wanted.disk_format is not None:
                changes["disk_format"] = records.validate_disk_format(wanted.disk_format)
            if wanted.container_format is not None:
                changes["container_format"] = records.validate_container_format(
                    wanted.container_format
                )
        properties = dict(record.get("properties") or {})
        for key in wanted.unset_properties:
            if key not in properties:
                raise PropertyNotFound(
                    f"Property {key} does not exist on image {records.image_label(record)}.")
            del properties[key]
        properties.update(records.validate_properties(wanted.set_properties))
        if properties != record.get("properties"):
            records.check_quota(len(properties), settings.image_property_quota, "properties")
            changes["properties"] = properties
        if wanted.activation == "deactivate":
            changes.update(lifecycle.deactivate_changes(record))
        elif wanted.activation == "reactivate":
            changes.update(lifecycle.reactivate_changes(record))
        current_tags = (record.get("tags") or []) if wanted.replace_tags is None else []
        tags = records.merged_tags(current_tags, [*(wanted.replace_tags or []), *wanted.add_tags])
        for tag in wanted.remove_tags:
            if tag not in tags:
                raise NotFound(f"Tag {tag} does not exist on image {records.image_label(record)}.")
            tags.remove(tag)
        if tags != record.get("tags"):
            records.check_quota(len(tags), settings.image_tag_quota, "tags")
            changes["tags"] = tags
        return save(store, record, changes)


def deactivate_image(store: Store, ref: str) -> dict:
    with editing(store, ref) as record:
        return save(store, record, lifecycle.deactivate_changes(record))


def reactivate_image(store: Store, ref: str) -> dict:
    with editing(store, ref) as record:
        return save(store, record, lifecycle.reactivate_changes(record))


def delete_image(store: Store, settings: Settings, ref: str) -> dict:
    """Delete one image; data goes now, or at scrub time under delayed delete."""
    with editing(store, ref, scrub_time=settings.scrub_time) as record:
        target = lifecycle.delete_target(record, delayed_delete=settings.delayed_delete)
        extra = {"deleted_at": records.utcnow()}
        if target == ImageStatus.PENDING_DELETE:
            return move(store, record, target, **extra)
        updated = move(store, record, target, **extra)
        from glancectl import datafiles  # only a delete touches data: reads start up without it

        datafiles.remove_image_data(store, record["id"])
        return updated


def delete_images(
    store: Store, settings: Settings, refs: Iterable[str]
) -> list[tuple[str, dict | GlancectlError]]:
    """Delete each image, carrying on past failures like openstackclient."""
    outcomes: list[tuple[str, dict | GlancectlError]] = []
    for ref in refs:
        try:
            outcomes.append((ref, delete_image(store, settings, ref)))
        except GlancectlError as exc:
            outcomes.append((ref, exc))
    return outcomes
