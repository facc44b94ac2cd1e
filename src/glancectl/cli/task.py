"""`glancectl task ...`: create, list, show and run tasks; parsing and rendering only."""

from __future__ import annotations

import functools
import json

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.errors import CLIError
from glancectl.cli.helptext import Group, option
from glancectl.cli.output import ListOutput, output_options, render_many, render_one
from glancectl.cli.params import complete_from, no_progress_option, pass_env, task_argument
from glancectl.cli.progress import byte_progress
from glancectl.errors import InvalidValue, exit_code_for
from glancectl.lifecycle import TaskStatus
from glancectl.listing import TASK_SORT_KEYS
from glancectl.operations import tasks as ops

LIST_COLUMNS = ("id", "type", "status", "owner")
RUN_COLUMNS = ("id", "type", "status", "message")

_FAILURE_CODES = """\
  2    the source could not be read (unreachable host, HTTP error, missing file)
  3    its image no longer exists
  4    refused by the lifecycle (e.g. the image changed status meanwhile)
  5    the data failed verification (disk format mismatch, unsafe image)
  6    a limit was crossed (image_size_cap, user_storage_quota)
  7    the store could not take the data (disk full, busy)
  130  the worker was killed before finishing (or Ctrl-C in the foreground)
  143  the worker was terminated (SIGTERM) before finishing
  1    an unexpected error"""
TASK_EXIT_CODES = f"\b\nWhen a task fails, --wait exits with the code its failure means:\n{_FAILURE_CODES}"
RUN_EXIT_CODES = f"\b\nWhen a task fails, task run exits with the code its failure means:\n{_FAILURE_CODES}"


def worker_options(func):
    """--wait, --no-worker and --no-progress, for every command that starts a task."""
    for decorate in reversed([
        option("--wait", is_flag=True, section="Worker",
               help="Block until the task ends; exit non-zero if it fails."),
        option("--no-worker", is_flag=True, section="Worker",
               help="Only record the task; it stays pending until 'glancectl task run' "
                    "works it (nobody else fails it)."),
        no_progress_option,
    ]):
        func = decorate(func)
    return func


def check_worker_flags(*, wait: bool, no_worker: bool) -> None:
    """Refuse --wait with --no-worker before any task is recorded."""
    if wait and no_worker:
        raise InvalidValue("--wait needs a worker; leave out --no-worker")


def start(env: Env, task: dict, lease, *, wait: bool, no_progress: bool) -> dict:
    """Hand a pending task and its lease to a new worker process; with ``wait``, follow it
    to its end. Without a lease the task was recorded with --no-worker."""
    if lease is None:
        if env.stderr_isatty:
            env.message(f"Task {task['id']} is pending; 'glancectl task run' will work it.")
        return task
    worker = ops.spawn_worker(env.store, task["id"], lease, environ=env.environ)
    if not wait:
        if env.stderr_isatty:
            env.message(f"Task {task['id']} runs in the background; follow it with "
                        f"'glancectl task show {task['id']}'.")
        return task
    try:
        with byte_progress(env, f"Task {task['id'][:8]}", None, enabled=not no_progress) as bar:
            def on_poll(current: dict) -> None:
                if bar is not None:
                    bar(ops.bytes_received(env.store, current))

            return ops.wait(env.store, env.settings, task["id"], worker=worker, on_poll=on_poll)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM
        raise CLIError(
            f"stopped waiting; task {task['id']} carries on in the background. "
            f"Follow it with 'glancectl task show {task['id']}'.", exit_code_for(exc)) from None


def exit_if_failed(task: dict, what: str) -> None:
    if task["status"] == TaskStatus.FAILURE:
        raise CLIError(f"{what} failed: {task['message']}", ops.failure_exit_code(task))


@click.group("task", cls=Group)
def task() -> None:
    """Create, follow and run tasks: Glance's asynchronous image import.

    A task is pending until a worker takes it, processing while it works,
    then success (result holds the image_id) or failure (message says why).
    Finished tasks expire task_time_to_live hours later; 'glancectl purge'
    removes expired tasks.

    \b
    Examples:
      glancectl task create --type import --input @import.json --wait
      glancectl task list --status failure
      glancectl task show 8c6f...
    """


