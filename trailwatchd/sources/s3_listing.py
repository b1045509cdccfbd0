"""Listing a CloudTrail bucket: the pure day planner and the few ListObjectsV2 calls both the poller and
``trailwatchd scan s3://...`` use.

Why day prefixes: CloudTrail files live under ``.../CloudTrail/<region>/YYYY/MM/DD/`` named by their UTC
*delivery* minute (aws-formats.md 1.1, 1.6), so the keys that can hold a time window are exactly the day
prefixes the window touches. The planner works on UTC dates only (``datetime.date`` arithmetic), so
midnight, month ends, leap days and year ends need no special cases and local DST can never matter.

Why StartAfter is only an optimisation: a file stamped 10:05 can become visible after files stamped
10:06 (user-asks.md 1). The callers use a synthetic StartAfter key a minute *before* a time they already
know is settled, and a day is only ever closed by a full listing of its prefix (see ``sources/s3.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trailwatchd.decode import KeyKind, classify_key

ACCOUNT = re.compile(r"\A\d{12}\Z")
ORG = re.compile(r"\Ao-[a-z0-9]{10,32}\Z")
REGION = re.compile(r"\A[a-z0-9-]+\Z")  # lenient: test data uses made-up regions (us-east-1r)


def utc(ts: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken as UTC (CloudTrail stamps are UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """ISO 8601 (``2024-05-01``, ``2024-05-01T10:00:00Z``, with offsets) as an aware UTC datetime."""
    return utc(datetime.fromisoformat(text.strip()))


def day_prefix(day: date) -> str:
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}/"


def days_between(lo: datetime, hi: datetime) -> list[date]:
    """Every UTC date from ``lo``'s to ``hi``'s, inclusive (empty when ``hi < lo``)."""
    first, last = utc(lo).date(), utc(hi).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def window_start(now: datetime, lookback_secs: float, start: datetime) -> datetime:
    """Lower bound of the trailing window: ``max(start, now - lookback)``."""
    return max(utc(start), utc(now) - timedelta(seconds=lookback_secs))


def plan_days(now: datetime, lookback_secs: float, start: datetime) -> list[str]:
    """Day prefixes (``YYYY/MM/DD/``) that can hold files delivered in ``[max(start, now-lookback), now]``."""
    return [day_prefix(d) for d in days_between(window_start(now, lookback_secs, start), now)]


def start_after(partition: Partition, day: date, at: datetime) -> str | None:
    """A synthetic key sorting just before every file of ``partition`` stamped in ``at``'s minute or later.

    ``None`` when ``at`` is not inside ``day`` (then the whole day prefix has to be listed). One minute of
    slack is subtracted by callers; ties inside a minute sort by the random suffix, so the marker stops
    at the minute, never inside it.
    """
    at = utc(at)
    if at.date() != day:
        return None
    name = f"{partition.account}_CloudTrail_{partition.region}_{at:%Y%m%dT%H%M}Z"
    return f"{partition.base}{day_prefix(day)}{name}"


@dataclass(frozen=True, slots=True)
class Partition:
    """One ``[prefix]AWSLogs/[o-id/]<account>/CloudTrail/<region>/`` folder."""

    prefix: str
    org_id: str | None
    account: str
    region: str

    @property
    def base(self) -> str:
        org = f"{self.org_id}/" if self.org_id else ""
        return f"{self.prefix}AWSLogs/{org}{self.account}/CloudTrail/{self.region}/"


@dataclass(frozen=True, slots=True)
class Listed:
    """One object from a listing."""

    key: str
    etag: str | None
    size: int
    last_modified: datetime
    kind: KeyKind
    delivered_at: datetime
    """The delivery minute from the file name, or LastModified when the name carries none."""


def normalise_prefix(prefix: str) -> str:
    """``"trail"`` -> ``"trail/"``; ``""`` stays empty (the bucket root)."""
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


class Lister:
    """ListObjectsV2 with every request counted (``on_request``) and the budget enforced.

    ``budget`` is the most requests a caller may spend (``None``: unlimited); ``exhausted`` turns true
    when a listing stopped early because of it, so the caller does not treat it as complete.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        expected_bucket_owner: str | None = None,
        on_request: Callable[[], None] | None = None,
        budget: int | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.owner = expected_bucket_owner
        self.on_request = on_request
        self.budget = budget
        self.requests = 0
        self.exhausted = False

    def has_budget(self) -> bool:
        return self.budget is None or self.requests < self.budget

    async def _page(self, **kwargs: Any) -> dict[str, Any] | None:
        if not self.has_budget():
            self.exhausted = True
            return None
        if self.owner:
            kwargs["ExpectedBucketOwner"] = self.owner
        self.requests += 1
        if self.on_request is not None:
            self.on_request()
        resp: dict[str, Any] = await self.s3.list_objects_v2(Bucket=self.bucket, **kwargs)
        return resp

    async def folders(self, prefix: str) -> list[str] | None:
        """Immediate sub-folder names under ``prefix`` (Delimiter ``/``); ``None`` if the budget ran out."""
        names: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            resp = await self._page(**kwargs)
            if resp is None:
                return None
            for cp in resp.get("CommonPrefixes") or []:
                names.append(str(cp["Prefix"])[len(prefix) :].rstrip("/"))
            if not resp.get("IsTruncated"):
                return names
            token = resp.get("NextContinuationToken")

    async def objects(self, prefix: str, after: str | None = None) -> list[Listed] | None:
        """Every object under ``prefix`` (after ``after`` when given); ``None`` if the budget ran out."""
        found: list[Listed] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            elif after:
                kwargs["StartAfter"] = after
            resp = await self._page(**kwargs)
            if resp is None:
                return None
            for obj in resp.get("Contents") or []:
                key = str(obj["Key"])
                info = classify_key(key)
                modified = utc(obj["LastModified"])
                found.append(
                    Listed(
                        key=key,
                        etag=str(obj.get("ETag") or "").strip('"') or None,
                        size=int(obj.get("Size") or 0),
                        last_modified=modified,
                        kind=info.kind,
                        delivered_at=info.delivered_at or modified,
                    )
                )
            if not resp.get("IsTruncated"):
                return found
            token = resp.get("NextContinuationToken")


