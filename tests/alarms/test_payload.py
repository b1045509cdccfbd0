"""The CloudWatch alarm message: reasons in CloudWatch's words, every field, Subject, region names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from trailwatchd.alarms.evaluator import ALARM, INSUFFICIENT_DATA, OK, Params, Slot, decide, number_text
from trailwatchd.alarms.payload import (
    SAMPLES_KEY,
    Change,
    alarm_message,
    cw_time,
    region_name,
    sample_of,
    subject,
)
from trailwatchd.alerts import build_alert
from trailwatchd.config import LogSinkConfig, SnsSinkConfig
from trailwatchd.model import Alert
from trailwatchd.rules.model import AlarmSpec, MetricSpec
from trailwatchd.sinks.log import LogSink, alarm_log_fields
from trailwatchd.sinks.sns import SnsSink


def at(text: str) -> float:
    return datetime.strptime(text, "%d/%m/%y %H:%M:%S").replace(tzinfo=UTC).timestamp()


# NewStateReason strings copied from real CloudWatch notifications (public payloads, see
# shared/aws-formats.md 5.4); each is rebuilt from the datapoints it names.
def test_reason_one_of_one_ok_from_a_real_notification() -> None:
    """ALARM -> OK on a zero datapoint (ap-northeast-2 Lambda error alarm, 2023)."""
    params = Params(1, 1, "GreaterThanOrEqualToThreshold", 1.0, "notBreaching")
    decision = decide([Slot(at("08/03/23 00:45:00"), 0.0)], params)
    assert decision.state == OK
    assert decision.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (08/03/23 00:45:00)] was not greater than "
        "or equal to the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition)."
    )


def test_reason_three_of_three_alarm_newest_first() -> None:
    """3 of 3 breaching, listed newest first (eu-west-2 StatusCheckFailed alarm, 2021)."""
    params = Params(3, 3, "GreaterThanOrEqualToThreshold", 1.0, "missing")
    slots = [Slot(at(t), 1.0) for t in ("06/12/21 14:10:00", "06/12/21 14:15:00", "06/12/21 14:20:00")]
    decision = decide(slots, params)
    assert decision.state == ALARM
    assert decision.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints "
        "[1.0 (06/12/21 14:20:00), 1.0 (06/12/21 14:15:00), "
        "1.0 (06/12/21 14:10:00)] were greater than or equal to the threshold (1.0) "
        "(minimum 3 datapoints for OK -> ALARM transition)."
    )


def test_reason_with_filled_missing_datapoints() -> None:
    """One real point among 20 periods, 19 filled as NonBreaching (eu-west-1 WAF alarm, 2024)."""
    params = Params(20, 1, "GreaterThanOrEqualToThreshold", 1.0, "notBreaching")
    decision = decide([Slot(at("16/03/24 12:15:00"), 613.0)], params)
    assert decision.state == ALARM
    assert decision.reason == (
        "Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was greater than or "
        "equal to the threshold (1.0) and 19 missing datapoints were treated as [NonBreaching] "
        "(minimum 1 datapoint for OK -> ALARM transition)."
    )


def test_reason_when_nothing_was_received() -> None:
    """All missing, notBreaching (the most common OK reason of metric-filter alarms)."""
    params = Params(1, 1, "GreaterThanOrEqualToThreshold", 1.0, "notBreaching")
    decision = decide([Slot(0.0, None)] * 3, params)
    assert (decision.state, decision.reason) == (
        OK,
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching].",
    )
    breaching = decide([Slot(0.0, None)] * 5, Params(3, 2, "LessThanThreshold", 1.0, "breaching"))
    assert breaching.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated "
        "as [Breaching]."
    )
    missing = decide([Slot(0.0, None)] * 3, Params(1, 1, "GreaterThanThreshold", 1.0, "missing"))
    assert (missing.state, missing.reason) == (
        INSUFFICIENT_DATA,
        "Insufficient Data: 1 datapoint was unknown.",
    )


def test_reason_operator_words_and_ok_minimum() -> None:
    """Each operator's words; leaving ALARM needs N - M + 1 non-breaching points (6 of 60 -> 55)."""
    params = Params(60, 6, "LessThanOrEqualToThreshold", 0.5, "notBreaching")
    decision = decide([Slot(at("01/05/24 10:00:00"), 3.0)], params)
    assert decision.state == OK
    assert "was not less than or equal to the threshold (0.5) and 59 missing datapoints" in decision.reason
    assert decision.reason.endswith("(minimum 55 datapoints for ALARM -> OK transition).")


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1.0"), (613, "613.0"), (0.35220499833424884, "0.35220499833424884"), (1e16, "1e+16")],
)
def test_number_text(value: float, text: str) -> None:
    """Doubles print like Java's (``1.0``), which is how CloudWatch prints them."""
    assert number_text(value) == text


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("us-east-1", "US East (N. Virginia)"),
        ("us-east-2", "US East (Ohio)"),
        ("eu-west-1", "EU (Ireland)"),
        ("eu-west-2", "EU (London)"),
        ("eu-north-1", "EU (Stockholm)"),
        ("ap-northeast-2", "Asia Pacific (Seoul)"),
        ("xx-nowhere-9", "xx-nowhere-9"),
    ],
)
def test_region_names_are_cloudwatchs(code: str, name: str) -> None:
    """Long names as captured notifications spell them ("EU (Ireland)", not "Europe (Ireland)")."""
    assert region_name(code) == name


