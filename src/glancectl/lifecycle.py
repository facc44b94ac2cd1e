"""The image and task state machines: tables and rules, no I/O.

This module is the only place that decides whether a status may change.
Everything else asks it first (see ``check_image_transition`` and
``check_task_transition``) and only then touches the store. The tables
follow ../shared/REFERENCE.md, which follows the seed document where it
differs from today's Glance.
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping

from glancectl.errors import ActionForbidden, ImageDeleted, InvalidTransition, Refused


class ImageStatus(str, Enum):
    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    DEACTIVATED = "deactivated"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class TaskStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"

    def __str__(self) -> str:
        return self.value


I = ImageStatus
IMAGE_TRANSITIONS: Mapping[ImageStatus, frozenset[ImageStatus]] = {
    I.QUEUED: frozenset({I.SAVING, I.UPLOADING, I.IMPORTING, I.ACTIVE, I.DELETED}),
    I.SAVING: frozenset({I.ACTIVE, I.QUEUED, I.KILLED, I.DELETED}),
    I.UPLOADING: frozenset({I.IMPORTING, I.QUEUED, I.DELETED}),
    I.IMPORTING: frozenset({I.ACTIVE, I.QUEUED, I.DELETED}),
    # active -> queued is the seed's "remove location from one or more to zero".
    I.ACTIVE: frozenset({I.DEACTIVATED, I.PENDING_DELETE, I.DELETED, I.QUEUED}),
    I.DEACTIVATED: frozenset({I.ACTIVE, I.DELETED}),
    I.KILLED: frozenset({I.DELETED}),
    I.PENDING_DELETE: frozenset({I.DELETED}),
    I.DELETED: frozenset(),
}

T = TaskStatus
TASK_TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.PROCESSING, T.FAILURE}),
    T.PROCESSING: frozenset({T.SUCCESS, T.FAILURE}),
    T.SUCCESS: frozenset(),
    T.FAILURE: frozenset(),
}
del I, T
# The statuses the task table lets nothing leave, looked up without building an enum member.
FINAL_TASK_STATUSES = frozenset(status for status, moves in TASK_TRANSITIONS.items() if not moves)

# The statuses a new record may start in. Glance forgets to check this.
INITIAL_IMAGE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.ACTIVE})
INITIAL_TASK_STATUSES = frozenset({TaskStatus.PENDING})

# What makes each move happen, for `glancectl lifecycle` and the docs. A key
# (None, status) is a record created in that status. Documentation only: the
# tables above decide; a test checks that these name exactly their moves.
I, T = ImageStatus, TaskStatus
IMAGE_TRANSITION_NOTES: Mapping[tuple[ImageStatus | None, ImageStatus], str] = {
    (None, I.QUEUED): "create",
    (None, I.ACTIVE): "create with a location or size 0",
    (I.QUEUED, I.SAVING): "upload",
    (I.QUEUED, I.UPLOADING): "stage",
    (I.QUEUED, I.IMPORTING): "import web-download",
    (I.QUEUED, I.ACTIVE): "add the first location",
    (I.QUEUED, I.DELETED): "delete",
    (I.SAVING, I.ACTIVE): "data verified",
    (I.SAVING, I.QUEUED): "upload interrupted",
    (I.SAVING, I.KILLED): "data failed verification",
    (I.SAVING, I.DELETED): "delete",
    (I.UPLOADING, I.IMPORTING): "import glance-direct",
    (I.UPLOADING, I.QUEUED): "staging failed",
    (I.UPLOADING, I.DELETED): "delete",
    (I.IMPORTING, I.ACTIVE): "import done",
    (I.IMPORTING, I.QUEUED): "import failed",
    (I.IMPORTING, I.DELETED): "delete",
    (I.ACTIVE, I.DEACTIVATED): "deactivate",
    (I.ACTIVE, I.PENDING_DELETE): "delete, with delayed_delete and data",
    (I.ACTIVE, I.DELETED): "delete",
    (I.ACTIVE, I.QUEUED): "remove the last location",
    (I.DEACTIVATED, I.ACTIVE): "reactivate",
    (I.DEACTIVATED, I.DELETED): "delete, unless delayed_delete and data",
    (I.KILLED, I.DELETED): "delete",
    (I.PENDING_DELETE, I.DELETED): "scrub (a delete is refused)",
}
# Moves that follow the seed document where today's Glance differs (REFERENCE.md).
SEED_IMAGE_TRANSITIONS = frozenset({
    (None, I.ACTIVE), (I.SAVING, I.KILLED), (I.ACTIVE, I.QUEUED),
})
TASK_TRANSITION_NOTES: Mapping[tuple[TaskStatus | None, TaskStatus], str] = {
    (None, T.PENDING): "create",
    (T.PENDING, T.PROCESSING): "start",
    (T.PENDING, T.FAILURE): "fail before starting",
    (T.PROCESSING, T.SUCCESS): "finish",
    (T.PROCESSING, T.FAILURE): "fail",
}
del I, T

# Moving into one of these from queued/uploading means the image gets data,
# which Glance only allows once both formats are known.
DATA_STATUSES = frozenset({ImageStatus.SAVING, ImageStatus.IMPORTING, ImageStatus.ACTIVE})
FORMAT_MUTABLE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.IMPORTING})
LOCATION_MUTABLE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.ACTIVE})
# A deleted image: the seed keeps its record in the registry, but nothing may change it.
DELETED_STATUSES = frozenset({ImageStatus.PENDING_DELETE, ImageStatus.DELETED})
# Statuses in which the image's own data may be being written by a live process.
IN_FLIGHT_STATUSES = frozenset({ImageStatus.SAVING, ImageStatus.UPLOADING, ImageStatus.IMPORTING})
# What going back to queued forgets: the data it described is gone.
CLEARED_ON_REQUEUE = ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value")

FORMATS_REQUIRED_MESSAGE = (
    "Properties disk_format, container_format must be set prior to saving data."
)


def _image_status(value: str | ImageStatus) -> ImageStatus:
    try:
        return ImageStatus(value)
    except ValueError:
        raise InvalidTransition(
            f"Unknown image status '{value}'", current=str(value), requested=str(value)
        ) from None


def _task_status(value: str | TaskStatus) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        raise InvalidTransition(
            f"Unknown task status '{value}'", current=str(value), requested=str(value)
        ) from None


def image_transition_allowed(current: str, requested: str) -> bool:
    return _image_status(requested) in IMAGE_TRANSITIONS[_image_status(current)]


# What a user can do next, by the status that refused them.
NEXT_STEP_HINTS: Mapping[ImageStatus, str] = {
    ImageStatus.ACTIVE: "Create a new image, or delete this one first.",
    ImageStatus.DEACTIVATED: "Reactivate it first with 'glancectl image reactivate'.",
    ImageStatus.KILLED: "A killed image can only be deleted; create a new one.",
    ImageStatus.PENDING_DELETE: "It is waiting for 'glancectl scrub'; create a new image.",
    ImageStatus.DELETED: "Create a new image.",
    ImageStatus.SAVING: "Wait for the upload to finish.",
    ImageStatus.IMPORTING: "Wait for the import to finish ('glancectl image tasks').",
    ImageStatus.UPLOADING: "Import the staged data with 'glancectl image import'.",
}


def image_label(image: Mapping) -> str:
    """How messages name an image: its id and, when it has one, its name."""
    name = image.get("name")
    return f"{image.get('id')} ({name})" if name else str(image.get("id"))


def _hint(*parts: str | None) -> str:
    return " ".join(part for part in parts if part)


def _describe(image: Mapping | None, status: ImageStatus) -> str:
    if image is None:
        return ""
    return f": image {image_label(image)} is {status}"


def check_image_transition(current: str, requested: str, *, image: Mapping | None = None) -> None:
    """Refuse a status change the table does not allow.

    With ``image`` given, also apply the rule that data needs formats, and
    name the image in the message. A move to the same status is refused
    here; the idempotent verbs (deactivate, reactivate) handle their own
    no-ops before asking.
    """
    cur, req = _image_status(current), _image_status(requested)
    if req not in IMAGE_TRANSITIONS[cur]:
        raise InvalidTransition(
            f"Image status transition from {cur} to {req} is not allowed{_describe(image, cur)}.",
            current=cur.value,
            requested=req.value,
            hint=NEXT_STEP_HINTS.get(cur) if image is not None else None,
        )
    missing = _missing_formats(image) if image else []
    if cur in (ImageStatus.QUEUED, ImageStatus.UPLOADING) and req in DATA_STATUSES and missing:
        raise InvalidTransition(
            f"{FORMATS_REQUIRED_MESSAGE} Image {image_label(image)} is {cur} with no "
            f"{' or '.join(missing)}.",
            current=cur.value,
            requested=req.value,
            hint=_formats_hint(image, cur, missing),
        )


def _missing_formats(image: Mapping) -> list[str]:
    return [f for f in ("disk_format", "container_format") if not image.get(f)]


def _formats_hint(image: Mapping, status: ImageStatus, missing: list[str]) -> str:
    options = " ".join(f"--{field.replace('_', '-')} FORMAT" for field in missing)
    if status in FORMAT_MUTABLE_STATUSES:
        return (f"Set {'them' if len(missing) > 1 else 'it'} first: "
                f"glancectl image set {image.get('id')} {options}")
    return (f"Formats cannot change while the image is {status}; delete it and create it "
            f"again with {options}.")


def check_new_image_takes_data(disk_format: str | None, container_format: str | None) -> None:
    """The formats rule for an image created with its data (--file, --import, --location, --size 0).

    Checked before the record is written, so a refusal leaves nothing behind.
    """
    missing = _missing_formats({"disk_format": disk_format, "container_format": container_format})
    if missing:
        options = " ".join(f"--{field.replace('_', '-')} FORMAT" for field in missing)
        raise InvalidTransition(
            FORMATS_REQUIRED_MESSAGE, current=ImageStatus.QUEUED.value,
            requested=ImageStatus.SAVING.value, hint=f"Nothing was created. Give the formats when creating it: {options}",
        )


def check_initial_image_status(status: str) -> None:
    if _image_status(status) not in INITIAL_IMAGE_STATUSES:
        raise InvalidTransition(
            f"An image cannot be created in status {status}", current="", requested=status
        )


def image_status_changes(image: Mapping, requested: str) -> dict:
    """The fields to write for moving ``image`` to ``requested``.

    Checks the move first. Going back to queued clears what described the
    old data, so a retried upload starts clean.
    """
    check_image_transition(image["status"], requested, image=image)
    changes: dict = {"status": ImageStatus(requested).value}
    if requested == ImageStatus.QUEUED:
        changes.update({field: None for field in CLEARED_ON_REQUEUE})
    return changes


def _admin_verb_changes(
    image: Mapping, *, verb: str, source: ImageStatus, target: ImageStatus, only: str
) -> dict:
    """deactivate/reactivate: allowed from one status, an explicit no-op when already there."""
    status = _image_status(image["status"])
    if status == target:
        return {}
    if status != source:
        raise ActionForbidden(
            f"Not allowed to {verb} image in status '{status}'{_describe(image, status)}.",
            current=status.value,
            requested=target.value,
            hint=_hint(only, NEXT_STEP_HINTS.get(status)),
        )
    return image_status_changes(image, target)


def deactivate_changes(image: Mapping) -> dict:
    """Deactivating a deactivated image is an allowed no-op (empty changes)."""
    return _admin_verb_changes(image, verb="deactivate", source=ImageStatus.ACTIVE,
                               target=ImageStatus.DEACTIVATED,
                               only="Only an active image can be deactivated.")


def reactivate_changes(image: Mapping) -> dict:
    """Reactivating an active image is an allowed no-op (empty changes)."""
    return _admin_verb_changes(image, verb="reactivate", source=ImageStatus.DEACTIVATED,
                               target=ImageStatus.ACTIVE,
                               only="Only a deactivated image can be reactivated.")


def check_not_deleted(image: Mapping, *, scrub_due: str | None = None) -> None:
    """Refuse any change to a deleted or pending_delete image, saying what became of it.

    ``scrub_due`` is when a pending_delete image becomes due for scrub, when known.
    """
    status = _image_status(image["status"])
    label = image_label(image)
    if status == ImageStatus.DELETED:
        raise ImageDeleted(
            f"Image {label} is deleted; its record is kept until 'glancectl purge' removes it.",
            hint=NEXT_STEP_HINTS[status])
    if status == ImageStatus.PENDING_DELETE:
        when = (f" It will be scrubbed by the first 'glancectl scrub' at or after {scrub_due}."
                if scrub_due else "")
        raise ImageDeleted(
            f"Image {label} is deleted: it is pending_delete, and waits for 'glancectl scrub' to "
            f"remove its data and mark it deleted.{when}",
            hint="A pending_delete image cannot be recovered; create a new image.")


def delete_target(image: Mapping, *, delayed_delete: bool) -> ImageStatus:
    """Where a delete takes ``image``: Glance's ``Image.delete``.

    With delayed_delete, an image that has data (a location, even one of 0
    bytes) goes to pending_delete and keeps its data for scrub; a
    deactivated one is refused, as Glance 33 refuses it. Otherwise the image
    goes to deleted. Only scrub takes pending_delete on: deleting a deleted or
    pending_delete image is refused.
    """
    check_not_deleted(image)
    if image.get("protected"):
        raise Refused(
            f"Image {image_label(image)} is protected and cannot be deleted.",
            hint=f"Unprotect it first: glancectl image set {image['id']} --unprotected",
        )
    keeps_data = delayed_delete and bool(image.get("locations"))
    target = ImageStatus.PENDING_DELETE if keeps_data else ImageStatus.DELETED
    check_image_transition(image["status"], target, image=image)
    return target


def check_formats_mutable(image: Mapping) -> None:
    status = _image_status(image["status"])
    if status not in FORMAT_MUTABLE_STATUSES:
        raise Refused(
            f"disk_format and container_format can only be changed while the image is "
            f"queued or importing; image {image_label(image)} is {status}.",
            hint="They describe data the image already has; to change them, create a new image."
            if status in (ImageStatus.ACTIVE, ImageStatus.DEACTIVATED)
            else NEXT_STEP_HINTS.get(status),
        )


def check_locations_mutable(image: Mapping, verb: str = "add") -> None:
    status = _image_status(image["status"])
    if status not in LOCATION_MUTABLE_STATUSES:
        raise Refused(
            f"It's not allowed to {verb} locations if image status is {status}. "
            f"Image {image_label(image)} is {status}.",
            hint=_hint("Locations change only while an image is queued or active.",
                       NEXT_STEP_HINTS.get(status)),
        )


def check_task_transition(current: str, requested: str) -> None:
    cur, req = _task_status(current), _task_status(requested)
    if req not in TASK_TRANSITIONS[cur]:
        raise InvalidTransition(
            f"Status transition from {cur} to {req} is not allowed",
            current=cur.value,
            requested=req.value,
        )


def check_initial_task_status(status: str) -> None:
    if _task_status(status) not in INITIAL_TASK_STATUSES:
        raise InvalidTransition(
            f"A task cannot be created in status {status}", current="", requested=status
        )


def is_final_task_status(status: str) -> bool:
    """success and failure: the statuses the table lets nothing leave."""
    return status in FINAL_TASK_STATUSES or not TASK_TRANSITIONS[_task_status(status)]


def task_status_changes(task: Mapping, requested: str) -> dict:
    check_task_transition(task["status"], requested)
    return {"status": TaskStatus(requested).value}
