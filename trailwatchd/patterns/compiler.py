"""The fast evaluator: each pattern becomes one generated Python function, compiled once.

Why generate code: a CloudTrail stream runs every event through the rule set, so per-event overhead
matters more than anything else after JSON decoding. Generated code inlines dict lookups and type
checks, short-circuits ``&&``/``||`` natively, turns a run of ``$.eventName = X || $.eventName = Y`` into
one set lookup, and turns globs into ``startswith``/``endswith``/``in`` where it can.

Safety: no user text ever reaches the generated source. Every literal and every property name is put in
a constants tuple ``K`` and referenced by index; the source contains only identifiers we choose,
integers and operators. A test feeds hostile patterns (quotes, backslashes, newlines, ``__import__``)
to prove it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from trailwatchd.patterns.reference import resolve
from trailwatchd.patterns.values import glob_regex, is_number, number_text, numeric_value

_MISSING = object()


def _string_test(lit: str) -> tuple[str, list[Any]]:
    """Source template (with ``{s}`` for the text and ``{k}`` for constants) deciding glob(lit, s)."""
    if "*" not in lit:
        return "{s} == {k0}", [lit]
    parts = lit.split("*")
    if len(parts) == 2 and parts[0] and not parts[1]:
        return "{s}.startswith({k0})", [parts[0]]
    if len(parts) == 2 and not parts[0] and parts[1]:
        return "{s}.endswith({k0})", [parts[1]]
    if len(parts) == 3 and not parts[0] and not parts[2] and parts[1]:
        return "{k0} in {s}", [parts[1]]
    if all(p == "" for p in parts):
        return "True", []
    if len(parts) == 2:
        return "(len({s}) >= {k2} and {s}.startswith({k0}) and {s}.endswith({k1}))", [
            parts[0],
            parts[1],
            len(parts[0]) + len(parts[1]),
        ]
    return "{k0}.match({s}) is not None", [glob_regex(lit)]


class _Gen:
    def __init__(self) -> None:
        self.consts: list[Any] = []
        self.lines: list[str] = []
        self.n = 0

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"K[{len(self.consts) - 1}]"

    def tmp(self) -> str:
        self.n += 1
        return f"_t{self.n}"

    # -- selector resolution (single node, no wildcard) -----------------------------------------------
    def resolve_single(self, sel: Selector) -> str:
        """Expression giving the node at a wildcard-free selector, or M when absent."""
        expr = "e"
        first = True
        for step in sel:
            if isinstance(step, Prop):
                key = self.const(step.name)
                if first:
                    expr = f"e.get({key}, M)"
                else:
                    t = self.tmp()
                    expr = f"({t}.get({key}, M) if type({t} := {expr}) is dict else M)"
            else:
                assert isinstance(step, Index)
                t = self.tmp()
                expr = f"({t}[{step.i}] if type({t} := {expr}) is list and len({t}) > {step.i} else M)"
            first = False
        return expr

    # -- predicates on one node -----------------------------------------------------------------------
    def predicate(self, cond: Compare | IsCheck) -> str:
        """Define a function ``_pN(v) -> bool`` for one condition on one node; return its name."""
        self.n += 1
        name = f"_p{self.n}"
        if isinstance(cond, IsCheck):
            const = {"NULL": "None", "TRUE": "True", "FALSE": "False"}[cond.kind]
            body = f"v is {const}"
        else:
            body = self.compare_body(cond.op, cond.value)
        self.lines.append(f"def {name}(v):\n    return {body}")
        return name

    def compare_body(self, op: str, lit: StrLit | NumLit | RegexLit) -> str:
        if isinstance(lit, NumLit):
            k = self.const(lit.value)
            if op == "!=":
                return f"((n := num(v)) is None or n != {k}) if (type(v) is str or isnum(v)) else False"
            pyop = {"=": "==", "<": "<", ">": ">", "<=": "<=", ">=": ">="}[op]
            return f"(n := num(v)) is not None and n {pyop} {k}"
        if isinstance(lit, RegexLit):
            k = self.const(re2.compile(lit.translated))
            test = f"{k}.search(v if type(v) is str else ntext(v)) is not None"
        else:
            template, consts = _string_test(lit.text)
            names = {f"k{i}": self.const(c) for i, c in enumerate(consts)}
            test = template.format(s="s", **names)
            test = f"((s := (v if type(v) is str else ntext(v))) is not None and {test})"
        if op == "=":
            return f"(type(v) is str or isnum(v)) and {test}"
        return f"(type(v) is str or isnum(v)) and not ({test})"

    # -- conditions and boolean structure -------------------------------------------------------------
    def condition(self, cond: Compare | IsCheck | NotExists) -> str:
        wild = any(isinstance(s, AnyIndex | AnyProp) for s in cond.selector)
        if isinstance(cond, NotExists):
            if wild:
                return f"not many(e, {self.const(cond.selector)})"
            return f"({self.resolve_single(cond.selector)} is M)"
        pred = self.predicate(cond)
        if wild:
            return f"any(map({pred}, many(e, {self.const(cond.selector)})))"
        return f"{pred}({self.resolve_single(cond.selector)})"

    def exact_set(self, node: Or) -> str | None:
        """``sel = "A" || sel = "B" || ...`` on one wildcard-free selector -> one membership test."""
        sels = set()
        values: set[str] = set()
        for child in node.children:
            if not (
                isinstance(child, Compare)
                and child.op == "="
                and isinstance(child.value, StrLit)
                and not child.value.wildcard
            ):
                return None
            if any(isinstance(s, AnyIndex | AnyProp) for s in child.selector):
                return None
            sels.add(child.selector)
            values.add(child.value.text)
        if len(sels) != 1:
            return None
        (sel,) = sels
        k = self.const(frozenset(values))
        t = self.tmp()
        return (
            f"((({t} in {k}) if type({t} := {self.resolve_single(sel)}) is str "
            f"else (isnum({t}) and ntext({t}) in {k})))"
        )

    def expr(self, node: Node) -> str:
        if isinstance(node, MatchAll):
            return "True"
        if isinstance(node, And):
            return "(" + " and ".join(self.expr(c) for c in node.children) + ")"
        if isinstance(node, Or):
            fast = self.exact_set(node)
            if fast is not None:
                return fast
            return "(" + " or ".join(self.expr(c) for c in node.children) + ")"
        return self.condition(node)


def _num(v: Any) -> Any:
    if type(v) is str or is_number(v):
        return numeric_value(v)
    return None


def compile_ast(ast: Node) -> Callable[[Mapping[str, Any]], bool]:
    """Generate, compile and return the matcher function for a parsed pattern."""
    gen = _Gen()
    body = gen.expr(ast)
    src = (
        "\n".join(gen.lines)
        + f"\ndef match(e):\n    if type(e) is not dict:\n        return False\n    return {body}\n"
    )
    namespace: dict[str, Any] = {
        "K": tuple(gen.consts),
        "M": _MISSING,
        "isnum": is_number,
        "ntext": number_text,
        "num": _num,
        "many": resolve,
    }
    code = compile(src, "<filter-pattern>", "exec")
    exec(code, namespace)  # noqa: S102 - generated from our own templates; user text only in K
    fn: Callable[[Mapping[str, Any]], bool] = namespace["match"]
    fn.__trailwatchd_source__ = src  # type: ignore[attr-defined]
    return fn
