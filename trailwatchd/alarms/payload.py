"""The SNS message CloudWatch publishes for an alarm state change, rebuilt field for field.

Existing subscribers (chat integrations, Lambda functions, ticketing bridges) parse this JSON, so keys,
spellings and formats follow what CloudWatch sends (shared/aws-formats.md §5.4, captured from AWS's own
test fixtures and public payloads):

* timestamps ``2025-05-14T01:58:11.589+0000`` (milliseconds, ``+0000``);
* ``Region`` is the long display name, in CloudWatch's spelling ("US East (N. Virginia)", "EU (Ireland)":
  alarm messages still say "EU", where newer consoles say "Europe");
* ``Trigger.Statistic`` upper case (``SUM``, ``MAXIMUM``; ``SAMPLE_COUNT``/``MINIMUM`` were not observed
  and follow the same rule), ``Dimensions`` with lower-case ``name``/``value``, ``Unit`` null when the
  alarm sets none;
* SNS Subject ``ALARM: "<AlarmName>" in <Region long name>``.

One key is ours: ``TrailwatchdSampleEvents``, a few of the matching CloudTrail events (who, what, where),
because "count >= 1" alone sends every responder to the console. JSON consumers ignore unknown keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trailwatchd.rules.model import AlarmSpec, MetricSpec

SAMPLES_KEY = "TrailwatchdSampleEvents"

# Display names as CloudWatch alarm notifications print them: botocore's endpoints.json descriptions,
# with "Europe (...)" written "EU (...)" as in captured notifications ("EU (Ireland)", "EU (London)",
# "EU (Stockholm)"). An unknown region code is printed as the code.
REGION_NAMES = {
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-east-2": "Asia Pacific (Taipei)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "ap-southeast-5": "Asia Pacific (Malaysia)",
    "ap-southeast-6": "Asia Pacific (New Zealand)",
    "ap-southeast-7": "Asia Pacific (Thailand)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-central-2": "EU (Zurich)",
    "eu-north-1": "EU (Stockholm)",
    "eu-south-1": "EU (Milan)",
    "eu-south-2": "EU (Spain)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "il-central-1": "Israel (Tel Aviv)",
    "me-central-1": "Middle East (UAE)",
    "me-south-1": "Middle East (Bahrain)",
    "mx-central-1": "Mexico (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "cn-north-1": "China (Beijing)",
    "cn-northwest-1": "China (Ningxia)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
}
STATISTIC_TEXT = {
    "Sum": "SUM",
    "SampleCount": "SAMPLE_COUNT",
    "Average": "AVERAGE",
    "Minimum": "MINIMUM",
    "Maximum": "MAXIMUM",
}


def region_name(region: str) -> str:
    """CloudWatch's display name of a region code ("us-east-1" -> "US East (N. Virginia)")."""
    return REGION_NAMES.get(region, region)


def cw_time(epoch: float) -> str:
    """``2025-05-14T01:58:11.589+0000``: CloudWatch's timestamp format in alarm messages."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True, slots=True)
class Change:
    """One state transition of one alarm, with everything its notification needs."""

    spec: AlarmSpec
    metric: MetricSpec
    old_state: str
    new_state: str
    reason: str
    changed_at: float
    config_updated_at: float
    samples: tuple[Mapping[str, Any], ...] = ()


def subject(new_state: str, alarm_name: str, region: str) -> str:
    """The SNS Subject CloudWatch uses: ``ALARM: "<name>" in US East (N. Virginia)``."""
    return f'{new_state}: "{alarm_name}" in {region_name(region)}'


def alarm_message(
    change: Change,
    *,
    account_id: str,
    region: str,
    actions: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The JSON document CloudWatch puts in the SNS Message for this change.

    ``actions`` maps ``alarm_actions``/``ok_actions``/``insufficient_data_actions`` to what is shown in
    ``AlarmActions``/``OKActions``/``InsufficientDataActions`` (topic ARNs where the action is an SNS
    sink, the sink id otherwise).
    """
    spec, metric = change.spec, change.metric
    arn = f"arn:{partition_of(region)}:cloudwatch:{region}:{account_id}:alarm:{spec.name}"
    message: dict[str, Any] = {
        "AlarmName": spec.name,
        "AlarmDescription": spec.description or None,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": cw_time(change.config_updated_at),
        "NewStateValue": change.new_state,
        "NewStateReason": change.reason,
        "StateChangeTime": cw_time(change.changed_at),
        "Region": region_name(region),
        "AlarmArn": arn,
        "OldStateValue": change.old_state,
        "OKActions": list(actions.get("ok_actions", ())),
        "AlarmActions": list(actions.get("alarm_actions", ())),
        "InsufficientDataActions": list(actions.get("insufficient_data_actions", ())),
        "Trigger": {
            "MetricName": metric.name,
            "Namespace": metric.namespace,
            "StatisticType": "Statistic",
            "Statistic": STATISTIC_TEXT[spec.statistic],
            "Unit": None,
            "Dimensions": [],
            "Period": spec.period_secs,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison_operator,
            "Threshold": float(spec.threshold),
            "TreatMissingData": spec.treat_missing_data,
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    message[SAMPLES_KEY] = [dict(s) for s in change.samples]
    return message


def sample_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The who/what/where of one matching event, from an alert body built by ``alerts.build_alert``."""

    def part(name: str, keys: Sequence[str]) -> dict[str, Any]:
        section = body.get(name)
        section = section if isinstance(section, Mapping) else {}
        return {k: section.get(k) for k in keys}

    when = body.get("when")
    return {
        "event_id": body.get("event_id"),
        "event_time": when.get("event_time") if isinstance(when, Mapping) else None,
        "summary": body.get("summary"),
        "who": part("who", ("arn", "type", "user_name", "account_id", "mfa")),
        "what": part("what", ("event_source", "event_name", "error_code")),
        "where": part("where", ("account", "region", "source_ip", "user_agent")),
    }
