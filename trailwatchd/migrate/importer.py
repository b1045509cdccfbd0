"""CloudFormation-shaped metric filters and alarms -> rule drafts.

Both importers (templates, ``describe-*`` JSON) reduce their input to CloudFormation property tables
(``AWS::Logs::MetricFilter`` / ``AWS::CloudWatch::Alarm`` ``Properties``) and call :func:`build_drafts`.
A draft is a ``[[rule]]`` table in the rule-file schema; whatever cannot be carried over exactly becomes a
note for the pack README instead of a silent guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trailwatchd.errors import ConfigError
from trailwatchd.metrics import snake_case
from trailwatchd.model import SEVERITIES
from trailwatchd.rules.model import RULE_ID_RE
from trailwatchd.rules.reader import SNS_ARN

METADATA_KEY = "trailwatchd"
"""Resource/template ``Metadata`` key written by ``export cloudformation`` so import restores every field."""
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")
# Alarm properties that map 1:1 onto [rule.alarm] keys.
_ALARM_FIELDS = (
    ("AlarmName", "name"),
    ("AlarmDescription", "description"),
    ("Statistic", "statistic"),
    ("Period", "period_secs"),
    ("EvaluationPeriods", "evaluation_periods"),
    ("DatapointsToAlarm", "datapoints_to_alarm"),
    ("Threshold", "threshold"),
    ("ComparisonOperator", "comparison_operator"),
    ("TreatMissingData", "treat_missing_data"),
)
_ACTIONS = (
    ("AlarmActions", "alarm_actions"),
    ("OKActions", "ok_actions"),
    ("InsufficientDataActions", "insufficient_data_actions"),
)
_UNSUPPORTED_ALARM = ("Metrics", "ExtendedStatistic", "ThresholdMetricId", "EvaluateLowSampleCountPercentile")


@dataclass
class Drafts:
    """Rule tables plus what a human must check or fill in."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    placeholders: dict[str, str] = field(default_factory=dict)
    """Sink id -> where it came from (an unresolvable reference the user must define as a sink)."""


@dataclass
class Resolver:
    """Evaluates the intrinsic functions an offline importer can evaluate, and reports the rest."""

    parameters: dict[str, Any] = field(default_factory=dict)
    stack_name: str = "trailwatchd"
    sinks: dict[str, str] = field(default_factory=dict)
    """Reference name (parameter or resource) -> sink id, from --sink and the template's Metadata."""
    notes: list[str] = field(default_factory=list)

    def _ref(self, name: str, where: str) -> str | None:
        if name == "AWS::StackName":
            return self.stack_name
        param = self.parameters.get(name)
        if isinstance(param, dict) and isinstance(param.get("Default"), str | int | float):
            return str(param["Default"])
        return None

    def text(self, value: Any, where: str) -> str:
        """A string property; unresolved pieces stay as ``${Name}`` and are noted."""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref" and isinstance(arg, str):
                got = self._ref(arg, where)
                if got is None:
                    self.notes.append(f"{where}: !Ref {arg} cannot be resolved offline; kept as ${{{arg}}}")
                    return f"${{{arg}}}"
                return got
            if fn == "Fn::Sub":
                template, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return _SUB_VAR.sub(lambda m: self._sub(m.group(1), local, where), template)
            if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                return str(arg[0]).join(self.text(part, where) for part in arg[1])
        self.notes.append(f"{where}: {_short(value)} cannot be evaluated offline; replaced by a TODO value")
        return f"TODO-{_short(value)}"

    def _sub(self, name: str, local: dict[str, Any], where: str) -> str:
        if name in local:
            return self.text(local[name], where)
        if "." in name:  # ${Resource.Attribute} is a GetAtt: only known after deployment
            self.notes.append(f"{where}: ${{{name}}} is only known after deployment; kept as written")
            return f"${{{name}}}"
        got = self._ref(name, where)
        if got is None:
            self.notes.append(f"{where}: ${{{name}}} cannot be resolved offline; kept as written")
            return f"${{{name}}}"
        return got

    def action(self, value: Any, where: str, drafts: Drafts) -> str:
        """An alarm action: an SNS topic ARN stays an ARN, anything else becomes a sink id."""
        if isinstance(value, dict) and list(value) == ["Ref"] and isinstance(value["Ref"], str):
            ref = value["Ref"]
            if ref in self.sinks:
                return self.sinks[ref]
            default = self._ref(ref, where)
            if default is not None and SNS_ARN.fullmatch(default):
                return default
            sink = snake_case(ref).replace("_", "-")
            drafts.placeholders.setdefault(
                sink, f"!Ref {ref} ({where}): define [sinks.{sink}] (type sns, its topic ARN) in the config"
            )
            return sink
        if (
            isinstance(value, dict)
            and list(value) == ["Fn::GetAtt"]
            and isinstance(value["Fn::GetAtt"], list)
        ):
            ref = str(value["Fn::GetAtt"][0])  # a topic created by the same template: known after deployment
            sink = self.sinks.get(ref) or snake_case(ref).replace("_", "-")
            if ref not in self.sinks:
                drafts.placeholders.setdefault(
                    sink,
                    f"!GetAtt {ref} ({where}): define [sinks.{sink}] (type sns, the deployed topic's ARN)",
                )
            return sink
        text = self.text(value, where)
        if SNS_ARN.fullmatch(text):
            return text
        sink = snake_case(text).replace("_", "-")
        drafts.placeholders.setdefault(sink, f"{text!r} ({where}) is not an SNS topic ARN: define a sink")
        return sink


