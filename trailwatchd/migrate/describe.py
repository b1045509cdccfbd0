"""``aws logs describe-metric-filters`` / ``aws cloudwatch describe-alarms`` JSON -> rule drafts.

The CLI prints the API's output shapes (botocore's ``logs`` DescribeMetricFiltersResponse and
``cloudwatch`` DescribeAlarmsOutput): camelCase for Logs, PascalCase for CloudWatch. Both are mapped onto
CloudFormation's property names so :func:`~trailwatchd.migrate.importer.build_drafts` does the rest.
Filter names are unique per log group only, so a name seen in two log groups is imported twice and noted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trailwatchd.errors import ConfigError
from trailwatchd.migrate.importer import Drafts, Resolver, build_drafts

_TRANSFORM = (
    ("metricName", "MetricName"),
    ("metricNamespace", "MetricNamespace"),
    ("metricValue", "MetricValue"),
    ("defaultValue", "DefaultValue"),
    ("unit", "Unit"),
)


def _load(path: Path, key: str, command: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the JSON of `{command}`: {exc}") from exc
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{path}: not the output of `{command}`: no {key!r} list")
    return items


def filter_properties(item: dict[str, Any]) -> dict[str, Any]:
    """One ``metricFilters`` entry as ``AWS::Logs::MetricFilter`` Properties."""
    transforms = []
    for t in item.get("metricTransformations") or []:
        props = {cfn: t[api] for api, cfn in _TRANSFORM if api in t}
        if t.get("dimensions"):  # API: map name -> "$.field"; CloudFormation: [{Key, Value}]
            props["Dimensions"] = [{"Key": k, "Value": v} for k, v in t["dimensions"].items()]
        transforms.append(props)
    return {
        "FilterName": item.get("filterName"),
        "FilterPattern": item.get("filterPattern", ""),
        "LogGroupName": item.get("logGroupName"),
        "MetricTransformations": transforms,
    }


def drafts_from_describe(
    filters_path: Path, alarms_path: Path | None = None, *, sinks: dict[str, str] | None = None
) -> Drafts:
    """Drafts from the two commands' JSON (alarms optional)."""
    items = _load(filters_path, "metricFilters", "aws logs describe-metric-filters")
    if not items:
        raise ConfigError(f"{filters_path}: describe-metric-filters returned no metric filter")
    filters = []
    seen: dict[str, int] = {}
    for item in items:
        name = str(item.get("filterName") or "filter")
        seen[name] = seen.get(name, 0) + 1
        filters.append(
            (name if seen[name] == 1 else f"{name} ({item.get('logGroupName')})", filter_properties(item))
        )
    alarms: list[tuple[str, dict[str, Any]]] = []
    if alarms_path is not None:
        for alarm in _load(alarms_path, "MetricAlarms", "aws cloudwatch describe-alarms"):
            alarms.append((str(alarm.get("AlarmName")), alarm))
    drafts = build_drafts(filters, alarms, Resolver(sinks=dict(sinks or {})))
    groups = sorted({str(i.get("logGroupName")) for i in items})
    drafts.notes.append(
        "log groups of the filters (not kept: trailwatchd reads CloudTrail itself): " + ", ".join(groups)
    )
    return drafts
