"""End to end against moto: CIS 3.1 "unauthorized API calls" goes INSUFFICIENT_DATA -> ALARM -> OK.

S3 object -> S3 notification on SQS -> daemon (the shipped CIS pack, unchanged) -> alarm evaluation on the
daemon's injected clock -> SNS topic -> SQS subscriber without raw delivery, so the test reads exactly the
SNS envelope a CloudWatch subscriber (a Lambda function, a chat bridge) receives: Subject + Message.

The clock is moved by hand (10:07:30 -> 10:08:01 -> 12:00:00); nothing sleeps for minutes. A restart
between ALARM and OK shows the state survives: no second ALARM, no spurious OK.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.test_daemon_sqs import ACCOUNT, BUCKET, key_for, log_body, record, s3_notification
from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

ALARM_NAME = "Warning-trailwatchd-CloudTrail-Unauthorized-API-Calls"
CIS = Path(__file__).resolve().parents[2] / "config" / "rules" / "cis-aws-foundations-1.2"


class Clock:
    def __init__(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()

    def set(self, when: str) -> None:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def denied(n: int) -> dict[str, Any]:
    """A refused read in minute 10:0n: only CIS 3.1 counts it (Maximum of the minute = 1)."""
    event = record(f"denied-{n}", "DescribeInstances")
    event["eventSource"] = "ec2.amazonaws.com"
    event["eventTime"] = f"2024-05-01T10:0{n}:17Z"
    event["errorCode"] = "Client.UnauthorizedOperation"
    event["errorMessage"] = "You are not authorized to perform this operation."
    return event


async def inbox_messages(sqs: Any, url: str, want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """SNS envelopes (parsed) from the subscriber queue until ``want`` arrived."""
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want and loop.time() < deadline:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in resp.get("Messages", []):
            got.append(json.loads(msg["Body"]))
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return got


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def setup(aws_clients: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    s3, sqs, sns = aws_clients["s3"], aws_clients["sqs"], aws_clients["sns"]
    await s3.create_bucket(Bucket=BUCKET)
    queue = (await sqs.create_queue(QueueName="trail"))["QueueUrl"]
    topic = (await sns.create_topic(Name="security-alarms"))["TopicArn"]
    inbox = (await sqs.create_queue(QueueName="inbox"))["QueueUrl"]
    inbox_arn = (await sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)  # envelope, as Lambda gets it
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
            },
            "aws": {"region": aws_clients["region"], "endpoint_url": aws_clients["endpoint"]},
            "rules": {"paths": [str(CIS)], "default_sinks": ["console"]},
            "sources": {"trail": {"type": "sqs", "queue_url": queue, "wait_time_secs": 1}},
            "sinks": {
                "console": {"type": "log", "level": "info"},
                "security": {"type": "sns", "topic_arn": topic},
            },
            "alarms": {"evaluation_interval_secs": 0.05},  # lateness stays at its 900 s default
        },
        env={},
    )
    return {**aws_clients, "queue": queue, "inbox": inbox, "topic": topic, "config": config}


def state_of(registry: CollectorRegistry, state: str) -> float | None:
    return registry.get_sample_value("trailwatchd_alarm_state", {"alarm": ALARM_NAME, "state": state})


async def test_cis_unauthorized_api_calls_alarm_end_to_end(setup: dict[str, Any]) -> None:
    """Six denied calls in six minutes -> ALARM (6 of 60); silence -> OK; CloudWatch-shaped SNS messages."""
    s3, sqs = setup["s3"], setup["sqs"]
    await s3.put_object(Bucket=BUCKET, Key=key_for(7), Body=log_body(*(denied(n) for n in range(6))))
    await sqs.send_message(QueueUrl=setup["queue"], MessageBody=json.dumps(s3_notification(key_for(7))))
    clock = Clock("2024-05-01T10:07:30")
    registry = CollectorRegistry()
    daemon = Daemon(setup["config"], registry=registry, handle_signals=False, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        counted = {"alarm": ALARM_NAME, "outcome": "counted"}
        await wait_for(lambda: registry.get_sample_value("trailwatchd_alarm_datapoints_total", counted) == 6)
        assert state_of(registry, "INSUFFICIENT_DATA") == 1.0  # just started: nothing is final yet
        clock.set("2024-05-01T10:08:01")  # the next minute boundary evaluates the delivered file
        [alarm] = await inbox_messages(sqs, setup["inbox"], want=1)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert alarm["Subject"] == f'ALARM: "{ALARM_NAME}" in US East (N. Virginia)'
    message = json.loads(alarm["Message"])
    assert message["AlarmName"] == ALARM_NAME
    assert message["AlarmDescription"] == "*CloudTrail* が *不正なAPIコールを検知* しました。"
    assert message["AWSAccountId"] == ACCOUNT
    assert (message["OldStateValue"], message["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert message["StateChangeTime"] == "2024-05-01T10:08:01.000+0000"
    assert message["Region"] == "US East (N. Virginia)"
    assert message["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{ALARM_NAME}"
    assert message["AlarmActions"] == message["OKActions"] == [setup["topic"]]
    listed = ", ".join(f"1.0 (01/05/24 10:0{n}:00)" for n in range(5, -1, -1))
    assert message["NewStateReason"] == (
        f"Threshold Crossed: 6 out of the last 60 datapoints [{listed}] were greater than or equal to the "
        "threshold (1.0) and 54 missing datapoints were treated as [NonBreaching] "
        "(minimum 6 datapoints for OK -> ALARM transition)."
    )
    assert message["Trigger"] == {
        "MetricName": "UnauthorizedAPICalls",
        "Namespace": "LogMetrics",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [],
        "Period": 60,
        "EvaluationPeriods": 60,
        "DatapointsToAlarm": 6,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 1.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    }
    samples = message["TrailwatchdSampleEvents"]
    assert [s["event_id"] for s in samples] == ["denied-5", "denied-4", "denied-3"]
    assert samples[0]["who"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/mallory"
    assert samples[0]["what"]["error_code"] == "Client.UnauthorizedOperation"
    assert samples[0]["where"]["source_ip"] == "198.51.100.7"

    # Restart: the alarm comes back in ALARM and neither fires again nor sends OK while data may be late.
    clock.set("2024-05-01T10:09:30")
    registry = CollectorRegistry()
    daemon = Daemon(setup["config"], registry=registry, handle_signals=False, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: state_of(registry, "ALARM") == 1.0)
        clock.set("2024-05-01T10:10:01")
        assert not await inbox_messages(sqs, setup["inbox"], want=1, timeout=1.5)
        # Two hours of silence later: every CIS alarm goes OK; 3.1 from ALARM, the others from the start.
        clock.set("2024-05-01T12:00:00")
        oks = await inbox_messages(sqs, setup["inbox"], want=14)
        await wait_for(lambda: state_of(registry, "OK") == 1.0)
        transitions = registry.get_sample_value(
            "trailwatchd_alarm_transitions_total", {"alarm": ALARM_NAME, "from": "ALARM", "to": "OK"}
        )
        assert transitions == 1.0
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert len(oks) == 14
    assert all(json.loads(m["Message"])["NewStateValue"] == "OK" for m in oks)
    [ok] = [m for m in oks if json.loads(m["Message"])["AlarmName"] == ALARM_NAME]
    assert ok["Subject"] == f'OK: "{ALARM_NAME}" in US East (N. Virginia)'
    message = json.loads(ok["Message"])
    assert (message["OldStateValue"], message["NewStateValue"]) == ("ALARM", "OK")
    assert message["NewStateReason"] == (
        "Threshold Crossed: no datapoints were received for 60 periods and 60 missing datapoints were "
        "treated as [NonBreaching]."
    )
    assert message["StateChangeTime"] == "2024-05-01T12:00:00.000+0000"
    others = [json.loads(m["Message"]) for m in oks if m is not ok]
    assert all(m["OldStateValue"] == "INSUFFICIENT_DATA" for m in others)
    assert len({m["AlarmName"] for m in others}) == 13
