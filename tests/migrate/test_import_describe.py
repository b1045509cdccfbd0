"""`import metric-filters`: the JSON of describe-metric-filters / describe-alarms, botocore shapes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.migrate.conftest import load_drafts
from trailwatchd.cli import main
from trailwatchd.errors import ConfigError
from trailwatchd.migrate.describe import drafts_from_describe

FIXTURES = Path(__file__).parent / "fixtures"
FILTERS = FIXTURES / "describe-metric-filters.json"
ALARMS = FIXTURES / "describe-alarms.json"


def _conforms(shape: Any, value: Any, path: str) -> None:
    """Fail unless ``value`` fits botocore's output shape (member names, nesting, scalar types)."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: not in the {shape.name} shape: {unknown}"
        for key, item in value.items():
            _conforms(shape.members[key], item, f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            _conforms(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), path
        for key, item in value.items():
            _conforms(shape.key, key, f"{path} key")
            _conforms(shape.value, item, f"{path}.{key}")
    elif kind == "string":
        assert isinstance(value, str), path
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif kind in ("double", "float"):
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    elif kind == "boolean":
        assert isinstance(value, bool), path
    elif kind == "timestamp":  # the CLI prints timestamps as ISO 8601 text
        assert isinstance(value, str), path


@pytest.mark.parametrize(
    ("service", "operation", "fixture"),
    [("logs", "DescribeMetricFilters", FILTERS), ("cloudwatch", "DescribeAlarms", ALARMS)],
)
def test_fixtures_match_botocores_output_shapes(service: str, operation: str, fixture: Path) -> None:
    model = botocore.session.get_session().get_service_model(service)
    _conforms(model.operation_model(operation).output_shape, json.loads(fixture.read_text()), operation)


def test_conformance_check_can_fail() -> None:
    model = botocore.session.get_session().get_service_model("logs")
    with pytest.raises(AssertionError, match="not in the"):
        _conforms(model.operation_model("DescribeMetricFilters").output_shape, {"filters": []}, "x")


def test_describe_output_imports(tmp_path: Path) -> None:
    drafts = drafts_from_describe(FILTERS, ALARMS)
    rules = {r.id: r for r in load_drafts(drafts, tmp_path / "pack")}
    assert set(rules) == {"unauthorized-api-calls", "root-account-usage", "iam-calls"}
    unauthorized = rules["unauthorized-api-calls"]
    assert (
        unauthorized.pattern.text
        == '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}'
    )
    assert unauthorized.alarm is not None
    a = unauthorized.alarm
    assert (
        a.name,
        a.description,
        a.statistic,
        a.period_secs,
        a.evaluation_periods,
        a.datapoints_to_alarm,
    ) == (
        "cis-unauthorized-api-calls",
        "Unauthorized API calls",
        "Sum",
        300,
        3,
        2,
    )
    assert (a.threshold, a.comparison_operator, a.treat_missing_data) == (
        5.0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    assert a.alarm_actions == a.ok_actions == ("arn:aws:sns:eu-west-1:111122223333:security",)
    root = rules["root-account-usage"]
    assert root.metric is not None and root.alarm is not None
    assert (root.metric.default_value, root.metric.unit, root.alarm.datapoints_to_alarm) == (0.0, "Count", 1)
    assert root.alarm.treat_missing_data == "breaching"
    iam = rules["iam-calls"]
    assert iam.metric is not None and iam.alarm is None
    assert iam.metric.dimensions == (("EventName", "$.eventName"),)
    assert any("cpu-math: not imported: uses Metrics" in n for n in drafts.notes)
    assert any("/aws/cloudtrail/audit" in n for n in drafts.notes)


def test_filters_without_alarms(tmp_path: Path) -> None:
    rules = load_drafts(drafts_from_describe(FILTERS), tmp_path / "pack")
    assert len(rules) == 3
    assert all(r.alarm is None for r in rules)


def test_wrong_json_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "alarms.json"
    wrong.write_text(json.dumps({"MetricAlarms": []}), encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'metricFilters' list"):
        drafts_from_describe(wrong)


def test_cli_import_metric_filters(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    args = ["import", "metric-filters", str(FILTERS), "--alarms", str(ALARMS), "-o", str(tmp_path / "p")]
    assert main(args, out=out, err=err) == 0, err.getvalue()
    assert "3 rules, 2 alarms" in out.getvalue()
