"""Two daemons (two hosts: separate state stores) on ONE SQS queue, publishing to one SNS FIFO topic.

Over real HTTP against moto's server mode. Every alert must reach the topic's subscriber exactly once:
the replicas share the work through SQS, and when both evaluate the same object (a duplicate S3
notification, or a message whose visibility expired while the first daemon was stalled) the SNS FIFO
deduplication id derived from (rule id, event id) makes SNS drop the second copy (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.test_daemon_sqs import BUCKET, key_for, log_body, record, s3_notification
from trailwatchd.config import Config, parse_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{ $.eventSource = "cloudtrail.amazonaws.com" && $.eventName = "StopLogging" }'
"""
VISIBILITY = 10  # the smallest visibility_timeout_secs the SQS source accepts


async def _fifo_inbox(aws: dict[str, Any]) -> tuple[str, str]:
    sns, sqs = aws["sns"], aws["sqs"]
    topic = (await sns.create_topic(Name="alerts.fifo", Attributes={"FifoTopic": "true"}))["TopicArn"]
    inbox = (await sqs.create_queue(QueueName="inbox.fifo", Attributes={"FifoQueue": "true"}))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    await sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic, inbox


def _config(aws: dict[str, Any], tmp: Path, name: str, queue: str, topic: str) -> Config:
    (tmp / "rules.toml").write_text(RULES)
    (tmp / name).mkdir(exist_ok=True)
    return parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp / name / "state.db"),  # another host: its own state store
                "graceful_shutdown_secs": 5,
            },
            "aws": {"region": aws["region"], "endpoint_url": aws["endpoint"]},
            "rules": {"paths": [str(tmp / "rules.toml")], "default_sinks": ["security"]},
            "sources": {
                "trail": {
                    "type": "sqs",
                    "queue_url": queue,
                    "wait_time_secs": 1,
                    "max_messages": 1,
                    "max_in_flight": 2,
                    "visibility_timeout_secs": VISIBILITY,
                    "allowed_buckets": [BUCKET],
                }
            },
            "sinks": {"security": {"type": "sns", "topic_arn": topic}},
        },
        env={},
    )


