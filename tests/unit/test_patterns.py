"""The filter-pattern engine against the spec's examples: both evaluators, every table row."""

from __future__ import annotations

import ast as pyast
import pickle
import subprocess
import sys
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.patterns_cases import ALL_CASES, CIS, IAM_POLICY_EVENTS, REJECTIONS, SAMPLE, record
from trailwatchd.errors import ConfigError, PatternSyntaxError
from trailwatchd.patterns import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    CompiledPattern,
    Index,
    IsCheck,
    MatchAll,
    NotExists,
    NumLit,
    Or,
    Prop,
    RegexLit,
    StrLit,
    compile_pattern,
    loads_event,
    parse_pattern,
    parse_selector,
    required_values,
)
from trailwatchd.patterns.reference import reference_matches


@pytest.mark.parametrize(
    ("case_id", "pattern", "event", "expected"), ALL_CASES, ids=[c[0] for c in ALL_CASES]
)
def test_compiled_evaluator(case_id: str, pattern: str, event: Any, expected: bool) -> None:
    """The compiled evaluator gives the documented answer for every table row."""
    assert compile_pattern(pattern).matches(event) is expected


@pytest.mark.parametrize(
    ("case_id", "pattern", "event", "expected"), ALL_CASES, ids=[c[0] for c in ALL_CASES]
)
def test_reference_evaluator(case_id: str, pattern: str, event: Any, expected: bool) -> None:
    """The reference interpreter gives the documented answer for every table row."""
    assert reference_matches(parse_pattern(pattern), event) is expected


@pytest.mark.parametrize(
    ("case_id", "pattern", "fragment", "column"), REJECTIONS, ids=[r[0] for r in REJECTIONS]
)
def test_rejections(case_id: str, pattern: str, fragment: str, column: int) -> None:
    """Every form AWS rejects raises PatternSyntaxError naming the problem, with the caret on it."""
    with pytest.raises(PatternSyntaxError) as info:
        compile_pattern(pattern)
    err = info.value
    assert fragment in err.reason
    assert err.column == column, str(err)
    assert err.pattern == pattern
    rendered = str(err)
    assert rendered.splitlines()[-1] == "    " + " " * (column - 1) + "^"


def test_pattern_error_is_a_config_error_with_location() -> None:
    """PatternSyntaxError is a ConfigError, so rule loaders can attach the file and key path."""
    with pytest.raises(ConfigError):
        parse_pattern("{ $.a = }")
    err = PatternSyntaxError("boom", "{\n  $.a = }", 9, file="rules/x.toml", key="rule[0].pattern")
    assert (err.line, err.column) == (2, 8)
    assert str(err).startswith("rules/x.toml: rule[0].pattern: boom (at line 2, column 8)")


def test_multiline_pattern_error_points_at_the_line() -> None:
    """A multi-line pattern reports the line and column of the offending token."""
    with pytest.raises(PatternSyntaxError) as info:
        parse_pattern('{\n  $.eventName = "x" &&\n  $.b == 1\n}')
    assert (info.value.line, info.value.column) == (3, 7)


def test_1024_characters_are_accepted() -> None:
    """A pattern of exactly 1024 characters is within the PutMetricFilter limit."""
    body = '{ $.a = "' + "x" * 1012 + '" }'
    assert len(body) == 1024
    assert compile_pattern(body).matches({"a": "x" * 1012})


def test_two_regexes_and_three_wildcards_are_accepted() -> None:
    """The quotas themselves (2 regexes, 3 wildcard selectors) are allowed."""
    p = compile_pattern("{ $.a[*] = %x% && $.b.* = %y% && $.c[*] = 1 }")
    assert p.matches({"a": ["x"], "b": {"k": "y"}, "c": [1]})


def _n(text: str) -> NumLit:
    return NumLit(Decimal(text), text)


