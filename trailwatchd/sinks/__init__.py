"""Sinks: where alerts go. ``SINKS`` maps a config ``type`` to its class, explicitly (no registration).

Adding a sink = a config model in ``config.SINK_CONFIGS``, one module here, one line in ``SINKS`` and
one branch in :func:`build_sink` (constructors differ in what they need: SNS needs an AWS client).
"""

from __future__ import annotations

import functools
from typing import Any

from trailwatchd.config import FileSinkConfig, LogSinkConfig, SinkConfig, SnsSinkConfig
from trailwatchd.sinks.base import Sink
from trailwatchd.sinks.file import FileSink
from trailwatchd.sinks.log import LogSink
from trailwatchd.sinks.sns import SnsSink

SINKS: dict[str, type] = {"sns": SnsSink, "log": LogSink, "file": FileSink}

__all__ = ["SINKS", "FileSink", "LogSink", "Sink", "SnsSink", "build_sink"]


def build_sink(sink_id: str, config: SinkConfig, *, clients: Any = None) -> Sink:
    """Instantiate the sink a config table describes.

    ``clients`` is the daemon's ``trailwatchd.aws.AwsClients`` (``await clients.get("sns")`` returns a
    cached client); only the SNS sink uses it, and only at its first delivery, so building sinks never
    touches the network.
    """
    if isinstance(config, SnsSinkConfig):
        if clients is None:
            raise ValueError(f"sink {sink_id!r} (sns) needs AWS clients")
        return SnsSink(sink_id, config, functools.partial(clients.get, "sns"))
    if isinstance(config, LogSinkConfig):
        return LogSink(sink_id, config)
    if isinstance(config, FileSinkConfig):
        return FileSink(sink_id, config)
    raise TypeError(f"sink {sink_id!r}: no sink for {type(config).__name__}")  # pragma: no cover
