"""Rule alarms -> Prometheus alerting rules over the mirror counters, plus ``promtool test rules`` cases.

For teams that evaluate alarms in Prometheus (or run several trailwatchd replicas, each seeing part of the
events, whose counters Prometheus sums). Each CloudWatch alarm becomes one alert evaluated every minute
(CloudWatch's cadence):

- datapoint per period ``P``: ``D = sum(increase(<counter>_total[P]))`` summed over all replicas and
  dimension labels; the CloudWatch statistic is derived from ``D`` and the metric's constant value ``v``
  (Sum = D, SampleCount = D/v, Maximum = Minimum = Average = v whenever D > 0); a metric whose value comes
  from a field only supports Sum (a counter keeps no per-event values), other statistics are skipped with a
  reason;
- "missing" is a period without a matching event (D = 0), as in CloudWatch when the filter has no default
  value; ``breaching`` counts such periods as breaching, the other three modes as not breaching;
- M of N: ``sum_over_time(breach[N*P:P]) >= M``: a subquery with step P yields the last N
  period-aligned datapoints, each 1 when breaching.

Where this differs from CloudWatch is documented in docs/migration.md.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trailwatchd.metrics import mirror_metric_name
from trailwatchd.rules.model import Rule

GROUP_INTERVAL = "1m"
SAMPLE_SECS = 15
"""Scrape interval assumed by the generated tests (increase() needs two samples in a period)."""
_OPS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": (">=", operator.ge),
    "GreaterThanThreshold": (">", operator.gt),
    "LessThanThreshold": ("<", operator.lt),
    "LessThanOrEqualToThreshold": ("<=", operator.le),
}


@dataclass(frozen=True, slots=True)
class Exported:
    """One alarm as an alerting rule, or the reason it could not be expressed."""

    rule: Rule
    alert: dict[str, Any] | None
    skipped: str = ""


def alert_name(alarm_name: str) -> str:
    """Prometheus 2.x requires alert names to be metric names: other characters become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_:]", "_", alarm_name)
    return name if re.match(r"[A-Za-z_:]", name) else f"_{name}"


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def _statistic(rule: Rule, datapoint: str) -> tuple[str | None, str]:
    """PromQL for the period's statistic, or None and why not."""
    assert rule.metric is not None and rule.alarm is not None
    stat, v = rule.alarm.statistic, rule.metric.value_number
    if v is None:
        if stat == "Sum":
            return datapoint, ""
        return None, f"statistic {stat} of a field-valued metric ({rule.metric.value}) needs per-event values"
    if rule.metric.default_value is not None and stat not in ("Sum", "Maximum"):
        return None, f"statistic {stat} with default_value counts unmatched events, which no counter records"
    if stat == "Sum":
        return datapoint, ""
    if stat == "SampleCount":
        if v == 0:
            return None, "SampleCount of a metric whose value is 0 cannot be recovered from a counter"
        return f"({datapoint} / {_fmt(v)})", ""
    return f"(({datapoint} > bool 0) * {_fmt(v)})", ""


def export_alert(rule: Rule) -> Exported:
    """The alerting rule for ``rule.alarm`` (rules without an alarm are not exported)."""
    assert rule.metric is not None and rule.alarm is not None
    a = rule.alarm
    counter = mirror_metric_name(rule.metric.namespace, rule.metric.name) + "_total"
    datapoint = f"(sum(increase({counter}[{a.period_secs}s])) or vector(0))"
    stat, why = _statistic(rule, datapoint)
    if stat is None:
        return Exported(rule, None, why)
    op = _OPS[a.comparison_operator][0]
    # A default value makes every period with log events a datapoint; otherwise only matches do.
    present = "1" if rule.metric.default_value is not None else f"({datapoint} > bool 0)"
    breach = f"({present} * ({stat} {op} bool {_fmt(a.threshold)}))"
    if a.treat_missing_data == "breaching":
        breach = f"({breach} + (1 - {present}))"
    window = a.evaluation_periods * a.period_secs
    expr = f"sum_over_time({breach}[{window}s:{a.period_secs}s]) >= {a.datapoints_to_alarm}"
    labels = {
        "severity": rule.severity,
        "rule": rule.id,
        "alarm_name": a.name,
    }
    if a.alarm_actions:
        labels["alarm_actions"] = ",".join(a.alarm_actions)
    if a.ok_actions:
        labels["ok_actions"] = ",".join(a.ok_actions)
    annotations = {
        "summary": f'ALARM: "{a.name}"',
        "description": a.description or rule.title,
        "cloudwatch": (
            f"{a.statistic} of {rule.metric.namespace}/{rule.metric.name} {op} {_fmt(a.threshold)} "
            f"for {a.datapoints_to_alarm} of {a.evaluation_periods} periods of {a.period_secs}s, "
            f"missing data {a.treat_missing_data}"
        ),
    }
    alert = {"alert": alert_name(a.name), "expr": expr, "labels": labels, "annotations": annotations}
    return Exported(rule, alert)