SPEC = AlarmSpec(
    name="Warning-trailwatchd-CloudTrail-Unauthorized-API-Calls",
    threshold=1.0,
    description="*CloudTrail* が *不正なAPIコールを検知* しました。",
    statistic="Maximum",
    period_secs=60,
    evaluation_periods=60,
    datapoints_to_alarm=6,
    treat_missing_data="notBreaching",
    alarm_actions=("security",),
    ok_actions=("security",),
)
METRIC = MetricSpec(
    namespace="LogMetrics", name="UnauthorizedAPICalls", value="1", value_number=1.0, value_selector=None
)
EVENT = {
    "eventVersion": "1.08",
    "eventTime": "2024-05-01T10:00:07Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "GetPasswordData",
    "errorCode": "Client.UnauthorizedOperation",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15",
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/mallory",
        "accountId": "111122223333",
    },
    "eventID": "e-1",
    "recipientAccountId": "111122223333",
}


def change(samples: tuple[dict[str, Any], ...] = ()) -> Change:
    return Change(
        spec=SPEC,
        metric=METRIC,
        old_state=INSUFFICIENT_DATA,
        new_state=ALARM,
        reason="Threshold Crossed: ...",
        changed_at=datetime(2024, 5, 1, 10, 7, 0, 589000, tzinfo=UTC).timestamp(),
        config_updated_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC).timestamp(),
        samples=samples,
    )


def test_message_field_by_field() -> None:
    """Every key CloudWatch sends, in CloudWatch's order and formats, plus the one extra samples key."""
    body = build_alert(
        rule_id="cis-3.1", title="t", severity="warning", event=EVENT, object_uri="s3://b/k", matched_at=0.0
    ).body
    sample = sample_of(body)
    message = alarm_message(
        change((sample,)),
        account_id="111122223333",
        region="us-east-1",
        actions={
            "alarm_actions": ["arn:aws:sns:us-east-1:111122223333:sec"],
            "ok_actions": ["arn:aws:sns:x"],
        },
    )
    assert message == {
        "AlarmName": "Warning-trailwatchd-CloudTrail-Unauthorized-API-Calls",
        "AlarmDescription": "*CloudTrail* が *不正なAPIコールを検知* しました。",
        "AWSAccountId": "111122223333",
        "AlarmConfigurationUpdatedTimestamp": "2024-05-01T09:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: ...",
        "StateChangeTime": "2024-05-01T10:07:00.589+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:"
        "Warning-trailwatchd-CloudTrail-Unauthorized-API-Calls",
        "OldStateValue": "INSUFFICIENT_DATA",
        "OKActions": ["arn:aws:sns:x"],
        "AlarmActions": ["arn:aws:sns:us-east-1:111122223333:sec"],
        "InsufficientDataActions": [],
        "Trigger": {
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
        },
        SAMPLES_KEY: [
            {
                "event_id": "e-1",
                "event_time": "2024-05-01T10:00:07Z",
                "summary": "arn:aws:iam::111122223333:user/mallory called "
                "ec2.amazonaws.com:GetPasswordData in 111122223333/us-east-1 from 198.51.100.7 "
                "and got Client.UnauthorizedOperation",
                "who": {
                    "arn": "arn:aws:iam::111122223333:user/mallory",
                    "type": "IAMUser",
                    "user_name": None,
                    "account_id": "111122223333",
                    "mfa": None,
                },
                "what": {
                    "event_source": "ec2.amazonaws.com",
                    "event_name": "GetPasswordData",
                    "error_code": "Client.UnauthorizedOperation",
                },
                "where": {
                    "account": "111122223333",
                    "region": "us-east-1",
                    "source_ip": "198.51.100.7",
                    "user_agent": "aws-cli/2.15",
                },
            }
        ],
    }
    # The keys a CloudWatch consumer reads first keep CloudWatch's order.
    assert list(message)[:10] == [
        "AlarmName",
        "AlarmDescription",
        "AWSAccountId",
        "AlarmConfigurationUpdatedTimestamp",
        "NewStateValue",
        "NewStateReason",
        "StateChangeTime",
        "Region",
        "AlarmArn",
        "OldStateValue",
    ]