def _eq(name: str, value: StrLit | NumLit | RegexLit) -> Compare:
    return Compare((Prop(name),), "=", value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MatchAll()),
        ("{ $.a = x }", _eq("a", StrLit("x"))),
        (
            "{ $.a = x || $.b = y && $.c = z }",
            Or((_eq("a", StrLit("x")), And((_eq("b", StrLit("y")), _eq("c", StrLit("z")))))),
        ),
        (
            "{ ($.a = x || $.b = y) && $.c = z }",
            And((Or((_eq("a", StrLit("x")), _eq("b", StrLit("y")))), _eq("c", StrLit("z")))),
        ),
        (
            "{ ($.a = x && $.b = y) && $.c = z }",
            And((_eq("a", StrLit("x")), _eq("b", StrLit("y")), _eq("c", StrLit("z")))),
        ),
        ("{ $.a = +1000 }", _eq("a", _n("+1000"))),
        ("{ $.a = 1e-3 }", _eq("a", _n("1e-3"))),
        ("{ $.a = -5.5 }", _eq("a", _n("-5.5"))),
        ("{ $.a = 1.2.3 }", _eq("a", StrLit("1.2.3"))),
        ("{ $.a = 1E3 }", _eq("a", StrLit("1E3"))),
        ("{ $.a = kms.amazonaws.com }", _eq("a", StrLit("kms.amazonaws.com"))),
        ('{ $.a = "400" }', _eq("a", StrLit("400"))),
        ("{ $.a = %^a{,2}$% }", _eq("a", RegexLit("^a{,2}$", "^a{0,2}$"))),
        ("{ $.a IS TRUE }", IsCheck((Prop("a"),), "TRUE")),
        ("{ $.a.b[2] NOT EXISTS }", NotExists((Prop("a"), Prop("b"), Index(2)))),
        ("{ $.a[*].b = 1 }", Compare((Prop("a"), AnyIndex(), Prop("b")), "=", _n("1"))),
        ("{ $.*.b != 1 }", Compare((AnyProp(), Prop("b")), "!=", _n("1"))),
        ("{ $.a.['b.c'].d = x }", Compare((Prop("a"), Prop("b.c"), Prop("d")), "=", StrLit("x"))),
    ],
)
def test_parse_tree(text: str, expected: object) -> None:
    """Precedence (() > && > ||), flattening, literal classification and selectors parse as specified."""
    assert parse_pattern(text) == expected


def test_tree_equality_ignores_spacing_and_quoting() -> None:
    """Trees compare by meaning: spacing and quoted-vs-bare spelling of one string give equal trees."""
    assert parse_pattern('{$.a="x"}') == parse_pattern("{ ( $.a = x ) }")


@pytest.mark.parametrize(
    ("text", "selector", "canonical"),
    [
        ("$.eventName", (Prop("eventName"),), "$.eventName"),
        ("$.a.b[0]", (Prop("a"), Prop("b"), Index(0)), "$.a.b[0]"),
        ("$.resources[*].ARN", (Prop("resources"), AnyIndex(), Prop("ARN")), "$.resources[*].ARN"),
        ("$.*", (AnyProp(),), "$.*"),
        ("$.['cluster.name']", (Prop("cluster.name"),), "$.['cluster.name']"),
        ("$.['plain']", (Prop("plain"),), "$.plain"),
        ("$.a.['b c'].d", (Prop("a"), Prop("b c"), Prop("d")), "$.a.['b c'].d"),
        ("  $.bytes  ", (Prop("bytes"),), "$.bytes"),
    ],
)
def test_parse_selector(text: str, selector: tuple[object, ...], canonical: str) -> None:
    """parse_selector gives the step tuple and fields spells it canonically."""
    assert parse_selector(text) == selector
    assert compile_pattern("{ " + text.strip() + " = * }").fields == frozenset({canonical})


@pytest.mark.parametrize("text", ["bytes", "$", "$.a = 1", "$.a.", "$.a[x]", "$.['a", ""])
def test_parse_selector_rejects(text: str) -> None:
    """Anything but one whole selector is a PatternSyntaxError."""
    with pytest.raises(PatternSyntaxError):
        parse_selector(text)


def test_fields_and_selectors_of_cis_3_2() -> None:
    """fields/selectors list every selector the pattern reads, canonically spelled."""
    p = compile_pattern(CIS["3.2"])
    assert p.fields == {
        "$.eventName",
        "$.additionalEventData.MFAUsed",
        "$.userIdentity.type",
        "$.responseElements.ConsoleLogin",
    }
    assert (Prop("additionalEventData"), Prop("MFAUsed")) in p.selectors
    assert compile_pattern("").fields == frozenset()


