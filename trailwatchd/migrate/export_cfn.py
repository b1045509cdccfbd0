"""Rule packs -> a CloudFormation template (one MetricFilter per rule with a metric, its alarm).

The template deploys the same detections to CloudWatch, and ``trailwatchd import cloudformation`` reads it
back to the same rules: what CloudFormation has no property for (rule id, title, description, severity,
sinks, tags, enabled) travels in each filter's ``Metadata.trailwatchd``, and the sink id behind each
``!Ref <Sink>TopicArn`` parameter in the template's ``Metadata.trailwatchd.sinks``. Golden examples are
not exported (CloudFormation has nowhere to put events).
"""

from __future__ import annotations

import re
from typing import Any

from trailwatchd.migrate.importer import METADATA_KEY
from trailwatchd.rules.model import Rule

LOG_GROUP_PARAMETER = "CloudTrailLogGroupName"


def _logical_id(text: str, suffix: str, taken: set[str]) -> str:
    """CloudFormation logical ids are alphanumeric: ``cis-3.1-foo`` -> ``Cis31FooMetricFilter``."""
    base = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)
    base = (base or "Rule")[:200] + suffix
    lid, n = base, 2
    while lid in taken:
        lid, n = f"{base}{n}", n + 1
    taken.add(lid)
    return lid


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def export_template(rules: list[Rule], *, description: str = "") -> dict[str, Any]:
    """The template as plain data (write it with json.dumps; JSON is also valid YAML for CloudFormation)."""
    taken: set[str] = set()
    resources: dict[str, Any] = {}
    sink_params: dict[str, str] = {}
    parameters: dict[str, Any] = {
        LOG_GROUP_PARAMETER: {"Type": "String", "Description": "Log group CloudTrail delivers to"}
    }

    def action(target: str) -> Any:
        if target.startswith("arn:"):
            return target
        for param, sink in sink_params.items():
            if sink == target:
                return {"Ref": param}
        param = _logical_id(target, "TopicArn", taken)
        sink_params[param] = target
        parameters[param] = {"Type": "String", "Description": f"SNS topic ARN of trailwatchd sink {target!r}"}
        return {"Ref": param}

    for rule in rules:
        if rule.metric is None:
            continue  # a rule without a metric has no CloudWatch counterpart
        m = rule.metric
        transform: dict[str, Any] = {
            "MetricName": m.name,
            "MetricNamespace": m.namespace,
            "MetricValue": m.value,
        }
        if m.default_value is not None:
            transform["DefaultValue"] = _number(m.default_value)
        if m.unit != "None":
            transform["Unit"] = m.unit
        if m.dimensions:
            transform["Dimensions"] = [{"Key": k, "Value": v} for k, v in m.dimensions]
        meta: dict[str, Any] = {
            "id": rule.id,
            "title": rule.title,
            "description": rule.description,
            "severity": rule.severity,
            "sinks": list(rule.sinks),
            "tags": list(rule.tags),
            "enabled": rule.enabled,
        }
        filter_id = _logical_id(rule.id, "MetricFilter", taken)
        resources[filter_id] = {
            "Type": "AWS::Logs::MetricFilter",
            "Metadata": {METADATA_KEY: meta},
            "Properties": {
                "FilterName": rule.id,
                "FilterPattern": rule.pattern.text,
                "LogGroupName": {"Ref": LOG_GROUP_PARAMETER},
                "MetricTransformations": [transform],
            },
        }
        if rule.alarm is None:
            continue
        a = rule.alarm
        props: dict[str, Any] = {
            "ActionsEnabled": True,
            "AlarmName": a.name,
            "AlarmDescription": a.description,
            "MetricName": m.name,
            "Namespace": m.namespace,
            "Statistic": a.statistic,
            "Period": a.period_secs,
            "EvaluationPeriods": a.evaluation_periods,
            "DatapointsToAlarm": a.datapoints_to_alarm,
            "Threshold": _number(a.threshold),
            "ComparisonOperator": a.comparison_operator,
            "TreatMissingData": a.treat_missing_data,
        }
        if not a.description:
            del props["AlarmDescription"]
        for key, targets in (
            ("AlarmActions", a.alarm_actions),
            ("OKActions", a.ok_actions),
            ("InsufficientDataActions", a.insufficient_data_actions),
        ):
            if targets:
                props[key] = [action(t) for t in targets]
        resources[_logical_id(rule.id, "Alarm", taken)] = {
            "Type": "AWS::CloudWatch::Alarm",
            "DependsOn": filter_id,  # the metric exists once the filter does
            "Properties": props,
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description or "CloudWatch metric filters and alarms exported by trailwatchd",
        "Metadata": {METADATA_KEY: {"sinks": sink_params}},
        "Parameters": parameters,
        "Resources": resources,
    }
