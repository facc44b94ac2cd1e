"""Tasks: Glance's pending -> processing -> success | failure, worked by a separate process.

``task create`` (and ``image import``) records a pending task and starts a
detached worker, ``glancectl task run --task ID``, so the shell is free at
once. From the moment a task is recorded a live process owns it through the
task's lease (a flock the kernel drops when the process dies, however it
dies): the creator takes the lease before it writes the record and hands
the locked file down to the worker it starts, which holds it until the task
has ended. So a pending or processing task with no live lease is known to
be abandoned, never guessed from its age; whoever looks at it next fails it
with a message saying so. The one exception is a task recorded with
``--no-worker``: it is left pending on purpose (``run_later``) for
``glancectl task run``, which takes the lease when it claims it. The work
itself belongs to the task's type (``operations.importing``).

A failed task keeps the exit code its failure means (``exit_code``, not
shown), so ``--wait`` can exit the way the same failure would in the
foreground.
"""

from __future__ import annotations

import operator
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from itertools import compress, repeat
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from glancectl import lifecycle, records
from glancectl.config import Settings
from glancectl.errors import (
    Conflict,
    GlancectlError,
    InProgress,
    InvalidValue,
    NotFound,
    describe_os_error,
    Terminated,
    exit_code_for,
)
from glancectl.exit_codes import ExitCode
from glancectl.lifecycle import TaskStatus
from glancectl.listing import (
    TASK_SORT_KEYS, check_filter_value, parse_sort, select, select_batches,
)
from glancectl.records import RUN_LATER
from glancectl.store import ColumnRecords, Lease, Shard, Store, checked_uuid

if TYPE_CHECKING:
    import subprocess

TASK_TYPES = ("import", "api_image_import")
# The types Glance 33's task schema knows; glancectl runs all but location_import.
GLANCE_TASK_TYPES = ("import", "api_image_import", "location_import")
WORKER_DIED = (
    "The worker running this task (process {pid}) ended before finishing it (killed or "
    "crashed); nothing it left half-done was kept. Create the task again to retry."
)
NEVER_STARTED = (
    "The process that recorded this task, or the worker it started, ended before the worker "
    "took the task over (killed or crashed); nothing was done. Create the task again to retry."
)
# No lease file at all: nobody died holding the task, yet nobody holds it. Its record
# was put back from a backup (doctor --repair) or written by an older glancectl.
NO_OWNER = (
    "No process owns this task and none died holding it: its record was probably restored "
    "from a backup ('glancectl doctor --repair'), and what became of the work is unknown. "
    "Check its image, and create the task again if it is needed."
)
Progress = Callable[[int], None]
_STATUS = operator.itemgetter("status")


is_final = lifecycle.is_final_task_status


def check_task_type(task_type: str) -> str:
    if task_type == "location_import":
        raise InvalidValue(
            f"Provided type of task is unsupported: {task_type}",
            hint="glancectl adds locations itself: 'glancectl image location add IMAGE URL'.")
    if task_type not in TASK_TYPES:
        # Glance's schema check first (its jsonschema wording), then glancectl's own sentence.
        raise InvalidValue(
            f"'{task_type}' is not one of {list(GLANCE_TASK_TYPES)}. "
            f"Provided type of task is unsupported: {task_type}.",
            hint=f"glancectl runs {' and '.join(TASK_TYPES)} tasks.")
    return task_type


def find_task(store: Store, ref: str) -> dict:
    try:
        record = store.tasks.get(checked_uuid(ref))
    except InvalidValue:
        record = None
    if record is None:
        raise NotFound(f"No task with an ID of '{ref}' exists.")
    return record


def _expires_at(settings: Settings) -> str:
    return records.isotime(datetime.now(timezone.utc) + timedelta(hours=settings.task_time_to_live))


def note(store: Store, task: Mapping, **fields) -> dict:
    """Write ``fields`` to a task only if it is still in the status it was read in."""
    fields["updated_at"] = records.utcnow()
    if not store.tasks.update(task["id"], fields, expect_status=task["status"]):
        raise Conflict(f"task {task['id']} changed while it was being updated; retry")
    return {**task, **fields}


def move_task(store: Store, settings: Settings, task: Mapping, status: str, **extra) -> dict:
    """Ask the lifecycle; a task that ends gets its expiry (finish + task_time_to_live)."""
    changes = lifecycle.task_status_changes(task, status)
    if is_final(status):
        changes["expires_at"] = _expires_at(settings)
    return note(store, task, **changes, **extra)


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, GlancectlError):
        return str(exc)
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM) before finishing; nothing it left half-done was kept"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted before finishing"
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def fail(store: Store, settings: Settings, task: Mapping, message: str, code: int) -> dict:
    return move_task(store, settings, task, TaskStatus.FAILURE, message=message, exit_code=int(code))


