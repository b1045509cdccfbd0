"""Sinks: where alerts go. ``SINKS`` maps a config ``type`` to its class, explicitly (no registration)."""

from __future__ import annotations

from typing import Any

from trailwatchd.config import FileSinkConfig, LogSinkConfig, SinkConfig
from trailwatchd.sinks.base import Sink
from trailwatchd.sinks.file import FileSink
from trailwatchd.sinks.log import LogSink

SINKS: dict[str, type] = {"log": LogSink, "file": FileSink}


def build_sink(sink_id: str, config: SinkConfig, *, clients: Any = None) -> Sink:
    """Instantiate the sink a config table describes."""
    if isinstance(config, LogSinkConfig):
        return LogSink(sink_id, config)
    if isinstance(config, FileSinkConfig):
        return FileSink(sink_id, config)
    raise NotImplementedError(f"sink type of {sink_id!r} is not available in this build")
