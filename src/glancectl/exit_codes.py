"""Process exit codes, documented once here and in the README."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2  # bad usage or an invalid value
    NOT_FOUND = 3
    REFUSED = 4  # lifecycle, protection, no data, import in progress
    VERIFICATION_FAILED = 5
    LIMIT_EXCEEDED = 6
    STORE_UNAVAILABLE = 7  # lock timeout, unreadable, permission denied
    OUTPUT_FAILED = 8  # stdout could not be written; a change the command made was kept
    REMOTE_UNAVAILABLE = 9  # image push/pull: cloud unreachable or authentication failed
    MISSING_DEPENDENCY = 69  # EX_UNAVAILABLE, from the launcher
    INTERRUPTED = 130
    TERMINATED = 143  # 128 + SIGTERM: timeout(1), docker stop, systemd


EXIT_CODE_HELP = """\
\b
Exit codes:
  0    success (an empty list is a success)
  1    unexpected internal error
  2    bad usage or invalid value
  3    not found
  4    refused by the lifecycle or a protection
  5    data verification failed
  6    a limit or quota exceeded
  7    store unavailable (busy, unreadable, permission denied)
  8    the output could not be written (any change was made, and kept)
  9    remote cloud unreachable or authentication failed (push, pull)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM)"""