def failure_exit_code(task: Mapping) -> int:
    return task.get("exit_code") or ExitCode.INTERNAL_ERROR


# -- abandoned tasks ---------------------------------------------------------
# Plain strings: an exact str is looked up quicker than an enum member, and a listing
# looks up every task's status.
_UNFINISHED = frozenset(str(s) for s in TaskStatus if not is_final(s))
_PENDING = str(TaskStatus.PENDING)


def owned_positions(tasks: Sequence[dict]) -> list[int]:
    """Where in ``tasks`` the tasks are that a live process must own: every unfinished task
    but one left pending on purpose for 'glancectl task run' (run_later).

    The rule ``is_abandoned`` applies, taken a column at a time in C: a listing asks it of
    every task, and most are finished or pending on purpose.
    """
    # A shard's columns as its check or its summary took them; any other list's, taken now.
    columns = getattr(tasks, "columns", {})
    statuses = columns.get("status") or list(map(_STATUS, tasks))
    unfinished = list(compress(range(len(statuses)), map(_UNFINISHED.__contains__, statuses)))
    if not unfinished:
        return unfinished
    pending = map(_PENDING.__eq__, map(statuses.__getitem__, unfinished))
    later = (map(columns[RUN_LATER].__getitem__, unfinished) if RUN_LATER in columns
             else map(dict.get, map(tasks.__getitem__, unfinished), repeat(RUN_LATER)))
    later = map(bool, later)
    return list(compress(unfinished, map(operator.not_, map(operator.and_, pending, later))))


def is_abandoned(store: Store, task: dict) -> bool:
    """An unfinished task that no live process owns, and none was meant to own."""
    return bool(owned_positions([task])) and not store.lease_is_live(task["id"])


def _abandoned_message(store: Store, task: Mapping) -> str:
    if not store.lease_file_exists(task["id"]):
        return NO_OWNER
    if task["status"] == TaskStatus.PENDING:
        return NEVER_STARTED
    return WORKER_DIED.format(pid=task.get("worker_pid", "?"))


def settle_if_dead(store: Store, settings: Settings, task: dict) -> dict:
    """Fail a pending or processing task that no live process owns; return it as it now is."""
    if not is_abandoned(store, task):
        return task
    with store.writing():
        current = store.tasks.get(task["id"])
        if current is None or not is_abandoned(store, current):
            return current or task
        failed = fail(store, settings, current, _abandoned_message(store, current),
                      ExitCode.INTERRUPTED)
        store.clear_lease(task["id"])
        if current["status"] == TaskStatus.PROCESSING:  # a pending task touched nothing yet
            _handler(failed["type"]).after_death(store, failed)
        return failed


def settle_dead_tasks(store: Store, settings: Settings) -> list[dict]:
    """Fail every pending or processing task that no live process owns."""
    settled = []
    for task in store.tasks.all():
        after = settle_if_dead(store, settings, task)
        if after is not task:
            settled.append(after)
    return settled


def check_no_active_task(store: Store, settings: Settings, image: Mapping, *,
                         own: str | None = None) -> None:
    """Refuse to touch an image's data while another import task has it locked."""
    task_id = image.get("import_task")
    if not task_id or task_id == own:
        return
    task = store.tasks.get(task_id)
    if task is None or is_final(settle_if_dead(store, settings, task)["status"]):
        return  # a lock its task no longer holds
    if task["status"] == TaskStatus.PENDING and task.get(RUN_LATER):
        hint = f"It is pending: run it with 'glancectl task run --task {task_id}'."
    elif task["status"] == TaskStatus.PENDING:
        hint = f"It is pending: its worker is starting. Follow it with 'glancectl task show {task_id}'."
    else:
        hint = f"Follow it with 'glancectl task show {task_id}'."
    raise InProgress(
        f"Image has active task: image {records.image_label(image)} is being imported by "
        f"task {task_id} ({task['status']}).", hint=hint)


# -- creating and running --------------------------------------------------
def insert(store: Store, task: dict, *, run_later: bool = False) -> Lease | None:
    """Record a new pending task, owned from that moment; returns the lease that owns it.

    The caller holds the store lock, and holds the lease until it hands it to
    a worker (``spawn_worker``). With ``run_later`` nobody owns the task: it
    is left for 'glancectl task run' on purpose, and no lease is taken.
    """
    lifecycle.check_initial_task_status(task["status"])
    if run_later:
        task[RUN_LATER] = True
        store.tasks.insert(task)
        return None
    lease = store.take_lease(task["id"])  # before the record: never a moment unowned
    try:
        store.tasks.insert(task)
    except BaseException:
        lease.release()
        raise
    return lease


