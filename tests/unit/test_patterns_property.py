"""Property tests: generated patterns and events, compiled evaluator == reference interpreter.

Patterns are generated as trees from the grammar (selectors with wildcards and bracket keys, every
operator, strings with ``*``, numbers in every NUMBER form, regexes, IS / NOT EXISTS, nesting), rendered
to text and parsed back, so the parser is checked too. Events are small JSON documents of every type
whose keys come from the same tiny alphabet as the selectors, so selectors usually hit something.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trailwatchd.patterns import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Index,
    IsCheck,
    Node,
    NotExists,
    NumLit,
    Or,
    Prop,
    RegexLit,
    StrLit,
    compile_pattern,
    parse_pattern,
    required_values,
    selector_text,
)
from trailwatchd.patterns.contradiction import never_matches
from trailwatchd.patterns.nodes import Selector, Step, conditions, has_wildcard
from trailwatchd.patterns.reference import reference_matches, resolve
from trailwatchd.patterns.regex import translate
from trailwatchd.patterns.values import glob_match, node_text

KEYS = ["a", "b", "c.d"]
TEXT_ALPHABET = "ab5.-*"

# -- events --------------------------------------------------------------------------------------------
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.sampled_from([Decimal("5"), Decimal("0.5"), Decimal("-2.25"), Decimal("1E+2"), Decimal("1.50")]),
    st.sampled_from([0.5, 2.0, -1.25, float("inf"), float("nan"), Decimal("NaN"), Decimal("-Infinity")]),
    st.text(alphabet=TEXT_ALPHABET, max_size=4),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["5", "1.0", "-2", "1e3", "", "true", "null", "a*b", "5.50", " 5", "ab\n"]),
    st.sampled_from(["\u00e9b", "a\ud800", "1_000", "\u0665"]),  # non-ASCII, surrogate, near-numbers
)
_json = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
# Leaves twice as likely as containers at the top, so plain selectors often reach a value node.
events = st.dictionaries(st.sampled_from(KEYS), st.one_of(_leaves, _leaves, _json), max_size=3)
# For the static-analysis test: top-level values drawn mostly from the literals small_string_lits uses.
_common = st.sampled_from(["a", "a", "a", "b", "b", "5", "", "1.0", 5, None, True])
small_events = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(
        _common, _common, st.lists(_common, max_size=2), st.dictionaries(st.sampled_from(KEYS), _common)
    ),
    min_size=2,
    max_size=3,
)

# -- patterns ------------------------------------------------------------------------------------------
_steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(Prop, st.sampled_from(KEYS)),
    st.builds(Index, st.integers(0, 1)),
    st.just(AnyIndex()),
    st.just(AnyProp()),
)
selectors = (
    st.lists(_steps, min_size=1, max_size=3)
    .map(tuple)
    .filter(
        lambda sel: (
            sum(isinstance(s, AnyIndex | AnyProp) for s in sel) <= 1 and isinstance(sel[0], Prop | AnyProp)
        )
    )
)
plain_selectors = (
    st.lists(
        st.one_of(st.builds(Prop, st.sampled_from(KEYS)), st.builds(Index, st.integers(0, 1))),
        min_size=1,
        max_size=2,
    )
    .map(tuple)
    .filter(lambda sel: isinstance(sel[0], Prop))
)

NUMBERS = ["5", "-2", "+3", "0.5", "1.0", "1e2", "2.25", "10e-1", "0", "1.50", "-2.25"]
# Literal-only bodies take the compiler's str-method path; the others go through RE2.
REGEXES = [
    "a", "^a", "b$", "^5$", r"\.", "^$", "^-", "[0-9]", "a|b", ".", "a.?b", r"\d+", "5{1,2}", "[^a]", "a*",
    "b{,1}$", r"\s", "^[a5]+$",
]  # fmt: skip
string_lits = st.builds(StrLit, st.text(alphabet=TEXT_ALPHABET + ' "\\', max_size=4), st.booleans())
number_lits = st.sampled_from(NUMBERS).map(lambda t: NumLit(Decimal(t), t))
regex_lits = st.sampled_from(REGEXES).map(lambda body: RegexLit(body, translate(body)))


# Few distinct strings, so exact equalities in the static-analysis test often hit the events' values.
small_string_lits = st.builds(StrLit, st.sampled_from(["a", "b", "5", "", "a*", "*b", "1.0"]), st.booleans())


def _compares(
    sel: st.SearchStrategy[Selector], strings: st.SearchStrategy[StrLit] = string_lits
) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Compare, sel, st.sampled_from(["=", "!="]), st.one_of(strings, regex_lits)),
        st.builds(Compare, sel, st.sampled_from(["=", "!=", "<", ">", "<=", ">="]), number_lits),
        st.builds(IsCheck, sel, st.sampled_from(["NULL", "TRUE", "FALSE"])),
        st.builds(NotExists, sel),
    )


def _trees(leaf: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda cs: And(tuple(cs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs))),
        ),
        max_leaves=6,
    )


def _within_quotas(tree: Node) -> bool:
    conds = conditions(tree)
    regexes = sum(isinstance(c, Compare) and isinstance(c.value, RegexLit) for c in conds)
    wild = sum(has_wildcard(c.selector) for c in conds)
    return regexes <= 2 and wild <= 3


patterns = _trees(_compares(selectors)).filter(_within_quotas)
plain_patterns = _trees(_compares(plain_selectors, small_string_lits)).filter(_within_quotas)

_BARE = re.compile(r"[A-Za-z0-9_.*+-]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?")


def render_value(value: StrLit | NumLit | RegexLit) -> str:
    if isinstance(value, NumLit):
        return value.text
    if isinstance(value, RegexLit):
        return f"%{value.source}%"
    if not value.quoted and _BARE.fullmatch(value.text) and not _NUMBER.fullmatch(value.text):
        return value.text
    return '"' + value.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(node: Node) -> str:
    if isinstance(node, And | Or):
        joiner = " && " if isinstance(node, And) else " || "
        return joiner.join(f"({render(c)})" if isinstance(c, And | Or) else render(c) for c in node.children)
    sel = selector_text(node.selector)
    if isinstance(node, Compare):
        return f"{sel} {node.op} {render_value(node.value)}"
    if isinstance(node, IsCheck):
        return f"{sel} IS {node.kind}"
    assert isinstance(node, NotExists)
    return f"{sel} NOT EXISTS"


def normalize(node: Node) -> Node:
    """What the parser makes of a generated tree: nested same-operator groups flattened."""
    if isinstance(node, And | Or):
        kind = type(node)
        out: list[Node] = []
        for child in (normalize(c) for c in node.children):
            out.extend(child.children if isinstance(child, kind) else (child,))
        return kind(tuple(out))
    return node


@settings(max_examples=500, deadline=None)
@given(tree=patterns, evs=st.lists(events, min_size=1, max_size=6))
def test_compiled_equals_reference(tree: Node, evs: list[dict[str, Any]]) -> None:
    """For generated patterns and events, the compiled evaluator agrees with the reference interpreter."""
    text = "{ " + render(tree) + " }"
    parsed = parse_pattern(text)
    assert parsed == normalize(tree), text
    compiled = compile_pattern(text)
    for event in evs:
        assert compiled.matches(event) == reference_matches(parsed, event), (text, event)


@settings(max_examples=300, deadline=None)
@given(tree=plain_patterns, evs=st.lists(small_events, min_size=1, max_size=8))
def test_static_analyses_are_sound(tree: Node, evs: list[dict[str, Any]]) -> None:
    """never-matches never flags a pattern that matches, and required_values never excludes a match."""
    text = "{ " + render(tree) + " }"
    compiled = compile_pattern(text)
    never = never_matches(compiled.ast)
    for sel in {c.selector for c in conditions(compiled.ast)}:
        allowed = required_values(compiled.ast, sel)
        for event in evs:
            if allowed is not None and compiled.matches(event):
                texts = {node_text(n) for n in resolve(event, sel)}
                assert texts & allowed, (text, event, allowed)
    for event in evs:
        assert not (never is not None and compiled.matches(event)), (text, event, never)


@settings(max_examples=800, deadline=None)
@given(glob=st.text(alphabet="ab*", max_size=6), text=st.text(alphabet="ab", max_size=8))
def test_glob_matches_regex_definition(glob: str, text: str) -> None:
    """The split-and-find glob agrees with the regex definition of a whole-value `*` glob."""
    expected = re.fullmatch(".*".join(re.escape(p) for p in glob.split("*")), text, re.DOTALL) is not None
    parts = tuple(glob.split("*"))
    actual = glob_match(parts, text) if len(parts) > 1 else glob == text
    assert actual == expected