def _read_input(env: Env, text: str | None) -> dict:
    if text is None:
        raise InvalidValue("Task 'input' is required")
    if text.startswith("@"):
        path = text[1:]
        try:
            if path == "-":
                text = env.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as exc:
            raise InvalidValue(f"cannot read --input file {path}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"--input is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidValue("Task 'input' must be a JSON object")
    return value


@task.command("create", epilog=TASK_EXIT_CODES)
@option("--type", "task_type", metavar="TYPE", section="Task",
        help=f"The task type: {', '.join(ops.TASK_TYPES)}.")
@option("--input", "task_input", metavar="JSON|@FILE", section="Task",
        help="The task input, a JSON object (or @FILE, @- for stdin).")
@worker_options
@output_options(quiet=True)
@pass_env
def create(env: Env, task_type, task_input, wait, no_worker, no_progress, output) -> None:
    """Record a pending task and start a worker for it; return at once.

    An import task creates an image from image_properties and fills it
    from import_from (file://, http:// or https://) through the same checks
    as 'image upload'. Its disk_format is import_from_format; its
    container_format defaults to bare. file:// sources are glancectl's own:
    Glance 33 refuses them ("File based imports are not allowed").

    \b
    Examples:
      glancectl task create --type import --wait --input \\
        '{"import_from": "http://127.0.0.1:8000/cirros.img", "import_from_format": "qcow2",
          "image_properties": {"name": "cirros", "container_format": "bare"}}'
      glancectl task create --type import --input @import.json -q
      glancectl task create --type api_image_import --input \\
        '{"image_id": "3c1d...", "import_req": {"method": {"name": "glance-direct"}}}'
    """
    from glancectl.operations import importing

    if task_type is None:
        raise InvalidValue("Task 'type' is required")
    check_worker_flags(wait=wait, no_worker=no_worker)
    tasks_input = _read_input(env, task_input)
    record, lease = importing.create_task(env.store, env.settings, task_type, tasks_input,
                                          run_later=no_worker)
    record = start(env, record, lease, wait=wait, no_progress=no_progress)
    render_one(env, output, records.task_view(record))
    exit_if_failed(record, f"task {record['id']}")



@task.command("list")
@option("--status", type=click.Choice([s.value for s in TaskStatus]), section="Filters",
        help="Only tasks in this status.")
@option("--type", "task_type", type=click.Choice(ops.TASK_TYPES), section="Filters",
        help="Only tasks of this type.")
@option("--sort", metavar="KEY[:DIR],...", section="Sorting and paging",
        shell_complete=complete_from(TASK_SORT_KEYS, sort_keys=True),
        help=f"Sort keys: {', '.join(TASK_SORT_KEYS)} (default created_at:desc).")
@option("--limit", type=click.IntRange(min=0), section="Sorting and paging",
        help="List at most this many.")
@option("--marker", metavar="ID", section="Sorting and paging", help="Start after this task ID.")
@output_options(quiet=True, many=True)
@pass_env
def list_(env: Env, status, task_type, sort, limit, marker, output) -> None:
    """List tasks, newest first, with Glance's filters, sorting and paging.

    \b
    Examples:
      glancectl task list
      glancectl task list --status failure --type import -f json
      glancectl task list --sort status:asc,created_at --limit 10
    """
    listed = ListOutput(env, output, LIST_COLUMNS, view=functools.partial(records.task_view, summary=True),
                        plain_fields=records.TASK_PLAIN_FIELDS)
    listed.emit(lambda keep: ops.list_tasks(env.store, env.settings, status=status, task_type=task_type,
                                            sort=sort, marker=marker, limit=limit, keep=keep))


@task.command("show")
@task_argument()
@output_options()
@pass_env
def show(env: Env, task_id, output) -> None:
    """Show one task: its input, and its result or failure message.

    \b
    Examples:
      glancectl task show 8c6f...
      glancectl task show 8c6f... -f value -c status
    """
    record = ops.settle_if_dead(env.store, env.settings, ops.find_task(env.store, task_id))
    render_one(env, output, records.task_view(record))


@task.command("run", epilog=RUN_EXIT_CODES)
@option("--task", "task_id", metavar="TASK", section="Task", help="Work only this task.")
# How a worker started by 'task create' receives the task's lease from its creator.
@click.option("--lease-fd", type=click.IntRange(min=0), hidden=True)
@no_progress_option
@output_options(quiet=True, many=True)
@pass_env
def run(env: Env, task_id, lease_fd, no_progress, output) -> None:
    """Work pending tasks in the foreground, oldest first (scripts, cron, recovery).

    First fails every pending or processing task whose owner died (its
    lease is gone), with a message saying so, and settles its image. Exits
    with the worst failure's code among the tasks it worked; with --task,
    the way 'task create --wait' would for that task.

    \b
    Examples:
      glancectl task run
      glancectl task run --task 8c6f...
    """
    def progress_for(record: dict):
        return byte_progress(env, f"Task {record['id'][:8]}", None, enabled=not no_progress)

    if lease_fd is not None and task_id is None:
        raise InvalidValue("--lease-fd goes with --task")
    if task_id is not None:
        ran = [ops.run_one(env.store, env.settings, task_id, progress_for=progress_for,
                           lease_fd=lease_fd)]
    else:
        settled, ran = ops.run_pending(env.store, env.settings, progress_for=progress_for)
        for record in settled:
            env.message(f"Task {record['id']} had lost its worker; it is now failure.")
    if output.format == "table" and not ran and not output.quiet:
        env.message("No pending tasks.")
        return
    render_many(env, output, [records.task_view(t) for t in ran], RUN_COLUMNS)
    failed = [t for t in ran if t["status"] == TaskStatus.FAILURE]
    if failed:
        raise CLIError(f"{len(failed)} of {len(ran)} tasks failed.",
                       max(ops.failure_exit_code(t) for t in failed))

