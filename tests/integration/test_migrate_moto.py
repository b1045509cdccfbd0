"""`import metric-filters` on what the real APIs return: the shipped CIS pack is deployed to moto (server
mode, over HTTP) with PutMetricFilter / PutMetricAlarm, read back with DescribeMetricFilters / DescribeAlarms,
printed as the AWS CLI prints it (JSON, ISO timestamps), and imported: every pattern, metric and alarm setting
must come back, the sink id replaced by the topic ARN it was deployed with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from tests.migrate.conftest import load_drafts
from tests.rules.test_shipped_packs import rules_of
from trailwatchd.migrate.describe import drafts_from_describe

pytestmark = pytest.mark.integration


async def test_cis_pack_deployed_to_moto_imports_back(moto_endpoint: str, tmp_path: Path) -> None:
    rules = rules_of("cis-aws-foundations-1.2")
    session = get_session()
    kwargs: dict[str, Any] = {"region_name": "us-east-1", "endpoint_url": moto_endpoint}
    async with (
        session.create_client("logs", **kwargs) as logs,
        session.create_client("cloudwatch", **kwargs) as cw,
        session.create_client("sns", **kwargs) as sns,
    ):
        topic = (await sns.create_topic(Name="security"))["TopicArn"]
        await logs.create_log_group(logGroupName="CloudTrail/logs")
        for rule in rules:
            assert rule.metric is not None and rule.alarm is not None
            m, a = rule.metric, rule.alarm
            await logs.put_metric_filter(
                logGroupName="CloudTrail/logs",
                filterName=rule.id,
                filterPattern=rule.pattern.text,
                metricTransformations=[
                    {"metricName": m.name, "metricNamespace": m.namespace, "metricValue": m.value}
                ],
            )
            await cw.put_metric_alarm(
                AlarmName=a.name,
                AlarmDescription=a.description,
                ActionsEnabled=True,
                AlarmActions=[topic for _ in a.alarm_actions],
                OKActions=[topic for _ in a.ok_actions],
                MetricName=m.name,
                Namespace=m.namespace,
                Statistic=a.statistic,
                Period=a.period_secs,
                EvaluationPeriods=a.evaluation_periods,
                DatapointsToAlarm=a.datapoints_to_alarm,
                Threshold=a.threshold,
                ComparisonOperator=a.comparison_operator,
                TreatMissingData=a.treat_missing_data,
            )
        filters = await logs.describe_metric_filters(logGroupName="CloudTrail/logs")
        alarms = await cw.describe_alarms()
    for name, data in (("filters.json", filters), ("alarms.json", alarms)):
        data.pop("ResponseMetadata", None)
        (tmp_path / name).write_text(json.dumps(data, default=str), encoding="utf-8")

    drafts = drafts_from_describe(tmp_path / "filters.json", tmp_path / "alarms.json")
    imported = {r.metric.name: r for r in load_drafts(drafts, tmp_path / "pack") if r.metric is not None}
    assert len(imported) == len(rules) == 14
    for rule in rules:
        assert rule.metric is not None and rule.alarm is not None
        got = imported[rule.metric.name]
        assert got.pattern.text == rule.pattern.text
        assert got.metric == rule.metric
        want = dataclasses.replace(
            rule.alarm,
            alarm_actions=(topic,) * len(rule.alarm.alarm_actions),
            ok_actions=(topic,) * len(rule.alarm.ok_actions),
        )
        assert got.alarm == want
