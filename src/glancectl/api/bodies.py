"""Request bodies with ``readinto``, so an upload's bytes go from the socket into the ingest's
own buffers once (imported with cheroot, only by ``server``).

cheroot's ``read`` hands out new bytes objects: for a Content-Length body each 4 MiB
read is built from a fresh allocation per socket read, joined and sliced (four copies
of every byte, and the page faults of each new block); a chunked body is further
joined by bytes concatenation, chunk by chunk (a 4 MiB read of 64 KiB chunks copies
~130 MiB). Both classes keep cheroot's ``read`` for everything else (a JSON body),
and what cheroot looks at after the response (``remaining``, ``closed``) stays true.
"""

from __future__ import annotations

import re

from cheroot.server import ChunkedRFile, KnownLengthRFile

CRLF = b"\r\n"
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]+")


class SizedBody(KnownLengthRFile):
    """A Content-Length body."""

    def readinto(self, buf) -> int:
        view = memoryview(buf)
        if len(view) > self.remaining:
            view = view[:self.remaining]  # never into the next request's bytes
        if not view:
            return 0
        # What cheroot has buffered, else one recv_into the caller's buffer.
        n = self.rfile.readinto1(view)
        self.remaining -= n
        return n


class ChunkedBody(ChunkedRFile):
    """A chunked body: each chunk's bytes are read into the caller's buffer, its framing
    checked as cheroot checks it (a hex size, extensions ignored, CRLF after the data).

    A ``readinto`` may stop mid-chunk, so ``readinto`` and ``read`` are not to be mixed
    on one body (an upload only ever uses ``readinto``).
    """

    def __init__(self, rfile, maxlen):
        super().__init__(rfile, maxlen)
        self._chunk_left = 0  # bytes of the current chunk still to read

    def readinto(self, buf) -> int:
        view = memoryview(buf)
        if not view or (not self._chunk_left and not self._next_chunk()):
            return 0
        n = self.rfile.readinto1(view[:self._chunk_left])
        self.bytes_read += n
        self._chunk_left -= n
        if not self._chunk_left or not n:  # a body cut off mid-chunk fails here, as in cheroot
            crlf = self.rfile.read(2)
            self.bytes_read += len(crlf)
            if crlf != CRLF:
                raise ValueError(f"Bad chunked transfer coding (expected '\\r\\n', got {crlf!r})")
        return n

    def _next_chunk(self) -> bool:
        """Read a chunk's size line; False at the last chunk (size 0) or after it."""
        if self.closed:
            return False
        line = self.rfile.readline()
        self.bytes_read += len(line)
        size_field = line.split(b";", 1)[0].strip()
        # Hex digits only: int() also takes "-1", "0x5" and "1_0", and a negative size
        # would end the body early and keep what came before as the whole image.
        if not _HEX_SIZE.fullmatch(size_field):
            raise ValueError(f"Bad chunked transfer size: {size_field!r}")
        size = int(size_field, 16)
        if size == 0:
            self.closed = True  # what follows (trailers, CRLF) cheroot reads as it always does
            return False
        if self.maxlen and self.bytes_read + size > self.maxlen:
            raise OSError("Request Entity Too Large")
        self._chunk_left = size
        return True
