"""``type = "file"``: JSON Lines, one alert body per line, fsynced before it counts as delivered."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec

from trailwatchd.config import FileSinkConfig
from trailwatchd.errors import DeliveryError, TemporaryDeliveryError
from trailwatchd.model import Alert

_encoder = msgspec.json.Encoder(decimal_format="number")


class FileSink:
    """Appends alerts to a file; a write error (disk full, permissions) is temporary and retried."""

    def __init__(self, sink_id: str, config: FileSinkConfig) -> None:
        self.id = sink_id
        self.path = Path(config.path)

    def _write(self, lines: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        lines = b"".join(_encoder.encode(a.body) + b"\n" for a in alerts)
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as exc:
            err = TemporaryDeliveryError(
                self.id, f"cannot write {self.path}: {exc.strerror}", code="io_error"
            )
            return [err] * len(alerts)
        return [None] * len(alerts)

    async def close(self) -> None:
        return None