def _handler(task_type: str):
    from glancectl.operations import importing  # the work lives with the task types

    return importing.HANDLERS[check_task_type(task_type)]


def claim(store: Store, settings: Settings, task_id: str, *,
          lease: Lease | None = None) -> tuple[dict, Lease | None] | None:
    """pending -> processing, with the task's lease; None when it is not ours to start.

    ``lease`` is the one the task's creator handed to this worker. Without
    it, only a task nobody owns can be claimed (one left for 'task run'); a
    task whose creator or worker still holds its lease is theirs, and an
    abandoned one is failed. A task whose preconditions no longer hold (its
    image was deleted, say) goes straight from pending to failure, and comes
    back with no lease.
    """
    with store.writing():  # claims are serialised here: only one can see it pending
        task = find_task(store, task_id)
        if task["status"] != TaskStatus.PENDING:
            return None
        if lease is None:
            if is_abandoned(store, task):
                return settle_if_dead(store, settings, task), None
            if store.lease_is_live(task_id):
                return None
            lease = store.take_lease(task_id)
        try:
            _handler(task["type"]).precheck(store, settings, task)
        except GlancectlError as exc:
            failed = fail(store, settings, task, str(exc), exc.exit_code)
            lease.release()
            return failed, None
        try:
            return move_task(store, settings, task, TaskStatus.PROCESSING,
                             worker_pid=os.getpid()), lease
        except BaseException:
            lease.release()
            raise


def run_task(store: Store, settings: Settings, task_id: str, *,
             progress: Progress | None = None, lease: Lease | None = None) -> dict | None:
    """Claim and work one pending task to its end; None when it was not ours to start.

    The task's own failure is recorded, not raised; an interruption
    (Ctrl-C) is recorded and then still stops the caller.
    """
    claimed = claim(store, settings, task_id, lease=lease)
    if claimed is None:
        return None
    task, lease = claimed
    if lease is None:
        return task
    stopped = None
    try:
        try:
            result = _handler(task["type"]).run(store, settings, task, progress=progress)
            ending = {"status": TaskStatus.SUCCESS, "result": result}
        except BaseException as exc:
            ending = {"status": TaskStatus.FAILURE, "message": failure_message(exc),
                      "exit_code": int(exit_code_for(exc))}
            stopped = None if isinstance(exc, Exception) else exc
        with store.writing():
            task = move_task(store, settings, find_task(store, task_id), **ending)
            lease.release()  # under the lock: whoever sees the task ended sees its worker gone
    finally:
        lease.release()
    if stopped is not None:
        raise stopped
    return task


def run_pending(store: Store, settings: Settings, *,
                progress_for: Callable[[dict], object] | None = None) -> tuple[list, list]:
    """Fail tasks whose worker died, then work every pending task, oldest first.

    Returns (settled, ran). ``progress_for(task)`` may give a context
    manager yielding a progress callback for that task.
    """
    settled = settle_dead_tasks(store, settings)
    pending = select((t for t in store.tasks.all() if t["status"] == TaskStatus.PENDING),
                     parse_sort("created_at:asc", TASK_SORT_KEYS, "created_at:asc"))
    ran = []
    for task in pending:
        done = _run_with_progress(store, settings, task, progress_for)
        if done is not None:
            ran.append(done)
    return settled, ran


def run_one(store: Store, settings: Settings, ref: str, *,
            progress_for: Callable[[dict], object] | None = None,
            lease_fd: int | None = None) -> dict:
    """``task run --task ID``: work it if pending, settle it if abandoned, else report it.

    ``lease_fd`` is the task's lease, handed down by the process that
    recorded the task and started this worker.
    """
    task_id = find_task(store, ref)["id"]
    lease = store.adopt_lease(task_id, lease_fd) if lease_fd is not None else None
    try:
        task = settle_if_dead(store, settings, find_task(store, task_id))
        if task["status"] == TaskStatus.PENDING:
            task = (_run_with_progress(store, settings, task, progress_for, lease)
                    or find_task(store, task_id))
        return task
    finally:
        if lease is not None and lease.fd is not None:  # it was not ours to start after all
            with store.writing():
                lease.release()


def _run_with_progress(store, settings, task, progress_for, lease=None) -> dict | None:
    if progress_for is None:
        return run_task(store, settings, task["id"], lease=lease)
    with progress_for(task) as progress:
        return run_task(store, settings, task["id"], progress=progress, lease=lease)