async def _drain_inbox(sqs: Any, inbox: str, *, quiet_secs: float = 2.0) -> list[dict[str, Any]]:
    """Every alert the subscriber received, read until the inbox stays empty for ``quiet_secs``."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while loop.time() - quiet_since < quiet_secs:
        resp = await sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = resp.get("Messages", [])
        for m in msgs:
            got.append(json.loads(m["Body"]))
            await sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
        if msgs:
            quiet_since = loop.time()
        else:
            await asyncio.sleep(0.2)
    return got


async def _queue_empty(sqs: Any, queue: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = (await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names))["Attributes"]
    return all(int(attrs[n]) == 0 for n in names)


def _ok(registry: CollectorRegistry) -> float:
    return (
        registry.get_sample_value("trailwatchd_objects_processed_total", {"source": "trail", "result": "ok"})
        or 0
    )


@pytest.fixture
async def queue(aws_clients: dict[str, Any]) -> str:
    await aws_clients["s3"].create_bucket(Bucket=BUCKET)
    url: str = (await aws_clients["sqs"].create_queue(QueueName="trail"))["QueueUrl"]
    return url


async def test_two_daemons_share_one_queue_and_deliver_every_alert_once(
    aws_clients: dict[str, Any], queue: str, tmp_path: Path
) -> None:
    """A mixed stream (matching and quiet events, duplicate notifications) split between two replicas."""
    s3, sqs = aws_clients["s3"], aws_clients["sqs"]
    topic, inbox = await _fifo_inbox(aws_clients)
    registries = [CollectorRegistry(), CollectorRegistry()]
    daemons = [
        Daemon(_config(aws_clients, tmp_path, f"host{i}", queue, topic), registry=r, handle_signals=False)
        for i, r in enumerate(registries)
    ]
    tasks = [asyncio.create_task(d.run()) for d in daemons]
    try:
        expected = set()
        for n in range(16):
            records = [record(f"quiet-{n}-{i}", "DescribeTrails") for i in range(3)]
            records += [record(f"stop-{n}-{i}") for i in range(n % 3)]  # 0, 1 or 2 alerts per object
            expected |= {f"stop-{n}-{i}" for i in range(n % 3)}
            await s3.put_object(Bucket=BUCKET, Key=key_for(n), Body=log_body(*records))
        for n in range(16):
            await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(n))))
        for n in range(0, 16, 4):  # S3 delivers some notifications twice: the copies may go to either host
            await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(n))))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await _queue_empty(sqs, queue) or not all(d.pipeline and d.pipeline.idle for d in daemons):
            assert loop.time() < deadline, "the replicas did not drain the queue"
            await asyncio.sleep(0.2)
        alerts = await _drain_inbox(sqs, inbox)
    finally:
        for d in daemons:
            d.request_stop()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert results == [0, 0]
    ids = [a["event_id"] for a in alerts]
    assert sorted(ids) == sorted(expected)  # none lost, none twice
    assert len(expected) == 15
    per_host = [
        _ok(r)
        + (
            r.get_sample_value(
                "trailwatchd_objects_processed_total", {"source": "trail", "result": "duplicate"}
            )
            or 0
        )
        for r in registries
    ]
    assert all(n >= 1 for n in per_host), f"one replica did all the work: {per_host}"
    assert sum(_ok(r) for r in registries) >= 16  # every object evaluated at least once overall


async def test_a_message_redelivered_while_the_first_daemon_is_stalled_alerts_once(
    aws_clients: dict[str, Any], queue: str, tmp_path: Path
) -> None:
    """Host A publishes the alert, then freezes (its whole event loop, heartbeat included) past the
    visibility timeout; host B receives the message again, evaluates it and publishes the same alert.
    SNS drops B's copy by its deduplication id: the subscriber sees one alert."""
    s3, sqs = aws_clients["s3"], aws_clients["sqs"]
    topic, inbox = await _fifo_inbox(aws_clients)
    await s3.put_object(
        Bucket=BUCKET, Key=key_for(1), Body=log_body(record("stalled-1"), record("q", "GetTrail"))
    )

    registry_a = CollectorRegistry()
    config_a = _config(aws_clients, tmp_path, "hostA", queue, topic)
    published = threading.Event()
    result_a: list[int] = []

    def host_a() -> None:  # another host: its own thread and event loop, so freezing it leaves B running
        async def main() -> int:
            daemon = Daemon(config_a, registry=registry_a, handle_signals=False)
            task = asyncio.create_task(daemon.run())
            while daemon.pipeline is None or "security" not in daemon.pipeline.sinks:
                await asyncio.sleep(0.01)
            sink = daemon.pipeline.sinks["security"]
            deliver = sink.deliver

            async def deliver_then_freeze(alerts: Any) -> Any:
                out = await deliver(alerts)
                if not published.is_set():
                    published.set()
                    time.sleep(VISIBILITY + 4)  # a stop-the-world stall: nothing on this loop runs
                return out

            sink.deliver = deliver_then_freeze  # type: ignore[method-assign]
            while not stop_a.is_set():
                await asyncio.sleep(0.05)
            daemon.request_stop()
            return await task

        result_a.append(asyncio.run(main()))

    stop_a = threading.Event()
    thread = threading.Thread(target=host_a, name="host-a")
    thread.start()
    try:
        await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(1))))
        assert await asyncio.to_thread(published.wait, 30), "host A never published"
        registry_b = CollectorRegistry()
        daemon_b = Daemon(
            _config(aws_clients, tmp_path, "hostB", queue, topic), registry=registry_b, handle_signals=False
        )
        task_b = asyncio.create_task(daemon_b.run())
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + VISIBILITY + 30
            published_b = {"sink": "security", "outcome": "published"}
            while (registry_b.get_sample_value("trailwatchd_alerts_total", published_b) or 0) < 1 or not (
                daemon_b.pipeline and daemon_b.pipeline.idle
            ):
                assert loop.time() < deadline, "host B never re-processed the expired message"
                await asyncio.sleep(0.1)
        finally:
            daemon_b.request_stop()
            assert await asyncio.wait_for(task_b, 30) == 0
    finally:
        stop_a.set()
        await asyncio.to_thread(thread.join, 30)
    assert result_a == [0]
    alerts = await _drain_inbox(sqs, inbox)
    assert [a["event_id"] for a in alerts] == ["stalled-1"]  # A's and B's copies: one delivered
    assert _ok(registry_a) == 1 and _ok(registry_b) == 1  # both hosts really evaluated the object
    assert await _queue_empty(sqs, queue)
