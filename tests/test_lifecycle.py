"""The transition tables, pair by pair: every allowed move and every refused one."""

from __future__ import annotations

import itertools

import pytest

from glancectl import lifecycle
from glancectl.errors import ImageDeleted, InvalidTransition, Refused
from glancectl.lifecycle import ImageStatus as I, TaskStatus as T

# Written out independently of the module's table, from ../shared/REFERENCE.md.
ALLOWED_IMAGE = {
    ("queued", "saving"), ("queued", "uploading"), ("queued", "importing"), ("queued", "active"),
    ("queued", "deleted"),
    ("saving", "active"), ("saving", "queued"), ("saving", "killed"), ("saving", "deleted"),
    ("uploading", "importing"), ("uploading", "queued"), ("uploading", "deleted"),
    ("importing", "active"), ("importing", "queued"), ("importing", "deleted"),
    ("active", "deactivated"), ("active", "pending_delete"), ("active", "deleted"),
    ("active", "queued"),
    ("deactivated", "active"), ("deactivated", "deleted"),
    ("killed", "deleted"),
    ("pending_delete", "deleted"),
}
ALLOWED_TASK = {
    ("pending", "processing"), ("pending", "failure"),
    ("processing", "success"), ("processing", "failure"),
}
WITH_FORMATS = {"id": "x", "disk_format": "raw", "container_format": "bare"}


@pytest.mark.parametrize("current,requested", list(itertools.product([s.value for s in I], repeat=2)))
def test_every_image_pair(current, requested):
    if (current, requested) in ALLOWED_IMAGE:
        lifecycle.check_image_transition(current, requested, image={**WITH_FORMATS, "status": current})
        assert lifecycle.image_transition_allowed(current, requested)
    else:
        with pytest.raises(InvalidTransition) as err:
            lifecycle.check_image_transition(current, requested)
        assert err.value.current == current and err.value.requested == requested
        assert str(err.value).startswith(
            f"Image status transition from {current} to {requested} is not allowed"
        )


@pytest.mark.parametrize("current,requested", list(itertools.product([s.value for s in T], repeat=2)))
def test_every_task_pair(current, requested):
    if (current, requested) in ALLOWED_TASK:
        lifecycle.check_task_transition(current, requested)
    else:
        with pytest.raises(InvalidTransition) as err:
            lifecycle.check_task_transition(current, requested)
        assert str(err.value) == f"Status transition from {current} to {requested} is not allowed"
        assert (err.value.current, err.value.requested) == (current, requested)


def test_table_matches_reference_exactly():
    table = {(a.value, b.value) for a, targets in lifecycle.IMAGE_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED_IMAGE
    tasks = {(a.value, b.value) for a, targets in lifecycle.TASK_TRANSITIONS.items() for b in targets}
    assert tasks == ALLOWED_TASK


def test_glance_wording_for_active_to_saving():
    with pytest.raises(InvalidTransition, match="^Image status transition from active to saving is not allowed"):
        lifecycle.check_image_transition("active", "saving")


DATA_MOVES = [(c, r) for c, r in sorted(ALLOWED_IMAGE)
              if c in ("queued", "uploading") and r in ("saving", "importing", "active")]


@pytest.mark.parametrize("current,requested", DATA_MOVES)
def test_data_needs_formats(current, requested):
    image = {"id": "x", "status": current, "disk_format": "raw", "container_format": None}
    with pytest.raises(InvalidTransition, match="Properties disk_format, container_format must be set"):
        lifecycle.check_image_transition(current, requested, image=image)


def test_staging_needs_no_formats():
    lifecycle.check_image_transition("queued", "uploading", image={"id": "x", "status": "queued"})


def test_back_to_queued_clears_data_fields():
    image = {"id": "x", "status": "saving", "size": 5, "virtual_size": 5, "checksum": "c",
             "os_hash_algo": "sha512", "os_hash_value": "h"}
    changes = lifecycle.image_status_changes(image, "queued")
    assert changes == {"status": "queued", "size": None, "virtual_size": None, "checksum": None,
                       "os_hash_algo": None, "os_hash_value": None}


def test_deactivate_and_reactivate_noops():
    assert lifecycle.deactivate_changes({"id": "x", "status": "deactivated"}) == {}
    assert lifecycle.reactivate_changes({"id": "x", "status": "active"}) == {}
    assert lifecycle.deactivate_changes({"id": "x", "status": "active"}) == {"status": "deactivated"}
    with pytest.raises(InvalidTransition, match="Not allowed to deactivate image in status 'queued'"):
        lifecycle.deactivate_changes({"id": "x", "status": "queued"})
    with pytest.raises(InvalidTransition, match="Not allowed to reactivate image in status 'killed'"):
        lifecycle.reactivate_changes({"id": "x", "status": "killed"})


def test_initial_status_is_validated():
    lifecycle.check_initial_image_status("queued")
    lifecycle.check_initial_image_status("active")
    with pytest.raises(InvalidTransition):
        lifecycle.check_initial_image_status("saving")


def test_unknown_status_is_refused():
    with pytest.raises(InvalidTransition, match="Unknown image status"):
        lifecycle.check_image_transition("queued", "flying")


def test_delete_rules():
    active = {"id": "x", "status": "active", "size": 10, "locations": [{"url": "file:///d"}]}
    assert lifecycle.delete_target(active, delayed_delete=True) == I.PENDING_DELETE
    assert lifecycle.delete_target(active, delayed_delete=False) == I.DELETED
    assert lifecycle.delete_target({**active, "size": 0}, delayed_delete=True) == I.PENDING_DELETE
    no_data = {"id": "x", "status": "active", "size": 0, "locations": []}
    assert lifecycle.delete_target(no_data, delayed_delete=True) == I.DELETED
    with pytest.raises(Refused, match="is protected and cannot be deleted"):
        lifecycle.delete_target({**active, "protected": True}, delayed_delete=False)
    for gone in ("deleted", "pending_delete"):
        with pytest.raises(ImageDeleted):
            lifecycle.delete_target({"id": "x", "status": gone}, delayed_delete=False)


def test_formats_and_locations_mutability():
    lifecycle.check_formats_mutable({"id": "x", "status": "queued"})
    lifecycle.check_formats_mutable({"id": "x", "status": "importing"})
    with pytest.raises(Refused):
        lifecycle.check_formats_mutable({"id": "x", "status": "active"})
    lifecycle.check_locations_mutable({"id": "x", "status": "active"})
    with pytest.raises(Refused, match="It's not allowed to add locations if image status is deactivated."):
        lifecycle.check_locations_mutable({"id": "x", "status": "deactivated"})


@pytest.mark.parametrize("status", ["pending", "processing", "success", "failure"])
def test_tasks_start_pending_and_end_in_success_or_failure(status):
    assert lifecycle.is_final_task_status(status) == (status in ("success", "failure"))
    if status == "pending":
        lifecycle.check_initial_task_status(status)
    else:
        with pytest.raises(InvalidTransition, match=f"A task cannot be created in status {status}"):
            lifecycle.check_initial_task_status(status)
