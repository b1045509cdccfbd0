"""The daemon: builds everything from config, owns the task group, signals, reload and drain.

Lifecycle (DESIGN.md section 3): signals only set flags. SIGTERM/SIGINT start a drain: sources stop
receiving, in-flight objects finish and their alerts are delivered for at most
``graceful_shutdown_secs``; what is left unacknowledged simply comes back later (SQS visibility,
directory rescan). A second SIGINT exits at once.

Reload (SIGHUP, a watched file changing, ``POST /-/reload``): one path, :meth:`Daemon.reload`. It reads and
validates the whole config, compiles every rule and runs every golden example, and only then swaps: the
rule set atomically (each object keeps the snapshot it started with), sources and sinks whose table changed
are drained and restarted, the rest keep running. Any failure keeps everything as it was. Settings read
only at startup are refused (``trailwatchd.reload.RESTART_ONLY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from trailwatchd.alarms import routing
from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.service import AlarmService, AlarmSettings
from trailwatchd.aws import AwsClients
from trailwatchd.components import ComponentsMixin
from trailwatchd.config import Config, SinkConfig, SnsSinkConfig, SqsSourceConfig, load_config
from trailwatchd.engine import Snapshot
from trailwatchd.errors import ConfigError
from trailwatchd.http import Endpoints, start_http
from trailwatchd.integrity.service import IntegrityService, attach_integrity
from trailwatchd.metrics import Metrics, MirrorCounters, MirrorSpec
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.reload import (
    ConfigChange,
    FileWatcher,
    ReloadOutcome,
    diff_config,
    fingerprint,
    problem_lines,
)
from trailwatchd.rules import RuleSet
from trailwatchd.sinks.base import Sink
from trailwatchd.sources.base import Source
from trailwatchd.state import AsyncStateStore
from trailwatchd.workers import EvaluatorPool, resolve_workers

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


class Daemon(ComponentsMixin):
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
        self.evaluators: EvaluatorPool | None = None
        self.integrity: IntegrityService | None = None
        self._snapshot: Snapshot | None = None
        self._interrupts = 0
        self._reload_lock = asyncio.Lock()
        self.ruleset: RuleSet | None = None
        # Set while running; a reload starts and stops components through these.
        self._tg: asyncio.TaskGroup | None = None
        self._stack: AsyncExitStack | None = None
        self._state: AsyncStateStore | None = None
        self._clients: AwsClients | None = None
        self._implicit_sinks: dict[str, SinkConfig] = {}
        self._feeders: dict[str, asyncio.Task[None]] = {}
        self._source_stops: dict[str, asyncio.Event] = {}
        self._deliverers: dict[str, asyncio.Task[None]] = {}
        self._watcher: FileWatcher | None = None
        self._running = False
        """Every task has started (readiness, and reloads may restart components)."""

    # -- state the HTTP endpoints read --------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Rules loaded and every source has completed a poll."""
        return self._running and self._snapshot is not None and all(s.ready for s in self.sources.values())

    def snapshot(self) -> Snapshot:
        assert self._snapshot is not None
        return self._snapshot

    def _install(self, ruleset: RuleSet) -> None:
        """Make ``ruleset`` the active rule set (mirror families, rule series, snapshot, alarms)."""
        self.mirrors.replace(mirror_specs(ruleset))  # raises before changing anything on a conflict
        self.metrics.init_rules(r.id for r in ruleset.rules)
        self.metrics.rules_loaded.set(sum(1 for r in ruleset.rules if r.enabled))
        self.metrics.set_rule_info((r.id, r.severity) for r in ruleset.rules if r.enabled)
        self._snapshot = Snapshot.of(ruleset)
        self.ruleset = ruleset
        if self.alarms is not None:
            self.alarms.set_rules(ruleset.rules)

    def _mark_loaded(self, ruleset: RuleSet) -> None:
        self.metrics.mark_reload(
            "success", config_digest=self.config.digest, rules_digest=ruleset.digest, now=self.clock()
        )

    def _read_config(self) -> Config:
        """The config file as it is now (a daemon built from an in-memory config keeps that config)."""
        return load_config(self.config.path) if self.config.path else self.config

    async def reload(self, trigger: str = "signal") -> ReloadOutcome:
        """Reload config and rules through the startup path; keep everything running on any failure."""
        async with self._reload_lock:
            before = await asyncio.to_thread(fingerprint, self.config)  # before anything is read
            outcome = await self._reload(trigger)
            if self._watcher is not None:  # whatever the trigger: the watcher compares against this now
                self._watcher.mark_applied(before)
        self.metrics.mark_reload(
            outcome.result,
            config_digest=outcome.config_digest,
            rules_digest=outcome.rules_digest,
            now=self.clock(),
        )
        if outcome.result == "success":
            log.info(
                "config_reloaded",
                trigger=trigger,
                rules=len(self.ruleset.rules) if self.ruleset else 0,
                config_digest=outcome.config_digest[:12],
                rules_digest=outcome.rules_digest[:12],
                restarted=outcome.restarted,
            )
        else:
            for error in outcome.errors:  # one line per problem, each with its file/line/column
                log.error(
                    f"config_reload_{outcome.result}",
                    trigger=trigger,
                    error=error,
                    kept_config_digest=self.config.digest[:12],
                )
        return outcome

    async def _reload(self, trigger: str) -> ReloadOutcome:
        if self.stop_event.is_set() or not self._running:
            return ReloadOutcome("refused", trigger, ["the daemon is starting or shutting down; try again"])
        try:
            new = await asyncio.to_thread(self._read_config)
            change = diff_config(self.config, new)
            if change.refused:
                return ReloadOutcome(
                    "refused",
                    trigger,
                    [
                        f"{self.config.path or 'config'}: {key}: cannot change while running; restart "
                        "trailwatchd to apply it (the running config is kept)"
                        for key in change.refused
                    ],
                )
            ruleset = await asyncio.to_thread(load_rules, new)
            self.mirrors.check(mirror_specs(ruleset))
            owing = await self._sinks_owing(change)
            if owing:
                return ReloadOutcome("refused", trigger, owing)
        except (ConfigError, ValueError) as err:
            return ReloadOutcome("failure", trigger, problem_lines(err))
        self.config = new
        self._install(ruleset)
        if self.alarms is not None:
            await self.alarms.load()
        if self.pipeline is not None:
            self.pipeline.settings = dataclasses.replace(
                self.pipeline.settings,
                default_sinks=tuple(new.rules.default_sinks),
                accounts=new.enrichment.accounts,
            )
        await self._restart_components(change)
        return ReloadOutcome(
            "success",
            trigger,
            config_digest=new.digest,
            rules_digest=ruleset.digest,
            restarted=list(change.restarts),
        )

    async def _sinks_owing(self, change: ConfigChange) -> list[str]:
        """A sink that still owes alerts cannot be removed: its objects would never be acknowledged."""
        if self._state is None:
            return []
        problems = []
        for sink_id in change.sinks_removed:
            pending = await self._state.pending_for_sink(sink_id)
            if pending:
                problems.append(
                    f"sinks.{sink_id}: cannot remove a sink with {pending} undelivered alert(s); keep it "
                    "until its spool drains (trailwatchd_alerts_total), then reload again"
                )
        return problems

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
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload("signal"), name="reload"))

    # -- HTTP ---------------------------------------------------------------------------------------
    async def _start_http(self, stack: AsyncExitStack) -> None:
        def waiting() -> list[str] | None:
            return None if self.ready else [sid for sid, s in self.sources.items() if not s.ready]

        endpoints = Endpoints(
            registry=self.metrics.registry,
            waiting_sources=waiting,
            reload_settings=lambda: self.config.reload,
            reload=self.reload,
        )
        self.metrics_port = await start_http(endpoints, self.config.daemon.metrics_listen, stack)

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
        self._mark_loaded(ruleset)
        Path(cfg.daemon.state_path).parent.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            self._stack = stack
            self._state = state = await stack.enter_async_context(AsyncStateStore(cfg.daemon.state_path))
            stack.push_async_callback(self._close_sinks)
            # [alarms]: an SNS topic ARN in alarm actions without a configured sink gets an implicit one
            sink_cfgs: dict[str, SinkConfig] = {**cfg.sinks}
            if cfg.alarms.enabled:
                self._implicit_sinks = {**routing.implicit_sinks(ruleset.rules, cfg.sinks)}
                sink_cfgs |= self._implicit_sinks
            needs_aws = any(
                isinstance(s, SqsSourceConfig) or getattr(s, "bucket", None) for s in cfg.sources.values()
            ) or any(isinstance(s, SnsSinkConfig) for s in sink_cfgs.values())
            if needs_aws:
                await self._aws()
            clients: Any = self._clients
            for sink_id, sink_cfg in sink_cfgs.items():
                await self._start_sink(sink_id, sink_cfg)
            for source_id in cfg.sources:
                await self._start_source(source_id)
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
            workers = resolve_workers(cfg.daemon.workers)
            if workers > 1:  # daemon.workers: decode and evaluate in processes (trailwatchd/workers.py)
                self.evaluators = EvaluatorPool(workers, registry=self.metrics.registry)
                stack.callback(self.evaluators.close)
                await self.evaluators.warm_up()
                pipeline.evaluator = self.evaluators.evaluate
            if cfg.integrity.enabled:  # [integrity]: verify digest keys instead of skipping them
                self.integrity = await attach_integrity(pipeline, cfg, clients, stack, self.clock)
            await self._start_http(stack)
            log.info(
                "daemon_started",
                sources=sorted(self.sources),
                sinks=sorted(self.sinks),
                rules=len(ruleset.rules),
            )
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                in_flight = max(4, 2 * workers)  # objects in flight: each process has a next one queued
                background = [tg.create_task(pipeline.worker(), name=f"worker-{i}") for i in range(in_flight)]
                for sid in self.sinks:
                    self._deliverers[sid] = tg.create_task(pipeline.deliver_loop(sid), name=f"sink-{sid}")
                background.append(tg.create_task(self._prune_loop(state), name="state-prune"))
                self._watcher = FileWatcher(lambda: self.config, lambda: self.reload("watch"))
                await self._watcher.prime()
                background.append(tg.create_task(self._watcher.run(), name="config-watch"))
                background.append(tg.create_task(pipeline.rollup_loop(), name="rollups"))
                if self.alarms is not None:
                    every = cfg.alarms.evaluation_interval_secs
                    background.append(tg.create_task(self.alarms.run(every_secs=every), name="alarms"))
                if self.integrity is not None:  # [integrity]: digests overdue per account and region
                    background.append(tg.create_task(self.integrity.overdue_loop(), name="integrity"))
                for sid, src in self.sources.items():
                    stop = self._source_stops[sid] = asyncio.Event()
                    self._feeders[sid] = tg.create_task(src.run(pipeline.emit, stop), name=f"source-{sid}")
                self._running = True
                await self.stop_event.wait()
                self._running = False
                log.info("daemon_draining", graceful_shutdown_secs=cfg.daemon.graceful_shutdown_secs)
                async with self._reload_lock:  # a reload in progress finishes first; later ones are refused
                    for stop in self._source_stops.values():
                        stop.set()
                feeders = list(self._feeders.values())
                background += list(self._deliverers.values())
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
