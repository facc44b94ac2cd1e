"""Image data sources: open bytes for streaming from a file, standard input or a URL.

Used by ``image upload``, ``image stage``, location add and download, the
``web-download`` import method and the ``import`` task.

API::

    with open_path("/tmp/x.img") as src:     # '-' (the str) means standard input
        src.description                      # "file /tmp/x.img", "standard input", the URL
        src.size                             # file size or Content-Length; None if unknown
        src.bytes_read                       # bytes handed out so far
        buf = memoryview(bytearray(4 << 20))
        while n := src.readinto(buf):        # 0 means end of data
            consume(buf[:n])

    open_path(path, *, follow_symlinks=True)
                                       -> DataSource   local file; the str '-' is stdin
    open_stdin(stream=None)            -> DataSource   binary stdin (a text stream's .buffer)
    stdin_holds_data(stream=None)      -> bool         a pipe, socket or file, not /dev/null or a tty
    open_url(url, *, timeout=30.0)     -> DataSource   file:// and http(s)://
    probe_url(url, *, timeout=30.0)    -> int | None   the location exists; its size if known
    validate_location_url(url)         -> str          the url, unchanged, if acceptable

Errors. Every failure to open, probe or read a source raises ``SourceError``
with a one-line message that says what went wrong ("cannot read /x.img: No
such file or directory", "HTTP 404 Not Found from http://...", "connection
to http://... closed after 1048576 of 4194304 bytes"). A non-2xx HTTP answer
raises its subclass ``HttpStatusError``, which carries ``status``, ``url`` (after
redirects) and ``headers``. ``open_path(..., follow_symlinks=False)`` on a
symlink raises its subclass ``SymlinkRefused``.
``validate_location_url`` raises ``InvalidValue`` instead, since it checks
user input before anything is opened.

Rules:

* ``readinto`` may return fewer bytes than ``len(buf)``; only 0 means the end.
  When the size was known up front (a file's size, a Content-Length), ending
  before it is an error, never a silent short read. Bytes past a file's
  initial size (a growing file) are passed on; verifying them is the caller's
  job.
* Reads go straight into the caller's buffer (``FileIO.readinto``,
  ``HTTPResponse.readinto``); there is no intermediate copy.
* Directories are refused. ``open_path`` accepts pipes and devices
  (``/dev/stdin``, ``<(cmd)``) with an unknown size; locations must be
  regular files.
* URLs: ``file:///abs/path`` (or ``file://localhost/abs/path``) with
  percent-decoding, and ``http://`` / ``https://`` without credentials. Anything
  else is refused. Redirects are followed (at most 10) only to http(s).
  ``timeout`` applies to each network operation (connect, each read), not to
  the whole transfer. Proxies from the environment are honoured, as urllib does.
* ``probe_url`` sends HEAD; when HEAD is refused (400, 403, 405, 501) it sends
  ``GET`` with ``Range: bytes=0-0`` and closes without reading the body.
* Closing a stdin source does not close the process's standard input.

This module imports no networking code until a URL is opened, so importing it
is cheap.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from glancectl.errors import InvalidValue, SourceError

__all__ = [
    "DataSource",
    "HttpStatusError",
    "SymlinkRefused",
    "open_path",
    "open_stdin",
    "stdin_holds_data",
    "open_url",
    "probe_url",
    "validate_location_url",
]

DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 10
# HEAD answers that mean "this server does not do HEAD here", not "no such thing".
HEAD_REFUSED = frozenset({400, 403, 405, 501})
_HTTP_SCHEMES = ("http", "https")


class HttpStatusError(SourceError):
    """The server answered with a non-2xx status."""

    def __init__(self, message: str, *, status: int, url: str, headers=None):
        super().__init__(message)
        self.status = status
        self.url = url
        self.headers = headers if headers is not None else {}


class SymlinkRefused(SourceError):
    """A file that must not be reached through a symlink (the store's own data) was one."""


class DataSource:
    """A readable stream of image data. Use it as a context manager."""

    description: str
    size: int | None

    def __init__(self, description: str, size: int | None):
        self.description = description
        self.size = size
        self.bytes_read = 0
        self.closed = False

    def readinto(self, buf) -> int:
        """Fill ``buf`` (a writable buffer) with the next bytes; 0 at the end."""
        n = self._readinto(buf)
        if n:
            self.bytes_read += n
        elif self.size is not None and self.bytes_read < self.size and len(buf):
            raise SourceError(self._ended_early())
        return n

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> DataSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description!r} size={self.size}>"

    # Subclasses implement these.
    def _readinto(self, buf) -> int:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _ended_early(self) -> str:
        return (
            f"{self.description} ended after {self.bytes_read} of {self.size} bytes "
            "(it changed while being read)"
        )


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# ---------------------------------------------------------------- local files


