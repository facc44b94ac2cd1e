"""`image push` and `image pull`: a local image to and from a real Glance, through openstacksdk.

openstacksdk (the official SDK, with keystoneauth underneath) does all the
talking: credentials come from its own config loader (clouds.yaml, OS_CLOUD,
OS_* variables), and this module only decides what to send and checks what
comes back. It is imported only by these two commands.

Both directions end verified: a push waits for the remote image to become
active and compares its os_hash_value and checksum with the local ones; a
pull streams through the same ingest as an upload and checks the data
against the remote's. A failed push deletes the remote image it created
(unless asked to keep it); a failed pull leaves the local image queued or
killed, as an upload does. Which local image is which remote one is kept in
``remote_links``, so a second push or pull of the same image sends nothing.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from glancectl import __version__, records, remote_links
from glancectl.config import Settings
from glancectl.errors import (
    DataError,
    GlancectlError,
    InvalidValue,
    LimitExceeded,
    NotFound,
    Refused,
    RemoteUnavailable,
    StoreUnavailable,
)
from glancectl.lifecycle import ImageStatus
from glancectl.operations import data as data_ops
from glancectl.operations import images as image_ops
from glancectl.sources import DataSource
from glancectl.store import Store

Progress = Callable[[int], None]

UPLOAD = "upload"
GLANCE_DIRECT = "glance-direct"
METHODS = (UPLOAD, GLANCE_DIRECT)
WAIT_TIMEOUT = 3600.0  # seconds a remote import may take to become active
POLL_INTERVAL = 0.5
RETRIES = 4  # of an idempotent call that met a server error (5xx)
RETRY_PAUSE = 0.5  # seconds, growing with each retry
CLEANUP_TIMEOUT = 30.0  # seconds to keep trying to delete a half-made remote image
_RECEIVING = (ImageStatus.SAVING, ImageStatus.UPLOADING)  # Glance still holds the data stream
SEND_BLOCK = 1024 * 1024  # bytes handed to the HTTP connection per write

# Glance's own fields, and what Glance adds to an image itself: never custom properties.
_NOT_PROPERTIES = frozenset(records.IMAGE_FIELDS) | {"file", "schema", "self", "stores", "properties"}


def _is_custom_property(key: str) -> bool:
    return key not in _NOT_PROPERTIES and not key.startswith("os_glance")


# -- errors ------------------------------------------------------------------
def _http_error(exc, cloud: str) -> GlancectlError:
    """One SDK HTTP error as ours, by status: the exit code says what kind of failure it was."""
    status = exc.status_code or 0
    detail = exc.details or exc.message or type(exc).__name__
    message = f"the remote Glance (cloud {cloud}) answered {status}: {detail}"
    if status == 401:
        return RemoteUnavailable(f"authentication with cloud {cloud} failed: {detail}")
    if status == 404:
        return NotFound(message)
    if status in (403, 409):
        return Refused(message)
    if status == 413:
        return LimitExceeded(message)
    if status == 400:
        return InvalidValue(message)
    return RemoteUnavailable(message)


@contextmanager
def translated(cloud: str) -> Iterator[None]:
    """SDK and keystoneauth failures as glancectl's errors; nothing else is touched.

    Only the exception's own message is shown: keystoneauth and openstacksdk
    never put a password or token in one, and no request is logged.
    """
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    try:
        yield
    except sdk.HttpException as exc:
        raise _http_error(exc, cloud) from None
    except sdk.ConfigException as exc:
        raise RemoteUnavailable(f"cloud {cloud}: {exc}") from None
    except ksa.ClientException as exc:  # connection, discovery, authentication
        raise RemoteUnavailable(f"cannot use cloud {cloud}: {exc}") from None
    except sdk.SDKException as exc:
        raise RemoteUnavailable(f"cloud {cloud}: {exc}") from None


# -- the connection ------------------------------------------------------------
@dataclass
class Remote:
    """One authenticated connection to a remote Glance."""

    conn: object
    cloud: str  # for messages: the clouds.yaml name, or where the settings came from
    endpoint: str  # the image endpoint: how links know this Glance whatever the cloud's name

    def translated(self):
        return translated(self.cloud)

    def retried(self, call: Callable[[], object]):
        """An idempotent call (a read, a PATCH that sets values), retried on a server error.

        A busy Glance answers 5xx for a moment now and then (on sqlite, "database
        is locked" while its import task finishes writing); the retries are few
        and bounded, and the last error is the one shown.
        """
        from openstack import exceptions as sdk

        with self.translated():
            for attempt in range(RETRIES):
                try:
                    return call()
                except sdk.HttpException as exc:
                    if (exc.status_code or 0) < 500:
                        raise
                time.sleep(RETRY_PAUSE * (attempt + 1))
            return call()

    def get(self, image_id: str):
        """The remote image, or None when it is gone (deleted, or never there)."""
        from openstack import exceptions as sdk

        with self.translated():
            try:
                return self.conn.image.get_image(image_id)
            except sdk.NotFoundException:
                return None

    def find(self, ref: str):
        """A remote image by ID or by a name only one image has."""
        from openstack import exceptions as sdk

        with self.translated():
            try:
                return self.conn.image.find_image(ref, ignore_missing=False)
            except sdk.NotFoundException:
                raise NotFound(
                    f"No image with a name or ID of '{ref}' exists in cloud {self.cloud}.") from None
            except sdk.DuplicateResource:
                raise InvalidValue(f"More than one image in cloud {self.cloud} is named '{ref}'. "
                                   "Use an ID instead.") from None

    def import_methods(self) -> list[str]:
        """What /v2/info/import advertises; empty when the cloud has no import API."""
        from openstack import exceptions as sdk

        with self.translated():
            try:
                info = self.conn.image.get_import_info()
            except sdk.NotFoundException:
                return []
        return list((info.import_methods or {}).get("value") or [])

    def discard(self, image, timeout: float = CLEANUP_TIMEOUT) -> str | None:
        """Delete an image this command created, and check that it is gone.

        When a send breaks off, Glance is still settling the half-sent data and
        then puts the image back to queued; an admin's delete that lands before
        that is undone by it. So the delete waits (up to ``timeout``) for the
        image to leave saving/uploading, and is retried until the image is gone.
        Returns why it could not be deleted, or None.
        """
        deadline = time.monotonic() + timeout
        problem = "it was still there"
        while True:
            late = time.monotonic() > deadline
            try:
                current = self.get(image.id)
                if current is None:
                    return None
                if late or current.status not in _RECEIVING:
                    with self.translated():
                        self.conn.image.delete_image(current, ignore_missing=True)
                    if self.get(image.id) is None:
                        return None
            except GlancectlError as exc:
                problem = str(exc)
            if late:
                return problem
            time.sleep(POLL_INTERVAL)


def connect(cloud: str | None) -> Remote:
    """Authenticate with ``cloud`` (a clouds.yaml name; None means OS_CLOUD or OS_* variables)."""
    import openstack

    label = cloud or "from the environment (OS_CLOUD / OS_* variables)"
    with translated(label):
        conn = openstack.connect(cloud=cloud, app_name="glancectl", app_version=__version__)
        label = cloud or conn.config.name or label
        endpoint = conn.image.get_endpoint()
    return Remote(conn, label, endpoint.rstrip("/"))


def remote_view(image) -> dict:
    """A remote image as Glance v2 shows it: core fields, then custom properties at top level."""
    body = image.to_dict(headers=False, computed=False, original_names=True, ignore_none=True)
    properties = body.pop("properties", None) or {}
    view = {key: body.get(key) for key in records.IMAGE_FIELDS
            if key not in ("locations", "direct_url")}
    view["file"] = f"/v2/images/{image.id}/file"
    view["schema"] = "/v2/schemas/image"
    view["self"] = f"/v2/images/{image.id}"
    extra = {**{k: v for k, v in body.items() if k not in view}, **properties}
    for key in sorted(extra):
        if key not in ("locations", "direct_url"):
            view.setdefault(key, extra[key])
    return view


def _custom_properties(image) -> dict:
    view = remote_view(image)
    return {key: value for key, value in view.items()
            if _is_custom_property(key) and value is not None}


# -- push ------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    view: dict  # the image to show: remote for push, local for pull
    up_to_date: bool  # nothing was sent


class _Sender:
    """The local data as the HTTP body: read in large blocks, counted for progress.

    ``__len__`` gives requests the Content-Length, so the body is streamed
    with a known length rather than chunked.
    """

    def __init__(self, source: DataSource, size: int | None, progress: Progress | None):
        self.source = source
        self.size = size
        self.progress = progress
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        block = bytearray(max(amount, SEND_BLOCK))
        got = self.source.readinto(memoryview(block))
        self.sent += got
        if self.progress is not None and got:
            self.progress(self.sent)
        return bytes(block[:got]) if got < len(block) else bytes(block)

    def __iter__(self):
        while block := self.read():
            yield block


def _metadata(record: dict) -> dict:
    """What a push carries, in openstacksdk's attribute names; protected is set last."""
    return {
        "name": record.get("name"),
        "disk_format": record.get("disk_format"),
        "container_format": record.get("container_format"),
        "visibility": record.get("visibility"),
        "min_disk": record.get("min_disk") or 0,
        "min_ram": record.get("min_ram") or 0,
        "is_hidden": bool(record.get("os_hidden")),
        "tags": list(record.get("tags") or []),
        "properties": dict(record.get("properties") or {}),
    }


def choose_method(wanted: str | None, advertised: list[str], cloud: str) -> str:
    """--method, or import when the cloud advertises glance-direct, else a plain upload."""
    if wanted is None:
        return GLANCE_DIRECT if GLANCE_DIRECT in advertised else UPLOAD
    if wanted not in METHODS:
        raise InvalidValue(f"--method must be one of {', '.join(METHODS)}")
    if wanted == GLANCE_DIRECT and GLANCE_DIRECT not in advertised:
        offered = ", ".join(advertised) or "none"
        raise InvalidValue(f"cloud {cloud} does not offer the glance-direct import method "
                           f"(it offers: {offered}); use --method upload")
    return wanted


def _create_remote(remote: Remote, record: dict):
    """The remote image, with the local ID when the remote has no image by that ID."""
    from openstack import exceptions as sdk
    from openstack.image.v2.image import Image

    with remote.translated():
        try:
            return Image.new(id=record["id"], **_metadata(record)).create(remote.conn.image)
        except sdk.ConflictException:
            # That ID is taken there (Glance never reuses a deleted image's ID).
            return Image.new(**_metadata(record)).create(remote.conn.image)


def _wait_active(remote: Remote, image, timeout: float):
    """Poll until active; an import that fails sends the image back to queued."""
    deadline = time.monotonic() + timeout
    while True:
        image = remote.retried(lambda: remote.conn.image.get_image(image))
        properties = image.properties or {}
        if image.status == ImageStatus.ACTIVE:
            return image
        if image.status in (ImageStatus.KILLED, ImageStatus.DELETED) or (
                image.status == ImageStatus.QUEUED and properties.get("os_glance_failed_import")):
            raise StoreUnavailable(
                f"the remote Glance (cloud {remote.cloud}) could not take the data: image "
                f"{image.id} is {image.status}"
                + (f" (import failed in store {properties['os_glance_failed_import']})"
                   if properties.get("os_glance_failed_import") else ""))
        if time.monotonic() > deadline:
            raise RemoteUnavailable(f"remote image {image.id} in cloud {remote.cloud} is still "
                                    f"{image.status} after {timeout:.0f} s")
        time.sleep(POLL_INTERVAL)


def _check_same_data(record: dict, image, cloud: str) -> None:
    checks = [("checksum", image.checksum)]
    if (image.hash_algo or "sha512") == (record.get("os_hash_algo") or "sha512"):
        checks.insert(0, ("os_hash_value", image.hash_value))  # a cloud may hash with another algorithm
    problems = []
    for field, remote_value in checks:
        if record.get(field) and remote_value != record[field]:
            problems.append(f"remote {field} {remote_value} does not match the local {record[field]}")
    if problems:
        raise DataError(f"Image {image.id} in cloud {cloud} failed verification: "
                        + "; ".join(problems) + ".")


def _sync_metadata(remote: Remote, record: dict, image):
    """Bring an up-to-date remote image's metadata in line with the local image's."""
    wanted = _metadata(record)
    properties = wanted.pop("properties")
    current = {key: getattr(image, key) for key in wanted}
    current["tags"] = sorted(current["tags"] or [])  # a set, in Glance
    changes = {key: value for key, value in wanted.items()
               if current[key] != (sorted(value) if key == "tags" else value)}
    # openstacksdk patches the difference from the whole properties map it read, so
    # Glance's own keys (os_glance_*, stores) go back unchanged and only ours move.
    remote_properties = dict(image.properties or {})
    wanted_properties = {**{k: v for k, v in remote_properties.items()
                            if not _is_custom_property(k)}, **properties}
    have = {key: str(value) for key, value in _custom_properties(image).items()}
    if have != properties:
        changes["properties"] = wanted_properties
    if bool(record.get("protected")) != bool(image.is_protected):
        changes["is_protected"] = bool(record.get("protected"))
    if not changes:
        return image
    return remote.retried(lambda: remote.conn.image.update_image(image, **changes))


def push(store: Store, remote: Remote, ref: str, *, method: str | None = None,
         keep_on_failure: bool = False, progress: Progress | None = None,
         warn: Callable[[str], None] | None = None, timeout: float = WAIT_TIMEOUT) -> Outcome:
    """Publish a local active image to the remote Glance; nothing is re-sent if it is there."""
    record = image_ops.find_live_image(store, ref)
    if record["status"] != ImageStatus.ACTIVE:
        raise Refused(f"Image {records.image_label(record)} is {record['status']}; "
                      "only an active image can be pushed.")
    link = remote_links.find(store, remote.endpoint, local_id=record["id"])
    if link is not None:
        image = remote.get(link["remote_id"])
        if image is not None and image.status == ImageStatus.ACTIVE \
                and image.hash_value == record.get("os_hash_value"):
            return Outcome(remote_view(_sync_metadata(remote, record, image)), up_to_date=True)
    how = choose_method(method, remote.import_methods(), remote.cloud)
    source = data_ops.data_source_for(store, record)
    image = _create_remote(remote, record)
    try:
        _send(remote, image, how, source, record.get("size"), progress)
        image = _wait_active(remote, image, timeout)
        _check_same_data(record, image, remote.cloud)
        if record.get("protected"):
            image = remote.retried(
                lambda: remote.conn.image.update_image(image, is_protected=True))
    except BaseException:
        if not keep_on_failure:
            problem = remote.discard(image)
            if problem is not None and warn is not None:
                warn(f"the remote image {image.id} this push created could not be deleted "
                     f"({problem}); delete it with: openstack image delete {image.id}")
        raise
    remote_links.link(store, remote.endpoint, record["id"], image.id)
    return Outcome(remote_view(image), up_to_date=False)


def _send(remote: Remote, image, how: str, source: DataSource | None, size: int | None,
          progress: Progress | None) -> None:
    from glancectl.sources import open_path

    if source is None:  # active with no data (created with --size 0)
        source, size = open_path("/dev/null"), 0
    with source, remote.translated():
        sender = _Sender(source, size, progress)
        # With no size known (a location that did not say), the body goes chunked.
        body = sender if size is not None else iter(sender)
        if how == UPLOAD:
            image.upload(remote.conn.image, data=body, size=size)
        else:
            image.stage(remote.conn.image, data=body, size=size)
            remote.conn.image.import_image(image, method=GLANCE_DIRECT)


# -- pull ------------------------------------------------------------------------
class _RemoteData(DataSource):
    """The remote image's bytes, as a source for the upload path."""

    def __init__(self, response, description: str, size: int | None, cloud: str):
        super().__init__(description, size)
        self.response = response
        self.cloud = cloud

    def _readinto(self, buf) -> int:
        try:
            return self.response.raw.readinto(buf)
        except Exception as exc:  # urllib3's and the socket's, mid-stream
            raise RemoteUnavailable(f"reading {self.description} from cloud {self.cloud} "
                                    f"failed after {self.bytes_read} bytes: {exc}") from None

    def _close(self) -> None:
        self.response.close()

    def _ended_early(self) -> str:
        return (f"{self.description} ended after {self.bytes_read} of {self.size} bytes "
                f"(cloud {self.cloud} closed the connection)")


def _spec_for(store: Store, image) -> image_ops.ImageSpec:
    taken = store.images.get(image.id) is not None
    return image_ops.ImageSpec(
        name=image.name, disk_format=image.disk_format, container_format=image.container_format,
        visibility=image.visibility or "shared", protected=False, os_hidden=bool(image.is_hidden),
        min_disk=image.min_disk or 0, min_ram=image.min_ram or 0,
        properties={key: str(value) for key, value in _custom_properties(image).items()},
        tags=list(image.tags or []), image_id=None if taken else image.id,
    )


def _local_twin(store: Store, remote: Remote, image) -> dict | None:
    """The local image an earlier push or pull linked to ``image``, if it is still usable."""
    link = remote_links.find(store, remote.endpoint, remote_id=image.id)
    if link is None:
        return None
    record = store.images.get(link["local_id"])
    if record is None or record["status"] not in (ImageStatus.ACTIVE, ImageStatus.QUEUED):
        remote_links.unlink(store, remote.endpoint, link["local_id"], image.id)
        return None
    if record["status"] == ImageStatus.ACTIVE and record.get("os_hash_value") != image.hash_value:
        return None
    return record


def pull(store: Store, settings: Settings, remote: Remote, ref: str, *,
         progress: Progress | None = None) -> Outcome:
    """Bring a remote active image into the local store, verified; ends active."""
    image = remote.find(ref)
    if image.status != ImageStatus.ACTIVE:
        raise Refused(f"Image {image.id} in cloud {remote.cloud} is {image.status}; "
                      "only an active image can be pulled.")
    record = _local_twin(store, remote, image)
    if record is not None and record["status"] == ImageStatus.ACTIVE:
        return Outcome(records.image_view(record), up_to_date=True)
    if record is None:
        record = image_ops.create_image(store, settings, _spec_for(store, image))
        remote_links.link(store, remote.endpoint, record["id"], image.id)
    sha512 = image.hash_value if (image.hash_algo or "sha512") == "sha512" else None
    expect = data_ops.Expectations(size=image.size, checksum=image.checksum, os_hash_value=sha512)
    with remote.translated():
        response = image.download(remote.conn.image, stream=True)
    source = _RemoteData(response, f"image {image.id}", image.size, remote.cloud)
    with source:
        record = data_ops.upload(store, settings, record["id"], source, expect=expect,
                                 progress=progress)
    if image.is_protected:
        record = image_ops.update_image(store, settings, record["id"],
                                        image_ops.ImageChanges(protected=True))
    return Outcome(records.image_view(record), up_to_date=False)
