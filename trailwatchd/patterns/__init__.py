"""The CloudWatch Logs JSON filter-pattern language, with AWS's exact matching semantics.

A pure library (no asyncio, no AWS) shared by the daemon, ``scan`` and ``test-pattern``::

    p = compile_pattern('{ ($.eventName = ConsoleLogin) && ($.additionalEventData.MFAUsed != "Yes") }')
    p.matches(event)   # one CloudTrail record as parsed JSON
    p.fields           # frozenset of selector strings the pattern reads
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns.compiler import compile_ast
from trailwatchd.patterns.lint import LintWarning, lint_ast
from trailwatchd.patterns.nodes import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Index,
    IsCheck,
    MatchAll,
    Node,
    NotExists,
    Or,
    Prop,
    Selector,
    Step,
    StrLit,
    conditions,
    selector_text,
)
from trailwatchd.patterns.parser import parse_pattern, parse_selector
from trailwatchd.patterns.values import loads_event


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A parsed, validated and compiled pattern."""

    text: str
    ast: Node
    _fn: Callable[[Mapping[str, Any]], bool] = field(repr=False, compare=False)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the event matches, with CloudWatch's semantics."""
        return self._fn(event)

    @property
    def selectors(self) -> frozenset[Selector]:
        return frozenset(c.selector for c in conditions(self.ast))

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(selector_text(s) for s in self.selectors)


def compile_pattern(text: str) -> CompiledPattern:
    """Parse and compile; raises :class:`PatternSyntaxError` for anything CloudWatch would reject."""
    ast = parse_pattern(text)
    return CompiledPattern(text, ast, compile_ast(ast))


def lint_pattern(pattern: str | CompiledPattern) -> list[LintWarning]:
    """Known pitfalls of a pattern (see :mod:`trailwatchd.patterns.lint`)."""
    ast = pattern.ast if isinstance(pattern, CompiledPattern) else parse_pattern(pattern)
    return lint_ast(ast)


def required_values(ast: Node, selector: Selector) -> frozenset[str] | None:
    """Exact strings the field at ``selector`` must equal for the pattern to match, or None if unconstrained.

    The rule engine indexes rules by ``$.eventName`` with this, so an event only meets the rules that
    could match it.
    """
    if isinstance(ast, Compare):
        if (
            ast.selector == selector
            and ast.op == "="
            and isinstance(ast.value, StrLit)
            and not ast.value.wildcard
        ):
            return frozenset({ast.value.text})
        return None
    if isinstance(ast, And):
        result: frozenset[str] | None = None
        for child in ast.children:
            sub = required_values(child, selector)
            if sub is not None:
                result = sub if result is None else result & sub
        return result
    if isinstance(ast, Or):
        union: set[str] = set()
        for child in ast.children:
            sub = required_values(child, selector)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    return None


__all__ = [
    "AnyIndex",
    "AnyProp",
    "CompiledPattern",
    "Index",
    "IsCheck",
    "LintWarning",
    "MatchAll",
    "Node",
    "NotExists",
    "PatternSyntaxError",
    "Prop",
    "Selector",
    "Step",
    "compile_pattern",
    "lint_pattern",
    "loads_event",
    "parse_pattern",
    "parse_selector",
    "required_values",
    "selector_text",
]
