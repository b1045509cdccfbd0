"""Log and file sinks, and the SINKS table / build_sink."""

from __future__ import annotations

import errno
import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from trailwatchd.alerts import build_alert
from trailwatchd.config import SINK_CONFIGS, FileSinkConfig, LogSinkConfig, SnsSinkConfig
from trailwatchd.errors import TemporaryDeliveryError
from trailwatchd.model import Alert
from trailwatchd.sinks import SINKS, FileSink, LogSink, SnsSink, build_sink

EVENT = {
    "eventID": "e-0",
    "eventName": "PutBucketPolicy",
    "eventSource": "s3.amazonaws.com",
    "awsRegion": "us-east-1",
    "recipientAccountId": "123456789012",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob", "userName": "bob"},
    "requestParameters": {"bucketPolicy": {"Statement": ["secret-ish"]}},
    "additionalEventData": {"bytesTransferredIn": Decimal("12.5")},
}


def make_alert(n: int = 0) -> Alert:
    """An alert for a copy of EVENT with its own eventID."""
    return build_alert(
        rule_id="s3-policy",
        title="Bucket policy changed",
        severity="warning",
        event={**EVENT, "eventID": f"e-{n}"},
        object_uri="s3://b/k",
        matched_at=1_700_000_000.0,
    )


async def test_log_sink_writes_one_summary_line_per_alert() -> None:
    """Each alert becomes one alert_logged line at the configured level with who/what/where, no record."""
    sink = LogSink("console", LogSinkConfig(level="error"))
    with structlog.testing.capture_logs() as logs:
        results = await sink.deliver([make_alert(0), make_alert(1)])
    assert results == [None, None]
    lines = [entry for entry in logs if entry["event"] == "alert_logged"]
    assert len(lines) == 2 and all(line["log_level"] == "error" for line in lines)
    line = lines[1]
    assert (line["rule_id"], line["severity"], line["event_id"]) == ("s3-policy", "warning", "e-1")
    assert line["principal"] == "arn:aws:iam::123456789012:user/bob"
    assert line["source_ip"] == "198.51.100.7" and line["event_name"] == "PutBucketPolicy"
    assert line["summary"].startswith("arn:aws:iam::123456789012:user/bob called s3.amazonaws.com:")
    assert line["sink_id"] == "console"
    assert "secret-ish" not in repr(line)  # the event itself is not logged


async def test_log_sink_tolerates_bodies_without_sections() -> None:
    """An alert whose body lacks who/what/where still logs (with None fields) instead of raising."""
    sink = LogSink("console", LogSinkConfig())
    with structlog.testing.capture_logs() as logs:
        assert await sink.deliver([Alert("r", "e", "info", "t", {"who": "oops"})]) == [None]
    assert logs[0]["principal"] is None and logs[0]["log_level"] == "warning"


async def test_file_sink_appends_valid_json_lines(tmp_path: Path) -> None:
    """Alerts are appended as JSON Lines under created parent dirs; numbers stay numbers."""
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    sink = FileSink("file", FileSinkConfig(path=str(path)))
    assert await sink.deliver([make_alert(0), make_alert(1)]) == [None, None]
    assert await sink.deliver([make_alert(2)]) == [None]
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b'"bytesTransferredIn":12.5' in raw
    docs = [json.loads(line) for line in raw.splitlines()]
    assert [d["event_id"] for d in docs] == ["e-0", "e-1", "e-2"]
    assert docs[0]["event"]["requestParameters"] == EVENT["requestParameters"]
    assert docs[0]["summary"] == make_alert(0).body["summary"]
    assert path.stat().st_mode & 0o007 == 0  # created 0640: alerts are not world-readable


async def test_file_sink_fsyncs_in_a_thread_before_reporting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync runs off the event loop thread and has happened by the time deliver returns."""
    calls: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        calls.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    sink = FileSink("file", FileSinkConfig(path=str(tmp_path / "a.jsonl")))
    assert await sink.deliver([make_alert()]) == [None]
    assert len(calls) == 1 and calls[0] != threading.main_thread().name


async def test_disk_full_is_temporary_and_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC after a partial write: temporary errors naming the path, and the file is cut back."""
    path = tmp_path / "alerts.jsonl"
    sink = FileSink("file", FileSinkConfig(path=str(path)))
    assert await sink.deliver([make_alert(0)]) == [None]
    before = path.read_bytes()
    real_write = os.write
    state = {"calls": 0}

    def short_then_full(fd: int, data: Any) -> int:
        state["calls"] += 1
        if state["calls"] == 1:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", short_then_full)
    results = await sink.deliver([make_alert(1), make_alert(2)])
    monkeypatch.setattr(os, "write", real_write)
    assert all(isinstance(r, TemporaryDeliveryError) for r in results)
    err = results[0]
    assert err is not None and err.code == "ENOSPC"
    assert str(path) in err.reason and "No space left on device" in err.reason
    assert path.read_bytes() == before
    assert await sink.deliver([make_alert(3)]) == [None]
    assert [json.loads(line)["event_id"] for line in path.read_bytes().splitlines()] == ["e-0", "e-3"]


async def test_unwritable_path_is_temporary(tmp_path: Path) -> None:
    """A path under a regular file cannot be created: a temporary error with the OS reason."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = FileSink("file", FileSinkConfig(path=str(blocker / "alerts.jsonl")))
    (result,) = await sink.deliver([make_alert()])
    assert isinstance(result, TemporaryDeliveryError)
    assert result.code in {"ENOTDIR", "EEXIST"} and str(blocker) in result.reason


def test_sinks_table_covers_every_sink_config() -> None:
    """Every sink type the config accepts has a class in SINKS."""
    assert set(SINKS) == set(SINK_CONFIGS) == {"sns", "log", "file"}
    assert SINKS["sns"] is SnsSink and SINKS["log"] is LogSink and SINKS["file"] is FileSink


class FakeClients:
    """Stands in for trailwatchd.aws.AwsClients: ``await get(name)`` returns a client."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, name: str) -> Any:
        self.asked.append(name)
        return FakeSnsClient()


class FakeSnsClient:
    async def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["PublishBatchRequestEntries"]], "Failed": []}


async def test_build_sink_wires_sns_to_the_shared_clients(tmp_path: Path) -> None:
    """build_sink makes each type; the SNS sink asks AwsClients for "sns" only when it delivers."""
    clients = FakeClients()
    sns = build_sink("pager", SnsSinkConfig(topic_arn="arn:aws:sns:us-east-1:1:t"), clients=clients)
    assert isinstance(sns, SnsSink) and sns.id == "pager" and clients.asked == []
    assert await sns.deliver([make_alert()]) == [None] and clients.asked == ["sns"]
    assert isinstance(build_sink("c", LogSinkConfig()), LogSink)
    assert isinstance(build_sink("f", FileSinkConfig(path=str(tmp_path / "x"))), FileSink)
    with pytest.raises(ValueError, match="needs AWS clients"):
        build_sink("pager", SnsSinkConfig(topic_arn="arn:aws:sns:us-east-1:1:t"))
