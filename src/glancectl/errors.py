"""One error family for the library layers; the CLI and the API each map it in one place.

Each error carries its exit code and its HTTP status (Glance's code for the
same refusal), so the mapping is data rather than a chain of isinstance
checks, and no caller ever has to match on text.
"""

import errno

from glancectl.exit_codes import ExitCode

# OS errors that mean the store cannot take the write, not a bug.
STORE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


class GlancectlError(Exception):
    exit_code = ExitCode.INTERNAL_ERROR
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class InvalidValue(GlancectlError):
    exit_code = ExitCode.USAGE
    http_status = 400


class AttributeForbidden(InvalidValue):
    """A read-only or reserved attribute: a usage error here, 403 Forbidden in Glance."""

    http_status = 403


class NotFound(GlancectlError):
    exit_code = ExitCode.NOT_FOUND
    http_status = 404


class PropertyNotFound(NotFound):
    """Removing a property the image does not have: Glance's JSON patch answers 409 Conflict."""

    http_status = 409


class MarkerNotFound(NotFound):
    """A list's marker names no listed record: Glance answers 400 Bad Request."""

    http_status = 400


class Refused(GlancectlError):
    """Refused by a rule: protection, no data, an import in progress."""

    exit_code = ExitCode.REFUSED
    http_status = 403


class StatusConflict(Refused):
    """Refused because of the image's status (e.g. not staged): Glance's 409 Conflict."""

    http_status = 409


class InProgress(StatusConflict):
    """Refused because the image's data is being written or imported right now."""


class NoData(Refused):
    """The image has no data to read; over HTTP that is Glance's 204 No Content."""

    http_status = 204


class ImageDeleted(Refused):
    """A change to an image whose record is kept but which is deleted or pending_delete.

    The CLI refuses it (exit 4) because ``show`` still finds the record; an
    HTTP face answers 404 here, as Glance does.
    """

    http_status = 404


class InvalidTransition(Refused):
    """A status change the lifecycle tables do not allow."""

    http_status = 409

    def __init__(self, message: str, *, current: str, requested: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.current = current
        self.requested = requested


class ActionForbidden(InvalidTransition):
    """deactivate/reactivate from a status they do not apply to: Glance's 403 Forbidden."""

    http_status = 403


class DataError(GlancectlError):
    """Data arrived whole but failed verification (size, hash, format, safety)."""

    exit_code = ExitCode.VERIFICATION_FAILED
    http_status = 400


class LimitExceeded(GlancectlError):
    exit_code = ExitCode.LIMIT_EXCEEDED
    http_status = 413


class StoreUnavailable(GlancectlError):
    exit_code = ExitCode.STORE_UNAVAILABLE
    http_status = 503


class Conflict(StoreUnavailable):
    """A record moved under us between read and write; the change was not made."""

    http_status = 409


class StoreCorrupt(StoreUnavailable):
    def __init__(self, path, reason: str):
        super().__init__(
            f"store file {path} is unreadable ({reason}); it was left untouched. "
            "Run 'glancectl doctor' to inspect it, or 'glancectl doctor --repair' to restore "
            "the last good copy."
        )
        self.path = path
        self.reason = reason


class NewerSchema(StoreUnavailable):
    """The store was written by a newer glancectl: this one must change nothing in it."""


class RemoteUnavailable(GlancectlError):
    """The remote cloud (image push/pull) could not be reached, or refused our credentials."""

    exit_code = ExitCode.REMOTE_UNAVAILABLE
    http_status = 502  # a gateway's failure, if a server face ever meets it


class OutputFailed(GlancectlError):
    """Standard output could not be written (full, closed); whatever the command changed stays."""

    exit_code = ExitCode.OUTPUT_FAILED


class SourceError(GlancectlError):
    """The data source could not be read (missing file, network, HTTP status)."""

    exit_code = ExitCode.USAGE
    http_status = 400


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout(1), docker stop, systemd): the work stops and is undone as for Ctrl-C.

    A KeyboardInterrupt, so every path that settles an interrupted write
    settles a terminated one too; only the exit code differs.
    """


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code of a failure that is recorded (a task's) rather than raised."""
    if isinstance(exc, GlancectlError):
        return exc.exit_code
    if isinstance(exc, Terminated):
        return ExitCode.TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, OSError) and exc.errno in STORE_ERRNOS:
        return ExitCode.STORE_UNAVAILABLE
    return ExitCode.INTERNAL_ERROR


def http_status_for(exc: BaseException) -> int:
    """The HTTP status of a failure, as ``exit_code_for`` gives its exit code."""
    if isinstance(exc, GlancectlError):
        return exc.http_status
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LimitExceeded.http_status  # Glance's StorageFull is 413
    if isinstance(exc, OSError) and exc.errno in STORE_ERRNOS:
        return StoreUnavailable.http_status
    return GlancectlError.http_status


def describe_os_error(exc: OSError) -> str:
    """An OSError as one line for people: the reason, and the file when there is one."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
