"""The rule set: an immutable, indexed snapshot of compiled rules.

Indexing: most CloudTrail rules pin ``$.eventName`` to a few values (CIS 3.4 lists 16 IAM calls). Rules
whose pattern requires it are filed under each required name; the rest always run. ``match`` makes one
dict lookup per event and gets a ready tuple (that name's rules merged with the always-run ones, in load
order), so the cost per event stays nearly flat as the rule count grows.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from trailwatchd.model import MetricDatapoint
from trailwatchd.patterns import LintWarning, Matcher, Selector, lint_pattern, parse_selector, selector_text
from trailwatchd.patterns.reference import reference_matches, resolve
from trailwatchd.patterns.values import is_number, number_text, numeric_value
from trailwatchd.rules.examples import ExampleFailure
from trailwatchd.rules.loader import load_rule_files
from trailwatchd.rules.model import Rule
from trailwatchd.rules.problems import Problem, RuleLoadError
from trailwatchd.timeutil import parse_iso_time

# Read for every event whatever the rules say: the index key, alert identity, dedupe and delay metrics.
ALWAYS_READ: frozenset[Selector] = frozenset(
    parse_selector(s) for s in ("$.eventName", "$.eventSource", "$.eventTime", "$.eventID")
)
_Candidates = tuple[tuple[Rule, Matcher], ...]


def event_time(event: Mapping[str, Any]) -> float | None:
    """``eventTime`` (``2024-01-02T03:04:05Z``) as epoch seconds; None when absent or not ISO-8601.

    A time without a zone is taken as UTC, which is what CloudTrail always writes.
    """
    return parse_iso_time(event.get("eventTime"))


def _first_value(event: Any, selector: Selector) -> Any:
    """The first string or number node the selector reaches (document order), else None."""
    for node in resolve(event, selector):
        if isinstance(node, str) or is_number(node):
            return node
    return None


def canonical(rule: Rule) -> dict[str, Any]:
    """Everything about a rule that changes what trailwatchd does or says, as plain JSON data.

    Golden examples and the source file are left out: moving a rule or adding an example changes
    nothing at run time, so it should not look like a new rule set.
    """
    metric = rule.metric
    alarm = rule.alarm
    return {
        "id": rule.id,
        "pattern": rule.pattern.text,
        "title": rule.title,
        "description": rule.description,
        "severity": rule.severity,
        "sinks": list(rule.sinks),
        "tags": list(rule.tags),
        "enabled": rule.enabled,
        "metric": None
        if metric is None
        else {
            "namespace": metric.namespace,
            "name": metric.name,
            "value": metric.value,
            "default_value": metric.default_value,
            "unit": metric.unit,
            "dimensions": [list(d) for d in metric.dimensions],
        },
        "alarm": None
        if alarm is None
        else {
            "name": alarm.name,
            "description": alarm.description,
            "threshold": alarm.threshold,
            "statistic": alarm.statistic,
            "period_secs": alarm.period_secs,
            "evaluation_periods": alarm.evaluation_periods,
            "datapoints_to_alarm": alarm.datapoints_to_alarm,
            "comparison_operator": alarm.comparison_operator,
            "treat_missing_data": alarm.treat_missing_data,
            "alarm_actions": list(alarm.alarm_actions),
            "ok_actions": list(alarm.ok_actions),
            "insufficient_data_actions": list(alarm.insufficient_data_actions),
        },
    }


def canonical_hygiene(rule: Rule) -> dict[str, Any]:
    """The alert-hygiene keys, only when set (so rule sets without them keep their digest)."""
    hygiene = {
        "dedupe_secs": rule.dedupe_secs,
        "dedupe_fields": list(rule.dedupe_fields),
        "max_alerts_per_minute": rule.max_alerts_per_minute,
        "except": [p.text for p in rule.exceptions],
    }
    return {"hygiene": hygiene} if any(hygiene.values()) else {}


class RuleSet:
    """Compiled, indexed rules. Build with :meth:`load` or :meth:`from_rules`; never mutated.

    The only mutable state is ``extraction_failures`` (metric values that could not be read, per rule
    id), a diagnostic counter guarded by a lock because evaluation runs in worker threads.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._by_id = {r.id: r for r in self.rules}
        if len(self._by_id) != len(self.rules):
            seen: dict[str, Rule] = {}
            problems = []
            for r in self.rules:
                if r.id in seen:
                    msg = f"duplicate id: already defined in {seen[r.id].source_file}"
                    problems.append(Problem(str(r.source_file), r.id, "id", msg))
                seen.setdefault(r.id, r)
            raise RuleLoadError(problems)
        enabled = [r for r in self.rules if r.enabled]
        always = [r for r in enabled if r.event_names is None]
        by_name: dict[str, list[Rule]] = {}
        for rule in enabled:
            for name in rule.event_names or ():
                by_name.setdefault(name, []).append(rule)
        order = {r.id: i for i, r in enumerate(enabled)}

        def ready(rs: list[Rule]) -> _Candidates:
            return tuple((r, r.pattern.matches) for r in sorted(rs, key=lambda r: order[r.id]))

        self._always = ready(always)
        self._by_name: dict[str, _Candidates] = {name: ready(rs + always) for name, rs in by_name.items()}
        self._enabled = ready(enabled)
        self.extraction_failures: dict[str, int] = {}
        self._lock = threading.Lock()
        selectors: set[Selector] = set(ALWAYS_READ)
        for rule in enabled:
            selectors |= rule.pattern.selectors
            if rule.metric is not None:
                if rule.metric.value_selector is not None:
                    selectors.add(rule.metric.value_selector)
                selectors.update(rule.metric.dimension_selectors)
        self.selectors: frozenset[Selector] = frozenset(selectors)
        docs = [canonical(r) | canonical_hygiene(r) for r in self.rules]
        blob = json.dumps(docs, sort_keys=True, separators=(",", ":"))
        self.digest: str = hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def load(cls, paths: Sequence[str | Path]) -> RuleSet:
        """Load rule files, directories and globs; raises RuleLoadError listing every problem."""
        return cls(load_rule_files(paths))

    @classmethod
    def from_rules(cls, rules: Sequence[Rule]) -> RuleSet:
        """A rule set from rules built in code (tests, benchmarks); duplicate ids raise RuleLoadError."""
        return cls(rules)

    def __reduce__(self) -> tuple[type[RuleSet], tuple[tuple[Rule, ...]]]:
        """Pickle as the rules (patterns travel as text and recompile), so a process pool can take it.

        The lock and the generated matchers cannot be pickled; failure counts stay with this process.
        """
        return RuleSet, (self.rules,)

    def get(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError if there is none."""
        return self._by_id[rule_id]

    @property
    def by_id(self) -> Mapping[str, Rule]:
        """Every rule by id (read-only view)."""
        return MappingProxyType(self._by_id)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def fields(self) -> frozenset[str]:
        """The selectors as canonical text (``$.userIdentity.type``), sorted use in reports and docs."""
        return frozenset(selector_text(s) for s in self.selectors)

    def match(self, event: Mapping[str, Any]) -> list[Rule]:
        """Enabled rules whose pattern matches the event, in load order (the hot path)."""
        name = event.get("eventName")
        if type(name) is str:
            cands = self._by_name.get(name, self._always)
        elif is_number(name):
            # `$.eventName = "42"` matches the number 42 by its lexeme (filter-patterns spec 4.5); no
            # real CloudTrail record has a numeric eventName, so this path only keeps the index exact.
            cands = self._by_name.get(number_text(name), self._always)
        else:
            cands = self._always
        return [rule for rule, matches in cands if matches(event)]

    def match_unindexed(self, event: Mapping[str, Any]) -> list[Rule]:
        """Every enabled rule tried, no index: the brute force that tests hold :meth:`match` to."""
        return [rule for rule, matches in self._enabled if matches(event)]

    def datapoint(self, rule: Rule, event: Mapping[str, Any]) -> MetricDatapoint | None:
        """The metric datapoint CloudWatch would record for this match; None without a metric or value.

        A field value must be a number or a plain-decimal string (filter-patterns spec section 8); a
        negative or non-finite one is refused too, because the Prometheus mirror is a counter. Refusals
        count in ``extraction_failures``. A dimension whose field is missing (or not a string/number)
        becomes ``""``: CloudWatch drops the dimension instead, but a Prometheus family needs a fixed
        label set (documented divergence).
        """
        metric = rule.metric
        if metric is None:
            return None
        if metric.value_number is not None:
            value = metric.value_number
        else:
            assert metric.value_selector is not None
            found = numeric_value(_first_value(event, metric.value_selector))
            value = float(found) if found is not None else math.nan
            if not (math.isfinite(value) and value >= 0):
                with self._lock:
                    self.extraction_failures[rule.id] = self.extraction_failures.get(rule.id, 0) + 1
                return None
        dims = []
        for (dim_name, _), selector in zip(metric.dimensions, metric.dimension_selectors, strict=True):
            node = _first_value(event, selector)
            dims.append(
                (dim_name, "" if node is None else node if isinstance(node, str) else number_text(node))
            )
        return MetricDatapoint(metric.namespace, metric.name, value, tuple(dims), event_time(event))

    def run_examples(self) -> list[ExampleFailure]:
        """Every golden example through the compiled evaluator and the reference interpreter.

        Both must give the expected answer: a disagreement between them is a pattern-engine bug, and
        reporting it here stops a reload before the bug reaches production.
        """
        failures = []
        for rule in self.rules:
            for i, example in enumerate(rule.examples):
                compiled = bool(rule.pattern.matches(example.event))
                reference = bool(reference_matches(rule.pattern.ast, example.event))
                if compiled != example.match or reference != example.match:
                    failures.append(
                        ExampleFailure(
                            file=str(rule.source_file) if rule.source_file else "<in memory>",
                            rule_id=rule.id,
                            index=i,
                            expected=example.match,
                            compiled=compiled,
                            reference=reference,
                            note=example.note,
                            origin=example.origin,
                        )
                    )
        return failures

    def lint(self) -> list[tuple[str, LintWarning]]:
        """(rule id, warning) for every pitfall in every rule's pattern, in load order."""
        return [(r.id, w) for r in self.rules for w in lint_pattern(r.pattern)]

    def indexed_names(self) -> frozenset[str]:
        """The eventName values the index files rules under (for diagnostics and tests)."""
        return frozenset(self._by_name)

    def always_run(self) -> tuple[Rule, ...]:
        """Enabled rules the index cannot narrow: they are tried on every event."""
        return tuple(rule for rule, _ in self._always)
