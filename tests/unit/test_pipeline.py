"""The pipeline with fakes at its seams: acknowledgement only after delivery, spool, dedupe, release."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd.engine import Snapshot
from trailwatchd.errors import DeliveryError, PermanentFetchError, TemporaryDeliveryError, TemporaryFetchError
from trailwatchd.metrics import Metrics, MirrorCounters, MirrorSpec
from trailwatchd.model import Alert, ObjectRef
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sources.base import Emit, WorkItem
from trailwatchd.state import AsyncStateStore

RULES = """
[[rule]]
id = "console-login"
severity = "high"
pattern = '{ $.eventName = "ConsoleLogin" }'
[rule.metric]
namespace = "T"
name = "Logins"
value = "1"
"""


def record(event_id: str, name: str = "ConsoleLogin") -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventName": name,
        "eventTime": "2024-01-01T00:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"},
        "sourceIPAddress": "192.0.2.1",
        "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
    }


def log_file(*records: dict[str, Any]) -> bytes:
    body = '{"Records":[' + ",".join(json.dumps(r, separators=(",", ":")) for r in records) + "]}"
    return gzip.compress(body.encode())


class RecordingAck:
    def __init__(self) -> None:
        self.events: list[tuple[str, bool | None]] = []
        self.done = asyncio.Event()

    async def commit(self) -> None:
        self.events.append(("commit", None))
        self.done.set()

    async def release(self, reason: str, *, permanent: bool) -> None:
        self.events.append((reason, permanent))
        self.done.set()


class FakeSource:
    id = "fake"
    ready = True

    def __init__(self, objects: dict[str, bytes | Exception]) -> None:
        self.objects = objects

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        await stop.wait()

    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        value = self.objects[ref.key]
        if isinstance(value, Exception):
            raise value
        return value


class FakeSink:
    def __init__(self, sink_id: str) -> None:
        self.id = sink_id
        self.batch_limit = 10
        self.delivered: list[Alert] = []
        self.fail_next: list[DeliveryError] = []

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        out: list[DeliveryError | None] = []
        for alert in alerts:
            if self.fail_next:
                out.append(self.fail_next.pop(0))
            else:
                self.delivered.append(alert)
                out.append(None)
        return out

    async def close(self) -> None:
        return None


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return RuleSet.load([path])


async def make(
    tmp_path: Path, ruleset: RuleSet, objects: dict[str, bytes | Exception], clock: list[float] | None = None
) -> tuple[Pipeline, FakeSink, AsyncStateStore, Metrics]:
    state = AsyncStateStore(tmp_path / "state.db")
    await state.__aenter__()
    metrics = Metrics(CollectorRegistry())
    mirrors = MirrorCounters(metrics.registry)
    mirrors.replace([MirrorSpec("T", "Logins")])
    sink = FakeSink("out")
    snap = Snapshot.of(ruleset)
    now = clock or [1000.0]
    pipe = Pipeline(
        snapshot=lambda: snap,
        sources={"fake": FakeSource(objects)},
        sinks={"out": sink},
        state=state,
        metrics=metrics,
        mirrors=mirrors,
        settings=PipelineSettings(default_sinks=("out",)),
        clock=lambda: now[0],
    )
    return pipe, sink, state, metrics


def item(*keys: str) -> tuple[WorkItem, RecordingAck]:
    ack = RecordingAck()
    return WorkItem(
        "fake", tuple(ObjectRef("fake", k, bucket="b", etag=k) for k in keys), ack, label=",".join(keys)
    ), ack


async def run_item(pipe: Pipeline, work: WorkItem, ack: RecordingAck) -> None:
    deliver = asyncio.create_task(pipe.deliver_loop("out", idle_secs=0.01))
    try:
        await asyncio.wait_for(pipe.process(work), timeout=10)
    finally:
        deliver.cancel()
        await asyncio.gather(deliver, return_exceptions=True)


async def test_commit_only_after_alerts_delivered(tmp_path: Path, ruleset: RuleSet) -> None:
    """Matches become alerts, the sink gets them, then (and only then) the item is committed."""
    pipe, sink, state, metrics = await make(
        tmp_path, ruleset, {"k1": log_file(record("e1"), record("e2", "GetObject"))}
    )
    work, ack = item("k1")
    await run_item(pipe, work, ack)
    assert [a.event_id for a in sink.delivered] == ["e1"]
    assert ack.events == [("commit", None)]
    assert metrics.registry.get_sample_value("t_logins_total") == 1.0
    assert metrics.registry.get_sample_value("trailwatchd_events_processed_total", {"source": "fake"}) == 2.0
    await state.close()


async def test_redelivered_object_does_not_alert_twice(tmp_path: Path, ruleset: RuleSet) -> None:
    """The same object processed twice (SQS redelivery) produces one alert; the second is committed too."""
    pipe, sink, state, _ = await make(tmp_path, ruleset, {"k1": log_file(record("e1"))})
    for _ in range(2):
        work, ack = item("k1")
        await run_item(pipe, work, ack)
        assert ack.events == [("commit", None)]
    assert len(sink.delivered) == 1
    await state.close()


async def test_same_event_in_two_files_alerts_once(tmp_path: Path, ruleset: RuleSet) -> None:
    """CloudTrail repeating an eventID in another file is deduplicated."""
    pipe, sink, state, metrics = await make(
        tmp_path, ruleset, {"a": log_file(record("e1")), "b": log_file(record("e1"))}
    )
    for key in ("a", "b"):
        work, ack = item(key)
        await run_item(pipe, work, ack)
    assert len(sink.delivered) == 1
    assert (
        metrics.registry.get_sample_value(
            "trailwatchd_alerts_total", {"sink": "out", "outcome": "deduplicated"}
        )
        == 1
    )
    await state.close()


async def test_temporary_delivery_failure_is_retried_before_commit(tmp_path: Path, ruleset: RuleSet) -> None:
    """A throttled sink keeps the item unacknowledged until the retry succeeds."""
    clock = [1000.0]
    pipe, sink, state, _ = await make(tmp_path, ruleset, {"k": log_file(record("e1"))}, clock)
    sink.fail_next = [TemporaryDeliveryError("out", "throttled", code="throttling")]
    work, ack = item("k")
    task = asyncio.create_task(run_item(pipe, work, ack))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if (await state.due(now=1e12, sink_id="out")) and not sink.fail_next:
            break
    assert ack.events == []  # not committed while the alert waits for its retry
    clock[0] += 1000  # past any backoff
    await asyncio.wait_for(task, timeout=10)
    assert ack.events == [("commit", None)] and len(sink.delivered) == 1
    await state.close()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TemporaryFetchError("k", "503", code="throttling"), [("k: 503", False)]),
        (PermanentFetchError("k", "AccessDenied", code="access_denied"), [("k: AccessDenied", True)]),
        (PermanentFetchError("k", "gone", code="not_found"), [("commit", None)]),
    ],
)
async def test_fetch_errors_release_or_skip(
    tmp_path: Path, ruleset: RuleSet, error: Exception, expected: list[tuple[str, bool | None]]
) -> None:
    """Temporary fetch errors retry, permanent ones park (DLQ), a vanished object is skipped and committed."""
    pipe, _, state, _ = await make(tmp_path, ruleset, {"k": error})
    work, ack = item("k")
    await run_item(pipe, work, ack)
    assert ack.events == expected
    await state.close()


async def test_malformed_object_is_parked_and_counted(tmp_path: Path, ruleset: RuleSet) -> None:
    """A truncated gzip file is released permanently (left for the DLQ) and counted as decode_error."""
    pipe, _, state, metrics = await make(tmp_path, ruleset, {"k": log_file(record("e1"))[:-10]})
    work, ack = item("k")
    await run_item(pipe, work, ack)
    assert ack.events and ack.events[0][1] is True
    assert (
        metrics.registry.get_sample_value(
            "trailwatchd_objects_processed_total", {"source": "fake", "result": "decode_error"}
        )
        == 1
    )
    await state.close()


async def test_digest_key_is_skipped_without_fetch(tmp_path: Path, ruleset: RuleSet) -> None:
    """Digest files are recognised by key, never fetched or decoded, and committed."""
    key = (
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/"
        "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240102T010203Z.json.gz"
    )
    pipe, _, state, _ = await make(tmp_path, ruleset, {key: RuntimeError("must not be fetched")})
    work, ack = item(key)
    await run_item(pipe, work, ack)
    assert ack.events == [("commit", None)]
    await state.close()


async def test_inline_eventbridge_event_needs_no_fetch(tmp_path: Path, ruleset: RuleSet) -> None:
    """An EventBridge-delivered record is evaluated inline."""
    pipe, sink, state, _ = await make(tmp_path, ruleset, {})
    ack = RecordingAck()
    raw = json.dumps(record("e9")).encode()
    work = WorkItem("fake", (ObjectRef("fake", "msg-1", inline=(raw,)),), ack, label="msg-1")
    await run_item(pipe, work, ack)
    assert [a.event_id for a in sink.delivered] == ["e9"] and ack.events == [("commit", None)]
    await state.close()
