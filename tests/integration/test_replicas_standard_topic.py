"""The at-least-once boundary across replicas on a STANDARD SNS topic, over real HTTP against moto.

docs/scaling.md says replicas share no state, so only an SNS FIFO topic removes the duplicate that appears
when a message's visibility expires under a stalled replica and another replica receives it again
(tests/integration/test_scale_out_sqs.py proves the FIFO case). This test pins the other half of that
sentence: with a standard topic the same scenario delivers the alerts twice, so the documentation stays
true if that ever changes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from tests.integration.test_daemon_sqs import BUCKET, key_for, log_body, queue_count, record, s3_notification
from trailwatchd.config import Config, parse_config
from trailwatchd.daemon import Daemon
from trailwatchd.errors import DeliveryError
from trailwatchd.model import Alert
from trailwatchd.sinks.sns import SnsSink
from trailwatchd.sources.sqs import SqsSource

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{ $.eventSource = "cloudtrail.amazonaws.com" && $.eventName = "StopLogging" }'

[[rule]]
id = "trail-changes"
severity = "high"
pattern = '{ ($.eventName = "StopLogging") || ($.eventName = "DeleteTrail") }'
"""


async def topic_with_raw_inbox(aws: dict[str, Any], name: str) -> tuple[str, str]:
    """A standard SNS topic and a raw-delivery SQS queue subscribed to it."""
    sns, sqs = aws["sns"], aws["sqs"]
    topic = (await sns.create_topic(Name=name))["TopicArn"]
    inbox = (await sqs.create_queue(QueueName=f"{name}-inbox"))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    await sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic, inbox


async def drain_inbox(sqs: Any, url: str, *, quiet_secs: float = 2.0) -> list[dict[str, Any]]:
    """Every alert in the inbox, reading until it has stayed empty for ``quiet_secs``."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + quiet_secs
    while loop.time() < quiet_until:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for msg in resp.get("Messages", []):
            got.append(json.loads(msg["Body"]))
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
            quiet_until = loop.time() + quiet_secs
        await asyncio.sleep(0.1)
    return got


def replica_config(
    tmp_path: Path, aws: dict[str, Any], name: str, queue: str, topic: str, *, workers: int = 1
) -> Config:
    (tmp_path / "rules.toml").write_text(RULES)
    return parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / f"{name}.db"),  # one state store per host
                "graceful_shutdown_secs": 10,
                "workers": workers,
            },
            "aws": {"region": aws["region"], "endpoint_url": aws["endpoint"]},
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["security"]},
            "sources": {
                name: {
                    "type": "sqs",
                    "queue_url": queue,
                    "wait_time_secs": 1,
                    "max_messages": 2,
                    "max_in_flight": 2,  # neither replica can hold the whole queue
                    "visibility_timeout_secs": 30,
                    "allowed_buckets": [BUCKET],
                }
            },
            "sinks": {"security": {"type": "sns", "topic_arn": topic}},
        },
        env={},
    )


def deleted(registry: CollectorRegistry, source: str) -> float:
    value = registry.get_sample_value(
        "trailwatchd_sqs_messages_total", {"source": source, "outcome": "deleted"}
    )
    return value or 0.0


async def test_a_standard_topic_delivers_twice_when_visibility_expires_under_a_stalled_replica(
    aws_clients: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host A receives the message and stalls (no heartbeat, delivery stuck past the visibility timeout);
    host B receives it again and alerts. On a standard topic both copies reach the subscriber."""
    s3, sqs = aws_clients["s3"], aws_clients["sqs"]
    await s3.create_bucket(Bucket=BUCKET)
    queue = (await sqs.create_queue(QueueName="trail"))["QueueUrl"]
    topic, inbox = await topic_with_raw_inbox(aws_clients, "alerts")
    await s3.put_object(Bucket=BUCKET, Key=key_for(1), Body=log_body(record("stop-1")))
    await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(1))))

    # The stalled host: its visibility heartbeat never reaches SQS and its SNS delivery hangs for 5 s.
    # A 2 s visibility (below the config's 10 s floor, set on the built config) keeps the test short;
    # holding one message at most, A cannot take the message back itself while stuck.
    heartbeat, deliver = SqsSource._heartbeat, SnsSink.deliver
    received_by_a = asyncio.Event()

    async def stalled_heartbeat(self: SqsSource, stop: asyncio.Event) -> None:
        if self.id != "host-a":
            await heartbeat(self, stop)
            return
        await stop.wait()

    async def slow_deliver(self: SnsSink, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        if self.id == "slow":
            received_by_a.set()
            await asyncio.sleep(5)
        return await deliver(self, alerts)

    monkeypatch.setattr(SqsSource, "_heartbeat", stalled_heartbeat)
    monkeypatch.setattr(SnsSink, "deliver", slow_deliver)
    a = replica_config(tmp_path, aws_clients, "host-a", queue, topic)
    a = msgspec.structs.replace(
        a,
        sources={
            "host-a": msgspec.structs.replace(
                a.sources["host-a"], visibility_timeout_secs=2, max_in_flight=1, max_messages=1
            )
        },
        sinks={"slow": a.sinks["security"]},
        rules=msgspec.structs.replace(a.rules, default_sinks=["slow"]),
    )
    b = replica_config(tmp_path, aws_clients, "host-b", queue, topic)

    registries = [CollectorRegistry(), CollectorRegistry()]
    first = Daemon(a, registry=registries[0], handle_signals=False)
    task_a = asyncio.create_task(first.run())
    await asyncio.wait_for(received_by_a.wait(), 20)  # A holds the message and is stuck delivering
    second = Daemon(b, registry=registries[1], handle_signals=False)
    task_b = asyncio.create_task(second.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (deleted(registries[1], "host-b") >= 1 and first.pipeline and first.pipeline.idle):
            assert loop.time() < deadline, "host B never processed the redelivered message"
            await asyncio.sleep(0.1)
    finally:
        first.request_stop()
        second.request_stop()
        assert await asyncio.wait_for(task_a, 30) == 0
        assert await asyncio.wait_for(task_b, 30) == 0
    alerts = await drain_inbox(sqs, inbox)
    pairs = [(x["rule_id"], x["event_id"]) for x in alerts]
    assert sorted(pairs) == sorted([("stop-logging", "stop-1"), ("trail-changes", "stop-1")] * 2)
    assert await queue_count(sqs, queue) == 0
