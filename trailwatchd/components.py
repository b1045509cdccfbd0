"""Starting and stopping sources and sinks while the daemon runs: at startup, and when a reload changes them.

A mixin of :class:`trailwatchd.daemon.Daemon`, kept apart so the daemon module stays about lifecycle. The
rules it keeps: a sink finishes its current batch before it closes (nothing is cut mid-delivery, its spool
entries stay); a source stops receiving and its work items are acknowledged or released before the new
instance takes over, so two instances never feed the same id at once; AWS clients are created on first need.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import structlog

from trailwatchd.aws import AwsClients
from trailwatchd.config import Config, SinkConfig, SnsSinkConfig, SqsSourceConfig
from trailwatchd.integrity.service import poll_digests
from trailwatchd.metrics import Metrics
from trailwatchd.pipeline import Pipeline
from trailwatchd.reload import ConfigChange
from trailwatchd.sinks import build_sink
from trailwatchd.sinks.base import Sink
from trailwatchd.sources import build_source
from trailwatchd.sources.base import Source
from trailwatchd.state import AsyncStateStore

log = structlog.get_logger()


class ComponentsMixin:
    """The running sources and sinks and their tasks (state the :class:`Daemon` sets up in ``run``)."""

    config: Config
    metrics: Metrics
    sources: dict[str, Source]
    sinks: dict[str, Sink]
    pipeline: Pipeline | None
    _tg: asyncio.TaskGroup | None
    _stack: AsyncExitStack | None
    _state: AsyncStateStore | None
    _clients: AwsClients | None
    _feeders: dict[str, asyncio.Task[None]]
    _source_stops: dict[str, asyncio.Event]
    _deliverers: dict[str, asyncio.Task[None]]

    async def _restart_components(self, change: ConfigChange) -> None:
        """Stop removed/changed sources and sinks, start new/changed ones; untouched ones keep running."""
        for sink_id in change.sinks_removed + change.sinks_changed:
            await self._stop_sink(sink_id)
        for sink_id in change.sinks_added + change.sinks_changed:
            await self._start_sink(sink_id, self.config.sinks[sink_id])
        for source_id in change.sources_removed + change.sources_changed:
            await self._stop_source(source_id)
        for source_id in change.sources_added + change.sources_changed:
            await self._start_source(source_id)

    async def _close_sinks(self) -> None:
        for sink in list(self.sinks.values()):
            await sink.close()

    async def _aws(self) -> AwsClients:
        if self._clients is None:
            assert self._stack is not None
            self._clients = await self._stack.enter_async_context(AwsClients(self.config.aws))
        return self._clients

    async def _start_sink(self, sink_id: str, sink_cfg: SinkConfig) -> None:
        clients = await self._aws() if isinstance(sink_cfg, SnsSinkConfig) else self._clients
        sink = build_sink(sink_id, sink_cfg, clients=clients)
        self.sinks[sink_id] = sink
        self.metrics.init_sink(sink_id)
        if self.pipeline is not None and self._tg is not None:
            self.pipeline.set_sink(sink_id, sink)
            self._deliverers[sink_id] = self._tg.create_task(
                self.pipeline.deliver_loop(sink_id), name=f"sink-{sink_id}"
            )

    async def _stop_sink(self, sink_id: str) -> None:
        """Let the delivery loop finish its batch, then close the sink; its spool entries stay."""
        assert self.pipeline is not None
        self.pipeline.retire_sink(sink_id)
        task = self._deliverers.pop(sink_id, None)
        if task is not None:
            await asyncio.wait([task])
        self.pipeline.set_sink(sink_id, None)
        sink = self.sinks.pop(sink_id, None)
        if sink is not None:
            await sink.close()

    async def _start_source(self, source_id: str) -> None:
        cfg = self.config.sources[source_id]
        needs_aws = isinstance(cfg, SqsSourceConfig) or getattr(cfg, "bucket", None)
        clients = await self._aws() if needs_aws else self._clients
        assert self._state is not None
        source = build_source(source_id, cfg, clients=clients, state=self._state, metrics=self.metrics)
        poll_digests(source_id, source, self.config.integrity)  # an S3 poller lists digests for [integrity]
        self.sources[source_id] = source
        self.metrics.init_source(source_id, sqs=isinstance(cfg, SqsSourceConfig))
        if self.pipeline is not None and self._tg is not None:
            self.pipeline.set_source(source_id, source)
            stop = self._source_stops[source_id] = asyncio.Event()
            self._feeders[source_id] = self._tg.create_task(
                source.run(self.pipeline.emit, stop), name=f"source-{source_id}"
            )

    async def _stop_source(self, source_id: str) -> None:
        """Stop receiving, then wait until the source's work items are acknowledged or released."""
        assert self.pipeline is not None
        self._source_stops[source_id].set()
        task = self._feeders.pop(source_id, None)
        if task is not None:
            await asyncio.wait([task])
        deadline = time.monotonic() + self.config.daemon.graceful_shutdown_secs
        while self.pipeline.source_busy(source_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.pipeline.source_busy(source_id):  # e.g. a sink is down: queued items use the new instance
            log.warning("source_swap_forced", source_id=source_id, busy=self.pipeline.source_busy(source_id))
        self.pipeline.set_source(source_id, None)
        self.sources.pop(source_id, None)
        del self._source_stops[source_id]