class _FileSource(DataSource):
    def __init__(self, path: str, description: str, *, follow_symlinks: bool = True):
        self.path = path
        flags = os.O_RDONLY | (0 if follow_symlinks else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
            try:
                # Unbuffered: readinto goes straight to read(2) into the caller's buffer.
                self._file = open(fd, "rb", buffering=0)  # noqa: SIM115 - closed by close()
            except BaseException:
                os.close(fd)  # FileIO refuses a directory but leaves its fd open
                raise
        except OSError as exc:
            if exc.errno == errno.ELOOP and not follow_symlinks:
                raise SymlinkRefused(f"{path} is a symlink; refusing to follow it") from None
            raise SourceError(f"cannot read {path}: {_reason(exc)}") from None
        except ValueError as exc:  # an embedded NUL byte
            raise SourceError(f"cannot read {path!r}: {exc}") from None
        try:
            st = os.fstat(self._file.fileno())
        except OSError as exc:
            self._file.close()
            raise SourceError(f"cannot read {path}: {_reason(exc)}") from None
        size = None
        if stat.S_ISREG(st.st_mode):
            size = st.st_size
            if hasattr(os, "posix_fadvise"):
                try:
                    os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                except OSError:
                    pass
        super().__init__(description, size)

    def _readinto(self, buf) -> int:
        try:
            n = self._file.readinto(buf)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {_reason(exc)}") from None
        if n is None:
            raise SourceError(f"cannot read {self.path}: it is in non-blocking mode")
        return n

    def _close(self) -> None:
        self._file.close()


def _open_file(path: str, description: str | None = None, *,
               follow_symlinks: bool = True) -> _FileSource:
    return _FileSource(path, description or f"file {path}", follow_symlinks=follow_symlinks)


def open_path(path: str | os.PathLike, *, follow_symlinks: bool = True) -> DataSource:
    """Open a local file for reading; the string ``'-'`` means standard input.

    With ``follow_symlinks=False`` a symlink as the last component is refused
    (``O_NOFOLLOW``), for files whose place must not be taken by a link.
    """
    if isinstance(path, str) and path == "-":
        return open_stdin()
    return _open_file(os.fsdecode(os.fspath(path)), follow_symlinks=follow_symlinks)


# ----------------------------------------------------------------- stdin


class _StdinSource(DataSource):
    def __init__(self, stream):
        self._stream = stream
        self._readinto_fn = getattr(stream, "readinto", None)
        super().__init__("standard input", _remaining_size(stream))

    def _readinto(self, buf) -> int:
        try:
            if self._readinto_fn is not None:
                n = self._readinto_fn(buf)
            else:
                data = self._stream.read(len(buf))
                if not isinstance(data, (bytes, bytearray)):
                    raise SourceError("cannot read standard input: it is a text stream, not binary")
                n = len(data)
                buf[:n] = data
        except OSError as exc:
            raise SourceError(f"cannot read standard input: {_reason(exc)}") from None
        if n is None:
            raise SourceError("cannot read standard input: it is in non-blocking mode")
        return n


def _remaining_size(stream) -> int | None:
    """The bytes left when the stream is a regular file (``< file.img``), else None."""
    try:
        st = os.fstat(stream.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return max(st.st_size - stream.tell(), 0)
    except (OSError, ValueError, AttributeError):
        return None


def stdin_holds_data(stream=None) -> bool:
    """True when standard input is meant as data: a pipe, a socket or a regular file.

    A terminal, ``/dev/null`` or another device is what an interactive shell,
    cron, CI or nohup leave there, not data. A stream with no file
    descriptor is one a program handed over itself, so it is data.
    """
    import io

    stream = sys.stdin if stream is None else stream
    if stream is None:
        return False
    stream = getattr(stream, "buffer", stream)
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (io.UnsupportedOperation, AttributeError):
        return True
    except (OSError, ValueError):  # closed
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def open_stdin(stream=None) -> DataSource:
    """Open standard input (or ``stream``) as binary; closing it leaves it open."""
    if stream is None:
        stream = sys.stdin
        if stream is None:
            raise SourceError("cannot read standard input: it is closed")
    stream = getattr(stream, "buffer", stream)  # a text wrapper's binary layer
    return _StdinSource(stream)


# ------------------------------------------------------------------ URLs


def _parse_url(url: str, error: type[Exception]) -> tuple[str, str]:
    """Check ``url``; return ("file", local path) or ("http", url). Raise ``error``."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(url, str) or not url:
        raise error("empty URL: expected file:///path, http:// or https://")
    if any(c <= " " or c == "\x7f" for c in url):
        raise error(f"URL {url!r} contains spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise error(f"invalid URL {url}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise error(
                f"file URL {url} names host '{parts.netloc}'; only local absolute paths "
                "are supported (file:///abs/path)"
            )
        if parts.query or parts.fragment or url.endswith(("?", "#")):
            raise error(
                f"file URL {url} has a query or fragment; percent-encode '?' and '#' "
                "in file names as %3F and %23"
            )
        path = unquote(parts.path, errors="surrogateescape")
        if not path.startswith("/"):
            raise error(f"file URL {url} must hold an absolute path (file:///abs/path)")
        if "\x00" in path:
            raise error(f"file URL {url} contains a NUL byte")
        return "file", path
    if scheme in _HTTP_SCHEMES:
        if not url.isascii():
            raise error(f"URL {url} contains non-ASCII characters; percent-encode them")
        if not parts.hostname:
            raise error(f"URL {url} has no host")
        if parts.username is not None or parts.password is not None:
            raise error(f"URL {url} carries credentials, which are not supported")
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise error(f"URL {url} has an invalid port") from None
        return "http", url
    if not scheme or (len(scheme) == 1 and url[1:2] == ":"):  # a bare path, or C:\...
        raise error(f"{url} is not a URL; use file:///abs/path, http:// or https://")
    raise error(
        f"unsupported URL scheme '{scheme}' in {url}: only file://, http:// and https:// "
        "are supported"
    )


def validate_location_url(url: str) -> str:
    """Return ``url`` unchanged if it can be a location, else raise ``InvalidValue``.

    file:// must name an existing regular file; http(s):// is checked for form
    only (``probe_url`` checks it is really there).
    """
    kind, path = _parse_url(url, InvalidValue)
    if kind == "file":
        try:
            st = os.stat(path)
        except OSError as exc:
            raise InvalidValue(f"location {url}: cannot read {path}: {_reason(exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidValue(f"location {url}: {path} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InvalidValue(f"location {url}: {path} is not a regular file")
    return url


def open_url(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> DataSource:
    """Open a file:// or http(s):// URL for reading."""
    kind, target = _parse_url(url, SourceError)
    if kind == "file":
        return _open_file(target, url)
    response, _ = _http_open(url, "GET", timeout)
    return _HttpSource(url, response, timeout)


def probe_url(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> int | None:
    """Check that ``url`` really exists; return its size when known."""
    kind, target = _parse_url(url, SourceError)
    if kind == "file":
        try:
            st = os.stat(target)
        except OSError as exc:
            raise SourceError(f"cannot read {target}: {_reason(exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            raise SourceError(f"cannot read {target}: Is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"cannot use {target}: not a regular file")
        with _open_file(target, url) as src:  # proves it is readable
            return src.size
    try:
        response, _ = _http_open(url, "HEAD", timeout)
    except HttpStatusError as exc:
        if exc.status not in HEAD_REFUSED:
            raise
        return _probe_with_get(url, timeout)
    with response:
        if response.headers.get("Transfer-Encoding"):
            return None
        return _int_header(response.headers.get("Content-Length"))


def _probe_with_get(url: str, timeout: float) -> int | None:
    try:
        response, _ = _http_open(url, "GET", timeout, {"Range": "bytes=0-0"})
    except HttpStatusError as exc:
        if exc.status == 416:  # not even byte 0: an empty resource
            return _content_range_total(exc.headers.get("Content-Range")) or 0
        raise
    with response:  # closed without reading the body
        if response.status == 206:
            return _content_range_total(response.headers.get("Content-Range"))
        return response.length


def _int_header(value: str | None) -> int | None:
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def _content_range_total(value: str | None) -> int | None:
    # "bytes 0-0/12345" or "bytes */12345"; "*" as the total means unknown.
    if not value or "/" not in value:
        return None
    return _int_header(value.rsplit("/", 1)[1])


# ------------------------------------------------------------------- HTTP


def _host_port(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    return f"{host}:{port}"


def _redirect_handler():
    """A redirect handler that keeps HEAD as HEAD, allows only http(s), and
    records where it went (for error messages)."""
    import urllib.request
    from urllib.parse import urljoin, urlsplit

    class Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def __init__(self):
            self.visited: list[str] = []

        def http_error_302(self, req, fp, code, msg, headers):
            location = headers.get("Location") or headers.get("URI")
            if location:
                target = urljoin(req.full_url, location.strip())
                if urlsplit(target).scheme.lower() not in _HTTP_SCHEMES:
                    fp.close()
                    raise SourceError(
                        f"{req.full_url} redirected to {target}; only http:// and "
                        "https:// redirects are followed"
                    )
            return super().http_error_302(req, fp, code, msg, headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None:
                if req.get_method() == "HEAD":
                    new.method = "HEAD"
                self.visited.append(new.full_url)
            return new

    return Redirects()


def _http_open(url: str, method: str, timeout: float, headers: dict | None = None):
    """Send one request (following redirects); return (response, final url)."""
    import http.client
    import urllib.error
    import urllib.request

    from glancectl import __version__

    request = urllib.request.Request(
        url,
        method=method,
        headers={
            "User-Agent": f"glancectl/{__version__}",
            "Accept-Encoding": "identity",
            **(headers or {}),
        },
    )
    redirects = _redirect_handler()
    opener = urllib.request.build_opener(redirects)

    def current() -> str:
        return redirects.visited[-1] if redirects.visited else url

    def where(final: str) -> str:
        return final if final == url else f"{final} (redirected from {url})"

    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        final = exc.url or current()
        if 300 <= exc.code < 400:
            if exc.headers.get("Location") or exc.headers.get("URI"):
                message = f"too many redirects (more than {MAX_REDIRECTS}, or a loop) from {url}"
            else:
                message = f"HTTP {exc.code} {_phrase(exc)} without a Location from {where(final)}"
        else:
            message = f"HTTP {exc.code} {_phrase(exc)} from {where(final)}"
        raise HttpStatusError(message, status=exc.code, url=final, headers=exc.headers) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            message = f"timed out after {timeout:g} s connecting to {_host_port(current())}"
        elif isinstance(reason, OSError):
            message = f"could not reach {_host_port(current())}: {_reason(reason)}"
        else:
            message = f"cannot open {where(current())}: {reason}"
        raise SourceError(message) from None
    except TimeoutError:
        raise SourceError(
            f"timed out after {timeout:g} s waiting for a response from {where(current())}"
        ) from None
    except http.client.RemoteDisconnected:
        raise SourceError(
            f"{_host_port(current())} closed the connection without answering "
            f"the request for {where(current())}"
        ) from None
    except OSError as exc:
        raise SourceError(f"connection to {_host_port(current())} failed: {_reason(exc)}") from None
    except http.client.HTTPException as exc:
        raise SourceError(
            f"invalid HTTP response from {where(current())}: {type(exc).__name__} {exc}"
        ) from None
    return response, current()


def _phrase(exc) -> str:
    import http.client

    reason = exc.reason if isinstance(exc.reason, str) else ""
    return reason.strip() or http.client.responses.get(exc.code, "")


class _HttpSource(DataSource):
    def __init__(self, url: str, response, timeout: float):
        self._response = response
        self._timeout = timeout
        super().__init__(url, response.length)  # Content-Length, None when chunked/unsaid

    def _received(self, pending: int = 0) -> str:
        """What arrived: ``pending`` is what the current read holds, not yet counted."""
        got = self.bytes_read + pending
        return f"{got} bytes" if self.size is None else f"{got} of {self.size} bytes"

    def _readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        filled = 0
        # One socket read at a time rather than readinto: when the peer stalls or
        # drops mid-buffer, the bytes that did arrive are counted in the message.
        while filled < len(view):
            chunk = self._read1(len(view) - filled, filled)
            if not chunk:
                break
            view[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
        return filled

    def _read1(self, size: int, pending: int) -> bytes:
        import http.client

        try:
            return self._response.read1(size)
        except TimeoutError:
            raise SourceError(
                f"timed out after {self._timeout:g} s reading {self.description} "
                f"(received {self._received(pending)})"
            ) from None
        except http.client.IncompleteRead:
            raise SourceError(
                f"connection to {self.description} closed after {self._received(pending)}, "
                "before the end of the chunked body"
            ) from None
        except OSError as exc:
            raise SourceError(
                f"connection to {self.description} failed after {self._received(pending)}: "
                f"{_reason(exc)}"
            ) from None
        except http.client.HTTPException as exc:
            raise SourceError(
                f"invalid HTTP body from {self.description} after {self._received(pending)}: "
                f"{type(exc).__name__} {exc}"
            ) from None

    def _ended_early(self) -> str:
        return f"connection to {self.description} closed after {self._received()}"

    def _close(self) -> None:
        self._response.close()
