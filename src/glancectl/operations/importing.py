"""Interoperable image import and the ``import`` task: the work behind Glance's task types.

* ``image stage``: queued -> uploading, the data kept in the staging area.
* ``image import``: an ``api_image_import`` task. glance-direct imports the
  staged data, web-download fetches a URL; the image goes importing ->
  active, or back to queued on failure, and the staging area is emptied
  either way. The task holds the image's import lock (``import_task``) from
  creation to its end, so a second import or an upload is refused
  ("Image has active task").
* the ``import`` task: create an image from ``image_properties`` and upload
  ``import_from`` into it, exactly as ``image upload`` would.

Every byte goes through ``operations.data.write_data``: the one path that
streams, hashes, inspects and enforces limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlsplit

from glancectl import lifecycle, records
from glancectl.config import Settings
from glancectl.errors import InvalidValue, NotFound, Refused, StatusConflict
from glancectl.lifecycle import ImageStatus
from glancectl.operations import data, tasks
from glancectl.operations.images import (
    ImageSpec, check_creatable, create_image, editing, move, save, spec_from_json,
)
from glancectl.operations.recovery import settle_if_abandoned
from glancectl.storage import fsync_dir, remove_quietly
from glancectl.store import Lease, Store

GLANCE_DIRECT = "glance-direct"
WEB_DOWNLOAD = "web-download"
IMPORT_METHODS = (GLANCE_DIRECT, WEB_DOWNLOAD)
IMPORT_INPUT_KEYS = ("import_from", "import_from_format", "image_properties")

STAGE = data.Write(ImageStatus.UPLOADING, ImageStatus.UPLOADING, ImageStatus.QUEUED,
                   staged=True, what="staging")
# importing -> killed is not in the table: an import that fails for any reason goes back to queued.
IMPORT = data.Write(ImageStatus.IMPORTING, ImageStatus.ACTIVE, ImageStatus.QUEUED, what="import")


def _url(value, what: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme.lower() not in schemes:
        names = [f"{s}://" for s in schemes]
        allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise InvalidValue(f"{what} must be a URL starting with {allowed}, got {value!r}")
    return value


def import_info() -> dict:
    """Glance's /v2/info/import document: the import methods this store enables."""
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": list(IMPORT_METHODS)}}


# -- staging -----------------------------------------------------------------
def stage(store: Store, settings: Settings, ref: str, source, *,
          progress: data.Progress | None = None) -> dict:
    """queued -> uploading with the data staged; a failed stage is back to queued, nothing kept."""
    return data.write_data(store, settings, ref, source, STAGE, progress=progress)


# -- image import: the api_image_import task ------------------------------------
def import_request(method: str, uri: str | None) -> dict:
    """Glance's import request body for one method."""
    if method not in IMPORT_METHODS:
        raise InvalidValue(
            f"Import method {method} is not supported; use {' or '.join(IMPORT_METHODS)}.")
    if method == WEB_DOWNLOAD:
        if not uri:
            raise InvalidValue("The web-download method needs a URI (--uri URL).")
        return {"method": {"name": method, "uri": _url(uri, "The web-download URI", ("http", "https"))}}
    if uri:
        raise InvalidValue("A URI is only used with the web-download method.")
    return {"method": {"name": method}}


def _parse_api_import(task_input: Mapping) -> tuple[str, dict]:
    """Glance's checks on an api_image_import input; returns the image id and the request."""
    if not task_input:
        raise InvalidValue("Input to api_image_import task is empty.")
    if "image_id" not in task_input:
        raise InvalidValue("Missing required 'image_id' field")
    method = (task_input.get("import_req") or {}).get("method") or {}
    if not isinstance(method, dict):
        raise InvalidValue("import_req.method must be an object with a 'name'")
    return str(task_input["image_id"]), import_request(method.get("name"), method.get("uri"))


