"""``type = "s3"``: polls a CloudTrail bucket without missing late or out-of-order files.

How nothing is missed (aws-formats.md 1.6, user-asks.md 1 and 5):

* Partitions (``AWSLogs/[o-id/]<account>/CloudTrail/<region>/``) are discovered at start and every
  ``discovery_interval_secs``, optionally restricted to ``accounts`` / ``regions``.
* Each partition has a persistent cursor ``(day, mark)``: every file of an earlier day, and every file of
  ``day`` delivered before ``mark``, is known committed. Each poll lists the days from the cursor to
  today. The open days (those the window ``[max(start, now - lookback), now]`` touches) use a synthetic
  StartAfter a minute before ``min(mark, now - lookback)`` as a cost optimisation; a day that left the
  window is closed only by a *full* listing of its prefix that shows every file committed, and only then
  does the cursor move past it. So a file later than the lookback is still found when its day closes,
  and a restart resumes from the persisted cursor (a gap of any length is listed, never skipped).
* A key is marked seen (the state store's per-source set) only in ``commit``, after every alert from it
  was delivered; while emitted and unacknowledged it is not emitted again. Seen keys are pruned only
  below the oldest cursor day, i.e. for days no listing will ever touch again.
* Digest and Insight files are recognised by key and never emitted (counted under
  ``trailwatchd_s3_objects_discovered_total{kind}``), except that with ``[integrity]`` on for this source
  (``digests = True``, set by ``trailwatchd.integrity.service``) the ``CloudTrail-Digest/<region>/`` day
  prefixes of the window (lookback + one digest period, as digests are stamped with their end time and
  arrive later) are listed too and unseen digest keys emitted for verification, with the same seen-set.
* Listing cost per poll is capped (``max_list_requests_per_poll``) and counted in
  ``trailwatchd_s3_list_requests_total``; the window is listed before any backfill so a long backfill
  never delays fresh files.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from trailwatchd.aws import AwsClients, Backoff, classify_client_error, get_object_bytes
from trailwatchd.config import S3SourceConfig
from trailwatchd.decode import KeyKind
from trailwatchd.errors import ConfigError
from trailwatchd.metrics import Metrics
from trailwatchd.model import ObjectRef
from trailwatchd.sources.base import Emit, WorkItem
from trailwatchd.sources.s3_listing import (
    Listed,
    Lister,
    Partition,
    day_prefix,
    days_between,
    discover,
    normalise_prefix,
    parse_time,
    start_after,
    window_start,
)
from trailwatchd.state import AsyncStateStore

log = structlog.get_logger()

RETRY_CAP_SECS = 900.0
SLACK = timedelta(minutes=1)
DIGEST_PERIOD_SECS = 3600.0
KINDS = {KeyKind.LOG: "log", KeyKind.DIGEST: "digest", KeyKind.INSIGHT: "insight", KeyKind.OTHER: "other"}


def utcnow() -> datetime:
    """Wall clock (module level so tests can inject a time)."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Cursor:
    day: date
    mark: datetime | None


class _KeyAck:
    def __init__(self, source: S3Source, listed: Listed) -> None:
        self.source = source
        self.listed = listed
        self.done = False

    async def commit(self) -> None:
        if not self.done:
            self.done = True
            await self.source._commit(self.listed)

    async def release(self, reason: str, *, permanent: bool) -> None:
        if not self.done:
            self.done = True
            await self.source._release(self.listed, reason, permanent=permanent)


