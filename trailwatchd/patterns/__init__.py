"""The CloudWatch Logs JSON filter-pattern language, with AWS's exact matching semantics.

A pure library (no asyncio, no AWS) shared by the daemon, ``scan`` and ``test-pattern``::

    p = compile_pattern('{ ($.eventName = ConsoleLogin) && ($.additionalEventData.MFAUsed != "Yes") }')
    p.matches(event)   # one CloudTrail record as parsed JSON (dict; numbers int/Decimal/float)
    p.fields           # frozenset of canonical selector strings the pattern reads

Modules: ``parser`` (text -> ``nodes``), ``regex`` (AWS's regex dialect on RE2), ``values`` (what a
node's text and number are), ``reference`` (the obviously-correct interpreter), ``compiler`` (the fast
generated evaluator), ``lint`` (valid but probably wrong patterns).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns.compiler import Matcher, compile_ast
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
    NumLit,
    Or,
    Prop,
    RegexLit,
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
    """A parsed, validated and compiled pattern; equal when text and tree are equal.

    ``matches(event) -> bool`` is the generated function itself (an attribute, not a method), which saves
    a call layer on the hot path. ``source`` is its generated Python source, for debugging and tests.
    """

    text: str
    ast: Node
    matches: Matcher = field(repr=False, compare=False)
    source: str = field(repr=False, compare=False)
    selectors: frozenset[Selector] = field(repr=False, compare=False)
    fields: frozenset[str] = field(repr=False, compare=False)

    def __reduce__(self) -> tuple[Callable[[str], CompiledPattern], tuple[str]]:
        """Pickle as the text: the generated function cannot be pickled, so a process pool recompiles."""
        return compile_pattern, (self.text,)


def compile_pattern(text: str) -> CompiledPattern:
    """Parse and compile; raises :class:`PatternSyntaxError` for anything CloudWatch would reject."""
    ast = parse_pattern(text)
    fn, source = compile_ast(ast)
    selectors = frozenset(c.selector for c in conditions(ast))
    fields = frozenset(selector_text(s) for s in selectors)
    return CompiledPattern(text, ast, fn, source, selectors, fields)


def lint_pattern(pattern: str | CompiledPattern) -> list[LintWarning]:
    """Known pitfalls of a pattern (see :mod:`trailwatchd.patterns.lint`)."""
    ast = pattern.ast if isinstance(pattern, CompiledPattern) else parse_pattern(pattern)
    return lint_ast(ast)


def required_values(ast: Node, selector: Selector) -> frozenset[str] | None:
    """Exact strings the field at ``selector`` must equal for the pattern to match, or None if unconstrained.

    The rule engine indexes rules by ``$.eventName`` with this, so an event only meets the rules that
    could match it. Only ``selector = "Lit"`` (quoted, or a bare word that is not a number, without ``*``)
    on exactly ``selector`` constrains; AND intersects constrained children, OR unions them and is
    unconstrained if any child is. An empty set means the pattern can never match. The values are
    compared with the field's text (a number node's lexeme), like the evaluators do.
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
    "And",
    "AnyIndex",
    "AnyProp",
    "Compare",
    "CompiledPattern",
    "Index",
    "IsCheck",
    "LintWarning",
    "MatchAll",
    "Matcher",
    "Node",
    "NotExists",
    "NumLit",
    "Or",
    "PatternSyntaxError",
    "Prop",
    "RegexLit",
    "Selector",
    "Step",
    "StrLit",
    "compile_pattern",
    "lint_pattern",
    "loads_event",
    "parse_pattern",
    "parse_selector",
    "required_values",
    "selector_text",
]