def _check_importable(image: Mapping, method: str) -> None:
    status = image["status"]
    label = records.image_label(image)
    if status not in (ImageStatus.QUEUED, ImageStatus.UPLOADING):
        # Glance 33 says this of an active image; any other status is refused the same way.
        raise StatusConflict(f"Image with status {status} cannot be target for import. "
                             f"Image {label} is {status}; only a queued or staged (uploading) "
                             "image can be imported into.",
                             hint="Import into a new image: glancectl image create NAME "
                                  "--disk-format FORMAT --container-format FORMAT --import")
    # Only a queued image can be staged; any other status has its own way forward.
    next_step = (f"Stage data first: glancectl image stage {image['id']} --file PATH"
                 if status == ImageStatus.QUEUED
                 else lifecycle.NEXT_STEP_HINTS.get(ImageStatus(status), ""))
    if method == GLANCE_DIRECT and status != ImageStatus.UPLOADING:
        raise StatusConflict("Image needs to be staged before 'glance-direct' method can be used.",
                             hint=f"Image {label} is {status}. {next_step}".rstrip())
    if method == WEB_DOWNLOAD and status != ImageStatus.QUEUED:
        raise StatusConflict(f"Image needs to be in 'queued' state to use '{method}' method.",
                             hint=f"Image {label} is {status}. {next_step}".rstrip())
    lifecycle.check_image_transition(status, ImageStatus.IMPORTING, image=image)


def start_import(store: Store, settings: Settings, ref: str, method: str,
                 uri: str | None = None, *, run_later: bool = False) -> tuple[dict, dict, Lease | None]:
    """Record a pending api_image_import task and lock the image for it.

    Returns (image, task, the task's lease): see ``tasks.insert``.
    """
    request = import_request(method, uri)
    with editing(store, ref, scrub_time=settings.scrub_time) as image:
        image = settle_if_abandoned(store, image)
        tasks.check_no_active_task(store, settings, image)
        _check_importable(image, method)
        task = records.new_task(
            task_type="api_image_import",
            task_input={"image_id": image["id"], "import_req": request},
            owner=records.current_owner(), image_id=image["id"])
        lease = tasks.insert(store, task, run_later=run_later)
        try:
            image = save(store, image, {"import_task": task["id"]})
        except BaseException:
            if lease is not None:
                lease.abandon()  # the task is failed as abandoned by whoever looks next
            raise
    return image, task, lease


def _import_precheck(store: Store, settings: Settings, task: Mapping) -> None:
    image_id, request = _parse_api_import(task["input"])
    image = store.images.get(image_id)
    if image is None or image["status"] == ImageStatus.DELETED:
        raise NotFound(f"Image {image_id} was deleted before its import could start.")
    if image.get("import_task") != task["id"]:
        raise Refused(f"Image {records.image_label(image)} is not locked for this import task.")
    _check_importable(image, request["method"]["name"])


def _run_api_import(store: Store, settings: Settings, task: Mapping, *,
                    progress: data.Progress | None = None) -> dict:
    from glancectl import sources

    image_id, request = _parse_api_import(task["input"])
    method = request["method"]
    try:
        if method["name"] == GLANCE_DIRECT:
            source = data.open_store_file(store.staging_path(image_id))
        else:
            source = sources.open_url(method["uri"])
        with source:
            data.write_data(store, settings, image_id, source, IMPORT, progress=progress,
                            task_id=task["id"])
    finally:
        _unlock(store, task, image_id)
    return {"image_id": image_id}


def _unlock(store: Store, task: Mapping, image_id: str) -> None:
    """The import is over: drop the lock, empty the staging area, and leave no image staged."""
    with store.writing():
        image = store.images.get(image_id)
        if image is not None and image.get("import_task") == task["id"]:
            image = save(store, image, {"import_task": None})
        if image is not None and image["status"] == ImageStatus.UPLOADING:
            image = move(store, image, ImageStatus.QUEUED, status_reason="import failed")
        staged = store.staging_path(image_id)
        if staged.exists():
            remove_quietly(staged)
            fsync_dir(staged.parent)