def test_compiled_pattern_pickles_by_text() -> None:
    """A compiled pattern survives pickling (process-pool offload) and still matches."""
    p = compile_pattern(CIS["3.4"])
    clone = pickle.loads(pickle.dumps(p))
    assert clone == p
    assert clone.matches(record(eventSource="iam.amazonaws.com", eventName="PutRolePolicy"))


def test_patterns_package_is_pure() -> None:
    """Importing the pattern library loads no asyncio, no AWS code and no other trailwatchd layer."""
    code = (
        "import sys, trailwatchd.patterns, trailwatchd.patterns.reference\n"
        "bad = [m for m in sys.modules if m in ('asyncio', 'botocore', 'aiobotocore') or "
        "(m.startswith('trailwatchd.') and not m.startswith(('trailwatchd.patterns', 'trailwatchd.errors')))"
        "]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_compiled_pattern_equality_and_hash() -> None:
    """Compiled patterns are equal and hash alike when text and tree are equal (usable as dict keys)."""
    a, b = compile_pattern(CIS["3.1"]), compile_pattern(CIS["3.1"])
    assert a == b
    assert len({a, b}) == 1
    assert isinstance(a, CompiledPattern)
    assert a.text == CIS["3.1"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (CIS["3.4"], frozenset(IAM_POLICY_EVENTS)),
        (CIS["3.1"], None),
        (CIS["3.2"], frozenset({"ConsoleLogin"})),
        (CIS["3.3"], None),
        ('{ $.eventName = "A" && ($.eventName = "A" || $.eventName = "B") }', frozenset({"A"})),
        ('{ $.eventName = "A" && $.eventName = "B" }', frozenset()),
        ('{ $.eventName = "A" || $.eventSource = "s" }', None),
        ("{ $.eventName = A* }", None),
        ("{ $.eventName = 400 }", None),
        ('{ $.eventName != "A" }', None),
        ("{ $.eventName = %^A$% }", None),
        ("{ $.eventName NOT EXISTS }", None),
        ("", None),
        ('{ $.other.eventName = "A" }', None),
    ],
)
def test_required_values(pattern: str, expected: frozenset[str] | None) -> None:
    """required_values gives the eventName index keys: exact strings only, AND intersects, OR unions."""
    assert required_values(parse_pattern(pattern), (Prop("eventName"),)) == expected


def test_cis_3_4_index_matches_evaluation() -> None:
    """Every name required_values lists for CIS 3.4 does match with eventSource iam, and nothing else."""
    p = compile_pattern(CIS["3.4"])
    names = required_values(p.ast, (Prop("eventName"),))
    assert names is not None and len(names) == 16
    for name in names:
        assert p.matches(record(eventSource="iam.amazonaws.com", eventName=name))


def test_loads_event_representation() -> None:
    """loads_event keeps integers as int and other numbers as exact Decimal, and refuses NaN."""
    event = loads_event(b'{"i": 5, "d": 1.50, "e": 1e3, "b": true, "n": null}')
    assert event == {"i": 5, "d": Decimal("1.50"), "e": Decimal("1e3"), "b": True, "n": None}
    assert type(event["i"]) is int and type(event["d"]) is Decimal
    for bad in ('{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}'):
        with pytest.raises(ValueError, match="not valid JSON"):
            loads_event(bad)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("{ $.v = 1.50 }", Decimal("1.50"), True),
        ('{ $.v = "1.50" }', Decimal("1.50"), True),
        ('{ $.v = "1.5" }', Decimal("1.50"), False),
        ("{ $.v = 0.5 }", 0.5, True),
        ('{ $.v = "0.5" }', 0.5, True),
        ("{ $.v > 1 }", Decimal("NaN"), False),
        ("{ $.v != 1 }", Decimal("NaN"), True),
        ("{ $.v < 1 }", float("nan"), False),
        ("{ $.v > 1 }", Decimal("Infinity"), True),
        ("{ $.v = 100 }", Decimal("1E+2"), True),
        ('{ $.v = "1E+2" }', Decimal("1E+2"), True),
        ("{ $.v = 12345678901234567890123 }", 12345678901234567890123, True),
        ("{ $.v < 1e999999999 }", 10**100, True),
        ("{ $.v > 1e-999999999 }", 0, False),
        ("{ $.v = %^a.b$% }", "a\ud800b", True),
        ("{ $.v = %^a.b$% }", "a\nb", False),
        ("{ $.v = %b$% }", "ab\n", False),
        (r"{ $.v = %\s% }", "a\tb", True),
        (r"{ $.v = %\d% }", "\u0664", False),
        ("{ $.v = %gra|ey% }", "grey", True),
        ("{ $.v = %^gra|ey% }", "agrey", True),
        ("{ $.v = %[Ee]rror% }", "error", True),
        (r"{ $.v = %\x28% }", "(", True),
        ("{ $.v = %a{,2}b% }", "b", True),
        ("{ $.v = %[[]% }", "[", True),
        ("{ $.v = %[^a]% }", "\u00e9", True),
        ("{ $.v = %AUTHORIZED% }", "UNAUTHORIZED REQUEST", True),
        ("{ $.v = %^starting|^initializing|^shutting down% }", "shutting down now", True),
    ],
)
def test_number_text_and_regex_details(pattern: str, value: Any, expected: bool) -> None:
    """Number lexemes, NaN/Infinity, and RE2 regex semantics (search, $ = end of text, ASCII classes)."""
    event = {"v": value}
    assert compile_pattern(pattern).matches(event) is expected
    assert reference_matches(parse_pattern(pattern), event) is expected


