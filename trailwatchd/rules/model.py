"""Rule, metric and alarm definitions: frozen, validated once at load.

Validation mirrors what PutMetricFilter and PutMetricAlarm would accept, so a rule pack that loads here
also deploys to CloudWatch unchanged, plus the few extra restrictions a Prometheus mirror needs
(counters cannot decrease; label cardinality must stay bounded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from trailwatchd.patterns import CompiledPattern, Selector

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
# CloudWatch StandardUnit (PutMetricFilter MetricTransformation.unit).
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
STATISTICS = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")
OPERATORS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
# Fields whose values are (nearly) unique per event: as metric dimensions they would create one
# Prometheus series per event, and CloudWatch disables a filter after 1,000 dimension values an hour.
HIGH_CARDINALITY = frozenset(
    {
        "sourceIPAddress",
        "requestID",
        "eventID",
        "userAgent",
        "sharedEventID",
        "accessKeyId",
        "principalId",
        "eventTime",
        "requestParameters",
        "responseElements",
    }
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A CloudWatch metric transformation, mirrored as a Prometheus counter."""

    namespace: str
    name: str
    value: str
    """The literal number as text, or a ``$.`` selector."""
    value_number: float | None
    value_selector: Selector | None
    default_value: float | None = None
    unit: str = "None"
    dimensions: tuple[tuple[str, str], ...] = ()
    """(dimension name, selector text) pairs."""
    dimension_selectors: tuple[Selector, ...] = ()


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """A CloudWatch alarm on the rule's metric (evaluated by a later component)."""

    name: str
    threshold: float
    description: str = ""
    statistic: str = "Sum"
    period_secs: int = 300
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    comparison_operator: str = "GreaterThanOrEqualToThreshold"
    treat_missing_data: str = "missing"
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Example:
    """A golden event and whether the rule must match it."""

    match: bool
    event: Any
    note: str = ""
    origin: str = ""
    """Where the event came from: ``inline`` or ``file:<path>#<index>``."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection: a filter pattern plus what to do with its matches."""

    id: str
    pattern: CompiledPattern
    title: str = ""
    description: str = ""
    severity: str = "warning"
    sinks: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    enabled: bool = True
    metric: MetricSpec | None = None
    alarm: AlarmSpec | None = None
    examples: tuple[Example, ...] = ()
    source_file: Path | None = None
    event_names: frozenset[str] | None = field(default=None, compare=False)
    """Exact eventName values the pattern requires (the index key), or None when unconstrained."""

    @property
    def pattern_text(self) -> str:
        return self.pattern.text


def numeric(value: Any) -> Decimal | None:
    """A TOML number or a numeric string as Decimal; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value.strip()):
        return Decimal(value.strip())
    return None
