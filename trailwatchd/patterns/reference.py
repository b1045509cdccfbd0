"""The reference interpreter: a direct, unoptimised reading of the spec's truth tables.

It exists to be obviously correct. Tests run every case through it and through the compiled evaluator,
and a property test checks that the two agree on generated patterns and events. The rule loader also
runs golden examples through both. Nothing here is on the hot path, so clarity wins over speed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from trailwatchd.patterns.nodes import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Index,
    IsCheck,
    Literal,
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
from trailwatchd.patterns.regex import Regex, compile_regex
from trailwatchd.patterns.values import is_value_node, node_text, numeric_value


def resolve(event: Any, selector: Selector) -> list[Any]:
    """The nodes a selector selects (spec 4.2), in document order; empty when nothing is there."""
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


@functools.lru_cache(maxsize=256)
def _glob(lit: str) -> re.Pattern[str]:
    # A different technique from the compiled evaluator's (which splits on '*' and uses str.find), so the
    # property test compares two independent implementations.
    return re.compile(".*".join(re.escape(part) for part in lit.split("*")), re.DOTALL)


@functools.lru_cache(maxsize=256)
def _regex(translated: str) -> Regex:
    return compile_regex(translated)


def _compare(text: str, n: Any, op: str, lit: Literal) -> bool:
    """Spec 4.5 for one value node whose text is ``text``."""
    if isinstance(lit, StrLit):
        hit = _glob(lit.text).fullmatch(text) is not None
        return hit if op == "=" else not hit
    if isinstance(lit, RegexLit):
        hit = _regex(lit.translated).search(text)
        return hit if op == "=" else not hit
    assert isinstance(lit, NumLit)
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


def _holds(ast: Node, event: dict[str, Any]) -> bool:
    if isinstance(ast, MatchAll):
        return True
    if isinstance(ast, And):
        return all(_holds(c, event) for c in ast.children)
    if isinstance(ast, Or):
        return any(_holds(c, event) for c in ast.children)
    nodes = resolve(event, ast.selector)
    if isinstance(ast, NotExists):
        return not nodes
    if isinstance(ast, IsCheck):
        want = {"NULL": None, "TRUE": True, "FALSE": False}[ast.kind]
        return any(n is want for n in nodes)
    assert isinstance(ast, Compare)
    for n in nodes:
        text = node_text(n)
        if text is not None and is_value_node(n) and _compare(text, n, ast.op, ast.value):
            return True
    return False


def reference_matches(ast: Node, event: Mapping[str, Any] | Any) -> bool:
    """Evaluate a parsed pattern against one event, following the spec literally.

    The empty pattern matches anything; a JSON pattern never matches an event whose root is not an
    object (spec 4.1), not even one made only of ``NOT EXISTS``.
    """
    if isinstance(ast, MatchAll):
        return True
    if not isinstance(event, Mapping):
        return False
    return _holds(ast, event if isinstance(event, dict) else dict(event))
