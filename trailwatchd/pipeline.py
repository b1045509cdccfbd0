"""The pipeline: work items in, alerts delivered, objects acknowledged.

::

    sources --emit--> [intake queue] --> object workers --(one SQLite transaction)--> spool
                                              |                                         |
                                         mirror counters                      delivery loop per sink
                                                                                        |
                     ack.commit() <-- every alert of the item's objects delivered <-----+

Why a durable spool sits between evaluation and the sinks: evaluation results (alerts and their dedupe
keys) are committed in one transaction per object, so a crash either loses nothing (not committed: the
object comes back and is evaluated again) or has the alerts on disk (committed: they are delivered after
the restart and the redelivered object is recognised in the ledger and not evaluated again). Objects are
acknowledged only when none of their alerts remains undelivered. Duplicates are possible only in the
window between a sink accepting an alert and the spool recording it; SNS FIFO topics close even that
with deterministic deduplication ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog

from trailwatchd.alarms.service import AlarmService
from trailwatchd.alerts import alert_from_bytes
from trailwatchd.config import AccountEnrichment
from trailwatchd.decode import DecodeLimits, KeyKind, classify_key
from trailwatchd.engine import ObjectResult, Snapshot, evaluate_object
from trailwatchd.errors import DecodeError, FetchError, PermanentFetchError, TemporaryDeliveryError
from trailwatchd.metrics import Metrics, MirrorCounters
from trailwatchd.model import ObjectRef
from trailwatchd.sinks.base import Sink
from trailwatchd.sources.base import Source, WorkItem
from trailwatchd.state import AsyncStateStore, NewAlert
from trailwatchd.throttle import META_KEY as THROTTLE_META_KEY
from trailwatchd.throttle import Throttle, ThrottleMetrics
from trailwatchd.timeutil import parse_iso_time

log = structlog.get_logger()

RETRY_BASE_SECS = 1.0
RETRY_CAP_SECS = 300.0
DigestHook = Callable[[ObjectRef], Awaitable[bool]]
"""Called for digest keys; True when it verified the digest (trailwatchd.integrity.service)."""
Evaluator = Callable[..., Awaitable[ObjectResult]]


async def _evaluate_in_thread(snap: Snapshot, **kwargs: Any) -> ObjectResult:
    """``workers = 1``: evaluate in a worker thread, so a big object never stalls the event loop."""
    return await asyncio.to_thread(evaluate_object, snap, **kwargs)


"""Evaluates one object away from the event loop: ``(snapshot, *, name, data, inline, limits)``;
``trailwatchd.workers.EvaluatorPool.evaluate`` runs it in worker processes (``daemon.workers``)."""


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """The daemon options the pipeline needs, kept apart from the config types for tests."""

    default_sinks: tuple[str, ...]
    dedupe_ttl_secs: float = 7 * 86400.0
    max_object_bytes: int = 256 * 1024 * 1024
    max_event_bytes: int = 262_144
    workers: int = 4
    """Concurrent work items (I/O overlap); CPU-bound evaluation runs in threads."""
    accounts: Mapping[str, AccountEnrichment] = field(default_factory=dict)
    """``[enrichment.accounts]``: account names and per-account severity overrides for alerts."""


class _Release(Exception):
    """Give a work item back to its source (temporary or permanent)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def retry_delay(attempts: int, *, rand: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with full jitter for a spool entry's next attempt."""
    return float(rand() * min(RETRY_CAP_SECS, RETRY_BASE_SECS * (2 ** min(attempts, 16))))


def ledger_key(ref: ObjectRef) -> str:
    """Identity of an object in the ledger: its URI plus its version (etag, or size for local files)."""
    version = ref.etag or (f"{ref.size}:{ref.last_modified}" if ref.size is not None else "")
    return f"{ref.uri}#{version}" if version else ref.uri


class Pipeline:
    """Runs work items from sources to acknowledged, alerts through the spool to the sinks."""

    def __init__(
        self,
        *,
        snapshot: Callable[[], Snapshot],
        sources: Mapping[str, Source],
        sinks: Mapping[str, Sink],
        state: AsyncStateStore,
        metrics: Metrics,
        mirrors: MirrorCounters,
        settings: PipelineSettings,
        queue_size: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._snapshot = snapshot
        self.sources = dict(sources)
        self.sinks = dict(sinks)
        self.state = state
        self.metrics = metrics
        self.mirrors = mirrors
        self.settings = settings
        self.clock = clock
        self.intake: asyncio.Queue[WorkItem] = asyncio.Queue(maxsize=queue_size)
        self._delivered = asyncio.Condition()
        self._wake = {sink_id: asyncio.Event() for sink_id in self.sinks}
        self._in_flight = 0
        self._by_source: dict[str, int] = {}
        """Work items queued or in flight per source: a reload swaps a source only when it reaches 0."""
        self._retiring: set[str] = set()
        """Sinks whose delivery loop should return after its current batch (a reload replaces them)."""
        self._newest_event = 0.0
        self.limits = DecodeLimits(max_event_bytes=settings.max_event_bytes)
        self.digest_hook: DigestHook | None = None
        """Integrity verification of digest keys (``[integrity]``); ``None`` = digests are skipped."""
        self.throttle: Throttle | None = None  # loaded from the state store on first use
        self.alarms: AlarmService | None = None
        """CloudWatch-style alarms (``[alarms]``): fed each object's datapoints in its own transaction."""
        self.evaluator: Evaluator | None = None
        """Worker processes (``daemon.workers`` > 1); ``None`` = evaluate in a thread of this process."""
        self._throttle_lock = asyncio.Lock()
        self.throttle_metrics = ThrottleMetrics(metrics.registry)

    # -- intake -----------------------------------------------------------------------------------
    async def emit(self, item: WorkItem) -> None:
        """The sources' intake; blocks while the queue is full (back-pressure)."""
        item.received_at = asyncio.get_running_loop().time()
        self.metrics.in_flight.labels(item.source_id).inc()
        self._by_source[item.source_id] = self._by_source.get(item.source_id, 0) + 1
        await self.intake.put(item)
        self.metrics.queue_depth.labels("intake").set(self.intake.qsize())

    @property
    def idle(self) -> bool:
        """No queued or in-flight work item."""
        return self.intake.empty() and self._in_flight == 0

    def source_busy(self, source_id: str) -> int:
        """Work items of one source that are queued or in flight."""
        return self._by_source.get(source_id, 0)

    # -- reload: swapping sources and sinks --------------------------------------------------------
    def set_source(self, source_id: str, source: Source | None) -> None:
        """Install (or with None remove) a source; call only when :meth:`source_busy` is 0."""
        if source is None:
            self.sources.pop(source_id, None)
        else:
            self.sources[source_id] = source

    def retire_sink(self, sink_id: str) -> None:
        """Ask the sink's delivery loop to return after its current batch (nothing is cut mid-delivery)."""
        self._retiring.add(sink_id)
        if sink_id in self._wake:
            self._wake[sink_id].set()

    def set_sink(self, sink_id: str, sink: Sink | None) -> None:
        """Install (or with None remove) a sink once its old delivery loop has returned."""
        self._retiring.discard(sink_id)
        if sink is None:
            self.sinks.pop(sink_id, None)
            self._wake.pop(sink_id, None)
        else:
            self.sinks[sink_id] = sink
            self._wake.setdefault(sink_id, asyncio.Event()).set()  # deliver what waits in the spool

    async def worker(self) -> None:
        """Take work items off the intake queue forever (cancelled at shutdown)."""
        while True:
            item = await self.intake.get()
            self.metrics.queue_depth.labels("intake").set(self.intake.qsize())
            self._in_flight += 1
            try:
                await self.process(item)
            finally:
                self._in_flight -= 1
                self._by_source[item.source_id] -= 1
                self.metrics.in_flight.labels(item.source_id).dec()
                self.intake.task_done()

    # -- one work item ----------------------------------------------------------------------------
    async def process(self, item: WorkItem) -> None:
        """Evaluate every object of the item, wait for its alerts, then acknowledge it."""
        source = self.sources[item.source_id]
        bound = log.bind(source_id=item.source_id, item=item.label)
        keys: list[tuple[str, str]] = []
        try:
            for ref in item.objects:
                key = ledger_key(ref)
                if await self._process_object(source, ref, key, bound):
                    keys.append((ref.source_id, key))
            await self._wait_delivered(keys)
        except _Release as rel:
            await item.ack.release(rel.reason, permanent=rel.permanent)
            bound.warning("work_item_released", reason=rel.reason, permanent=rel.permanent)
            return
        # Ledger first: a kill between the two then leaves a "done" object that is simply acknowledged
        # when it comes back, instead of an "evaluated" row nobody ever finishes.
        now = self.clock()
        for source_id, key in keys:
            await self.state.mark_done(source_id, key, now=now)
        await item.ack.commit()

    async def _process_object(
        self, source: Source, ref: ObjectRef, key: str, bound: structlog.typing.FilteringBoundLogger
    ) -> bool:
        """Evaluate one object unless the ledger has it; return True when it has ledger entries."""
        status = await self.state.object_status(ref.source_id, key)
        if status in ("evaluated", "done"):
            self.metrics.objects.labels(ref.source_id, "duplicate").inc()
            bound.info("object_already_evaluated", object_key=ref.key, status=status)
            return status == "evaluated"
        kind = classify_key(ref.key).kind if ref.inline is None else KeyKind.OTHER
        if kind is KeyKind.DIGEST and self.digest_hook is not None:
            try:
                handled = await self.digest_hook(ref)
            except FetchError as err:  # S3 or key lookup failed: retry the digest later
                self.metrics.errors.labels("integrity", err.code).inc()
                bound.error("digest_verify_failed", object_key=ref.key, error=str(err), code=err.code)
                raise _Release(str(err), permanent=False) from err
            if handled:
                self.metrics.objects.labels(ref.source_id, "verified").inc()
                return False
        if kind is KeyKind.DIGEST:
            self.metrics.objects.labels(ref.source_id, "skipped").inc()
            bound.info("object_skipped", object_key=ref.key, reason="digest file")
            return False
        data: bytes | None = None
        if ref.inline is None:
            try:
                data = await source.fetch(ref, self.settings.max_object_bytes)
            except FetchError as err:
                self.metrics.errors.labels("fetch", err.code).inc()
                self.metrics.objects.labels(ref.source_id, "fetch_error").inc()
                if isinstance(err, PermanentFetchError) and err.code == "not_found":
                    # Deleted before we read it: retrying cannot succeed (redpanda-data/connect PR#3221).
                    bound.warning("object_vanished", object_key=ref.key, error=str(err))
                    return False
                bound.error("object_fetch_failed", object_key=ref.key, error=str(err), code=err.code)
                raise _Release(str(err), permanent=isinstance(err, PermanentFetchError)) from err
            self.metrics.bytes_read.labels(ref.source_id).inc(len(data))
        snap = self._snapshot()  # one rule-set snapshot per object: a reload never splits an object
        hash_content = self.digest_hook is not None  # [integrity]: the digest check needs no second download
        evaluate = self.evaluator or _evaluate_in_thread
        try:
            result = await evaluate(
                snap,
                name=ref.uri,
                data=data,
                inline=ref.inline,
                limits=self.limits,
                hash_content=hash_content,
            )
        except FetchError as err:  # a worker process died evaluating it, repeatedly: retry much later
            self.metrics.errors.labels("evaluate", err.code).inc()
            bound.error("object_evaluate_failed", object_key=ref.key, error=str(err), code=err.code)
            raise _Release(str(err), permanent=False) from err
        except DecodeError as err:
            self.metrics.errors.labels("decode", "malformed").inc()
            self.metrics.objects.labels(ref.source_id, "decode_error").inc()
            bound.error("object_decode_failed", object_key=ref.key, error=err.reason)
            raise _Release(str(err), permanent=True) from err
        await self._record(ref, key, snap, result)
        bound.info(
            "object_processed",
            object_key=ref.key,
            events=result.events,
            matches=len(result.matches),
            skipped_oversize=result.stats.skipped_oversize,
        )
        return True

    async def _record(self, ref: ObjectRef, key: str, snap: Snapshot, result: ObjectResult) -> None:
        """Commit the object's alerts durably, then count it."""
        now = self.clock()
        # Alert hygiene (trailwatchd/throttle.py): exceptions, dedupe keys, rate limit and roll-ups; the
        # throttle state commits in the object's own transaction, so it is as durable as the alerts.
        async with self._throttle_lock:
            throttle = await self._throttle()
            plan = throttle.plan(
                ((snap.ruleset.get(rule_id), event) for rule_id, event in result.matches),
                rules=snap.ruleset.by_id,
                object_uri=ref.uri,
                object_created_at=ref.last_modified,
                now=now,
                default_sinks=self.settings.default_sinks,
                default_ttl_secs=self.settings.dedupe_ttl_secs,
                accounts=self.settings.accounts,
            )
            alerts: list[NewAlert] = plan.alerts
            staged = None  # alarm buckets commit with the object, so a replayed object never counts twice
            if self.alarms is not None:
                staged = await self.alarms.stage(
                    result.datapoints,
                    matches=result.matches,
                    event_minutes=result.event_minutes,
                    now=now,
                    object_uri=ref.uri,
                )
            inserted = await self.state.record_evaluation(
                ref.source_id,
                key,
                alerts,
                now=now,
                ttl_secs=self.settings.dedupe_ttl_secs,
                events=result.events,
                matches=len(result.matches),
                meta=plan.meta() | (staged.meta if staged is not None else {}),
                sha256=result.content_sha256,
            )
            throttle.commit(plan)
            if staged is not None and self.alarms is not None:
                self.alarms.apply(staged)
        self.throttle_metrics.observe(plan)
        source_id = ref.source_id
        self.metrics.objects.labels(source_id, "ok").inc()
        self.metrics.events.labels(source_id).inc(result.events)
        if result.stats.skipped_oversize:
            self.metrics.events_skipped.labels(source_id, "oversize").inc(result.stats.skipped_oversize)
        for rule_id, _ in result.matches:
            self.metrics.rule_matches.labels(rule_id).inc()
        for _, point in result.datapoints:
            self.mirrors.inc(point.namespace, point.name, point.value, point.dimensions)
        for rule_id, n in result.extraction_failures.items():
            self.metrics.extraction_failures.labels(rule_id).inc(n)
        newest = result.newest_event_epoch()
        if newest is not None and newest > self._newest_event:
            self._newest_event = newest
            self.metrics.newest_event.set(newest)
        fresh = {e.dedupe_key for e in inserted}
        for new in alerts:
            if new.dedupe_key not in fresh:
                for sink_id in new.sink_ids:
                    self.metrics.alerts.labels(sink_id, "deduplicated").inc()
        for sink_id in {e.sink_id for e in inserted}:
            if sink_id in self._wake:
                self._wake[sink_id].set()
        self.metrics.spool_depth.set(await self.state.spool_depth())

    async def _throttle(self) -> Throttle:
        if self.throttle is None:
            raw = await self.state.get_meta(THROTTLE_META_KEY)
            try:
                self.throttle = Throttle.load(raw)
            except msgspec.DecodeError as err:
                log.error("throttle_state_discarded", error=str(err))
                self.throttle = Throttle()
        return self.throttle

    async def rollup_loop(self, *, every_secs: float = 15.0) -> None:
        """Spool roll-ups whose minute is over even when no object arrives (cancelled at shutdown)."""
        while True:
            await asyncio.sleep(every_secs)
            await self.flush_rollups()

    async def flush_rollups(self) -> int:
        """Spool due roll-up alerts now; returns how many were spooled."""
        now = self.clock()
        async with self._throttle_lock:
            throttle = await self._throttle()
            plan = throttle.flush(
                rules=self._snapshot().ruleset.by_id,
                now=now,
                default_sinks=self.settings.default_sinks,
                default_ttl_secs=self.settings.dedupe_ttl_secs,
            )
            if plan.state is None:
                return 0
            inserted = await self.state.record_evaluation(
                "trailwatchd",
                f"rollup:{now:.3f}",
                plan.alerts,
                now=now,
                ttl_secs=self.settings.dedupe_ttl_secs,
                meta=plan.meta(),
            )
            throttle.commit(plan)
            await self.state.mark_done("trailwatchd", f"rollup:{now:.3f}", now=now)
        self.throttle_metrics.observe(plan)
        for sink_id in {e.sink_id for e in inserted}:
            if sink_id in self._wake:
                self._wake[sink_id].set()
        return len(plan.rollups)

    async def _wait_delivered(self, keys: Sequence[tuple[str, str]]) -> None:
        """Block until no alert of these objects waits in the spool."""
        async with self._delivered:
            for source_id, key in keys:
                while await self.state.undelivered_count(source_id, key) > 0:
                    await self._delivered.wait()

    # -- delivery ---------------------------------------------------------------------------------
    async def deliver_loop(self, sink_id: str, *, idle_secs: float = 1.0) -> None:
        """Deliver due spool entries of one sink forever (cancelled at shutdown)."""
        sink = self.sinks[sink_id]
        batch = sink.batch_limit
        wake = self._wake[sink_id]
        while sink_id not in self._retiring:
            now = self.clock()
            entries = await self.state.due(now=now, limit=batch, sink_id=sink_id)
            if not entries:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=idle_secs)
                continue
            alerts = [alert_from_bytes(e.payload) for e in entries]
            results = await sink.deliver(alerts)
            delivered: list[str] = []
            for entry, alert, err in zip(entries, alerts, results, strict=True):
                if err is None:
                    delivered.append(entry.id)
                    self.metrics.alerts.labels(sink_id, "published").inc()
                    self._observe_delay(alert.body, now)
                elif isinstance(err, TemporaryDeliveryError):
                    self.metrics.alerts.labels(sink_id, "retried").inc()
                    self.metrics.errors.labels("deliver", err.code).inc()
                    await self.state.mark_retry(
                        entry.id, next_attempt_at=now + retry_delay(entry.attempts), error=str(err)
                    )
                    log.warning(
                        "alert_delivery_retried",
                        sink_id=sink_id,
                        rule_id=alert.rule_id,
                        event_id=alert.event_id,
                        attempts=entry.attempts + 1,
                        error=str(err),
                    )
                else:
                    self.metrics.alerts.labels(sink_id, "rejected").inc()
                    self.metrics.errors.labels("deliver", err.code).inc()
                    await self.state.mark_rejected(entry.id, error=str(err), now=now)
                    log.error(
                        "alert_delivery_rejected",
                        sink_id=sink_id,
                        rule_id=alert.rule_id,
                        event_id=alert.event_id,
                        error=str(err),
                    )
            if delivered:
                await self.state.mark_delivered(delivered, now=now)
            self.metrics.spool_depth.set(await self.state.spool_depth())
            async with self._delivered:
                self._delivered.notify_all()
            if len(delivered) < len(entries):
                await asyncio.sleep(0)  # let other sinks run; failed entries wait for their retry time

    def _observe_delay(self, body: Mapping[str, object], now: float) -> None:
        """Delay to delivery from the call (`event_time`) and from the file's arrival (`object_created`)."""
        when, source = body.get("when"), body.get("source")
        origins = (
            ("event_time", when.get("event_time") if isinstance(when, Mapping) else None),
            ("object_created", source.get("object_created") if isinstance(source, Mapping) else None),
        )
        for origin, stamp in origins:
            at = parse_iso_time(stamp)
            if at is not None:
                self.metrics.delay.labels(origin).observe(max(0.0, now - at))