def _api_import_after_death(store: Store, task: Mapping) -> None:
    image = store.images.get(task["image_id"])
    if image is not None:
        settle_if_abandoned(store, image)
        _unlock(store, task, image["id"])


# -- the import task ---------------------------------------------------------------
def import_spec(task_input: Mapping) -> ImageSpec:
    """Glance's checks on an ``import`` task's input; returns the image it will create.

    The image's disk_format is import_from_format (glancectl does not convert
    images); container_format defaults to bare.
    """
    for key in IMPORT_INPUT_KEYS:
        if key not in task_input:
            raise InvalidValue(f"Input does not contain '{key}' field")
    _url(task_input["import_from"], "import_from", ("file", "http", "https"))
    disk_format = records.validate_disk_format(str(task_input["import_from_format"]))
    spec = spec_from_json(task_input["image_properties"], what="image_properties")
    if spec.disk_format not in (None, disk_format):
        raise InvalidValue(
            f"image_properties disk_format '{spec.disk_format}' differs from "
            f"import_from_format '{disk_format}'; glancectl does not convert images.")
    spec.disk_format = disk_format
    spec.container_format = records.validate_container_format(spec.container_format or "bare")
    records.validate_visibility(spec.visibility)
    return spec


def _check_import(store: Store, settings: Settings, task_input: Mapping) -> ImageSpec:
    """An import task's input, and the image it will create checked as 'image create' checks
    one: when the task is created, and again before its worker starts."""
    spec = import_spec(task_input)
    check_creatable(store, settings, spec)
    return spec


def _run_import(store: Store, settings: Settings, task: Mapping, *,
                progress: data.Progress | None = None) -> dict:
    """Open the source first, so an unreachable one leaves no image behind; then create and upload."""
    from glancectl import sources

    spec = import_spec(task["input"])
    with sources.open_url(task["input"]["import_from"]) as source:
        with store.writing():
            image = create_image(store, settings, spec)
            tasks.note(store, task, image_id=image["id"])
        data.upload(store, settings, image["id"], source, progress=progress)
    return {"image_id": image["id"]}


def _import_after_death(store: Store, task: Mapping) -> None:
    image = store.images.get(task["image_id"]) if task.get("image_id") else None
    if image is not None:
        settle_if_abandoned(store, image)


# -- creating tasks by type ------------------------------------------------------
@dataclass(frozen=True)
class TaskType:
    precheck: Callable  # (store, settings, task): refuse to start (pending -> failure)
    run: Callable  # (store, settings, task, *, progress) -> result
    after_death: Callable  # (store, task): settle what a dead worker left


HANDLERS = {
    "import": TaskType(lambda store, settings, task: _check_import(store, settings, task["input"]),
                       _run_import, _import_after_death),
    "api_image_import": TaskType(_import_precheck, _run_api_import, _api_import_after_death),
}


def create_task(store: Store, settings: Settings, task_type: str, task_input, *,
                run_later: bool = False) -> tuple[dict, Lease | None]:
    """``task create``: check the type and input as Glance does, then record it pending.

    Returns the task and its lease (see ``tasks.insert``).
    """
    tasks.check_task_type(task_type)
    if not isinstance(task_input, dict):
        raise InvalidValue("Task 'input' must be a JSON object")
    if task_type == "api_image_import":
        image_id, request = _parse_api_import(task_input)
        method = request["method"]
        _, task, lease = start_import(store, settings, image_id, method["name"], method.get("uri"),
                                      run_later=run_later)
        return task, lease
    _check_import(store, settings, task_input)
    task = records.new_task(task_type=task_type, task_input=task_input,
                            owner=records.current_owner())
    with store.writing():
        return task, tasks.insert(store, task, run_later=run_later)
