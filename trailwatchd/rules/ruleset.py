"""The rule set: an immutable, indexed snapshot of compiled rules.

Indexing: most CloudTrail rules pin ``$.eventName`` to a few values (CIS 3.4 lists 16 IAM calls). Rules
whose pattern constrains it are filed under each required name; the rest always run. ``match`` makes one
dict lookup per event and gets a ready tuple (that name's rules merged with the always-run ones, in load
order), so the cost per event stays nearly flat as the rule count grows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trailwatchd.model import MetricDatapoint
from trailwatchd.patterns import LintWarning, Prop, Selector, lint_pattern, parse_selector
from trailwatchd.patterns.reference import reference_matches, resolve
from trailwatchd.patterns.values import is_number, number_text, numeric_value
from trailwatchd.rules.loader import load_rule_files
from trailwatchd.rules.model import Rule

ALWAYS_READ: tuple[Selector, ...] = tuple(
    parse_selector(s) for s in ("$.eventName", "$.eventSource", "$.eventTime", "$.eventID")
)


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    """A golden example that did not give the expected answer."""

    file: str
    rule_id: str
    index: int
    expected: bool
    compiled: bool
    reference: bool
    note: str = ""
    origin: str = ""

    def __str__(self) -> str:
        why = f" ({self.note})" if self.note else ""
        split = "" if self.compiled == self.reference else f"; reference interpreter says {self.reference}"
        return (
            f"{self.file}: rule {self.rule_id!r} example {self.index} [{self.origin}]: expected "
            f"{'match' if self.expected else 'no match'}, got {'match' if self.compiled else 'no match'}"
            f"{split}{why}"
        )


def _first_value(event: Any, selector: Selector) -> Any:
    for node in resolve(event, selector):
        if isinstance(node, str) or is_number(node):
            return node
    return None


def event_time(event: Mapping[str, Any]) -> float | None:
    """``eventTime`` as epoch seconds, None when absent or not ISO-8601."""
    value = event.get("eventTime")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class RuleSet:
    """Compiled, indexed rules. Build with :meth:`load` or :meth:`from_rules`; never mutated."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._by_id = {r.id: r for r in self.rules}
        enabled = [r for r in self.rules if r.enabled]
        order = {r.id: i for i, r in enumerate(enabled)}
        always = [r for r in enabled if r.event_names is None]
        names: dict[str, list[Rule]] = {}
        for rule in enabled:
            for name in rule.event_names or ():
                names.setdefault(name, []).append(rule)

        def pair(rs: list[Rule]) -> tuple[tuple[Rule, Any], ...]:
            return tuple((r, r.pattern.matches) for r in sorted(rs, key=lambda r: order[r.id]))

        self._always = pair(always)
        self._by_name = {name: pair(rs + always) for name, rs in names.items()}
        self.extraction_failures: dict[str, int] = {}
        sels: set[Selector] = set(ALWAYS_READ)
        for rule in enabled:
            sels |= rule.pattern.selectors
            if rule.metric is not None:
                if rule.metric.value_selector is not None:
                    sels.add(rule.metric.value_selector)
                sels.update(rule.metric.dimension_selectors)
        self.selectors: frozenset[Selector] = frozenset(sels)
        self.digest = hashlib.sha256(
            json.dumps([self._canonical(r) for r in self.rules], sort_keys=True, default=str).encode()
        ).hexdigest()

    @staticmethod
    def _canonical(rule: Rule) -> dict[str, Any]:
        return {
            "id": rule.id,
            "pattern": rule.pattern.text,
            "severity": rule.severity,
            "title": rule.title,
            "sinks": rule.sinks,
            "enabled": rule.enabled,
            "metric": repr(rule.metric),
            "alarm": repr(rule.alarm),
        }

    @classmethod
    def load(cls, paths: Sequence[str | Path]) -> RuleSet:
        """Load rule files, directories and globs; raises RuleLoadError listing every problem."""
        return cls(load_rule_files(paths))

    @classmethod
    def from_rules(cls, rules: Sequence[Rule]) -> RuleSet:
        return cls(rules)

    def get(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def match(self, event: Mapping[str, Any]) -> list[Rule]:
        """Enabled rules whose pattern matches the event, in load order (the hot path)."""
        name = event.get("eventName")
        cands = self._by_name.get(name, self._always) if type(name) is str else self._always
        return [rule for rule, fn in cands if fn(event)]

    def match_all(self, event: Mapping[str, Any]) -> list[Rule]:
        """Brute force without the index (tests prove it equals :meth:`match`)."""
        return [r for r in self.rules if r.enabled and r.pattern.matches(event)]

    def datapoint(self, rule: Rule, event: Mapping[str, Any]) -> MetricDatapoint | None:
        """The metric datapoint CloudWatch would record for this match, or None if the value is missing."""
        metric = rule.metric
        if metric is None:
            return None
        if metric.value_number is not None:
            value = metric.value_number
        else:
            assert metric.value_selector is not None
            num = numeric_value(_first_value(event, metric.value_selector))
            if num is None:
                self.extraction_failures[rule.id] = self.extraction_failures.get(rule.id, 0) + 1
                return None
            value = float(num)
        dims = []
        for (name, _), sel in zip(metric.dimensions, metric.dimension_selectors, strict=True):
            # CloudWatch drops a dimension whose field is missing; Prometheus needs a fixed label set, so
            # trailwatchd uses "" (documented divergence).
            found = _first_value(event, sel)
            dims.append(
                (name, "" if found is None else (found if isinstance(found, str) else number_text(found)))
            )
        return MetricDatapoint(metric.namespace, metric.name, value, tuple(dims), event_time(event))

    def run_examples(self) -> list[ExampleFailure]:
        """Every golden example through both evaluators; the failures."""
        failures = []
        for rule in self.rules:
            for i, ex in enumerate(rule.examples):
                compiled = rule.pattern.matches(ex.event)
                reference = reference_matches(rule.pattern.ast, ex.event)
                if compiled != ex.match or reference != ex.match:
                    failures.append(
                        ExampleFailure(
                            str(rule.source_file),
                            rule.id,
                            i,
                            ex.match,
                            compiled,
                            reference,
                            ex.note,
                            ex.origin,
                        )
                    )
        return failures

    def lint(self) -> list[tuple[str, LintWarning]]:
        return [(r.id, w) for r in self.rules for w in lint_pattern(r.pattern)]

    def indexed_names(self) -> frozenset[str]:
        return frozenset(self._by_name)


__all__ = ["ExampleFailure", "Prop", "RuleSet", "event_time"]
