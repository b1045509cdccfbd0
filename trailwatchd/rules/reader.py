"""Validate one ``[[rule]]`` table (with its metric, alarm and examples) into a :class:`Rule`.

Every field is checked even when an earlier one is broken (a bad pattern does not hide a bad alarm),
and every problem is recorded with its key path; a rule with any problem yields None. Limits are
PutMetricFilter's and PutMetricAlarm's (cited where they appear), so whatever loads here also deploys.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.metrics import snake_case
from trailwatchd.model import SEVERITIES
from trailwatchd.patterns import Prop, Selector, compile_pattern, parse_selector
from trailwatchd.rules.examples import parse_examples
from trailwatchd.rules.model import (
    HIGH_CARDINALITY,
    MISSING_DATA,
    OPERATORS,
    RULE_ID_RE,
    STATISTICS,
    UNITS,
    AlarmSpec,
    MetricSpec,
    Rule,
    numeric,
)
from trailwatchd.rules.problems import Problem

RULE_KEYS = frozenset(
    [
        "id",
        "title",
        "description",
        "severity",
        "pattern",
        "sinks",
        "tags",
        "enabled",
        "metric",
        "alarm",
        "examples",
    ]
)
# Alert hygiene keys (dedupe, throttling, exceptions): read by RuleReader.hygiene.
HYGIENE_KEYS = frozenset({"dedupe_secs", "dedupe_fields", "max_alerts_per_minute", "except"})
MAX_DEDUPE_SECS = 30 * 86400
MAX_DEDUPE_FIELDS = 5
MAX_EXCEPTIONS = 50
METRIC_KEYS = frozenset({"namespace", "name", "value", "default_value", "unit", "dimensions"})
ALARM_KEYS = frozenset(
    [
        "name",
        "description",
        "statistic",
        "period_secs",
        "evaluation_periods",
        "datapoints_to_alarm",
        "threshold",
        "comparison_operator",
        "treat_missing_data",
        "alarm_actions",
        "ok_actions",
        "insufficient_data_actions",
    ]
)
# AlarmActions/OKActions/InsufficientDataActions: "Maximum number of 5 items" (PutMetricAlarm).
MAX_ACTIONS = 5
SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RuleReader:
    """Reads the ``[[rule]]`` tables of one file, appending problems to a shared list."""

    def __init__(self, file: Path, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.rule_id: str | None = None
        self.failed = False

    def problem(self, key: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.failed = True
        self.problems.append(Problem(str(self.file), self.rule_id, key, message, line, column))

    def unknown(self, table: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for key in sorted(set(table) - allowed, key=str):
            self.problem(f"{prefix}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    # -- typed getters: report and fall back to the default -------------------------------------------
    def string(self, table: dict[str, Any], key: str, prefix: str, default: str, limit: int = 0) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            self.problem(f"{prefix}.{key}", f"must be a string, not {type(value).__name__}")
            return default
        if limit and len(value) > limit:
            self.problem(f"{prefix}.{key}", f"at most {limit} characters (got {len(value)})")
        return value

    def strings(self, table: dict[str, Any], key: str, prefix: str, limit: int = 0) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(f"{prefix}.{key}", "must be a list of non-empty strings")
            return ()
        if limit and len(value) > limit:
            self.problem(f"{prefix}.{key}", f"at most {limit} entries (got {len(value)})")
        return tuple(value)

    def integer(self, table: dict[str, Any], key: str, prefix: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(f"{prefix}.{key}", "must be an integer >= 1")
            return default
        return value

    def choice(
        self, table: dict[str, Any], key: str, prefix: str, allowed: tuple[str, ...], default: str
    ) -> str:
        value = table.get(key, default)
        if value not in allowed:
            self.problem(f"{prefix}.{key}", f"must be one of {', '.join(allowed)}")
            return default
        return str(value)

    # -- one rule ---------------------------------------------------------------------------------------
    def rule(self, table: Any, index: int) -> Rule | None:
        """The validated rule, or None when anything in it is wrong (all of it reported)."""
        prefix = f"rule[{index}]"
        self.failed = False
        rid = table.get("id") if isinstance(table, dict) else None
        self.rule_id = rid if isinstance(rid, str) else None
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table ([[rule]])")
            return None
        if not isinstance(rid, str) or not RULE_ID_RE.fullmatch(rid):
            self.problem(
                f"{prefix}.id",
                "required: 1-128 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            )
            rid = ""
        self.unknown(table, RULE_KEYS | HYGIENE_KEYS, prefix)
        text = table.get("pattern")
        pattern = None
        if not isinstance(text, str):
            self.problem(f"{prefix}.pattern", "required: a CloudWatch Logs filter pattern string")
        else:
            try:
                pattern = compile_pattern(text)
            except PatternSyntaxError as err:
                self.problem(f"{prefix}.pattern", str(err), err.line, err.column)
        severity = self.choice(table, "severity", prefix, SEVERITIES, "warning")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem(f"{prefix}.enabled", "must be true or false")
            enabled = True
        title = self.string(table, "title", prefix, rid)
        description = self.string(table, "description", prefix, "")
        sinks = self.strings(table, "sinks", prefix)
        tags = self.strings(table, "tags", prefix)
        metric = self.metric(table["metric"], f"{prefix}.metric") if "metric" in table else None
        alarm = None
        if "alarm" in table:
            if "metric" not in table:
                self.problem(
                    f"{prefix}.alarm", "an alarm needs [rule.metric]: alarms evaluate the rule's metric"
                )
            alarm = self.alarm(table["alarm"], f"{prefix}.alarm", rid)
        examples = parse_examples(table.get("examples", []), f"{prefix}.examples", self.file, self.problem)
        hygiene = self.hygiene(table, prefix)
        if self.failed or pattern is None:
            return None
        return Rule(
            id=rid,
            pattern=pattern,
            title=title or rid,
            description=description,
            severity=severity,
            sinks=sinks,
            tags=tags,
            enabled=enabled,
            metric=metric,
            alarm=alarm,
            examples=examples,
            source_file=self.file,
            **hygiene,
        )

    def hygiene(self, table: dict[str, Any], prefix: str) -> dict[str, Any]:
        """``dedupe_secs``, ``dedupe_fields``, ``max_alerts_per_minute`` and ``except`` as Rule kwargs."""
        out: dict[str, Any] = {}
        if "dedupe_secs" in table:
            secs = self.integer(table, "dedupe_secs", prefix, 0)
            if secs > MAX_DEDUPE_SECS:
                self.problem(f"{prefix}.dedupe_secs", f"at most {MAX_DEDUPE_SECS} (30 days)")
            out["dedupe_secs"] = secs or None
        if "dedupe_fields" in table:
            texts = self.strings(table, "dedupe_fields", prefix, limit=MAX_DEDUPE_FIELDS)
            selectors = []
            for i, text in enumerate(texts):
                key = f"{prefix}.dedupe_fields[{i}]"
                if not text.strip().startswith("$"):
                    self.problem(key, 'must be a field reference such as "$.userIdentity.arn"')
                    continue
                try:
                    selectors.append(parse_selector(text.strip()))
                except PatternSyntaxError as err:
                    self.problem(key, str(err), err.line, err.column)
            if texts and "dedupe_secs" not in table:
                self.problem(
                    f"{prefix}.dedupe_fields",
                    "needs dedupe_secs: a per-field key without a window would silence that principal "
                    "for the whole dedupe TTL",
                )
            out["dedupe_fields"] = tuple(t.strip() for t in texts)
            out["dedupe_selectors"] = tuple(selectors)
        if "max_alerts_per_minute" in table:
            out["max_alerts_per_minute"] = self.integer(table, "max_alerts_per_minute", prefix, 1)
        if "except" in table:
            compiled = []
            for i, text in enumerate(self.strings(table, "except", prefix, limit=MAX_EXCEPTIONS)):
                try:
                    compiled.append(compile_pattern(text))
                except PatternSyntaxError as err:
                    self.problem(f"{prefix}.except[{i}]", str(err), err.line, err.column)
            out["exceptions"] = tuple(compiled)
        return out

    def metric(self, table: Any, prefix: str) -> MetricSpec | None:
        """``[rule.metric]``: PutMetricFilter's MetricTransformation plus the Prometheus restrictions."""
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table")
            return None
        self.unknown(table, METRIC_KEYS, prefix)
        names = {}
        for key in ("namespace", "name"):
            value = table.get(key)
            # metricNamespace / metricName: "Maximum length of 255", pattern [^:*$]* (PutMetricFilter).
            if (
                not isinstance(value, str)
                or not value.strip()
                or len(value) > 255
                or any(c in value for c in ":*$")
            ):
                self.problem(
                    f"{prefix}.{key}", "required: 1-255 characters without ':', '*' or '$' (PutMetricFilter)"
                )
            names[key] = str(value)
        value_text, number, selector = self._metric_value(table.get("value"), f"{prefix}.value")
        default = table.get("default_value")
        if default is not None:
            dnum = None if isinstance(default, str) else numeric(default)
            if dnum is None:
                self.problem(f"{prefix}.default_value", "must be a number")
            elif dnum != 0:
                self.problem(
                    f"{prefix}.default_value",
                    "only 0 is supported for now: AWS documents the default both per non-matching event and "
                    "per minute without a match, so any other value would count differently from CloudWatch; "
                    "0 is the same either way (a no-op for a counter)",
                )
        unit = table.get("unit", "None")
        if unit not in UNITS:
            self.problem(
                f"{prefix}.unit", "must be a CloudWatch StandardUnit such as Count, Bytes, Seconds or None"
            )
        dims = self._dimensions(table.get("dimensions", {}), f"{prefix}.dimensions")
        if dims and default is not None:
            self.problem(
                f"{prefix}.default_value",
                "default_value and dimensions are mutually exclusive (PutMetricFilter: a metric with "
                "dimensions cannot have a default value)",
            )
        return MetricSpec(
            namespace=names["namespace"],
            name=names["name"],
            value=value_text,
            value_number=number,
            value_selector=selector,
            default_value=float(default)
            if isinstance(default, int | float) and not isinstance(default, bool)
            else None,
            unit=str(unit),
            dimensions=tuple((name, text) for name, text, _ in dims),
            dimension_selectors=tuple(sel for _, _, sel in dims),
        )

    def _metric_value(self, raw: Any, key: str) -> tuple[str, float | None, Selector | None]:
        if isinstance(raw, str) and raw.strip().startswith("$"):
            text = raw.strip()
            if len(text) > 100:  # metricValue: "Maximum length of 100" (PutMetricFilter)
                self.problem(key, f"at most 100 characters (got {len(text)})")
            try:
                return text, None, parse_selector(text)
            except PatternSyntaxError as err:
                self.problem(key, str(err), err.line, err.column)
                return text, None, None
        num = numeric(raw)
        if num is None:
            self.problem(key, 'required: a number such as "1" or a field such as "$.bytes"')
        elif num < 0:
            self.problem(
                key, "must not be negative: the Prometheus mirror is a counter, and counters never decrease"
            )
        else:
            return str(raw).strip(), float(num), None
        return "", None, None

    def _dimensions(self, raw: Any, prefix: str) -> list[tuple[str, str, Selector]]:
        if not isinstance(raw, dict):
            self.problem(prefix, 'must be a table of Name = "$.field"')
            return []
        if len(raw) > 3:
            self.problem(prefix, f"at most 3 dimensions (PutMetricFilter), got {len(raw)}")
        out: list[tuple[str, str, Selector]] = []
        labels: dict[str, str] = {}
        for name, value in raw.items():
            key = f"{prefix}.{name}"
            # Dimension names: ASCII, at least one non-whitespace character, not starting with ':',
            # at most 255 characters (CloudFormation MetricFilter Dimension, PutMetricFilter).
            if not name.strip() or not name.isascii() or name.startswith(":") or len(name) > 255:
                self.problem(
                    key, "dimension names are 1-255 ASCII characters, not blank, not starting with ':'"
                )
                continue
            label = snake_case(name)
            if not _LABEL.fullmatch(label):
                self.problem(key, f"becomes Prometheus label {label!r}, which must start with a letter")
            elif label in labels:
                self.problem(key, f"becomes Prometheus label {label!r}, like dimension {labels[label]!r}")
            labels.setdefault(label, name)
            if not isinstance(value, str) or not value.strip().startswith("$"):
                self.problem(key, 'must be a field reference such as "$.eventName"')
                continue
            if len(value) > 255:
                self.problem(key, f"at most 255 characters (got {len(value)})")
            try:
                sel = parse_selector(value.strip())
            except PatternSyntaxError as err:
                self.problem(key, str(err), err.line, err.column)
                continue
            # The leaf decides: $.requestParameters.bucketName is fine, $.userIdentity.accessKeyId is not.
            hot = sel[-1].name if isinstance(sel[-1], Prop) else None
            if hot in HIGH_CARDINALITY:
                self.problem(
                    key,
                    f"{hot} is unique per event or nearly so: one label value per event would exhaust "
                    "Prometheus, and CloudWatch may disable a filter after 1,000 dimension values an hour",
                )
                continue
            out.append((name, value.strip(), sel))
        return out

    def alarm(self, table: Any, prefix: str, rule_id: str) -> AlarmSpec | None:
        """``[rule.alarm]``: PutMetricAlarm's parameters for an alarm on the rule's own metric."""
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table")
            return None
        self.unknown(table, ALARM_KEYS, prefix)
        threshold = table.get("threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            self.problem(f"{prefix}.threshold", "required: a number")
            threshold = 0.0
        period = self.integer(table, "period_secs", prefix, 300)
        if period not in (10, 30) and period % 60:
            self.problem(f"{prefix}.period_secs", "must be 10, 30 or a multiple of 60 (PutMetricAlarm)")
        periods = self.integer(table, "evaluation_periods", prefix, 1)
        datapoints = self.integer(table, "datapoints_to_alarm", prefix, periods)
        if datapoints > periods:
            self.problem(f"{prefix}.datapoints_to_alarm", f"must be <= evaluation_periods ({periods})")
        if periods * period > 86400:
            self.problem(
                f"{prefix}.evaluation_periods",
                f"evaluation_periods x period_secs must be <= 86400 (one day, PutMetricAlarm), "
                f"got {periods} x {period} = {periods * period}",
            )
        actions = {}
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            actions[key] = self.strings(table, key, prefix, limit=MAX_ACTIONS)
            for i, action in enumerate(actions[key]):
                if action.startswith("arn:") and not SNS_ARN.fullmatch(action):
                    self.problem(
                        f"{prefix}.{key}[{i}]", "ARN actions must be SNS topic ARNs (arn:aws:sns:...)"
                    )
        return AlarmSpec(
            # AlarmName: 1-255 characters; AlarmDescription: at most 1024 (PutMetricAlarm).
            name=self.string(table, "name", prefix, rule_id, limit=255) or rule_id,
            description=self.string(table, "description", prefix, "", limit=1024),
            threshold=float(threshold),
            statistic=self.choice(table, "statistic", prefix, STATISTICS, "Sum"),
            period_secs=period,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints,
            comparison_operator=self.choice(table, "comparison_operator", prefix, OPERATORS, OPERATORS[0]),
            treat_missing_data=self.choice(table, "treat_missing_data", prefix, MISSING_DATA, "missing"),
            alarm_actions=actions["alarm_actions"],
            ok_actions=actions["ok_actions"],
            insufficient_data_actions=actions["insufficient_data_actions"],
        )