# -- the worker process ----------------------------------------------------
def spawn_worker(store: Store, task_id: str, lease: Lease, *, environ: Mapping[str, str]
                 ) -> subprocess.Popen:
    """Start ``glancectl task run --task ID`` detached (own session, no terminal, stdio
    closed) and hand it the task's lease: from here the worker alone owns the task.

    If no worker can be started, the task is left pending for 'glancectl task run'.
    """
    import subprocess

    import glancectl

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(glancectl.__file__)))
    env = dict(environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "glancectl", "--home", os.path.abspath(store.home),
            "--lock-timeout", str(store.lock_timeout), "task", "run", "--task", task_id,
            "--lease-fd", str(lease.fd), "-q"]
    try:
        worker = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
            pass_fds=(lease.fd,), env=env, cwd="/")
    except OSError as exc:
        with store.writing():
            note(store, find_task(store, task_id), **{RUN_LATER: True})
            lease.release()
        raise GlancectlError(
            f"could not start a worker for task {task_id}: {exc.strerror or exc}; the task "
            "is pending.", hint=f"Run it with 'glancectl task run --task {task_id}'.") from None
    lease.abandon()  # our copy only: the worker holds the same lock through its own
    return worker


def wait(store: Store, settings: Settings, task_id: str, *,
         worker: subprocess.Popen | None = None,
         on_poll: Callable[[dict], None] = lambda task: None,
         interval: float = 0.02, max_interval: float = 0.2) -> dict:
    """Poll until the task ends; a dead worker fails it rather than leaving us waiting.

    A worker that exits before taking the task over drops its lease, so the
    task is failed as abandoned like any other.
    """
    delay = interval
    while True:
        task = settle_if_dead(store, settings, find_task(store, task_id))
        if is_final(task["status"]):
            # The worker lets go of the task a moment after recording its end; by the time
            # we return, it has, so nothing it held is left for the caller to trip over.
            deadline = time.monotonic() + 5
            while store.lease_is_live(task_id) and time.monotonic() < deadline:
                time.sleep(interval)
            if worker is not None:
                import subprocess  # already loaded: the worker was started with it

                try:
                    worker.wait(timeout=max(deadline - time.monotonic(), 0))
                except subprocess.TimeoutExpired:
                    pass  # it carries on detached, owing the task nothing
            return task
        on_poll(task)
        time.sleep(delay)
        delay = min(delay * 1.5, max_interval)


def list_tasks(store: Store, settings: Settings, *, status: str | None = None,
               task_type: str | None = None, image_id: str | None = None,
               sort: str | None = None, marker: str | None = None,
               limit: int | None = None, keep: Callable[[Mapping], object] | None = None,
               whole: bool = False) -> list:
    """The tasks that match, sorted and paged, each as ``keep`` keeps it. Each is whole (its
    input, result and message too) only with ``whole``: otherwise it may hold no more than
    ``records.TASK_LISTED_FIELDS``, read from the shards' summaries where they fit."""
    keys = parse_sort(sort, TASK_SORT_KEYS, "created_at:desc")
    if status is not None:
        check_filter_value("status", status, [s.value for s in TaskStatus])
    if task_type is not None:
        check_filter_value("type", task_type, TASK_TYPES)
    if marker:
        marker = checked_uuid(marker)

    def settled_matches(found: Shard | ColumnRecords) -> list[dict] | ColumnRecords:
        """One shard's tasks that match, after settling any whose owner died."""
        if image_id is not None:
            found = _where(found, "image_id", image_id)
        owned = owned_positions(found)  # only these can have been abandoned
        if owned:
            found = list(found)  # a copy to change: no shard's columns of the records before
            for index in owned:
                found[index] = settle_if_dead(store, settings, found[index])
        if status is not None:
            found = _where(found, "status", status)
        if task_type is not None:
            found = _where(found, "type", task_type)
        return found

    shards = (store.tasks.shards() if whole
              else (records for _, _, records in store.tasks.summarised_shards()))
    return select_batches(map(settled_matches, shards), keys, marker=marker, limit=limit, keep=keep)


def _where(tasks: list[dict] | ColumnRecords, field: str, value: str) -> list[dict] | ColumnRecords:
    """The tasks whose ``field`` is ``value``; taken a column at a time from a summary."""
    if type(tasks) is ColumnRecords:
        return tasks.compress(map(operator.eq, tasks.columns[field], repeat(value)))
    return [task for task in tasks if task.get(field) == value]


def bytes_received(store: Store, task: Mapping) -> int:
    """How much data the task's image has taken in so far (its temp files), for progress."""
    from glancectl.operations.recovery import data_temps

    image_id = task.get("image_id")
    if not image_id:
        return 0
    total = 0
    for path in data_temps(store, image_id):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # committed or discarded meanwhile
            pass
    return total