class S3Source:
    """Polls ``bucket``/``prefix``; see the module docstring for the no-miss and no-duplicate rules."""

    def __init__(
        self,
        source_id: str,
        config: S3SourceConfig,
        clients: AwsClients,
        state: AsyncStateStore,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = source_id
        self.config = config
        self.clients = clients
        self.state = state
        self.metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        self.prefix = normalise_prefix(config.prefix)
        if config.start_time.strip().lower() != "now":
            try:
                parse_time(config.start_time)
            except ValueError:
                raise ConfigError(
                    f'start_time {config.start_time!r} is neither "now" nor an ISO 8601 time '
                    "(e.g. 2024-05-01T00:00:00Z)",
                    key=f"sources.{source_id}.start_time",
                ) from None
        self.start: datetime | None = None
        self.cursors: dict[str, Cursor] = {}
        self.partitions: list[Partition] = []
        self._discovered_at: float | None = None
        self.in_flight: set[str] = set()
        self._retry: dict[str, tuple[int, float]] = {}
        self._noted: set[str] = set()
        self._ready = False
        self._polls = 0
        self.digests = False
        """Also list and emit ``CloudTrail-Digest`` keys (``[integrity]`` enabled for this source)."""
        self.backoff = Backoff(1.0, 60.0)
        self.log = log.bind(source_id=source_id)
        if metrics is not None:
            metrics.s3_list_requests.labels(source_id)
            for kind in KINDS.values():
                metrics.s3_objects.labels(source_id, kind)

    @property
    def ready(self) -> bool:
        return self._ready

    def now(self) -> datetime:
        return (self._clock or utcnow)()

    # -- loop ---------------------------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll(emit, stop)
                self.backoff.reset()
                delay = self.config.poll_interval_secs
            except Exception as exc:
                temporary, code = classify_client_error(exc)
                self.log.error("s3_poll_failed", error=str(exc), code=code, temporary=temporary)
                if self.metrics is not None:
                    self.metrics.errors.labels("source", code).inc()
                delay = max(1.0, self.backoff.delay())
                self.backoff.attempts += 1
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _load(self, now: datetime) -> None:
        saved = await self.state.get_checkpoint(self.id)
        configured = self.config.start_time.strip()
        if isinstance(saved, dict) and saved.get("configured") == configured:
            self.start = parse_time(saved["start"])
            for base, cur in (saved.get("partitions") or {}).items():
                mark = cur.get("mark")
                self.cursors[base] = Cursor(
                    date.fromisoformat(cur["day"]), parse_time(mark) if mark else None
                )
        else:  # first run, or start_time was changed: start over from the configured time
            self.start = now if configured.lower() == "now" else parse_time(configured)
            self.log.info("s3_start_set", start=self.start.isoformat(), configured=configured)

    async def _save(self) -> None:
        assert self.start is not None
        value = {
            "configured": self.config.start_time.strip(),
            "start": self.start.isoformat(),
            "partitions": {
                base: {"day": c.day.isoformat(), "mark": c.mark.isoformat() if c.mark else None}
                for base, c in self.cursors.items()
            },
        }
        await self.state.set_checkpoint(self.id, value, now=time.time())

    def _count_request(self) -> None:
        if self.metrics is not None:
            self.metrics.s3_list_requests.labels(self.id).inc()

    async def poll(self, emit: Emit, stop: asyncio.Event | None = None) -> int:
        """One bounded round: (re)discover if due, list the window, then close/backfill days."""
        now = self.now()
        if self.start is None:
            await self._load(now)
        assert self.start is not None
        s3 = await self.clients.get("s3")
        lister = Lister(
            s3,
            self.config.bucket,
            expected_bucket_owner=self.config.expected_bucket_owner,
            on_request=self._count_request,
            budget=self.config.max_list_requests_per_poll,
        )
        mono = self._monotonic()
        if (
            not self.partitions  # nothing yet (new trail, empty bucket): look again every poll
            or self._discovered_at is None
            or mono - self._discovered_at >= self.config.discovery_interval_secs
        ):
            # Discovery is not capped by the poll budget (it runs once an hour and an organization can have
            # hundreds of accounts); its requests are counted all the same.
            unbounded = Lister(
                s3,
                self.config.bucket,
                expected_bucket_owner=self.config.expected_bucket_owner,
                on_request=self._count_request,
            )
            found = await discover(
                unbounded,
                self.prefix,
                accounts=self.config.accounts,
                regions=self.config.regions,
            )
            if found is not None:
                self.partitions = found
                self._discovered_at = mono
                self.log.info("s3_partitions_discovered", partitions=len(found))
        lo = window_start(now, self.config.lookback_secs, self.start)
        open_days = days_between(lo, now)
        emitted = 0
        parts = (
            self.partitions[self._polls % len(self.partitions) :]
            + self.partitions[: self._polls % len(self.partitions)]
            if self.partitions
            else []
        )
        self._polls += 1
        try:
            for part in parts:  # phase 1: the trailing window of every partition
                cur = self.cursors.setdefault(part.base, Cursor(self.start.date(), self.start))
                for day in open_days:
                    if day < cur.day or (stop is not None and stop.is_set()):
                        continue
                    # StartAfter only where the cursor vouches for what it skips; every other day
                    # prefix is listed in full (a day ahead of the cursor is the young day after midnight).
                    after = None
                    if day == cur.day and cur.mark is not None:
                        after = start_after(part, day, min(cur.mark, lo) - SLACK)
                    listed = await lister.objects(part.base + day_prefix(day), after)
                    if listed is None:
                        break
                    n, pending = await self._handle(listed, emit, stop)
                    emitted += n
                    if day == cur.day:
                        cur.mark = min([lo, *pending])
                if self.digests:
                    emitted += await self._poll_digests(part, lister, emit, now, stop)
            backfilled = 0
            for part in parts:  # phase 2: close days that left the window (and backfill from start)
                cur = self.cursors[part.base]
                day, clean = cur.day, True
                while (
                    day < lo.date()
                    and lister.has_budget()
                    and not (stop is not None and stop.is_set())
                    # a long backfill yields after one poll interval, so the live window is re-listed
                    # (one listing per poll always happens, so the backfill cannot starve either)
                    and (not backfilled or self._monotonic() - mono < self.config.poll_interval_secs)
                ):
                    backfilled += 1
                    listed = await lister.objects(part.base + day_prefix(day))
                    if listed is None:
                        break
                    n, pending = await self._handle(listed, emit, stop)
                    emitted += n
                    clean = clean and not pending
                    if clean:  # a full listing with every file committed: this day is done for good
                        self.log.debug("s3_day_closed", partition=part.base, day=day.isoformat())
                        cur.day, cur.mark = day + timedelta(days=1), None
                    day += timedelta(days=1)
        finally:
            await self._save()
        if lister.exhausted:  # the rest waits for the next poll (partitions rotate, so none starves)
            self.log.warning(
                "s3_list_budget_exhausted",
                requests=lister.requests,
                max_list_requests_per_poll=self.config.max_list_requests_per_poll,
            )
        self._ready = True
        await self._prune()
        return emitted

    async def _handle(
        self, listed: list[Listed], emit: Emit, stop: asyncio.Event | None
    ) -> tuple[int, list[datetime]]:
        """Emit the listed log files that are not seen; return (emitted, delivery times not committed)."""
        assert self.start is not None
        logs: list[Listed] = []
        for obj in listed:
            if obj.kind is KeyKind.LOG:
                if obj.delivered_at >= self.start - SLACK:
                    logs.append(obj)
            elif obj.key not in self._noted:
                if len(self._noted) > 100_000:
                    self._noted.clear()  # only costs a recount of files that are never read anyway
                self._noted.add(obj.key)
                self._discovered(obj.kind)
                self.log.info("s3_object_skipped", object_key=obj.key, kind=KINDS[obj.kind])
        if not logs:
            return 0, []
        seen = await self.state.seen(self.id, [o.key for o in logs])
        pending = [o for o in logs if o.key not in seen]
        emitted = await self._emit_unseen(sorted(pending, key=lambda o: o.key), emit, stop)
        return emitted, [o.delivered_at for o in pending]

    async def _emit_unseen(self, objects: list[Listed], emit: Emit, stop: asyncio.Event | None) -> int:
        """Emit each key not in flight and not waiting for a retry; log and digest keys alike."""
        mono = self._monotonic()
        emitted = 0
        for obj in objects:
            retry = self._retry.get(obj.key)
            if obj.key in self.in_flight or (retry is not None and mono < retry[1]):
                continue
            if stop is not None and stop.is_set():
                break
            ref = ObjectRef(
                self.id,
                obj.key,
                bucket=self.config.bucket,
                size=obj.size,
                etag=obj.etag,
                last_modified=obj.last_modified.timestamp(),
                expected_bucket_owner=self.config.expected_bucket_owner,
            )
            if retry is None:
                self._discovered(obj.kind)
            self.in_flight.add(obj.key)
            item = WorkItem(
                self.id,
                (ref,),
                _KeyAck(self, obj),
                label=obj.key,
                received_at=asyncio.get_running_loop().time(),
            )
            try:
                await emit(item)
            except BaseException:
                self.in_flight.discard(obj.key)
                raise
            emitted += 1
        return emitted

    async def _poll_digests(
        self, part: Partition, lister: Lister, emit: Emit, now: datetime, stop: asyncio.Event | None
    ) -> int:
        """List the partition's digest day prefixes of the window and emit the unseen digest keys."""
        assert self.start is not None
        base = part.base[: -len(f"CloudTrail/{part.region}/")] + f"CloudTrail-Digest/{part.region}/"
        lo = window_start(now, self.config.lookback_secs + DIGEST_PERIOD_SECS, self.start)
        found: list[Listed] = []
        for day in days_between(lo, now):
            listed = await lister.objects(base + day_prefix(day))
            if listed is None:
                break
            found += [
                o
                for o in listed
                if o.kind is KeyKind.DIGEST and o.delivered_at >= self.start - timedelta(hours=1) - SLACK
            ]
        if not found:
            return 0
        seen = await self.state.seen(self.id, [o.key for o in found])
        unseen = sorted((o for o in found if o.key not in seen), key=lambda o: o.delivered_at)
        return await self._emit_unseen(unseen, emit, stop)

    def _discovered(self, kind: KeyKind) -> None:
        if self.metrics is not None:
            self.metrics.s3_objects.labels(self.id, KINDS[kind]).inc()

    async def _prune(self) -> None:
        """Forget seen keys of days below every partition's cursor: no listing reaches them again."""
        if not self.cursors:
            return
        oldest = min(c.day for c in self.cursors.values())
        before = datetime(oldest.year, oldest.month, oldest.day, tzinfo=UTC) - timedelta(days=1)
        removed = await self.state.prune_seen(self.id, before=before.timestamp())
        if removed:
            self.log.info("s3_seen_pruned", removed=removed, before=before.isoformat())

    # -- acknowledgement ----------------------------------------------------------------------------
    async def _commit(self, obj: Listed) -> None:
        try:
            await self.state.mark_seen(self.id, [obj.key], at=obj.delivered_at.timestamp())
            self._retry.pop(obj.key, None)
        finally:
            self.in_flight.discard(obj.key)

    async def _release(self, obj: Listed, reason: str, *, permanent: bool) -> None:
        try:
            if permanent:
                # The same identity the pipeline's ledger uses (URI#etag), so the reason lands on its row.
                uri = f"s3://{self.config.bucket}/{obj.key}"
                ident = f"{uri}#{obj.etag}" if obj.etag else uri
                await self.state.mark_parked(self.id, ident, reason=reason, now=time.time())
                await self.state.mark_seen(self.id, [obj.key], at=obj.delivered_at.timestamp())
                self._retry.pop(obj.key, None)
                self.log.warning("s3_object_parked", object_key=obj.key, reason=reason)
                return
            attempts = self._retry.get(obj.key, (0, 0.0))[0] + 1
            delay = min(RETRY_CAP_SECS, self.config.poll_interval_secs * 2 ** (attempts - 1))
            self._retry[obj.key] = (attempts, self._monotonic() + delay)
            self.log.info("s3_retry_scheduled", object_key=obj.key, reason=reason, delay_secs=delay)
        finally:
            self.in_flight.discard(obj.key)

    # -- reading ------------------------------------------------------------------------------------
    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        s3: Any = await self.clients.get("s3")
        return await get_object_bytes(
            s3,
            ref.bucket or self.config.bucket,
            ref.key,
            max_bytes=max_bytes,
            expected_bucket_owner=ref.expected_bucket_owner,
        )
