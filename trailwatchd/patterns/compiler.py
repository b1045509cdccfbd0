"""The fast evaluator: each pattern becomes one generated Python function, compiled once.

Why generate code: a CloudTrail stream runs every event through the rule set, so per-event overhead
matters more than anything else after JSON decoding. The generated function is one short-circuiting
boolean expression; dict lookups and type checks are inlined, each selected node is looked up once per
condition (bound with ``:=``), a run of ``$.eventName = X || $.eventName = Y`` becomes one frozenset
lookup, globs and literal regexes become ``==``/``startswith``/``endswith``/``in``, and only real
regexes reach RE2. Every constant is a closure cell of a factory function, so reading one is a
``LOAD_DEREF``.

Safety: no user text ever reaches the generated source. Literals, property names and helper objects are
passed to the factory as arguments named ``_k0``, ``_k1``...; the source holds only names we choose,
integers (array indexes) and operators. A test parses the source of hostile patterns and checks that.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from trailwatchd.patterns.nodes import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Condition,
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
    has_wildcard,
)
from trailwatchd.patterns.regex import compile_regex, literal_form
from trailwatchd.patterns.values import could_be_number_text, glob_match, node_text, numeric_value

Matcher = Callable[[Mapping[str, Any]], bool]


class _Missing:
    """Type of the "no node here" sentinel, distinct from None (JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()
# Classes that are certainly not value nodes. The generated code tests `v.__class__ not in NV` before
# calling a slow-path helper, so a missing field or a null costs a set lookup, not a function call.
_NOT_VALUE = frozenset({_Missing, type(None), bool, dict, list})
_REL_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_PY_OPS = {"=": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_IS_CONSTANTS = {"NULL": "None", "TRUE": "True", "FALSE": "False"}


# -- slow paths, reached only for nodes that are not exactly `str` / `int` -------------------------------
def _text_test(v: Any, test: Callable[[str], bool]) -> bool:
    """``=`` on a number node or str subclass: the test on its text; False for non-value nodes."""
    text = node_text(v)
    return text is not None and test(text)


def _text_test_not(v: Any, test: Callable[[str], bool]) -> bool:
    """``!=``: still requires a value node, so missing/null/bool/object/array give False."""
    text = node_text(v)
    return text is not None and not test(text)


def _num_test(v: Any, lit: Decimal, op: Callable[[Any, Any], bool]) -> bool:
    num = numeric_value(v)
    return num is not None and op(num, lit)


def _num_ne(v: Any, lit: Decimal) -> bool:
    # Spec 4.5: a value node without a numeric value is != every number; a non-value node never is.
    if node_text(v) is None:
        return False
    num = numeric_value(v)
    return num is None or num != lit


def _str_test(text: str) -> tuple[str, Callable[[str], bool], list[Any]]:
    """For a glob literal: (inline template over ``{s}`` with ``{k0}``.. constants, callable, constants)."""
    parts = tuple(text.split("*"))
    if len(parts) == 1:
        return "{s} == {k0}", text.__eq__, [text]
    if all(not p for p in parts):
        return "True", lambda s: True, []
    if len(parts) == 2 and not parts[1]:
        return "{s}.startswith({k0})", lambda s: s.startswith(parts[0]), [parts[0]]
    if len(parts) == 2 and not parts[0]:
        return "{s}.endswith({k0})", lambda s: s.endswith(parts[1]), [parts[1]]
    if len(parts) == 3 and not parts[0] and not parts[2]:
        return "{k0} in {s}", lambda s: parts[1] in s, [parts[1]]

    def test(s: str) -> bool:
        return glob_match(parts, s)

    return "{k0}({s})", test, [test]


def _regex_test(lit: RegexLit) -> tuple[str, Callable[[str], bool], list[Any]]:
    form = literal_form(lit.source)
    if form is None:
        search = compile_regex(lit.translated).search
        return "{k0}({s})", search, [search]
    start, text, end = form
    if start and end:
        return "{s} == {k0}", text.__eq__, [text]
    if start:
        return "{s}.startswith({k0})", lambda s: s.startswith(text), [text]
    if end:
        return "{s}.endswith({k0})", lambda s: s.endswith(text), [text]
    return "{k0} in {s}", lambda s: text in s, [text]


class _Gen:
    """Accumulates constants and temporaries while turning a tree into one expression."""

    def __init__(self) -> None:
        self.consts: list[Any] = []
        self.n = 0

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"_k{len(self.consts) - 1}"

    def tmp(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def node_expr(self, sel: Selector, base: str = "e") -> str:
        """Expression for the node at a wildcard-free selector, or ``M`` when there is none."""
        expr = base
        for step in sel:
            t = self.tmp("_t")
            if isinstance(step, Prop):
                key = self.const(step.name)
                if expr == "e":  # the root is known to be a dict
                    expr = f"e.get({key}, M)"
                else:
                    expr = f"({t}.get({key}, M) if isinstance({t} := {expr}, dict) else M)"
            else:
                assert isinstance(step, Index) and type(step.i) is int
                i = int(step.i)
                expr = f"({t}[{i}] if isinstance({t} := {expr}, list) and len({t}) > {i} else M)"
        return expr

    def predicate(self, cond: Compare | IsCheck, vexpr: str, var: str) -> str:
        """Expression deciding ``cond`` for the single node ``vexpr`` (bound to ``var`` on first use)."""
        bind = var if vexpr == var else f"({var} := {vexpr})"
        if isinstance(cond, IsCheck):
            return f"({vexpr} is {_IS_CONSTANTS[cond.kind]})"
        lit = cond.value
        if isinstance(lit, NumLit):
            k = self.const(lit.value)
            fast = k
            # int vs int is cheaper than int vs Decimal. The exponent guard matters: `1e999999999` is a
            # valid NUMBER, and int() of it would build a billion-digit integer.
            if lit.value.adjusted() < 64 and lit.value == lit.value.to_integral_value():
                fast = self.const(int(lit.value))
            if cond.op == "!=":
                slow = f"_num_ne({var}, {k})"
            else:
                slow = f"_num_test({var}, {k}, {self.const(_REL_OPS[cond.op])})"
            return (
                f"({var} {_PY_OPS[cond.op]} {fast} if {bind}.__class__ is int "
                f"else ({var}.__class__ not in NV and {slow}))"
            )
        if (
            isinstance(lit, StrLit)
            and not lit.wildcard
            and cond.op == "="
            and not could_be_number_text(lit.text)
        ):
            # Only a str can equal a non-numeric word, and `==` never raises: no type check needed.
            return f"({vexpr} == {self.const(lit.text)})"
        if isinstance(lit, StrLit):
            template, test, consts = _str_test(lit.text)
        else:
            template, test, consts = _regex_test(lit)
        names = {f"k{i}": self.const(c) for i, c in enumerate(consts)}
        inline = template.format(s=var, **names)
        ktest = self.const(test)
        if cond.op == "=":
            return (
                f"({inline} if {bind}.__class__ is str "
                f"else ({var}.__class__ not in NV and _text_test({var}, {ktest})))"
            )
        return (
            f"(not {inline} if {bind}.__class__ is str "
            f"else ({var}.__class__ not in NV and _text_test_not({var}, {ktest})))"
        )

    def condition(self, cond: Condition) -> str:
        if has_wildcard(cond.selector):
            return self.wildcard_condition(cond)
        vexpr = self.node_expr(cond.selector)
        if isinstance(cond, NotExists):
            return f"({vexpr} is M)"
        return self.predicate(cond, vexpr, self.tmp("_v"))

    def wildcard_condition(self, cond: Condition) -> str:
        """Existential condition: the prefix is resolved inline, then each element is tested."""
        sel = cond.selector
        at = next(i for i, step in enumerate(sel) if isinstance(step, AnyIndex | AnyProp))
        c, w = self.tmp("_c"), self.tmp("_w")
        container = self.node_expr(sel[:at])
        if isinstance(sel[at], AnyIndex):
            head, items = f"isinstance({c} := {container}, list)", c
        else:
            head, items = f"isinstance({c} := {container}, dict)", f"{c}.values()"
        # The parser allows one wildcard per selector, so the rest of the path is plain.
        vexpr = self.node_expr(sel[at + 1 :], base=w)
        if isinstance(cond, NotExists):
            return f"(not ({head} and any({vexpr} is not M for {w} in {items})))"
        return f"({head} and any({self.predicate(cond, vexpr, self.tmp('_v'))} for {w} in {items}))"

    def exact_set(self, sel: Selector, values: list[str]) -> str:
        """``sel = "A" || sel = "B" || ...`` as one membership test."""
        k = self.const(frozenset(values))
        test = self.const(frozenset(values).__contains__)
        v = self.tmp("_v")
        return (
            f"({v} in {k} if ({v} := {self.node_expr(sel)}).__class__ is str "
            f"else ({v}.__class__ not in NV and _text_test({v}, {test})))"
        )

    def expr(self, node: Node) -> str:
        if isinstance(node, MatchAll):
            return "True"
        if isinstance(node, And):
            return "(" + " and ".join(self.expr(c) for c in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.or_terms(node)) + ")"
        return self.condition(node)

    def or_terms(self, node: Or) -> list[str]:
        """The terms of an OR, with exact equalities on one plain selector merged into a set test."""
        groups: dict[Selector, list[str]] = {}
        for child in node.children:
            if _exact_eq(child):
                assert isinstance(child, Compare) and isinstance(child.value, StrLit)
                groups.setdefault(child.selector, []).append(child.value.text)
        terms: list[str] = []
        done: set[Selector] = set()
        for child in node.children:
            if _exact_eq(child):
                assert isinstance(child, Compare)
                sel = child.selector
                if len(groups[sel]) > 1:
                    if sel not in done:
                        done.add(sel)
                        terms.append(self.exact_set(sel, groups[sel]))
                    continue
            terms.append(self.expr(child))
        return terms


def _exact_eq(node: Node) -> bool:
    return (
        isinstance(node, Compare)
        and node.op == "="
        and isinstance(node.value, StrLit)
        and not node.value.wildcard
        and not has_wildcard(node.selector)
    )


_HELPERS: dict[str, Any] = {
    "M": _MISSING,
    "NV": _NOT_VALUE,
    "Mapping": Mapping,
    "isinstance": isinstance,
    "str": str,
    "int": int,
    "dict": dict,
    "list": list,
    "len": len,
    "any": any,
    "_text_test": _text_test,
    "_text_test_not": _text_test_not,
    "_num_test": _num_test,
    "_num_ne": _num_ne,
}


def generate(ast: Node) -> tuple[str, list[Any]]:
    """The factory source for a tree and the constants to call it with (after the helpers)."""
    gen = _Gen()
    body = gen.expr(ast)
    params = ", ".join([*_HELPERS, *(f"_k{i}" for i in range(len(gen.consts)))])
    root = (
        "        if e.__class__ is not dict:\n"
        "            if not isinstance(e, Mapping):\n"
        "                return False\n"
        "            e = dict(e)\n"
    )
    if isinstance(ast, MatchAll):
        root = ""  # the empty pattern matches anything, even a non-object
    src = f"def _factory({params}):\n    def match(e):\n{root}        return {body}\n    return match\n"
    return src, gen.consts


def compile_ast(ast: Node) -> tuple[Matcher, str]:
    """Generate, compile and return the matcher function for a parsed tree, with its source."""
    src, consts = generate(ast)
    namespace: dict[str, Any] = {"__builtins__": {}}
    # S102: the source comes from our templates only; user text reaches the function as arguments.
    exec(compile(src, "<filter-pattern>", "exec"), namespace)  # noqa: S102
    fn: Matcher = namespace["_factory"](*_HELPERS.values(), *consts)
    return fn, src