def export_rules(rules: list[Rule]) -> tuple[dict[str, Any], list[Exported]]:
    """The rule file (one group, evaluated every minute) and each alarm's outcome."""
    done = [export_alert(r) for r in rules if r.metric is not None and r.alarm is not None]
    group = {
        "name": "trailwatchd-alarms",
        "interval": GROUP_INTERVAL,
        "rules": [e.alert for e in done if e.alert is not None],
    }
    return {"groups": [group]}, done


# -- promtool test cases ------------------------------------------------------------------------------------
def _stat_value(rule: Rule, events_per_sample: int) -> float:
    """The CloudWatch statistic of one period when every sample adds ``events_per_sample`` events."""
    assert rule.metric is not None and rule.alarm is not None
    v = rule.metric.value_number if rule.metric.value_number is not None else 1.0
    count = events_per_sample * rule.alarm.period_secs / SAMPLE_SECS
    return {"Sum": count * v, "SampleCount": count}.get(rule.alarm.statistic, v)


def _events_where(rule: Rule, breaching: bool) -> int | None:
    """Events per sample giving a datapoint that (does not) breach, with a 25% margin for extrapolation."""
    assert rule.alarm is not None
    check = _OPS[rule.alarm.comparison_operator][1]
    for e in sorted({1, 2, 3, 5, 10, 100, 1000, math.ceil(abs(rule.alarm.threshold)) + 1}):
        value = _stat_value(rule, e)
        # Sum and SampleCount come from increase(), which extrapolates: keep clear of the threshold.
        margin = 0.25 if rule.alarm.statistic in ("Sum", "SampleCount") else 0.0
        if all(check(value * f, rule.alarm.threshold) == breaching for f in (1 - margin, 1, 1 + margin)):
            return e
    return None


def _series(rule: Rule, quiet: int, active: int, per_sample: int, tail: int) -> str:
    """``quiet`` flat samples, ``active`` samples each adding ``per_sample`` x value, then ``tail`` flat."""
    assert rule.metric is not None
    v = rule.metric.value_number if rule.metric.value_number is not None else 1.0
    step = per_sample * v
    parts = [f"0x{quiet}"]
    if active:
        parts.append(f"{_fmt(step)}+{_fmt(step)}x{active - 1}")
    if tail:
        parts.append(f"{_fmt(step * active)}x{tail - 1}")
    return " ".join(parts)


def _case(
    alert: dict[str, Any],
    counter: str,
    eval_secs: int,
    *,
    name: str,
    values: str,
    expected: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "name": f"{alert['alert']}: {name}",
        "interval": f"{SAMPLE_SECS}s",
        "input_series": [{"series": counter, "values": values}],
        "alert_rule_test": [
            {"eval_time": f"{eval_secs}s", "alertname": alert["alert"], "exp_alerts": expected}
        ],
    }


def promtool_cases(exported: list[Exported], rules_file: str) -> dict[str, Any]:
    """Per alert: fires after a sustained burst; silent without events, below threshold, on a short burst."""
    tests: list[dict[str, Any]] = []
    for item in exported:
        if item.alert is None:
            continue
        rule, alert = item.rule, item.alert
        assert rule.metric is not None and rule.alarm is not None
        a = rule.alarm
        counter = mirror_metric_name(rule.metric.namespace, rule.metric.name) + "_total"
        per_period = a.period_secs // SAMPLE_SECS
        quiet = (a.evaluation_periods + 2) * per_period  # no datapoint in range yet
        burst = (a.evaluation_periods + 2) * per_period  # every period of the range breaches
        eval_secs = (quiet + burst) * SAMPLE_SECS
        firing = [{"exp_labels": alert["labels"], "exp_annotations": alert["annotations"]}]

        def case(name: str, values: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
            return _case(alert, counter, eval_secs, name=name, values=values, expected=expected)  # noqa: B023 (called at once)

        hot = _events_where(rule, breaching=True)
        if hot is not None:
            tests.append(case("fires on a sustained burst", _series(rule, quiet, burst, hot, 0), firing))
        if a.treat_missing_data != "breaching":
            tests.append(case("silent without events", f"0x{quiet + burst}", []))
        cold = _events_where(rule, breaching=False)
        if cold is not None:
            tests.append(case("silent below the threshold", _series(rule, quiet, burst, cold, 0), []))
        # A burst touching at most M-1 periods must not alarm (M of N).
        short = (a.datapoints_to_alarm - 2) * per_period
        if hot is not None and short > 0 and a.treat_missing_data != "breaching":
            start = quiet + 2 * per_period  # inside the evaluation range at eval_time
            values = _series(rule, start, short, hot, burst - 2 * per_period - short)
            tests.append(case(f"silent on a burst shorter than {a.datapoints_to_alarm} periods", values, []))
    return {"rule_files": [rules_file], "evaluation_interval": GROUP_INTERVAL, "tests": tests}
