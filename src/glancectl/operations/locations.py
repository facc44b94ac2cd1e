"""Image locations: the seed's "add location from zero" and "remove location to zero".

A location's bytes are read once when it is added, before the store lock
is taken (a slow server never holds up other commands), as Glance's
location API does with do_secure_hash: the first location gives a queued
image its size and hashes, so a later download is verified; a further
location must hold the same bytes as the image already records.
"""

from __future__ import annotations

from typing import Mapping

from glancectl import datafiles, lifecycle, records
from glancectl.config import Settings
from glancectl.errors import DataError, InvalidValue, NotFound, Refused
from glancectl.lifecycle import ImageStatus
from glancectl.operations.data import (
    Expectations,
    Progress,
    check_declared_size,
    digest_fields,
    limit_checker,
    reading_at_most,
)
from glancectl.operations.images import (
    ImageSpec,
    create_image,
    editing,
    find_live_image,
    move,
    save,
)
from glancectl.store import Store


def read_location(settings: Settings, url: str, *, expect: Expectations = Expectations(),
                  progress: Progress | None = None) -> tuple[str, datafiles.Digest]:
    """Validate a location and read it whole for its size and hashes; ``expect`` must hold.

    image_size_cap bounds the read, so an endless source is refused, not read for ever.
    """
    from glancectl import sources

    url = sources.validate_location_url(url)
    with sources.open_url(url) as source:
        check_declared_size(expect, source)
        if source.size is not None:
            limit_checker(settings, None, None)(source.size)
        within_cap = limit_checker(settings, None, progress)
        readinto = reading_at_most(source.readinto, settings.image_size_cap + 1)
        digest = datafiles.measure(readinto, on_chunk=within_cap)
    problems = expect.mismatches(digest)
    if problems:
        raise DataError(f"Location {url} failed verification: " + "; ".join(problems) + ".")
    return url, digest


def _check_addable(settings: Settings, record: dict, url: str) -> list[dict]:
    """The image's locations with ``url`` added, if the rules allow it."""
    lifecycle.check_locations_mutable(record, "add")
    existing = record.get("locations") or []
    if any(loc["url"] == url for loc in existing):
        raise Refused(f"Location {url} is already on image {records.image_label(record)}.")
    records.check_quota(len(existing) + 1, settings.image_location_quota, "locations")
    return existing


def _recorded(record: dict) -> Expectations:
    """What an image with data says its bytes are."""
    sha512 = record.get("os_hash_algo") in (None, "sha512")
    return Expectations(record.get("size"), record.get("checksum"),
                        record.get("os_hash_value") if sha512 else None)


def add_location(store: Store, settings: Settings, ref: str, url: str, metadata: dict | None = None,
                 *, progress: Progress | None = None) -> dict:
    entry = records.location_entry(url, metadata)
    _check_addable(settings, find_live_image(store, ref), url)  # refused before reading the data
    url, digest = read_location(settings, url, progress=progress)
    with editing(store, ref, scrub_time=settings.scrub_time) as record:
        locations = [*_check_addable(settings, record, url), entry]
        if record["status"] == ImageStatus.QUEUED:
            return move(store, record, ImageStatus.ACTIVE, locations=locations,
                        **digest_fields(digest))
        problems = _recorded(record).mismatches(digest)
        if problems:
            raise DataError(f"Location {url} does not hold the data of image "
                            f"{records.image_label(record)}: " + "; ".join(problems) + ".")
        return save(store, record, {"locations": locations})


def _location_index(record: dict, url: str) -> int:
    for index, location in enumerate(record.get("locations") or []):
        if location["url"] == url:
            return index
    raise NotFound(f"Location {url} is not on image {records.image_label(record)}.",
                   hint=f"See its locations: glancectl image location list {record['id']}")


def remove_location(store: Store, ref: str, url: str) -> dict:
    with editing(store, ref) as record:
        lifecycle.check_locations_mutable(record, "remove")
        existing = record.get("locations") or []
        _location_index(record, url)
        locations = [loc for loc in existing if loc["url"] != url]
        if locations:
            updated = save(store, record, {"locations": locations})
        else:
            updated = move(store, record, ImageStatus.QUEUED, locations=[])
        if url == datafiles.store_location(store, record["id"]):
            datafiles.remove_image_data(store, record["id"])
        return updated


def update_location_metadata(store: Store, ref: str, url: str, metadata: Mapping) -> dict:
    """Replace one location's metadata (glance location-update); its URL and store stay.

    The data does not move, so metadata naming another store is refused; metadata
    that names none keeps the location's store.
    """
    if not isinstance(metadata, Mapping):
        raise InvalidValue("location metadata must be a JSON object")
    with editing(store, ref) as record:
        lifecycle.check_locations_mutable(record, "update")
        existing = list(record.get("locations") or [])
        index = _location_index(record, url)
        current = (existing[index].get("metadata") or {}).get("store")
        wanted = metadata.get("store", current)
        if current is not None and wanted != current:
            raise InvalidValue(f"Location {url} is in store '{current}'; its metadata cannot "
                               f"name store {wanted!r} (the data does not move).")
        # Only the metadata changes; anything else recorded with the location stays.
        existing[index] = {**existing[index], **records.location_entry(
            url, {**metadata, "store": wanted} if wanted is not None else metadata)}
        return save(store, record, {"locations": existing})


def create_with_location(
    store: Store, settings: Settings, spec: ImageSpec, url: str, metadata: dict | None = None,
    *, expect: Expectations = Expectations(), progress: Progress | None = None,
) -> dict:
    """Register an image whose data lives elsewhere: active at once, never saving (seed)."""
    # Formats first: a refusal must not wait on (or depend on) a remote server.
    lifecycle.check_new_image_takes_data(spec.disk_format, spec.container_format)
    entry = records.location_entry(url, metadata)
    url, digest = read_location(settings, url, expect=expect, progress=progress)
    return create_image(store, settings, spec, initial={
        "status": ImageStatus.ACTIVE, "locations": [entry], **digest_fields(digest),
    })


def create_empty(store: Store, settings: Settings, spec: ImageSpec) -> dict:
    """``--size 0``: the seed's image that is active with no data at all."""
    return create_image(store, settings, spec, initial={"status": ImageStatus.ACTIVE, "size": 0})


def remove_location_at(store: Store, ref: str, index: int) -> dict:
    """Remove the ``index``-th location (a JSON-patch ``remove /locations/N``)."""
    locations = find_live_image(store, ref).get("locations") or []
    if not 0 <= index < len(locations):
        raise InvalidValue(f"Index {index} is out of range: the image has {len(locations)} locations.")
    return remove_location(store, ref, locations[index]["url"])


def replace_locations(store: Store, settings: Settings, ref: str, entries: list) -> dict:
    """Make the image's locations ``entries``: remove those not kept, then add the new ones."""
    if not all(isinstance(e, dict) and isinstance(e.get("url"), str) for e in entries):
        raise InvalidValue("A location must be an object with a 'url' and 'metadata'.")
    wanted = [records.location_entry(e["url"], e.get("metadata")) for e in entries]
    record = find_live_image(store, ref)
    keep = {entry["url"] for entry in wanted}
    for location in record.get("locations") or []:
        if location["url"] not in keep:
            record = remove_location(store, ref, location["url"])
    have = {location["url"] for location in record.get("locations") or []}
    for entry in wanted:
        if entry["url"] not in have:
            record = add_location(store, settings, ref, entry["url"], entry["metadata"])
    return record
