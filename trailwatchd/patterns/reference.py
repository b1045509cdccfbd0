"""The reference interpreter: a direct, unoptimised reading of the spec's truth tables.

It exists to be obviously correct. Tests run every case through it and through the compiled evaluator,
and a property test checks that the two agree on generated patterns and events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2

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
    StrLit,
)
from trailwatchd.patterns.values import glob_regex, is_number, number_text, numeric_value


def resolve(event: Any, selector: Selector) -> list[Any]:
    """The set of nodes a selector selects (spec 4.2), in document order."""
    nodes = [event]
    for step in selector:
        nxt: list[Any] = []
        for node in nodes:
            if isinstance(step, Prop):
                if isinstance(node, dict) and step.name in node:
                    nxt.append(node[step.name])
            elif isinstance(step, Index):
                if isinstance(node, list) and len(node) > step.i:
                    nxt.append(node[step.i])
            elif isinstance(step, AnyIndex):
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(step, AnyProp) and isinstance(node, dict):
                nxt.extend(node.values())
        nodes = nxt
    return nodes


def _text(n: Any) -> str:
    return n if isinstance(n, str) else number_text(n)


def _compare(n: Any, op: str, lit: StrLit | NumLit | RegexLit) -> bool:
    """Spec 4.5 for one value node."""
    if isinstance(lit, StrLit):
        hit = glob_regex(lit.text).match(_text(n)) is not None
        return hit if op == "=" else not hit
    if isinstance(lit, RegexLit):
        hit = re2.search(lit.translated, _text(n)) is not None
        return hit if op == "=" else not hit
    num = numeric_value(n)
    if op == "!=":
        return True if num is None else num != lit.value
    if num is None:
        return False
    return {
        "=": num == lit.value,
        "<": num < lit.value,
        ">": num > lit.value,
        "<=": num <= lit.value,
        ">=": num >= lit.value,
    }[op]


def reference_matches(ast: Node, event: Mapping[str, Any]) -> bool:
    """Evaluate a parsed pattern against one event, following the spec literally."""
    if not isinstance(event, dict):
        return False
    if isinstance(ast, MatchAll):
        return True
    if isinstance(ast, And):
        return all(reference_matches(c, event) for c in ast.children)
    if isinstance(ast, Or):
        return any(reference_matches(c, event) for c in ast.children)
    nodes = resolve(event, ast.selector)
    if isinstance(ast, NotExists):
        return not nodes
    if isinstance(ast, IsCheck):
        want = {"NULL": None, "TRUE": True, "FALSE": False}[ast.kind]
        return any(n is want for n in nodes)
    assert isinstance(ast, Compare)
    value_nodes = [n for n in nodes if isinstance(n, str) or is_number(n)]
    return any(_compare(n, ast.op, ast.value) for n in value_nodes)
