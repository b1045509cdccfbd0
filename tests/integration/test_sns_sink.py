"""The SNS sink over real HTTP against moto: topic -> SQS subscriber, FIFO dedupe, filter policies, errors."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trailwatchd.alerts import build_alert
from trailwatchd.config import SnsSinkConfig
from trailwatchd.errors import PermanentDeliveryError
from trailwatchd.model import Alert
from trailwatchd.sinks.sns import SnsSink

pytestmark = pytest.mark.integration

CONSOLE = "stratus-red-team/aws.initial-access.console-login-without-mfa.json"


async def subscribed_queue(
    aws: dict[str, Any], topic_arn: str, name: str, **attributes: str
) -> str:
    """Create an SQS queue subscribed to the topic (subscription attributes as given); its URL."""
    sqs, sns = aws["sqs"], aws["sns"]
    queue_attrs = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    url: str = (await sqs.create_queue(QueueName=name, Attributes=queue_attrs))["QueueUrl"]
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = attrs["Attributes"]["QueueArn"]
    await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


async def drain(sqs: Any, url: str, expect: int) -> list[dict[str, Any]]:
    """Receive until ``expect`` messages arrived or the queue stays empty (moto delivers on publish)."""
    got: list[dict[str, Any]] = []
    for _ in range(5):
        resp = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        batch = resp.get("Messages", [])
        got += batch
        if not batch and len(got) >= expect:
            break
    return got


def corpus_alert(corpus: Path, *, rule_id: str = "cis-3.2", severity: str = "high", n: int = 0) -> Alert:
    """An alert for the real Stratus console-login-without-MFA event (eventID suffixed by ``n``)."""
    event = json.loads((corpus / CONSOLE).read_text(), parse_float=Decimal)[0]
    event["eventID"] += f"-{n}"
    return build_alert(
        rule_id=rule_id,
        title="Console login without MFA",
        severity=severity,
        event=event,
        object_uri="s3://trail/AWSLogs/x.json.gz",
        matched_at=1_722_588_900.0,
    )


async def test_alerts_arrive_with_body_subject_and_attributes(
    aws_clients: dict[str, Any], corpus_dir: Path
) -> None:
    """Alerts reach an SQS subscriber as SNS envelopes carrying the alert JSON, Subject and attributes."""
    sns, sqs = aws_clients["sns"], aws_clients["sqs"]
    topic = (await sns.create_topic(Name="alerts"))["TopicArn"]
    url = await subscribed_queue(aws_clients, topic, "subscriber")
    alerts = [corpus_alert(corpus_dir, n=i) for i in range(3)]
    sink = SnsSink("pager", SnsSinkConfig(topic_arn=topic, subject_prefix="tw"), sns)
    assert await sink.deliver(alerts) == [None, None, None]

    messages = await drain(sqs, url, 3)
    envelopes = sorted(
        (json.loads(m["Body"]) for m in messages), key=lambda e: json.loads(e["Message"])["event_id"]
    )
    assert len(envelopes) == 3
    for alert, envelope in zip(alerts, envelopes, strict=True):
        assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
        assert envelope["Subject"] == "tw: high Console login without MFA"
        body = json.loads(envelope["Message"], parse_float=Decimal)
        assert body == alert.body
        assert "event_truncated" not in body
        assert envelope["MessageAttributes"] == {
            "rule_id": {"Type": "String", "Value": "cis-3.2"},
            "severity": {"Type": "String", "Value": "high"},
            "account": {"Type": "String", "Value": "562283505220"},
            "region": {"Type": "String", "Value": "eu-west-2r"},
            "event_name": {"Type": "String", "Value": "ConsoleLogin"},
        }


async def test_raw_delivery_maps_attributes_to_sqs_attributes(
    aws_clients: dict[str, Any], corpus_dir: Path
) -> None:
    """With raw message delivery the SQS body is the alert JSON and the attributes are SQS attributes."""
    sns, sqs = aws_clients["sns"], aws_clients["sqs"]
    topic = (await sns.create_topic(Name="alerts-raw"))["TopicArn"]
    url = await subscribed_queue(aws_clients, topic, "raw", RawMessageDelivery="true")
    alert = corpus_alert(corpus_dir)
    assert await SnsSink("pager", SnsSinkConfig(topic_arn=topic), sns).deliver([alert]) == [None]
    (message,) = await drain(sqs, url, 1)
    assert json.loads(message["Body"])["summary"] == alert.body["summary"]
    assert message["MessageAttributes"]["severity"] == {"StringValue": "high", "DataType": "String"}


async def test_filter_policy_on_severity(aws_clients: dict[str, Any], corpus_dir: Path) -> None:
    """A subscription filter policy on the severity attribute passes only the severities it names."""
    sns, sqs = aws_clients["sns"], aws_clients["sqs"]
    topic = (await sns.create_topic(Name="alerts-filtered"))["TopicArn"]
    policy = json.dumps({"severity": ["critical"], "rule_id": [{"prefix": "cis-"}]})
    url = await subscribed_queue(aws_clients, topic, "pager-only", FilterPolicy=policy)
    alerts = [
        corpus_alert(corpus_dir, severity="high", n=0),
        corpus_alert(corpus_dir, severity="critical", n=1),
        corpus_alert(corpus_dir, severity="critical", rule_id="custom-1", n=2),
    ]
    assert await SnsSink("pager", SnsSinkConfig(topic_arn=topic), sns).deliver(alerts) == [None] * 3
    messages = await drain(sqs, url, 1)
    passed = [json.loads(json.loads(m["Body"])["Message"])["event_id"] for m in messages]
    assert passed == [alerts[1].event_id]


async def test_fifo_topic_drops_duplicate_alerts(aws_clients: dict[str, Any], corpus_dir: Path) -> None:
    """On a FIFO topic the same (rule, event) published twice arrives once, grouped by rule id."""
    sns, sqs = aws_clients["sns"], aws_clients["sqs"]
    topic = (await sns.create_topic(Name="alerts.fifo", Attributes={"FifoTopic": "true"}))["TopicArn"]
    url = await subscribed_queue(aws_clients, topic, "subscriber.fifo")
    sink = SnsSink("pager", SnsSinkConfig(topic_arn=topic), sns)
    first, other = corpus_alert(corpus_dir, n=0), corpus_alert(corpus_dir, n=1)
    assert await sink.deliver([first, other]) == [None, None]
    assert await sink.deliver([first]) == [None]  # a spool retry after a lost response

    messages = await drain(sqs, url, 2)
    assert len(messages) == 2
    counts = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    assert sum(int(v) for v in counts["Attributes"].values()) == 2  # no third copy waiting behind them
    ids = sorted(m["Attributes"]["MessageDeduplicationId"] for m in messages)
    expected = sorted(
        hashlib.sha256(f"cis-3.2\x00{a.event_id}".encode()).hexdigest() for a in (first, other)
    )
    assert ids == expected
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"cis-3.2"}


async def test_missing_topic_is_permanent_for_each_alert(
    aws_clients: dict[str, Any], corpus_dir: Path
) -> None:
    """Publishing to a topic that does not exist rejects every alert permanently with SNS's code."""
    topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    sink = SnsSink("pager", SnsSinkConfig(topic_arn=topic), aws_clients["sns"])
    results = await sink.deliver([corpus_alert(corpus_dir, n=i) for i in range(3)])
    assert all(isinstance(r, PermanentDeliveryError) for r in results)
    assert {r.code for r in results if r is not None} == {"not_found"}
    assert all("Topic does not exist" in r.reason for r in results if r is not None)


async def test_oversized_event_is_truncated_and_accepted(
    aws_clients: dict[str, Any], corpus_dir: Path
) -> None:
    """A 400 KB event (over SNS's 256 KiB) is published truncated, valid JSON within the limit."""
    sns, sqs = aws_clients["sns"], aws_clients["sqs"]
    topic = (await sns.create_topic(Name="alerts-big"))["TopicArn"]
    url = await subscribed_queue(aws_clients, topic, "big")
    alert = corpus_alert(corpus_dir)
    event = {**alert.body["event"], "additionalEventData": {"pad": "z" * 400_000}}
    big = Alert(alert.rule_id, alert.event_id, alert.severity, alert.title, {**alert.body, "event": event})
    assert await SnsSink("pager", SnsSinkConfig(topic_arn=topic), sns).deliver([big]) == [None]
    (message,) = await drain(sqs, url, 1)
    inner = json.loads(message["Body"])["Message"]
    assert len(inner.encode()) <= 262_144
    body = json.loads(inner)
    assert body["event_truncated"] is True and isinstance(body["event"], str)
    assert body["who"]["mfa"] == "No" and body["where"]["source_ip"] == "225.01.00.16"