def test_subject_and_time_format() -> None:
    """``ALARM: "<name>" in <Region long name>`` and ``+0000`` millisecond timestamps."""
    assert subject("ALARM", "api-5xx", "eu-west-1") == 'ALARM: "api-5xx" in EU (Ireland)'
    assert subject("OK", "alarm-test", "us-east-1") == 'OK: "alarm-test" in US East (N. Virginia)'
    assert (
        cw_time(datetime(2025, 5, 14, 1, 58, 11, 589000, tzinfo=UTC).timestamp())
        == "2025-05-14T01:58:11.589+0000"
    )


def test_description_absent_is_null_and_other_partitions() -> None:
    """No description gives ``null`` as CloudWatch sends; China/GovCloud regions get their ARN partition."""
    bare = AlarmSpec(name="a", threshold=1.0)
    message = alarm_message(
        Change(bare, METRIC, OK, ALARM, "r", 0.0, 0.0), account_id="1", region="cn-north-1", actions={}
    )
    assert message["AlarmDescription"] is None
    assert message["AlarmArn"] == "arn:aws-cn:cloudwatch:cn-north-1:1:alarm:a"
    assert message["Region"] == "China (Beijing)"
    assert message["Trigger"]["Statistic"] == "SUM"


def test_sns_sink_sends_the_cloudwatch_subject_and_message_verbatim() -> None:
    """An alarm Alert's subject is the SNS Subject, its body the Message, whatever the sink's prefix."""
    message = alarm_message(change(), account_id="111122223333", region="us-east-1", actions={})
    title = subject("ALARM", SPEC.name, "us-east-1")
    alert = Alert(
        rule_id="cis-3.1",
        event_id="alarm|x",
        severity="warning",
        title=title,
        body=message,
        sinks=("security",),
        kind="alarm",
        subject=title,
    )
    sink = SnsSink("security", SnsSinkConfig(topic_arn="arn:aws:sns:us-east-1:111122223333:sec"), object())
    prepared = sink.prepare(alert)
    assert not isinstance(prepared, Exception)
    assert (
        prepared.subject
        == 'ALARM: "Warning-trailwatchd-CloudTrail-Unauthorized-API-Calls" in US East (N. Virginia)'
    )
    assert json.loads(prepared.message) == message


async def test_log_sink_writes_an_alarm_logged_line() -> None:
    """The log sink logs alarm notifications as ``alarm_logged`` with the transition and reason."""
    message = alarm_message(change(), account_id="1", region="us-east-1", actions={})
    title = subject("ALARM", SPEC.name, "us-east-1")
    alert = Alert("cis-3.1", "k", "warning", title, message, ("console",), kind="alarm", subject=title)
    assert alarm_log_fields(alert) == {
        "rule_id": "cis-3.1",
        "alarm_name": SPEC.name,
        "old_state": "INSUFFICIENT_DATA",
        "new_state": "ALARM",
        "reason": "Threshold Crossed: ...",
        "state_change_time": "2024-05-01T10:07:00.589+0000",
        "subject": title,
    }
    assert await LogSink("console", LogSinkConfig()).deliver([alert]) == [None]
