"""Rule, metric and alarm definitions: frozen, validated once at load.

Validation (in :mod:`trailwatchd.rules.reader`) mirrors what PutMetricFilter and PutMetricAlarm would
accept, so a rule pack that loads here also deploys to CloudWatch unchanged, plus the few extra
restrictions a Prometheus mirror needs (counters cannot decrease; label cardinality must stay bounded).
This module holds the types and the AWS vocabularies they draw from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from trailwatchd.patterns import CompiledPattern, Prop, Selector, required_values

RULE_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")  # use fullmatch: `$` also matches before "\n"
# CloudWatch StandardUnit (PutMetricFilter MetricTransformation.Unit, PutMetricAlarm Unit).
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
# Leaf fields whose values are (nearly) unique per event: as metric dimensions they would create one
# Prometheus series per event, and CloudWatch may disable a filter after 1,000 distinct dimension
# name/value pairs within an hour (PutMetricFilter API reference).
HIGH_CARDINALITY = frozenset(
    {
        "sourceIPAddress",
        "requestID",
        "eventID",
        "userAgent",
        "sharedEventID",
        "accessKeyId",
        "principalId",
        "sessionName",
        "roleSessionName",
        "eventTime",
        "creationDate",
    }
)
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A CloudWatch metric transformation, mirrored as a Prometheus counter."""

    namespace: str
    name: str
    value: str
    """The literal number as written, or the ``$.`` selector text."""
    value_number: float | None
    """The literal value; None when the value comes from a field."""
    value_selector: Selector | None
    default_value: float | None = None
    unit: str = "None"
    dimensions: tuple[tuple[str, str], ...] = ()
    """(dimension name, selector text) pairs, in file order."""
    dimension_selectors: tuple[Selector, ...] = ()
    """Parsed selectors, parallel to ``dimensions``."""


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """A CloudWatch alarm on the rule's metric (evaluated by the alarm state machine)."""

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
    """One detection: a compiled filter pattern plus what to do with its matches.

    ``event_names`` is the index key set (the exact ``$.eventName`` values the pattern requires, None
    when it does not pin them). Left as None it is derived from the pattern, so hand-built rules
    (benchmarks, tests) are indexed exactly like loaded ones.
    """

    id: str
    pattern: CompiledPattern
    title: str = ""
    """Defaults to the id."""
    description: str = ""
    severity: str = "warning"
    sinks: tuple[str, ...] = ()
    """Sink ids; empty means the daemon's ``[rules].default_sinks``."""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    metric: MetricSpec | None = None
    alarm: AlarmSpec | None = None
    examples: tuple[Example, ...] = ()
    source_file: Path | None = None
    event_names: frozenset[str] | None = field(default=None, compare=False)
    # -- alert hygiene (docs/alerts.md "Dedupe, throttling, exceptions") ---------------------------
    dedupe_secs: int | None = None
    """One alert per dedupe key within this many seconds; None means ``[state].dedupe_ttl_secs``."""
    dedupe_fields: tuple[str, ...] = ()
    """Selector texts whose values form the dedupe key instead of the event id (e.g. the principal)."""
    dedupe_selectors: tuple[Selector, ...] = field(default=(), compare=False)
    max_alerts_per_minute: int | None = None
    """Beyond this many alerts in a minute, matches are summarised in one roll-up alert per minute."""
    exceptions: tuple[CompiledPattern, ...] = ()
    """``except`` patterns: a match that also matches one of these raises no alert (metric unchanged)."""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.id)
        if self.event_names is None:
            names = required_values(self.pattern.ast, (Prop("eventName"),))
            object.__setattr__(self, "event_names", names)

    @property
    def compiled(self) -> CompiledPattern:
        """The compiled pattern (same object as ``pattern``; the name the rule-file docs use)."""
        return self.pattern

    @property
    def pattern_text(self) -> str:
        """The pattern exactly as written in the rule file."""
        return self.pattern.text


def numeric(value: Any) -> Decimal | None:
    """A finite TOML number or numeric string as Decimal; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        number = Decimal(value.strip())
    else:
        return None
    return number if number.is_finite() else None
