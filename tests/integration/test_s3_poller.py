"""The S3 poller against moto's server mode (real HTTP): late files, midnight, restarts, org trails,
backfill from ``start_time``, seen-set pruning and the listing budget. The wall clock is injected."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd import config as config_mod
from trailwatchd.aws import AwsClients
from trailwatchd.config import AwsConfig, S3SourceConfig
from trailwatchd.daemon import Daemon
from trailwatchd.metrics import Metrics
from trailwatchd.sources import s3 as s3_mod
from trailwatchd.sources.base import WorkItem
from trailwatchd.sources.s3 import S3Source
from trailwatchd.sources.s3_listing import parse_time
from trailwatchd.state import AsyncStateStore

pytestmark = pytest.mark.integration

BUCKET = "trail-bucket"
ACCT = "111122223333"
ORG = "o-abcdefghij"


class Clock:
    def __init__(self, text: str) -> None:
        self.now = parse_time(text)

    def __call__(self) -> datetime:
        return self.now

    def set(self, text: str) -> None:
        self.now = parse_time(text)


def log_key(
    stamp: str, suffix: str = "A", *, acct: str = ACCT, region: str = "us-east-1", org: str = ""
) -> str:
    """A CloudTrail key for delivery minute ``stamp`` (``2024-05-01T10:05``)."""
    t = parse_time(stamp + ":00Z")
    name = f"{acct}_CloudTrail_{region}_{t:%Y%m%dT%H%M}Z_{suffix.ljust(16, 'x')}.json.gz"
    org_part = f"{org}/" if org else ""
    return f"AWSLogs/{org_part}{acct}/CloudTrail/{region}/{t:%Y/%m/%d}/{name}"


def body(event_id: str = "e1") -> bytes:
    rec = {"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": "StopLogging",
           "eventSource": "cloudtrail.amazonaws.com", "eventID": event_id}  # fmt: skip
    return gzip.compress(json.dumps({"Records": [rec]}).encode())


class Harness:
    """An S3Source on moto plus the state store; ``poll()`` returns the keys it emitted."""

    def __init__(
        self, clients: AwsClients, state: AsyncStateStore, clock: Clock, registry: CollectorRegistry
    ) -> None:
        self.clients = clients
        self.state = state
        self.clock = clock
        self.registry = registry
        self.metrics = Metrics(registry)
        self.items: list[WorkItem] = []

    def source(self, **cfg: Any) -> S3Source:
        config = S3SourceConfig(bucket=BUCKET, poll_interval_secs=1, lookback_secs=900, **cfg)
        return S3Source("trail", config, self.clients, self.state, metrics=self.metrics, clock=self.clock)

    async def poll(self, src: S3Source, *, commit: bool = True) -> list[str]:
        emitted: list[WorkItem] = []

        async def emit(item: WorkItem) -> None:
            emitted.append(item)

        await src.poll(emit)
        if commit:
            for item in emitted:
                await item.ack.commit()
        self.items += emitted
        return sorted(i.objects[0].key for i in emitted)

    def requests(self) -> float:
        return (
            self.registry.get_sample_value("trailwatchd_s3_list_requests_total", {"source": "trail"}) or 0.0
        )


@pytest.fixture
async def h(aws_clients: dict[str, Any], tmp_path: Path) -> AsyncIterator[Harness]:
    await aws_clients["s3"].create_bucket(Bucket=BUCKET)
    cfg = AwsConfig(region=aws_clients["region"], endpoint_url=aws_clients["endpoint"])
    async with AwsClients(cfg) as clients, AsyncStateStore(tmp_path / "state.db") as state:
        yield Harness(clients, state, Clock("2024-05-01T10:20:00Z"), CollectorRegistry())


async def put(aws: dict[str, Any], *keys: str) -> None:
    for k in keys:
        await aws["s3"].put_object(Bucket=BUCKET, Key=k, Body=body(k[-30:]))


async def test_late_file_inside_the_lookback_is_picked_up_once(
    h: Harness, aws_clients: dict[str, Any]
) -> None:
    src = h.source(start_time="2024-05-01T00:00:00Z")
    await put(aws_clients, log_key("2024-05-01T10:05", "B"), log_key("2024-05-01T10:10", "C"))
    assert await h.poll(src) == [log_key("2024-05-01T10:05", "B"), log_key("2024-05-01T10:10", "C")]
    h.clock.set("2024-05-01T10:22:00Z")
    # Stamped before the newest key already processed, and sorting before it: a "StartAfter = last key"
    # poller would skip it.
    late = log_key("2024-05-01T10:08", "A")
    await put(aws_clients, late)
    assert await h.poll(src) == [late]
    assert await h.poll(src) == []
    obj = h.items[0].objects[0]
    assert obj.bucket == BUCKET and obj.etag and obj.size and obj.last_modified


async def test_file_stamped_yesterday_seen_after_midnight(h: Harness, aws_clients: dict[str, Any]) -> None:
    h.clock.set("2024-05-31T23:50:00Z")  # month end
    src = h.source(start_time="2024-05-31T00:00:00Z")
    assert await h.poll(src) == []
    h.clock.set("2024-06-01T00:03:00Z")
    late = log_key("2024-05-31T23:58", "L")
    await put(aws_clients, late, log_key("2024-06-01T00:01", "N"))
    assert await h.poll(src) == [late, log_key("2024-06-01T00:01", "N")]
    # Later than the lookback, stamped yesterday: found when yesterday's prefix is closed by a full listing.
    very_late = log_key("2024-05-31T23:30", "V")
    await put(aws_clients, very_late)
    h.clock.set("2024-06-01T00:20:00Z")
    assert await h.poll(src) == [very_late]
    assert src.cursors[src.partitions[0].base].day.isoformat() == "2024-05-31"  # not closed until committed
    assert await h.poll(src) == []
    assert src.cursors[src.partitions[0].base].day.isoformat() == "2024-06-01"


async def test_restart_resumes_without_reprocessing(
    h: Harness, aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    src = h.source(start_time="2024-05-01T00:00:00Z")
    done, unfinished = log_key("2024-05-01T10:05", "D"), log_key("2024-05-01T10:06", "U")
    await put(aws_clients, done, unfinished)
    first: list[WorkItem] = []

    async def emit(item: WorkItem) -> None:
        first.append(item)

    await src.poll(emit)
    assert sorted(i.objects[0].key for i in first) == [done, unfinished]
    await next(i for i in first if i.objects[0].key == done).ack.commit()  # "unfinished" never acks: a crash
    # Down for two hours in the same UTC day: files delivered meanwhile are older than the lookback.
    gap = log_key("2024-05-01T10:30", "G")
    await put(aws_clients, gap)
    h.clock.set("2024-05-01T12:30:00Z")
    restarted = h.source(start_time="2024-05-01T00:00:00Z")
    assert await h.poll(restarted) == sorted([gap, unfinished])
    assert await h.poll(restarted) == []


async def test_org_trail_layout_accounts_filter_and_digests_skipped(
    h: Harness, aws_clients: dict[str, Any]
) -> None:
    member, other = "123456789012", "210987654321"
    org_log = log_key("2024-05-01T10:10", "O", acct=member, org=ORG, region="ca-central-1")
    digest = (
        f"AWSLogs/{ORG}/{member}/CloudTrail-Digest/ca-central-1/2024/05/01/"
        f"{member}_CloudTrail-Digest_ca-central-1_org-trail_us-east-1_20240501T101000Z.json.gz"
    )
    insight_in_log_folder = (
        f"AWSLogs/{ORG}/{member}/CloudTrail/ca-central-1/2024/05/01/"
        f"{member}_CloudTrail-Insight_ca-central-1_20240501T1012Z_abcdefghijklmnop.json.gz"
    )
    await put(aws_clients, org_log, digest, insight_in_log_folder)
    await put(aws_clients, log_key("2024-05-01T10:10", "X", acct=other, org=ORG))
    await put(
        aws_clients, log_key("2024-05-01T10:10", "N", acct=other)
    )  # a non-org folder beside the org one
    src = h.source(start_time="2024-05-01T00:00:00Z", accounts=[member], expected_bucket_owner="123456789012")
    assert await h.poll(src) == [org_log]
    ref = h.items[-1].objects[0]
    assert ref.expected_bucket_owner == "123456789012"  # sent on List (above) and on GetObject:
    assert gzip.decompress(await src.fetch(ref, 1 << 20)) == gzip.decompress(body(org_log[-30:]))
    assert [p.base for p in src.partitions] == [f"AWSLogs/{ORG}/{member}/CloudTrail/ca-central-1/"]
    sample = h.registry.get_sample_value
    assert sample("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "log"}) == 1
    assert sample("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "insight"}) == 1
    assert await h.poll(src) == []  # the insight file is counted once, not per poll
    assert sample("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "insight"}) == 1


async def test_start_time_backfill_then_pruning(
    h: Harness, aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    old = [log_key(f"2024-04-{d:02d}T12:00", f"D{d}") for d in (28, 29, 30)]
    before_start = log_key("2024-04-27T23:59", "P")
    today = log_key("2024-05-01T10:15", "T")
    await put(aws_clients, *old, before_start, today)
    h.clock.set("2024-05-01T10:20:00Z")
    src = h.source(start_time="2024-04-28T00:00:00Z")
    assert await h.poll(src) == sorted([*old, today])
    # Next poll: the old days are confirmed complete (full listing, all seen) and the cursor moves on.
    assert await h.poll(src) == []
    assert src.cursors[src.partitions[0].base].day.isoformat() == "2024-05-01"
    db = sqlite3.connect(tmp_path / "state.db")
    keys = {k for (k,) in db.execute("SELECT key FROM seen WHERE source_id = 'trail'")}
    # Seen keys of days no listing reaches again are pruned (cursor day minus one day of margin).
    assert keys == {old[2], today}
    # A steady poll lists just today's prefix (discovery is cached): exactly one request.
    before = h.requests()
    assert await h.poll(src) == []
    assert h.requests() - before == 1


async def test_listing_cost_is_bounded_and_everything_arrives(
    h: Harness, aws_clients: dict[str, Any]
) -> None:
    regions = [f"eu-test-{i}" for i in range(1, 16)]
    keys = [log_key("2024-05-01T10:10", "R", region=r) for r in regions]
    await put(aws_clients, *keys)
    src = h.source(start_time="2024-05-01T00:00:00Z", max_list_requests_per_poll=10)
    got: list[str] = []
    per_poll: list[float] = []
    for _ in range(6):
        before = h.requests()
        got += await h.poll(src)
        per_poll.append(h.requests() - before)
    # Discovery (AWSLogs/ and the account's CloudTrail/) is counted but not capped; day listings are capped.
    assert per_poll[0] == 2 + 10 and max(per_poll[1:]) <= 10
    assert sorted(got) == sorted(keys)  # every region eventually listed (rotation), nothing twice
    assert src.ready


RULES = """
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{ $.eventSource = "cloudtrail.amazonaws.com" && $.eventName = "StopLogging" }'
"""


async def test_daemon_alerts_from_the_bucket_and_a_restart_reprocesses_nothing(
    aws_clients: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock("2024-05-01T00:04:00Z")
    monkeypatch.setattr(s3_mod, "utcnow", clock)
    await aws_clients["s3"].create_bucket(Bucket=BUCKET)
    # One file from just before midnight, one from after: both inside the window.
    await put(aws_clients, log_key("2024-04-30T23:58", "Y"), log_key("2024-05-01T00:02", "Z"))
    (tmp_path / "rules.toml").write_text(RULES)
    raw = {
        "daemon": {
            "metrics_listen": "127.0.0.1:0",
            "state_path": str(tmp_path / "state.db"),
            "graceful_shutdown_secs": 5,
        },
        "aws": {"region": aws_clients["region"], "endpoint_url": aws_clients["endpoint"]},
        "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["out"]},
        "sources": {
            "trail": {
                "type": "s3",
                "bucket": BUCKET,
                "start_time": "2024-04-30T23:00:00Z",
                "poll_interval_secs": 0.1,
            }
        },
        "sinks": {"out": {"type": "file", "path": str(tmp_path / "alerts.jsonl")}},
    }
    config = config_mod.parse_config(raw)

    def alerts() -> list[dict[str, Any]]:
        path = tmp_path / "alerts.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    async def run_until(predicate: Any) -> CollectorRegistry:
        registry = CollectorRegistry()
        daemon = Daemon(config, registry=registry, handle_signals=False)
        task = asyncio.create_task(daemon.run())
        try:
            for _ in range(200):
                if predicate(registry):
                    break
                await asyncio.sleep(0.05)
            assert predicate(registry)
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
        return registry

    def polled_twice(registry: CollectorRegistry) -> bool:
        return (
            registry.get_sample_value("trailwatchd_s3_list_requests_total", {"source": "trail"}) or 0
        ) >= 6

    first = await run_until(lambda r: len(alerts()) == 2 and polled_twice(r))
    assert sorted(a["event_id"] for a in alerts()) == sorted(
        [log_key("2024-04-30T23:58", "Y")[-30:], log_key("2024-05-01T00:02", "Z")[-30:]]
    )
    assert (
        first.get_sample_value("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "log"})
        == 2
    )
    clock.set("2024-05-01T00:10:00Z")
    second = await run_until(polled_twice)
    assert len(alerts()) == 2
    assert (
        second.get_sample_value("trailwatchd_objects_processed_total", {"source": "trail", "result": "ok"})
        == 0
    )
    assert (
        first.get_sample_value("trailwatchd_objects_processed_total", {"source": "trail", "result": "ok"})
        == 2
    )
    assert (
        second.get_sample_value("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "log"})
        == 0
    )


async def test_a_stuck_older_day_does_not_hide_todays_gap(h: Harness, aws_clients: dict[str, Any]) -> None:
    """While yesterday cannot close (a file keeps failing), today is listed in full, not from the window."""
    h.clock.set("2024-05-02T09:00:00Z")
    src = h.source(start_time="2024-05-01T00:00:00Z")
    stuck, today = log_key("2024-05-01T12:00", "S"), log_key("2024-05-02T08:50", "T")
    await put(aws_clients, stuck, today)
    items: list[WorkItem] = []

    async def emit(item: WorkItem) -> None:
        items.append(item)

    await src.poll(emit)
    for item in items:
        if item.objects[0].key == stuck:
            await item.ack.release("throttled", permanent=False)
        else:
            await item.ack.commit()
    gap = log_key("2024-05-02T09:30", "G")
    await put(aws_clients, gap)
    h.clock.set("2024-05-02T12:00:00Z")  # the gap file is now older than the lookback window
    restarted = h.source(start_time="2024-05-01T00:00:00Z")
    assert await h.poll(restarted) == sorted([gap, stuck])
    assert restarted.cursors[restarted.partitions[0].base].day.isoformat() == "2024-05-01"
    assert await h.poll(restarted) == []
    assert restarted.cursors[restarted.partitions[0].base].day.isoformat() == "2024-05-02"


async def test_listing_errors_are_logged_counted_and_retried_not_fatal(h: Harness) -> None:
    """A bucket that does not exist (or a denied List) never crashes the source: it counts and retries."""
    config = S3SourceConfig(bucket="no-such-bucket", poll_interval_secs=0.05)
    src = S3Source("trail", config, h.clients, h.state, metrics=h.metrics, clock=h.clock)
    src.backoff.base = src.backoff.cap = 0.01
    stop = asyncio.Event()

    async def emit(item: WorkItem) -> None:
        raise AssertionError("nothing to emit")

    task = asyncio.create_task(src.run(emit, stop))
    for _ in range(100):
        if (
            h.registry.get_sample_value("trailwatchd_errors_total", {"stage": "source", "code": "not_found"})
            or 0
        ) >= 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (
        h.registry.get_sample_value("trailwatchd_errors_total", {"stage": "source", "code": "not_found"}) or 0
    ) >= 2
    assert not src.ready


async def test_a_long_backfill_yields_to_the_live_window(h: Harness, aws_clients: dict[str, Any]) -> None:
    """Backfill listing stops after one poll interval; fresh files are served first on every poll."""
    old = [log_key(f"2024-04-{d:02d}T06:00", f"B{d}") for d in range(20, 30)]
    await put(aws_clients, *old, log_key("2024-05-01T10:10", "W"))
    ticks = iter(range(0, 10_000, 1))  # each monotonic reading is one second later; the interval is 1 s

    config = S3SourceConfig(bucket=BUCKET, poll_interval_secs=1, start_time="2024-04-20T00:00:00Z")
    src = S3Source(
        "trail", config, h.clients, h.state, metrics=h.metrics, clock=h.clock, monotonic=lambda: next(ticks)
    )
    first = await h.poll(src)
    assert log_key("2024-05-01T10:10", "W") in first and len(first) < 1 + len(
        old
    )  # window first, then yielded
    got = set(first)
    for _ in range(30):
        await put(aws_clients, fresh := log_key(f"2024-05-01T10:{len(got) % 5 + 10:02d}", f"F{len(got)}"))
        keys = await h.poll(src)
        assert fresh in keys  # every poll serves the window, however much backfill remains
        got |= set(keys)
    assert set(old) <= got
    assert src.cursors[src.partitions[0].base].day.isoformat() == "2024-05-01"


async def test_a_permanently_failing_key_is_parked_with_its_reason_and_not_retried(
    h: Harness, aws_clients: dict[str, Any]
) -> None:
    src = h.source(start_time="2024-05-01T00:00:00Z")
    bad = log_key("2024-05-01T10:05", "K")
    await put(aws_clients, bad)
    items: list[WorkItem] = []

    async def emit(item: WorkItem) -> None:
        items.append(item)

    await src.poll(emit)
    ref = items[0].objects[0]
    await items[0].ack.release("kms_denied: the role needs kms:Decrypt", permanent=True)
    assert await h.state.object_status("trail", f"{ref.uri}#{ref.etag}") == "parked"
    assert await h.poll(src) == []  # recorded in the ledger and the seen-set: not retried in a loop
