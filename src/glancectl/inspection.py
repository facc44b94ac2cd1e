"""Disk-format inspection of image data, in the same pass that hashes and writes it.

The format parsing is oslo.utils' ``format_inspector`` (the module Glance
itself uses); this module only drives it over a stream and applies Glance's
rules to the outcome. No click, no rich: it raises ``DataError`` and the CLI
layer turns that into a message and an exit code.

Glance's rules (glance/location.py ``ImageProxy.set_data``, Glance 33):

* Every inspector sees the stream; what matched decides the format. Nothing
  specific matched means ``raw``. ISO plus GPT together counts as ISO (bootable
  ISOs carry an MBR/GPT); any other multiple match is refused.
* Detected == declared: accepted, virtual_size from the format's header.
* Declared ``raw``: any detected format is accepted (gpt, even qcow2), and
  virtual_size is the byte count, as if nothing had been recognised.
* Declared a format oslo cannot inspect (ami, ari, aki, ploop): accepted when
  nothing specific was recognised; virtual_size stays unset.
* Anything else is a mismatch and is refused.
* The detected format's safety checks always run (qcow2 backing file or
  external data file, unknown qcow2 features, vmdk subformat and extent
  names, the MBR of a gpt/mbr image, qed is banned, ...). A failure refuses
  the data. For aki/ari the ``mbr`` check is not fatal (kernels carry a
  deliberately invalid MBR).

Two choices of glancectl's own, both noted where they are made:
``gpt`` detected for ami/ari/aki/ploop is treated like ``raw`` (Glance 33
refuses it as a mismatch, which makes its own aki/ari MBR exemption
unreachable), and ``disk_format=None`` skips the mismatch rule but still
applies the safety checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from glancectl.errors import DataError

# Inspectors see the stream in blocks of this size, whatever the caller's
# chunk size. It is the chunk size Glance's file store reads with, and some
# of oslo's inspectors depend on it: a text VMDK descriptor is only parsed
# from the first block it sees, and the VHDX virtual-size record is only
# found if it lies after the block in which the metadata table completed.
INSPECT_BLOCK = 64 * 1024

# Formats whose virtual size comes from their own header, not the byte count.
_HEADER_SIZED = frozenset({"qcow2", "vhd", "vhdx", "vmdk", "vdi", "iso"})
# Safety checks that are not fatal for a declared format (Glance: kernels and
# ramdisks may carry an intentionally invalid but recognisable MBR).
_NONFATAL_CHECKS = {"aki": frozenset({"mbr"}), "ari": frozenset({"mbr"})}

_OSLO_LOGGER = "oslo_utils.imageutils.format_inspector"


@dataclass(frozen=True)
class InspectionResult:
    detected_format: str | None  # what the inspector saw ("raw" when nothing else)
    virtual_size: int | None


def _quiet_oslo_logger() -> None:
    """Keep oslo's warnings off stderr unless the application configures logging.

    oslo logs every failed safety check. With no handler anywhere, Python's
    last-resort handler would print those to stderr next to our own error.
    A NullHandler stops that and still lets records propagate to any handler
    the CLI installs (for example under --debug).
    """
    logger = logging.getLogger(_OSLO_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class StreamInspector:
    """Feed every chunk of an image's data, then call ``finish`` once.

    ``feed`` is cheap once the inspectors have seen the header regions they
    need (usually within the first 320 KiB): after that it only counts bytes,
    and for formats that check a trailer (streamOptimized VMDK) keeps the last
    few KiB. Memory stays bounded whatever the image size.

    ``container_format`` other than ``bare`` turns inspection off, as in
    Glance: the data is then a container (ova, docker, ...) and not a disk.
    """

    def __init__(self, disk_format: str | None, *, container_format: str | None = None):
        self.disk_format = disk_format
        self._enabled = container_format in (None, "bare")
        self._fed = 0
        self._finished = False
        self._buf = bytearray()  # part of the next inspection block
        self._tail = b""  # last bytes of the stream, for trailer checks
        self._tail_len = 0
        self._inspectors: list = []
        self._live: list = []  # still examine every block
        self._tailing: list = []  # need only the end of the stream
        self._errored: set = set()
        self._was_settled: set = set()
        if not self._enabled:
            return
        from oslo_utils.imageutils import format_inspector

        _quiet_oslo_logger()
        self._fi = format_inspector
        # raw is "nothing else matched"; it needs no data (its size is the count).
        self._inspectors = [
            cls() for name, cls in format_inspector.ALL_FORMATS.items() if name != "raw"
        ]
        self._live = list(self._inspectors)

    @property
    def settled(self) -> bool:
        """True once no inspector examines the chunks any more."""
        return not self._live

    # -- streaming -----------------------------------------------------------
    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._finished:
            raise RuntimeError("StreamInspector.feed() called after finish()")
        view = memoryview(chunk)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        size = len(view)
        if not size:
            return
        self._fed += size
        if self._live:
            self._feed_live(view)
        elif self._tailing:
            self._keep_tail(view)

    def _feed_live(self, view: memoryview) -> None:
        if self._buf:
            need = INSPECT_BLOCK - len(self._buf)
            self._buf += view[:need]
            view = view[need:]
            if len(self._buf) < INSPECT_BLOCK:
                return
            block = bytes(self._buf)
            self._buf.clear()
            self._eat(block)
        while self._live and len(view) >= INSPECT_BLOCK:
            self._eat(bytes(view[:INSPECT_BLOCK]))
            view = view[INSPECT_BLOCK:]
        if not len(view):
            return
        if self._live:
            self._buf += view
        elif self._tailing:
            self._keep_tail(view)

    def _keep_tail(self, view) -> None:
        keep = self._tail_len
        if len(view) >= keep:
            self._tail = bytes(view[len(view) - keep:])
        else:
            self._tail = (self._tail + bytes(view))[-keep:]

    def _eat(self, block: bytes) -> None:
        """Present one block to every live inspector, as InspectWrapper does."""
        if self._tailing:
            self._keep_tail(block)
        for insp in list(self._live):
            before = self._region_state(insp)
            try:
                insp.eat_chunk(block)
            except Exception:
                # Same as InspectWrapper: an inspector that cannot parse the
                # data is out of the running; it does not break the stream.
                self._live.remove(insp)
                self._errored.add(insp)
                continue
            after = self._region_state(insp)
            pending, end_len, names = after
            if pending or names != before[2]:
                self._was_settled.discard(insp)
                continue
            # Stop only after a whole further block in which the inspector
            # neither needed data nor added a region: oslo's inspectors add
            # regions from post_process on a later call (VHDX adds its size
            # record one call after adding its metadata region).
            if insp not in self._was_settled:
                self._was_settled.add(insp)
                continue
            self._live.remove(insp)
            if end_len:
                self._tailing.append(insp)
                self._tail_len = max(self._tail_len, end_len)

    def _region_state(self, insp) -> tuple[bool, int, frozenset]:
        """(any start-anchored region incomplete, longest end region, region names)."""
        pending = False
        end_len = 0
        names = frozenset(insp.context_info)
        for name in names:
            region = insp.region(name)
            if isinstance(region, self._fi.EndCaptureRegion):
                end_len = max(end_len, region.length)
            elif not region.complete:
                pending = True
        return pending, end_len, names

    # -- verdict -------------------------------------------------------------
    def finish(self, total_size: int) -> InspectionResult:
        """Decide on the data's format after the last chunk. Raises DataError.

        ``total_size`` must be the number of bytes fed.
        """
        if self._finished:
            raise RuntimeError("StreamInspector.finish() called twice")
        self._finished = True
        if total_size != self._fed:
            raise ValueError(f"finish({total_size}) but {self._fed} bytes were fed")
        if not self._enabled:
            return InspectionResult(None, None)
        if self._buf:
            block = bytes(self._buf)
            self._buf.clear()
            self._eat(block)
        for insp in self._tailing:
            if self._tail and insp not in self._errored:
                try:
                    insp.eat_chunk(self._tail)
                except Exception:
                    self._errored.add(insp)
        for insp in self._inspectors:
            insp.finish()
        try:
            return self._verdict(total_size)
        except DataError:
            raise
        except Exception as exc:  # an oslo parsing bug: refuse, as Glance does
            raise DataError(f"Image format inspection failed: {exc}") from None

    def _verdict(self, total_size: int) -> InspectionResult:
        fi = self._fi
        matches = [i for i in self._inspectors if i.format_match]
        names = sorted(str(i) for i in matches)
        if not matches:
            inspector = None
        elif set(names) == {"iso", "gpt"}:
            # A bootable ISO legitimately has an MBR/GPT in front (Glance).
            inspector = next(i for i in matches if str(i) == "iso")
        elif len(matches) > 1:
            raise DataError(
                f"Image data matches more than one disk format ({', '.join(names)}); "
                "ambiguous data is refused."
            )
        else:
            inspector = matches[0]
        detected = str(inspector) if inspector is not None else "raw"
        declared = self.disk_format

        if declared is None:
            # Nothing declared (e.g. staging): no mismatch rule, safety still applies.
            virtual_size = _header_size(inspector)
        elif detected == declared:
            virtual_size = total_size if detected == "raw" else _header_size(inspector)
        elif declared == "raw":
            # Glance: raw accepts anything safe, sized by its bytes.
            virtual_size = total_size
        elif declared not in fi.ALL_FORMATS and detected in ("raw", "gpt"):
            # ami/ari/aki/ploop cannot be inspected; unrecognised data passes.
            # gpt here is glancectl's choice (see module docstring).
            virtual_size = None
        else:
            suggest = "raw" if detected == "gpt" else detected
            hint = (
                f"If the data really is {suggest}, declare disk_format {suggest}."
                if suggest in _HEADER_SIZED or suggest == "raw" else None
            )
            raise DataError(f"Image data is {detected} but disk_format is {declared}.", hint=hint)

        if inspector is not None:
            self._safety_check(inspector, detected, declared)
        return InspectionResult(detected, virtual_size or None)

    def _safety_check(self, inspector, detected: str, declared: str | None) -> None:
        fi = self._fi
        try:
            inspector.safety_check()
        except fi.SafetyCheckFailed as exc:
            fatal = set(exc.failures) - _NONFATAL_CHECKS.get(declared or "", frozenset())
            if fatal:
                details = ", ".join(f"{name} ({exc.failures[name]})" for name in sorted(fatal))
                raise DataError(
                    f"Image data ({detected}) failed safety checks: {details}."
                ) from None
        except fi.ImageFormatError as exc:
            raise DataError(
                f"Image data looks like {detected} but could not be safety checked: {exc}."
            ) from None


def _header_size(inspector) -> int | None:
    if inspector is None or str(inspector) not in _HEADER_SIZED:
        return None
    return inspector.virtual_size or None
