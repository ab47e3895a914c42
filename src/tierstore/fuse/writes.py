"""A file written through the mount: one sequential stream into one upload, committed once.

Bytes must arrive in order from offset 0 (what ``cp``, ``tar x``, ``rsync``, ``dd`` and every
writer of Parquet or CSV do); the stream goes into the client's ``open_write``, a multipart
upload straight to the store with bounded part buffers (a single PUT for a small file), or a
streaming PUT through the server's data proxy for a local-directory mount. The upload is
completed on ``fsync``, on the ``flush`` of a close by the process that opened the file (so
``close(2)`` reports a failed upload to ``cp``), or at the latest on ``release``.

A write anywhere else is refused with EOPNOTSUPP, as mountpoint-s3 does; s3fs-fuse instead
stages the whole object in a local file and uploads it again on close. We refuse because a
store object cannot be changed in place: staging turns a one-byte append to a 10 GiB object into
20 GiB of transfer and 10 GiB of local disk, and it writes back whatever was read, losing any
update a client made straight to the store meanwhile (vended credentials make those common).
So appends to existing files, random writes and overwrites in place fail early and clearly;
truncating to 0 and writing afresh works (``>``, ``cp``, ``O_TRUNC``).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable

from tierstore.fuse.errors import FuseError
from tierstore.storage.interface import ObjectWriter

LOGGER = logging.getLogger("tierstore.fuse")

OpenWriter = Callable[[], ObjectWriter]


class SequentialWriter:
    """``fresh``: the file is new or was truncated, so what is written replaces it whole."""

    def __init__(self, path: str, open_writer: OpenWriter, *, fresh: bool, opener_pid: int) -> None:
        self.path = path
        self.opener_pid = opener_pid
        self.size = 0
        self.mode = 0o644  # what stat shows until the namespace has the file
        # An empty object was put at the opener's close before any byte came (see flush).
        self.placeheld = False
        self._open_writer = open_writer
        self._fresh = fresh
        self._writer: ObjectWriter | None = None
        self._committed = False
        # The upload completed: the file is in the store, and the server can change its bits.
        self.done = False
        self._failed: FuseError | None = None
        self._lock = threading.Lock()
        if fresh:
            # Opened now, so that a refused write (the namespace's bits, a read-only mount) is
            # refused at open or create, not at the first write or at close.
            self._writer = open_writer()

    @property
    def fresh(self) -> bool:
        return self._fresh

    def truncate(self, length: int) -> None:
        """``truncate(2)`` on an open file: to 0 before anything is written (or to what is written)."""
        with self._lock:
            if length == self.size and (self._fresh or self._writer is not None):
                return
            if length == 0 and self.size == 0 and not self._committed:
                if self._writer is None:
                    self._writer = self._open_writer()
                self._fresh = True
                return
            raise self._refuse(f"truncate to {length} after {self.size} bytes were written")

    def write(self, data: bytes, offset: int) -> int:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._committed:
                raise self._refuse(f"write at {offset} after the file was committed (closed or fsynced)")
            if not self._fresh:
                raise self._refuse(
                    f"write at {offset} into an existing file: truncate it first (open with O_TRUNC, "
                    "'>' rather than '>>')"
                )
            if offset != self.size:
                raise self._refuse(f"write at {offset}, but the file's {self.size} bytes end there")
            assert self._writer is not None
            try:
                self._writer.write(data)
            except BaseException:
                self._abort()
                raise
            self.size += len(data)
            return len(data)

    def _refuse(self, what: str) -> FuseError:
        LOGGER.warning(
            "%s: EOPNOTSUPP: %s; files are written once, in order from the start (README, the FUSE mount)",
            self.path,
            what,
        )
        return FuseError(errno.EOPNOTSUPP, f"{self.path}: {what}")

    def commit(self) -> bool:
        """Completes the upload (once); True when it did so now."""
        with self._lock:
            if self._committed or self._writer is None:
                return False
            if self._failed is not None:
                raise self._failed
            self._committed = True
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except BaseException:
                self._failed = FuseError(errno.EIO, f"{self.path}: the upload failed")
                raise
            self.done = True
            return True

    def _abort(self) -> None:
        writer, self._writer = self._writer, None
        self._committed = True
        if writer is not None:
            try:
                writer.abort()
            except Exception as error:  # the write's own error is the one to report
                LOGGER.warning("%s: aborting the upload failed: %s", self.path, error)

    def abort(self) -> None:
        with self._lock:
            self._abort()
