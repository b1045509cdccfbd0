"""A conservative "can this pattern ever match?" check, for the ``never-matches`` lint.

Each condition on a wildcard-free selector constrains the one node that selector picks: what kind of
node it is (missing, null, true, false, a value, an object, an array), which texts it may have, and a
numeric interval. Conditions joined by ``&&`` must all hold for the same node, so their constraints are
intersected; an empty intersection is a contradiction. A selector that must exist also forces each
proper prefix to be an object (before ``.name``) or an array (before ``[n]``), which catches
``$.a NOT EXISTS && $.a.b = 1`` and ``$.a = "x" && $.a.b = 1``. ``||`` of conditions on one selector is
the union of their constraints. Wildcard selectors are existential (different conditions may hold for
different elements), so they are never used to prove a contradiction. Never reports a false positive;
misses contradictions it cannot see, which is fine for a lint.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trailwatchd.patterns.nodes import (
    And,
    Compare,
    IsCheck,
    Node,
    NotExists,
    NumLit,
    Or,
    Prop,
    Selector,
    StrLit,
    has_wildcard,
    selector_text,
)

_ALL_KINDS = frozenset({"missing", "null", "true", "false", "value", "object", "array"})
Bound = tuple[Decimal, bool] | None  # (limit, strict)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the node at one selector may be."""

    kinds: frozenset[str] = _ALL_KINDS
    texts: frozenset[str] | None = None  # allowed texts of a value node; None = any
    excluded: frozenset[str] = frozenset()  # texts ruled out by `!= "x"`
    numeric: bool = False  # must have a numeric value
    lo: Bound = None
    hi: Bound = None


def _max_lo(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] or b[1])


def _min_hi(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return (a[0], a[1] or b[1])


def _both(a: _Facts, b: _Facts) -> _Facts:
    texts = a.texts if b.texts is None else b.texts if a.texts is None else a.texts & b.texts
    return _Facts(
        a.kinds & b.kinds,
        texts,
        a.excluded | b.excluded,
        a.numeric or b.numeric,
        _max_lo(a.lo, b.lo),
        _min_hi(a.hi, b.hi),
    )


def _either(a: _Facts, b: _Facts) -> _Facts:
    texts = None if a.texts is None or b.texts is None else a.texts | b.texts
    # Unions of intervals are not intervals: keep numbers only if both sides demand one.
    return _Facts(a.kinds | b.kinds, texts, a.excluded & b.excluded, a.numeric and b.numeric)


def _empty(f: _Facts) -> bool:
    if not f.kinds:
        return True
    if f.kinds != frozenset({"value"}):
        return False
    if f.lo is not None and f.hi is not None:
        if f.lo[0] > f.hi[0]:
            return True
        if f.lo[0] == f.hi[0] and (f.lo[1] or f.hi[1]):
            return True
    if f.texts is None:
        return False
    texts = f.texts - f.excluded
    if f.numeric:
        texts = frozenset(t for t in texts if _in_interval(_text_number(t), f.lo, f.hi))
    return not texts


def _text_number(text: str) -> Decimal | None:
    """The largest reading of a text as a number: a number node's text may be "1E+2" (= 100)."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return None
    return None if value.is_nan() else value


def _in_interval(n: Decimal | None, lo: Bound, hi: Bound) -> bool:
    if n is None:
        return False
    if lo is not None and (n < lo[0] or (lo[1] and n == lo[0])):
        return False
    return not (hi is not None and (n > hi[0] or (hi[1] and n == hi[0])))


def _condition_facts(node: Node) -> tuple[Selector, _Facts] | None:
    if isinstance(node, NotExists):
        return node.selector, _Facts(frozenset({"missing"}))
    if isinstance(node, IsCheck):
        return node.selector, _Facts(frozenset({node.kind.lower()}))
    if not isinstance(node, Compare):
        return None
    value = frozenset({"value"})
    lit = node.value
    if isinstance(lit, StrLit) and not lit.wildcard:
        if node.op == "=":
            return node.selector, _Facts(value, texts=frozenset({lit.text}))
        return node.selector, _Facts(value, excluded=frozenset({lit.text}))
    if isinstance(lit, NumLit) and node.op != "!=":
        n = lit.value
        lo: Bound = {"=": (n, False), ">": (n, True), ">=": (n, False)}.get(node.op)
        hi: Bound = {"=": (n, False), "<": (n, True), "<=": (n, False)}.get(node.op)
        return node.selector, _Facts(value, numeric=True, lo=lo, hi=hi)
    return node.selector, _Facts(value)


def _child_facts(node: Node) -> tuple[Selector, _Facts] | None:
    """Facts from one conjunct: a condition, or an OR of conditions on a single selector."""
    if not isinstance(node, Or):
        return _condition_facts(node)
    merged: tuple[Selector, _Facts] | None = None
    for child in node.children:
        part = _condition_facts(child)
        if part is None or (merged is not None and part[0] != merged[0]):
            return None
        merged = part if merged is None else (part[0], _either(merged[1], part[1]))
    return merged


def _conjunction(children: tuple[Node, ...]) -> str | None:
    """Why the conjunction of these children is unsatisfiable, or None."""
    facts: dict[Selector, _Facts] = {(): _Facts(frozenset({"object"}))}  # the root is an object
    for child in children:
        found = _child_facts(child)
        if found is None or has_wildcard(found[0]):
            continue
        sel, f = found
        facts[sel] = _both(facts.get(sel, _Facts()), f)
    for sel, f in list(facts.items()):
        if "missing" in f.kinds:
            continue
        for i in range(len(sel)):
            kind = "object" if isinstance(sel[i], Prop) else "array"
            prefix = sel[:i]
            facts[prefix] = _both(facts.get(prefix, _Facts()), _Facts(frozenset({kind})))
    for sel, f in facts.items():
        if _empty(f):
            name = selector_text(sel) if sel else "the event root"
            return f"the conditions on {name} contradict each other"
    return None


def never_matches(ast: Node) -> tuple[int, str] | None:
    """``(position, reason)`` if ``ast`` provably matches no event, else None."""
    if isinstance(ast, Or):
        found = [never_matches(c) for c in ast.children]
        if all(f is not None for f in found):
            return ast.position, "every alternative of this || can never match"
        return None
    if not isinstance(ast, And):
        return None
    for child in ast.children:
        inner = never_matches(child)
        if inner is not None:
            return inner
    why = _conjunction(ast.children)
    return None if why is None else (ast.position, why)
