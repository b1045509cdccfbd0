"""``type = "file"``: JSON Lines, one alert body per line, fsynced before it counts as delivered.

Why fsync: the pipeline acknowledges the source object (deletes the SQS message, marks the key seen)
once every sink reports delivered, so "delivered" must survive a power cut. The write and fsync run in
a thread; they can block for a long time on a busy or networked disk.

A failed write (disk full, permissions, a vanished mount) is temporary: the alerts stay spooled and are
retried. A partial write is cut back off so the file never holds half a line that the next append would
glue onto; every line of the file stays valid JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec

from trailwatchd.config import FileSinkConfig
from trailwatchd.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from trailwatchd.model import Alert

_encoder = msgspec.json.Encoder(decimal_format="number")


def repair_torn_tail(path: Path) -> int:
    """Cut a half-written last line (a kill during a write) back to the last newline; bytes removed.

    The alerts of that line are still pending in the spool, so they are written again whole.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        pos = size
        while pos > 0:
            step = min(65536, pos)
            os.lseek(fd, pos - step, os.SEEK_SET)
            chunk = os.read(fd, step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                pos = pos - step + cut + 1
                break
            pos -= step
        if pos < size:
            os.ftruncate(fd, pos)
            os.fsync(fd)
        return size - pos
    finally:
        os.close(fd)


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created with its parents, mode 0640) and fsync; all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:  # write() may write less than asked, e.g. just before the disk fills
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # best effort; the original error is what matters
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


class FileSink:
    """Appends alert bodies to one file; see the module docstring for the durability contract."""

    def __init__(self, sink_id: str, config: FileSinkConfig) -> None:
        self.id = sink_id
        self.batch_limit = 10  # one fsync per call; also bounds the duplicates a kill -9 can cause
        self.path = Path(config.path)
        self._lock = asyncio.Lock()  # one writer at a time keeps lines whole and in order
        self._checked_tail = False

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        """Write all encodable alerts in one append; one result per alert."""
        results: list[DeliveryError | None] = [None] * len(alerts)
        lines: list[bytes] = []
        written: list[int] = []
        for index, alert in enumerate(alerts):
            try:
                lines.append(_encoder.encode(alert.body) + b"\n")
                written.append(index)
            except (TypeError, ValueError, UnicodeEncodeError) as exc:
                results[index] = PermanentDeliveryError(
                    self.id, f"alert is not JSON-encodable: {exc}", code="unencodable"
                )
        if not lines:
            return results
        try:
            async with self._lock:
                if not self._checked_tail:
                    await asyncio.to_thread(repair_torn_tail, self.path)
                    self._checked_tail = True
                await asyncio.to_thread(append_durably, self.path, b"".join(lines))
        except OSError as exc:
            error = TemporaryDeliveryError(
                self.id,
                f"cannot write {self.path}: {exc.strerror or exc}",
                code=errno.errorcode.get(exc.errno or 0, "io_error"),  # ENOSPC, EACCES, ...: bounded
            )
            for index in written:
                results[index] = error
        return results

    async def close(self) -> None:
        """Nothing to flush: every delivery is already fsynced."""