def test_mapping_roots_and_subclasses() -> None:
    """Any Mapping is accepted at the root, and dict subclasses nest like dicts, in both evaluators."""
    p = compile_pattern('{ $.a.b = "x" && $.c[*] = 1 }')
    event = OrderedDict(a=OrderedDict(b="x"), c=[1])
    assert p.matches(event) and reference_matches(p.ast, event)

    class Weird(dict[str, Any]):
        pass

    assert p.matches(Weird(a=Weird(b="x"), c=[1]))


HOSTILE_VALUES = [
    "'); __import__('os').system('touch /tmp/pwned') #",
    '"); __import__("os").system("touch /tmp/pwned") #',
    "\\'; raise SystemExit #",
    "line1\nimport os\nos.system('id')",
    "{k0} {s} %(x)s __class__.__mro__",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_cannot_reach_generated_source(value: str) -> None:
    """User text never reaches the generated source: it only holds our names, integers and operators."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    key = value.replace("'", "").replace("\n", " ")
    pattern = (
        f'{{ $.a = "{quoted}" || $.a = "{quoted}*" || $.a != "{quoted}" || '
        f'$.[\'{key}\'] = "{quoted}" || $.b[*] = "*{quoted}*x" }}'
    )
    p = compile_pattern(pattern)
    assert p.matches({"a": value})
    assert p.matches({key: value})
    assert not p.matches({"b": [value]})
    tree = pyast.parse(p.source)
    constants = [n.value for n in pyast.walk(tree) if isinstance(n, pyast.Constant)]
    assert all(type(c) is int or c in (None, True, False) for c in constants), constants
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    allowed_prefixes = ("_k", "_t", "_v", "_w", "_c")
    helpers = {"match", "e", "M", "NV", "Mapping", "isinstance", "str", "int", "dict", "list", "len", "any"}
    helpers |= {"_text_test", "_text_test_not", "_num_test", "_num_ne"}
    assert all(name in helpers or name.startswith(allowed_prefixes) for name in names), names
    assert value not in p.source and key not in p.source


def test_reference_agrees_on_corpus(corpus_dir: Any) -> None:
    """On the shared CloudTrail corpus, both evaluators agree for every CIS pattern and the doc examples."""
    events: list[Any] = []
    for path in sorted(corpus_dir.glob("**/*.json*")):
        if path.suffix == ".jsonl":
            events += [loads_event(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            doc = loads_event(path.read_text())
            events += doc if isinstance(doc, list) else doc.get("Records", [doc])
    events.append(SAMPLE)
    assert len(events) > 100
    patterns = [compile_pattern(text) for text in CIS.values()]
    hits = 0
    for p in patterns:
        for event in events:
            compiled = p.matches(event)
            assert compiled == reference_matches(p.ast, event), (p.text, event)
            hits += compiled
    assert hits > 10