async def discover(
    lister: Lister,
    prefix: str,
    *,
    accounts: list[str] | tuple[str, ...] = (),
    regions: list[str] | tuple[str, ...] = (),
) -> list[Partition] | None:
    """Every ``AWSLogs/[o-id/]<account>/CloudTrail/<region>/`` under ``prefix``, filtered by the lists.

    Cost: one request for ``AWSLogs/``, one per organization id, one per account (continuation pages
    aside). ``None`` when the request budget ran out.
    """
    root = f"{prefix}AWSLogs/"
    top = await lister.folders(root)
    if top is None:
        return None
    owners: list[tuple[str | None, str]] = []
    for name in top:
        if ORG.match(name):
            members = await lister.folders(f"{root}{name}/")
            if members is None:
                return None
            owners += [(name, m) for m in members if ACCOUNT.match(m)]
        elif ACCOUNT.match(name):
            owners.append((None, name))
    found: list[Partition] = []
    for org, account in owners:
        if accounts and account not in accounts:
            continue
        # Straight to CloudTrail/: its sibling CloudTrail-Digest/ and CloudTrail-Insight/ folders are never
        # listed as event folders (one request per account instead of two).
        names = await lister.folders(f"{root}{org + '/' if org else ''}{account}/CloudTrail/")
        if names is None:
            return None
        found += [
            Partition(prefix, org, account, r)
            for r in names
            if REGION.match(r) and (not regions or r in regions)
        ]
    return sorted(found, key=lambda p: p.base)  # org_id may be None: order by the folder itself
