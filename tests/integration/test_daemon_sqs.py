"""S3 -> SQS -> daemon -> SNS -> SQS subscriber over real HTTP (moto server), every notification shape."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.conftest import topic_with_inbox
from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{ $.eventSource = "cloudtrail.amazonaws.com" && $.eventName = "StopLogging" }'
"""
ACCOUNT = "111122223333"
BUCKET = "org-trail"


def record(event_id: str, name: str = "StopLogging") -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/mallory",
            "accountId": ACCOUNT,
        },
        "eventID": event_id,
        "recipientAccountId": ACCOUNT,
        "eventType": "AwsApiCall",
    }


def key_for(n: int) -> str:
    return (
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/"
        f"{ACCOUNT}_CloudTrail_us-east-1_20240501T10{n:02d}Z_abcdefghijklmn{n:02d}.json.gz"
    )


def log_body(*records: dict[str, Any]) -> bytes:
    return gzip.compress(
        ('{"Records":[' + ",".join(json.dumps(r, separators=(",", ":")) for r in records) + "]}").encode()
    )


def s3_notification(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {"key": key, "size": 100},
                },
            }
        ]
    }


async def receive_all(sqs: Any, url: str, want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want and loop.time() < deadline:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in resp.get("Messages", []):
            got.append(msg)
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return got


async def queue_count(sqs: Any, url: str) -> int:
    attrs = (
        await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
async def setup(aws_clients: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    s3, sqs, sns = aws_clients["s3"], aws_clients["sqs"], aws_clients["sns"]
    await s3.create_bucket(Bucket=BUCKET)
    dlq = (await sqs.create_queue(QueueName="trail-dlq"))["QueueUrl"]
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    queue = (
        await sqs.create_queue(
            QueueName="trail",
            Attributes={
                "VisibilityTimeout": "2",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}),
            },
        )
    )["QueueUrl"]
    topic, inbox = await topic_with_inbox(sqs, sns, "alerts")
    (tmp_path / "rules.toml").write_text(RULES)
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
            },
            "aws": {"region": aws_clients["region"], "endpoint_url": aws_clients["endpoint"]},
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["security"]},
            "sources": {
                "trail": {
                    "type": "sqs",
                    "queue_url": queue,
                    "wait_time_secs": 1,
                    "visibility_timeout_secs": 30,
                    "allowed_buckets": [BUCKET],
                }
            },
            "sinks": {"security": {"type": "sns", "topic_arn": topic}},
        },
        env={},
    )
    return {**aws_clients, "queue": queue, "dlq": dlq, "inbox": inbox, "topic": topic, "config": config}


async def test_every_notification_shape_alerts_once_and_is_deleted(setup: dict[str, Any]) -> None:
    """S3 event, SNS-wrapped S3 event, CloudTrail notice, EventBridge API call, Object Created all alert."""
    s3, sqs = setup["s3"], setup["sqs"]
    for n in range(4):
        await s3.put_object(
            Bucket=BUCKET, Key=key_for(n), Body=log_body(record(f"evt-{n}"), record(f"ro-{n}", "GetTrail"))
        )
    bodies = [
        s3_notification(key_for(0)),
        {
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": json.dumps(s3_notification(key_for(1))),
        },
        {
            "Type": "Notification",
            "MessageId": "m2",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": json.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key_for(2), key_for(2)]}),
        },
        {
            "version": "0",
            "id": "e1",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.cloudtrail",
            "account": ACCOUNT,
            "region": "us-east-1",
            "detail": record("evt-inline"),
        },
        {
            "version": "0",
            "id": "e2",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": ACCOUNT,
            "region": "us-east-1",
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": key_for(3)}},
        },
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET},
    ]
    for body in bodies:
        await sqs.send_message(QueueUrl=setup["queue"], MessageBody=json.dumps(body))
    registry = CollectorRegistry()
    daemon = Daemon(setup["config"], registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        got = await receive_all(sqs, setup["inbox"], want=5)
        alerts = [json.loads(m["Body"]) for m in got]
        assert sorted(a["event_id"] for a in alerts) == ["evt-0", "evt-1", "evt-2", "evt-3", "evt-inline"]
        assert all(
            a["rule_id"] == "stop-logging" and a["who"]["arn"].endswith("user/mallory") for a in alerts
        )
        # Every alert read from an S3 object says when the object appeared (notification time, else the
        # SQS send time), and the delay from it is observed; the inline EventBridge event has no object.
        from_objects = [a for a in alerts if a["event_id"] != "evt-inline"]
        assert all(a["source"]["object_created"] for a in from_objects)
        delay = {"origin": "object_created"}
        for _ in range(50):
            if registry.get_sample_value("trailwatchd_alert_delay_seconds_count", delay) == 4:
                break
            await asyncio.sleep(0.1)
        assert registry.get_sample_value("trailwatchd_alert_delay_seconds_count", delay) == 4
        for _ in range(100):
            if await queue_count(sqs, setup["queue"]) == 0:
                break
            await asyncio.sleep(0.1)
        assert await queue_count(sqs, setup["queue"]) == 0
        assert (
            registry.get_sample_value(
                "trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "deleted"}
            )
            == 6
        )
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert not await receive_all(sqs, setup["inbox"], want=1, timeout=1.5)  # nothing duplicated


async def test_poison_and_forged_messages_reach_the_dlq(setup: dict[str, Any]) -> None:
    """Unparseable bodies and notifications for a bucket outside the allow-list are never deleted: DLQ."""
    sqs = setup["sqs"]
    await sqs.send_message(QueueUrl=setup["queue"], MessageBody="not json at all")
    forged = s3_notification(key_for(9))
    forged["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
    await sqs.send_message(QueueUrl=setup["queue"], MessageBody=json.dumps(forged))
    registry = CollectorRegistry()
    daemon = Daemon(setup["config"], registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            if await queue_count(sqs, setup["dlq"]) >= 2:
                break
            await asyncio.sleep(0.2)
        assert await queue_count(sqs, setup["dlq"]) == 2
        assert (
            registry.get_sample_value(
                "trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "left_for_dlq"}
            )
            or 0
        ) >= 1
        assert (
            registry.get_sample_value(
                "trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "rejected"}
            )
            or 0
        ) >= 1
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
