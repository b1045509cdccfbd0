"""The daemon: builds everything from config, owns the task group, signals, reload and drain.

Lifecycle (DESIGN.md section 3): signals only set flags. SIGTERM/SIGINT start a drain: sources stop
receiving, in-flight objects finish and their alerts are delivered for at most
``graceful_shutdown_secs``; what is left unacknowledged simply comes back later (SQS visibility,
directory rescan). A second SIGINT exits at once. SIGHUP reloads the rules through the same path as
startup; a failed reload keeps the running rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from trailwatchd.alarms import routing
from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.service import AlarmService, AlarmSettings
from trailwatchd.aws import AwsClients
from trailwatchd.config import Config, SnsSinkConfig, SqsSourceConfig
from trailwatchd.engine import Snapshot
from trailwatchd.errors import ConfigError
from trailwatchd.integrity.service import attach_integrity
from trailwatchd.metrics import Metrics, MirrorCounters, MirrorSpec
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sinks import build_sink
from trailwatchd.sinks.base import Sink
from trailwatchd.sources import build_source
from trailwatchd.sources.base import Source
from trailwatchd.state import AsyncStateStore

log = structlog.get_logger()


def load_rules(config: Config) -> RuleSet:
    """Load, validate and self-test the configured rules; every problem in one ConfigError."""
    ruleset = RuleSet.load(config.rules.paths)
    failures = ruleset.run_examples()
    if failures:
        lines = "\n".join(f"  - {f}" for f in failures)
        raise ConfigError(
            f"{len(failures)} golden example(s) failed:\n{lines}", file=config.path, key="rules"
        )
    missing = sorted(
        {(r.id, s) for r in ruleset.rules if r.enabled for s in r.sinks if s not in config.sinks}
    )
    if missing:
        names = ", ".join(f"{rule} -> {sink}" for rule, sink in missing)
        raise ConfigError(
            f"rules name sinks that are not defined under [sinks]: {names}", file=config.path, key="rules"
        )
    bad_actions = routing.action_problems(ruleset.rules, config.sinks)  # [rule.alarm] *_actions
    if bad_actions:
        raise ConfigError(
            "alarm actions name sinks not defined under [sinks] (use a sink id or an SNS topic ARN): "
            + "; ".join(bad_actions),
            file=config.path,
            key="rules",
        )
    return ruleset


def mirror_specs(ruleset: RuleSet) -> list[MirrorSpec]:
    """The Prometheus mirror family of every enabled rule with a metric."""
    return [
        MirrorSpec(r.metric.namespace, r.metric.name, tuple(name for name, _ in r.metric.dimensions))
        for r in ruleset.rules
        if r.enabled and r.metric is not None
    ]


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` -> (host, port); ``"[::1]:9108"`` works too."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {listen!r}", key="daemon.metrics_listen")
    return host.strip("[]"), int(port)


class Daemon:
    """One trailwatchd process. ``await Daemon(config).run()`` returns the exit status."""

    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        handle_signals: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = Metrics(registry)
        self.mirrors = MirrorCounters(self.metrics.registry)
        self.handle_signals = handle_signals
        self.clock = clock
        self.stop_event = asyncio.Event()
        self.metrics_port: int | None = None
        self.sources: dict[str, Source] = {}
        self.sinks: dict[str, Sink] = {}
        self.pipeline: Pipeline | None = None
        self.alarms: AlarmService | None = None
        self._snapshot: Snapshot | None = None
        self._interrupts = 0
        self._reload_lock = asyncio.Lock()

    # -- state the HTTP endpoints read --------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Rules loaded and every source has completed a poll."""
        return self._snapshot is not None and all(s.ready for s in self.sources.values())

    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None
        return self._snapshot

    def _install(self, ruleset: RuleSet) -> None:
        self.mirrors.replace(mirror_specs(ruleset))
        self.metrics.init_rules(r.id for r in ruleset.rules)
        self.metrics.rules_loaded.set(sum(1 for r in ruleset.rules if r.enabled))
        self._snapshot = Snapshot.of(ruleset)
        if self.alarms is not None:
            self.alarms.set_rules(ruleset.rules)
        self.metrics.mark_reload(ok=True, digest=f"{self.config.digest[:12]}/{ruleset.digest[:12]}")

    async def reload(self) -> bool:
        """Reload rules through the startup path; keep the running rules on any failure."""
        async with self._reload_lock:
            try:
                ruleset = await asyncio.to_thread(load_rules, self.config)
                self._install(ruleset)
            except (ConfigError, ValueError) as err:
                self.metrics.mark_reload(ok=False)
                log.error("config_reload_failed", error=str(err))
                return False
            log.info("config_reloaded", rules=len(ruleset.rules), digest=ruleset.digest[:12])
            return True

    # -- signals ------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Begin a graceful drain (what SIGTERM does)."""
        self.stop_event.set()

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            log.warning("shutdown_forced")
            os._exit(130)
        log.info("shutdown_requested", signal="SIGINT")
        self.request_stop()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload(), name="reload"))

    # -- HTTP ---------------------------------------------------------------------------------------
    async def _start_http(self, stack: AsyncExitStack) -> None:
        async def metrics(_: web.Request) -> web.Response:
            body = generate_latest(self.metrics.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        async def readyz(_: web.Request) -> web.Response:
            if self.ready:
                return web.Response(text="ready\n")
            waiting = [sid for sid, s in self.sources.items() if not s.ready]
            return web.Response(status=503, text=f"not ready: waiting for sources {waiting}\n")

        app = web.Application()
        app.add_routes(
            [web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)]
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        host, port = parse_listen(self.config.daemon.metrics_listen)
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.metrics_port = sockets[0].getsockname()[1] if sockets else port
        log.info("metrics_listening", address=f"{host}:{self.metrics_port}")

    # -- run ----------------------------------------------------------------------------------------
    async def _prune_loop(self, state: AsyncStateStore) -> None:
        """Prune at start and then every ``prune_interval_secs`` (cancelled at shutdown)."""
        cfg = self.config.daemon
        while True:
            await prune_once(state, self.metrics, now=self.clock(), retention_secs=cfg.retention_secs)
            await asyncio.sleep(cfg.prune_interval_secs)

    async def run(self) -> int:
        """Build, run until stopped, drain. Returns the process exit status."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        if self.handle_signals:
            self._install_signals(loop)
        ruleset = await asyncio.to_thread(load_rules, cfg)
        self._install(ruleset)
        Path(cfg.daemon.state_path).parent.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            state = await stack.enter_async_context(AsyncStateStore(cfg.daemon.state_path))
            clients: Any = None
            # [alarms]: an SNS topic ARN in alarm actions without a configured sink gets an implicit one
            sink_cfgs = {**cfg.sinks}
            if cfg.alarms.enabled:
                sink_cfgs |= routing.implicit_sinks(ruleset.rules, cfg.sinks)
            needs_aws = any(
                isinstance(s, SqsSourceConfig) or getattr(s, "bucket", None) for s in cfg.sources.values()
            ) or any(isinstance(s, SnsSinkConfig) for s in sink_cfgs.values())
            if needs_aws:
                clients = await stack.enter_async_context(AwsClients(cfg.aws))
            for sink_id, sink_cfg in sink_cfgs.items():
                self.sinks[sink_id] = build_sink(sink_id, sink_cfg, clients=clients)
                stack.push_async_callback(self.sinks[sink_id].close)
                self.metrics.init_sink(sink_id)
            for source_id, source_cfg in cfg.sources.items():
                self.sources[source_id] = build_source(
                    source_id, source_cfg, clients=clients, state=state, metrics=self.metrics
                )
                self.metrics.init_source(source_id, sqs=isinstance(source_cfg, SqsSourceConfig))
            self.pipeline = pipeline = Pipeline(
                snapshot=self.snapshot,
                sources=self.sources,
                sinks=self.sinks,
                state=state,
                metrics=self.metrics,
                mirrors=self.mirrors,
                clock=self.clock,
                queue_size=cfg.daemon.queue_size,
                settings=PipelineSettings(
                    default_sinks=tuple(cfg.rules.default_sinks),
                    dedupe_ttl_secs=cfg.daemon.dedupe_ttl_secs,
                    max_object_bytes=cfg.daemon.max_object_bytes,
                    max_event_bytes=cfg.daemon.max_event_bytes,
                    accounts=cfg.enrichment.accounts,
                ),
            )
            if cfg.alarms.enabled:  # [alarms]: CloudWatch-style evaluation of [rule.alarm] (docs/alarms.md)
                self.alarms = AlarmService(
                    state=state,
                    metrics=AlarmMetrics(self.metrics.registry),
                    settings=AlarmSettings(
                        allowed_lateness_secs=cfg.alarms.allowed_lateness_secs,
                        account_id=cfg.alarms.account_id,
                        region=cfg.alarms.region or cfg.aws.region or "us-east-1",
                        sample_events=cfg.alarms.sample_events,
                        notification_ttl_secs=cfg.daemon.dedupe_ttl_secs,
                    ),
                    clock=self.clock,
                    resolve=routing.resolver(sink_cfgs),
                )
                self.alarms.set_rules(ruleset.rules)
                await self.alarms.load()
                pipeline.alarms = self.alarms
            if cfg.integrity.enabled:  # [integrity]: verify digest keys instead of skipping them
                await attach_integrity(pipeline, cfg, clients, stack, self.clock)
            await self._start_http(stack)
            log.info(
                "daemon_started",
                sources=sorted(self.sources),
                sinks=sorted(self.sinks),
                rules=len(ruleset.rules),
            )
            async with asyncio.TaskGroup() as tg:
                background = [tg.create_task(pipeline.worker(), name=f"worker-{i}") for i in range(4)]
                background += [
                    tg.create_task(pipeline.deliver_loop(sid), name=f"sink-{sid}") for sid in self.sinks
                ]
                background.append(tg.create_task(self._prune_loop(state), name="state-prune"))
                background.append(tg.create_task(pipeline.rollup_loop(), name="rollups"))
                if self.alarms is not None:
                    every = cfg.alarms.evaluation_interval_secs
                    background.append(tg.create_task(self.alarms.run(every_secs=every), name="alarms"))
                feeders = [
                    tg.create_task(src.run(pipeline.emit, self.stop_event), name=f"source-{sid}")
                    for sid, src in self.sources.items()
                ]
                await self.stop_event.wait()
                log.info("daemon_draining", graceful_shutdown_secs=cfg.daemon.graceful_shutdown_secs)
                deadline = loop.time() + cfg.daemon.graceful_shutdown_secs
                await asyncio.wait(feeders, timeout=max(0.0, deadline - loop.time()))
                while not pipeline.idle and loop.time() < deadline:
                    await asyncio.sleep(0.05)
                # Before cancelling: each cancelled worker lowers the in-flight count as it exits.
                drained = pipeline.idle
                for task in background + feeders:
                    task.cancel()
        log.info("daemon_stopped", drained=drained)
        return 0


async def prune_once(state: AsyncStateStore, metrics: Metrics, *, now: float, retention_secs: float) -> None:
    """One prune of the state store, logged and counted; a failure is logged and retried next time."""
    try:
        removed = await state.prune(now=now, retention_secs=retention_secs)
    except sqlite3.Error as exc:  # disk full, locked: the next prune tries again
        metrics.errors.labels("state", "prune_failed").inc()
        log.error("state_prune_failed", error=str(exc))
        return
    for table, rows in removed.items():
        metrics.pruned.labels(table).inc(rows)
    log.info("state_pruned", retention_secs=retention_secs, **removed)


async def run_daemon(config: Config, *, handle_signals: bool = True) -> int:
    """Entry point used by ``trailwatchd run``."""
    daemon = Daemon(config, handle_signals=handle_signals)
    with contextlib.suppress(asyncio.CancelledError):
        return await daemon.run()
    return 1