def _short(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((fn, _),) = value.items()
        return re.sub(r"^Fn::", "", str(fn))
    return type(value).__name__


def _number(value: Any, where: str) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: must be a number, got {value!r}") from exc
    return int(number) if number.is_integer() else number


def _rule_id(candidate: str, taken: set[str]) -> str:
    if RULE_ID_RE.fullmatch(candidate) and candidate not in taken:  # already a rule id (exported Metadata)
        taken.add(candidate)
        return candidate
    base = re.sub(r"-+", "-", snake_case(candidate).replace("_", "-")).strip("-")[:120] or "rule"
    rid, n = base, 2
    while rid in taken or not RULE_ID_RE.fullmatch(rid):
        rid, n = f"{base}-{n}", n + 1
    taken.add(rid)
    return rid


def _metric(props: dict[str, Any], where: str, resolver: Resolver) -> dict[str, Any]:
    transforms = props.get("MetricTransformations")
    if not isinstance(transforms, list) or len(transforms) != 1:
        raise ConfigError(f"{where}: MetricTransformations must hold exactly one transformation")
    t = transforms[0]
    metric: dict[str, Any] = {
        "namespace": resolver.text(t.get("MetricNamespace"), f"{where}.MetricNamespace"),
        "name": resolver.text(t.get("MetricName"), f"{where}.MetricName"),
        "value": resolver.text(t.get("MetricValue"), f"{where}.MetricValue").strip(),
    }
    if "DefaultValue" in t:
        metric["default_value"] = _number(t["DefaultValue"], f"{where}.DefaultValue")
    if "Unit" in t:
        metric["unit"] = resolver.text(t["Unit"], f"{where}.Unit")
    dims = t.get("Dimensions") or []
    if dims:
        metric["dimensions"] = {str(d["Key"]): resolver.text(d["Value"], f"{where}.Dimensions") for d in dims}
    return metric


def _alarm(props: dict[str, Any], where: str, resolver: Resolver, drafts: Drafts) -> dict[str, Any]:
    alarm: dict[str, Any] = {}
    for cfn, key in _ALARM_FIELDS:
        if cfn not in props:
            continue
        if key in ("period_secs", "evaluation_periods", "datapoints_to_alarm", "threshold"):
            number = _number(resolver.text(props[cfn], f"{where}.{cfn}"), f"{where}.{cfn}")
            alarm[key] = float(number) if key == "threshold" else int(number)
        else:
            alarm[key] = resolver.text(props[cfn], f"{where}.{cfn}")
    for cfn, key in _ACTIONS:
        if props.get(cfn):
            alarm[key] = [resolver.action(a, f"{where}.{cfn}[{i}]", drafts) for i, a in enumerate(props[cfn])]
    if props.get("ActionsEnabled") in (False, "false", "False"):
        drafts.notes.append(
            f"{where}: ActionsEnabled is false; trailwatchd always acts, so the actions were dropped"
        )
        for _, key in _ACTIONS:
            alarm.pop(key, None)
    if props.get("Unit"):
        drafts.notes.append(
            f"{where}: Unit {props['Unit']!r} on the alarm is not carried over (the metric's unit is)"
        )
    return alarm


def build_drafts(
    filters: list[tuple[str, dict[str, Any]]],
    alarms: list[tuple[str, dict[str, Any]]],
    resolver: Resolver,
    metadata: dict[str, dict[str, Any]] | None = None,
) -> Drafts:
    """One rule per filter; an alarm is attached when its MetricName+Namespace is the filter's metric.

    ``metadata`` maps a filter's name to the ``trailwatchd`` Metadata ``export`` wrote (id, title, ...).
    """
    metadata = metadata or {}
    drafts = Drafts()
    taken: set[str] = set()
    by_metric: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for name, props in alarms:
        where = f"alarm {name}"
        bad = [k for k in _UNSUPPORTED_ALARM if props.get(k)]
        if bad or props.get("Dimensions"):
            reason = ", ".join(bad) if bad else "Dimensions (alarms on one dimension value)"
            drafts.notes.append(f"{where}: not imported: uses {reason}, which [rule.alarm] cannot express")
            continue
        key = (
            resolver.text(props.get("Namespace"), f"{where}.Namespace"),
            resolver.text(props.get("MetricName"), f"{where}.MetricName"),
        )
        by_metric.setdefault(key, []).append((name, props))
    used: set[str] = set()
    for name, props in filters:
        where = f"metric filter {name}"
        meta = metadata.get(name, {})
        pattern = props.get("FilterPattern")
        if not isinstance(pattern, str):
            raise ConfigError(f"{where}: FilterPattern must be a literal string, got {_short(pattern)}")
        metric = _metric(props, where, resolver)
        rule: dict[str, Any] = {"id": "", "pattern": pattern}
        matching = by_metric.get((metric["namespace"], metric["name"]), [])
        alarm = None
        if matching:
            alarm_name, alarm_props = matching[0]
            used.add(alarm_name)
            alarm = _alarm(alarm_props, f"alarm {alarm_name}", resolver, drafts)
            for extra, _ in matching[1:]:
                drafts.notes.append(
                    f"alarm {extra}: not imported: a rule carries one alarm and {alarm_name} already watches "
                    f"{metric['namespace']}/{metric['name']}; copy the rule to keep it"
                )
                used.add(extra)
        rule["id"] = _rule_id(str(meta.get("id") or metric["name"] or name), taken)
        for name_ in ("title", "description", "severity", "sinks", "tags", "enabled"):
            if name_ in meta:
                rule[name_] = meta[name_]
        if "severity" not in rule:
            prefix = str((alarm or {}).get("name", "")).split("-", 1)[0].lower()
            rule["severity"] = prefix if prefix in SEVERITIES else "warning"
        if "title" not in rule:
            rule["title"] = str((alarm or {}).get("name") or name)
        rule["metric"] = metric
        if alarm is not None:
            alarm.setdefault("name", rule["id"])
            rule["alarm"] = alarm
        rule["_source"] = name
        drafts.rules.append(rule)
    for name, _ in alarms:
        if name not in used and not any(name in n for n in drafts.notes):
            drafts.notes.append(f"alarm {name}: not imported: no imported metric filter publishes its metric")
    drafts.notes[:0] = resolver.notes
    return drafts


def drafts_from_template(
    template: dict[str, Any], *, stack_name: str = "trailwatchd", sinks: dict[str, str] | None = None
) -> Drafts:
    """Drafts from a loaded CloudFormation template (see :mod:`.cfn_yaml`)."""
    tmeta = (
        template.get("Metadata", {}).get(METADATA_KEY, {})
        if isinstance(template.get("Metadata"), dict)
        else {}
    )
    resolver = Resolver(
        parameters=template.get("Parameters") or {},
        stack_name=stack_name,
        sinks={**dict(tmeta.get("sinks", {})), **(sinks or {})},
    )
    filters, alarms, metadata = [], [], {}
    for name, res in template["Resources"].items():
        if not isinstance(res, dict):
            continue
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Logs::MetricFilter":
            filters.append((name, props))
            if isinstance(res.get("Metadata"), dict) and isinstance(res["Metadata"].get(METADATA_KEY), dict):
                metadata[name] = res["Metadata"][METADATA_KEY]
        elif res.get("Type") == "AWS::CloudWatch::Alarm":
            alarms.append((name, props))
    if not filters:
        raise ConfigError("the template defines no AWS::Logs::MetricFilter resource")
    return build_drafts(filters, alarms, resolver, metadata)
