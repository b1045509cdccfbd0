"""The daemon side: verify each digest key the pipeline sees, alert findings, repair ingestion gaps.

The pipeline calls :meth:`IntegrityService.on_digest` for every ``CloudTrail-Digest`` key from an enabled
source (SQS notifications, the S3 poller). A digest delivered at ``D`` triggers verification of the
digests delivered in ``[D - lookback, D]`` of its chain (those verified before are cached, so each digest
is downloaded once; a log file the pipeline already ingested is checked against the SHA-256 it recorded
then, with a HEAD instead of a second download), which also checks the link to the previous digest and
judges log files delivered in that window as listed or not.

Findings go through the durable spool like rule matches (``record_evaluation`` under the ledger key
``integrity:<digest uri>``), so they are delivered to the sinks, retried and deduplicated by
``rule_id|event_id``. Listed log files the ledger never saw as processed are emitted as work items
(gap repair); the repair item's acknowledgement is a no-op because the digest is its durable record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import structlog

from trailwatchd.alerts import alert_dedupe_key, alert_to_bytes, build_alert
from trailwatchd.aws import AwsClients
from trailwatchd.config import Config, IntegrityConfig
from trailwatchd.decode import KeyKind, classify_key
from trailwatchd.errors import FetchError, TemporaryFetchError
from trailwatchd.integrity.cli import regional_cloudtrail
from trailwatchd.integrity.findings import Finding, finding_event
from trailwatchd.integrity.keys import AwsKeyProvider, FileKeyProvider, KeyProvider
from trailwatchd.integrity.metrics import IntegrityMetrics
from trailwatchd.integrity.overdue import META_KEY as OVERDUE_META_KEY
from trailwatchd.integrity.overdue import OverdueWatch
from trailwatchd.integrity.store import ObjectStore, S3Store
from trailwatchd.integrity.verify import Report, Verifier
from trailwatchd.model import ObjectRef
from trailwatchd.sources.base import WorkItem
from trailwatchd.sources.s3 import S3Source
from trailwatchd.state import AsyncStateStore, NewAlert

log = structlog.get_logger()

SOURCE_ID = "integrity"
LOOKBACK = timedelta(hours=3)


class _NoAck:
    async def commit(self) -> None:
        return None

    async def release(self, reason: str, *, permanent: bool) -> None:
        log.warning("integrity_repair_released", reason=reason, permanent=permanent)


class IntegrityService:
    def __init__(
        self,
        *,
        store: ObjectStore,
        keys: KeyProvider,
        state: AsyncStateStore,
        metrics: IntegrityMetrics,
        sinks: Sequence[str],
        emit: Callable[[WorkItem], Awaitable[None]] | None = None,
        sources: Sequence[str] = (),
        unlisted_grace_secs: float = 7200.0,
        repair: bool = True,
        clock: Callable[[], float],
        dedupe_ttl_secs: float = 7 * 86400.0,
        digest_overdue_secs: float = 1800.0,
        delivery_wait_secs: float = 30.0,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.sinks = tuple(sinks)
        self.emit = emit
        self.sources = frozenset(sources)
        self.clock = clock
        self.dedupe_ttl_secs = dedupe_ttl_secs
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._repair_source = ""
        self._counted: dict[tuple[str, str], float] = {}
        self.delivery_wait_secs = delivery_wait_secs
        self.overdue = OverdueWatch(digest_overdue_secs) if digest_overdue_secs > 0 else None
        self.verifier = Verifier(
            store,
            keys,
            processed=self._processed,
            repair=self._repair if repair else None,
            recorded=self._recorded,
            unlisted_grace=timedelta(seconds=unlisted_grace_secs),
        )

    def wants(self, ref: ObjectRef) -> bool:
        """Whether this digest ref is for us (an S3 digest key from an enabled source)."""
        return (
            ref.bucket is not None
            and (not self.sources or ref.source_id in self.sources)
            and classify_key(ref.key).kind is KeyKind.DIGEST
        )

    async def on_digest(self, ref: ObjectRef) -> Report:
        """Verify the chain window ending at this digest; raises fetch errors for the caller to retry."""
        assert ref.bucket is not None
        info = classify_key(ref.key)
        assert info.delivered_at is not None and info.region is not None
        head, _, _ = ref.key.partition("CloudTrail-Digest/")
        base = head + f"CloudTrail-Digest/{info.region}/"
        logs = head + f"CloudTrail/{info.region}/"
        since = info.delivered_at - LOOKBACK
        days = sorted({since.strftime("%Y/%m/%d/"), info.delivered_at.strftime("%Y/%m/%d/")})
        prefixes = [base + d for d in days] + [logs + d for d in days]
        async with self._lock:  # one verification at a time: the cache and counters stay consistent
            self._repair_source = ref.source_id
            report = await self.verifier.verify(ref.bucket, prefixes, since, info.delivered_at)
            horizon = since - timedelta(hours=1)  # bounded memory: older digests are never re-read
            for old in [k for k, (d, _) in self.verifier.verified.items() if d.end < horizon]:
                del self.verifier.verified[old]
        self._count_once(report)
        self.metrics.observe(report)
        findings = list(report.findings)
        if self.overdue is not None and report.newest_valid:
            for (account, region), end in report.newest_valid.items():
                resumed = self.overdue.observe(account, region, end, f"s3://{ref.bucket}/{base}")
                if resumed is not None:
                    findings.append(resumed)
                    self.metrics.overdue.labels(account, region).set(0)
                    log.info("integrity_digests_resumed", account=account, region=region)
            await self.state.set_meta(OVERDUE_META_KEY, self.overdue.dump())
        ledger = await self._alert(ref.uri, findings)
        if findings and self.delivery_wait_secs > 0:
            await self._delivered(ledger, self.delivery_wait_secs)
        log.info(
            "digest_verified",
            object_key=ref.key,
            digests_valid=report.digests_valid,
            digests_invalid=report.digests_invalid,
            log_files_valid=report.logs_valid,
            findings=len(report.findings),
        )
        return report

    def _count_once(self, report: Report) -> None:
        """Windows overlap, so one bad file can be seen by several runs: count each problem file once."""
        now = self.clock()
        for old in [s for s, t in self._counted.items() if t < now - 2 * 86400]:
            del self._counted[old]
        fresh = dict.fromkeys(
            ("log_file_unlisted", "log_file_not_ingested", "log_file_modified", "log_file_missing"), 0
        )
        for finding in report.findings:
            name = finding.rule_id.rsplit(".", 1)[-1]
            if name in fresh and (name, finding.subject) not in self._counted:
                self._counted[(name, finding.subject)] = now
                fresh[name] += 1
        report.logs_unlisted = fresh["log_file_unlisted"]
        report.logs_repaired = fresh["log_file_not_ingested"]
        report.logs_modified = fresh["log_file_modified"]
        report.logs_missing = fresh["log_file_missing"]

    async def load(self) -> None:
        """Restore the overdue watch from the state store (a damaged document is dropped and logged)."""
        if self.overdue is None:
            return
        try:
            self.overdue.load(await self.state.get_meta(OVERDUE_META_KEY))
        except (msgspec.DecodeError, ValueError) as exc:
            log.error("integrity_overdue_state_discarded", error=str(exc))

    async def check_overdue(self) -> list[Finding]:
        """Raise a finding for each account/region whose next digest is overdue; refresh the gauges."""
        if self.overdue is None:
            return []
        now = self.clock()
        async with self._lock:
            findings = self.overdue.check(now)
            for (account, region), age in self.overdue.ages(now).items():
                self.metrics.since_last.labels(account, region).set(age)
            for finding in findings:
                self.metrics.overdue.labels(finding.account, finding.region).set(1)
            if findings:
                await self.state.set_meta(OVERDUE_META_KEY, self.overdue.dump())
                await self._alert("integrity:overdue", findings)
        return findings

    async def overdue_loop(self, every_secs: float = 60.0) -> None:
        """Check for overdue digests forever (cancelled at shutdown); errors are logged, never fatal."""
        while True:
            await asyncio.sleep(every_secs)
            try:
                await self.check_overdue()
            except Exception:  # the state store hiccuped: try again next round
                log.exception("integrity_overdue_check_failed")

    async def _delivered(self, ledger: str, timeout_secs: float) -> None:
        """Hold the digest's work item until its findings reached the sinks, as a log file's item waits
        for its alerts: a shutdown then drains them instead of cutting a delivery (re-sent after restart).
        Bounded: with a sink down the spool keeps retrying on its own, the digest need not wait for it."""
        deadline = asyncio.get_running_loop().time() + timeout_secs
        while await self.state.undelivered_count(SOURCE_ID, ledger) > 0:
            if asyncio.get_running_loop().time() >= deadline:
                log.warning("integrity_findings_undelivered", ledger=ledger, waited_secs=timeout_secs)
                return
            await asyncio.sleep(0.05)

    async def _alert(self, name: str, findings: Sequence[Finding]) -> str:
        now = self.clock()
        alerts: list[NewAlert] = []
        for finding in findings:
            alert = build_alert(
                rule_id=finding.rule_id,
                title=finding.title,
                severity=finding.severity,
                description=finding.reason,
                tags=("integrity",),
                sinks=self.sinks,
                event=finding_event(finding),
                object_uri=finding.subject,
                matched_at=now,
            )
            key = alert_dedupe_key(finding.rule_id, alert.event_id)
            alerts.append(NewAlert(key, alert_to_bytes(alert), self.sinks))
            log.warning("integrity_finding_raised", rule_id=finding.rule_id, subject=finding.subject)
        ledger = f"integrity:{name}#{now}"
        await self.state.record_evaluation(
            SOURCE_ID, ledger, alerts, now=now, ttl_secs=self.dedupe_ttl_secs, events=0, matches=len(alerts)
        )
        await self.state.mark_done(SOURCE_ID, ledger, now=now)
        return ledger

    async def _processed(self, bucket: str, key: str, etag: str | None = None) -> bool:
        uri = f"s3://{bucket}/{key}"
        candidates = [uri] + ([f"{uri}#{etag.strip(chr(34))}"] if etag else [])
        for source_id in self.sources or await self._source_ids():
            for candidate in candidates:
                if await self.state.object_status(source_id, candidate) in ("evaluated", "done"):
                    return True
        return False

    async def _recorded(self, bucket: str, key: str, etag: str) -> str | None:
        """The hash the pipeline recorded for this version of the object (ledger key ``uri#etag``).

        Only a ledger row naming the same ETag counts: a row without one cannot tell whether the object
        was rewritten after it was read, so that file is downloaded and hashed instead.
        """
        if not etag:
            return None
        uri = f"s3://{bucket}/{key}"
        candidates = [f"{uri}#{etag}", f'{uri}#"{etag}"']
        for source_id in self.sources or await self._source_ids():
            for candidate in candidates:
                found = await self.state.object_sha256(source_id, candidate)
                if found is not None:
                    return found
        return None

    async def _source_ids(self) -> Sequence[str]:
        return [self._repair_source] if self._repair_source else []

    async def _repair(self, bucket: str, key: str) -> None:
        if self.emit is None:
            return
        ref = ObjectRef(source_id=self._repair_source, key=key, bucket=bucket)
        item = WorkItem(self._repair_source, (ref,), _NoAck(), label=f"integrity-repair:{key}")
        emit = self.emit

        async def send() -> None:
            await emit(item)

        task = asyncio.create_task(send())  # never block a worker on the intake queue
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def attach_integrity(
    pipeline: Any, cfg: Config, clients: AwsClients | None, stack: AsyncExitStack, clock: Callable[[], float]
) -> IntegrityService:
    """Build the service from ``[integrity]`` and hook it into the pipeline's digest path."""
    icfg = cfg.integrity
    if clients is None:
        clients = await stack.enter_async_context(AwsClients(cfg.aws))
    keys: KeyProvider
    if icfg.public_key_files:
        keys = FileKeyProvider(tuple(Path(p) for p in icfg.public_key_files))
    else:
        keys = AwsKeyProvider(regional_cloudtrail(stack, cfg.aws))
    service = IntegrityService(
        store=S3Store(await clients.get("s3"), max_object_bytes=cfg.daemon.max_object_bytes),
        keys=keys,
        state=pipeline.state,
        metrics=IntegrityMetrics(pipeline.metrics.registry),
        sinks=icfg.sinks or cfg.rules.default_sinks,
        emit=pipeline.emit,
        sources=icfg.sources,
        unlisted_grace_secs=icfg.unlisted_grace_secs,
        repair=icfg.repair,
        clock=clock,
        dedupe_ttl_secs=cfg.daemon.dedupe_ttl_secs,
        digest_overdue_secs=icfg.digest_overdue_secs,
    )
    await service.load()

    async def hook(ref: ObjectRef) -> bool:
        if not service.wants(ref):
            return False
        try:
            await service.on_digest(ref)
        except FetchError:
            raise
        except Exception as exc:  # a bug or odd input must not stop the daemon: retried, then the DLQ
            log.exception("digest_verify_crashed", object_key=ref.key)
            raise TemporaryFetchError(ref.uri, f"verification failed: {exc!r}", code="unexpected") from exc
        return True

    pipeline.digest_hook = hook
    for source_id, source in pipeline.sources.items():
        poll_digests(source_id, source, icfg)
    return service


def poll_digests(source_id: str, source: object, icfg: IntegrityConfig) -> None:
    """Make an S3 poller covered by ``[integrity]`` list ``CloudTrail-Digest/`` too (also after a reload)."""
    if icfg.enabled and isinstance(source, S3Source) and (not icfg.sources or source_id in icfg.sources):
        source.digests = True
        log.info("integrity_digests_polled", source_id=source_id)
