"""RuleSet: datapoints, eventTime, golden-example runner, lint, selectors, digest and the index."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trailwatchd.model import MetricDatapoint
from trailwatchd.patterns import compile_pattern, parse_selector
from trailwatchd.rules import Example, MetricSpec, Rule, RuleLoadError, RuleSet, event_time

DATA = Path(__file__).parent / "data" / "rules"


def make_rule(rule_id: str, pattern: str, **kw: Any) -> Rule:
    """A rule built in code, as benchmarks and tools do."""
    return Rule(id=rule_id, pattern=compile_pattern(pattern), **kw)


def field_metric(value: str, dims: dict[str, str] | None = None) -> MetricSpec:
    """A metric whose value is read from a field (or a literal when ``value`` is a number)."""
    dims = dims or {}
    literal = not value.startswith("$")
    return MetricSpec(
        namespace="T",
        name="M",
        value=value,
        value_number=float(value) if literal else None,
        value_selector=None if literal else parse_selector(value),
        dimensions=tuple(dims.items()),
        dimension_selectors=tuple(parse_selector(v) for v in dims.values()),
    )


# -- datapoints -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (512, 512.0),
        (Decimal("2.5"), 2.5),
        (0, 0.0),
        ("12.50", 12.5),
        ("+3", 3.0),
        ("1e3", None),  # scientific-notation strings are not numbers (filter-patterns spec 4.5)
        ("12 MB", None),
        ("", None),
        (True, None),
        (None, None),
        ({"n": 1}, None),
        (-4, None),  # a counter cannot decrease
        (Decimal("1e400"), None),  # beyond float range
    ],
)
def test_datapoint_value_from_field(field: object, expected: float | None) -> None:
    """A field value gives a datapoint only for numbers and plain-decimal strings that a counter can add."""
    rule = make_rule("bytes", "{ $.bytes = * }", metric=field_metric("$.bytes"))
    rs = RuleSet.from_rules([rule])
    point = rs.datapoint(rule, {"bytes": field})
    assert (point.value if point else None) == expected
    assert rs.extraction_failures == ({} if expected is not None else {"bytes": 1})


def test_datapoint_missing_field_counts_failures_per_rule() -> None:
    """Each missing value bumps the rule's extraction-failure count and publishes nothing."""
    rule = make_rule("bytes", "{ $.eventName = * }", metric=field_metric("$.bytes"))
    rs = RuleSet.from_rules([rule])
    assert rs.datapoint(rule, {"eventName": "x"}) is None
    assert rs.datapoint(rule, {"eventName": "x", "bytes": []}) is None
    assert rs.extraction_failures == {"bytes": 2}


def test_datapoint_literal_dimensions_and_timestamp() -> None:
    """A literal value, dimension values by text or number lexeme, "" when missing, and eventTime."""
    dims = {"Name": "$.eventName", "Code": "$.code", "Region": "$.awsRegion", "Obj": "$.obj"}
    rule = make_rule("r", "{ $.eventName = * }", metric=field_metric("1", dims))
    event = {
        "eventName": "PutObject",
        "code": Decimal("1.50"),
        "obj": {},
        "eventTime": "2024-01-02T03:04:05Z",
    }
    point = RuleSet.from_rules([rule]).datapoint(rule, event)
    assert point == MetricDatapoint(
        "T",
        "M",
        1.0,
        (("Name", "PutObject"), ("Code", "1.50"), ("Region", ""), ("Obj", "")),
        1704164645.0,
    )


def test_datapoint_first_value_of_a_wildcard_selector() -> None:
    """With a wildcard selector the first string or number node in document order is used."""
    rule = make_rule("r", "{ $.sizes[*] = * }", metric=field_metric("$.sizes[*]", {"First": "$.tags[*]"}))
    point = RuleSet.from_rules([rule]).datapoint(rule, {"sizes": [None, {}, 7, 9], "tags": [[], "a", "b"]})
    assert point is not None and (point.value, point.dimensions) == (7.0, (("First", "a"),))


def test_datapoint_without_metric_is_none() -> None:
    """A rule without a metric never yields a datapoint and counts no failure."""
    rule = make_rule("r", "{ $.a = 1 }")
    rs = RuleSet.from_rules([rule])
    assert rs.datapoint(rule, {"a": 1}) is None and rs.extraction_failures == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", 1704164645.0),
        ("2024-01-02T03:04:05.250Z", 1704164645.25),
        ("2024-01-02T05:04:05+02:00", 1704164645.0),
        ("2024-01-02T03:04:05", 1704164645.0),  # no zone: UTC, as CloudTrail writes
        ("yesterday", None),
        ("", None),
        (1704164645, None),
        (None, None),
    ],
)
def test_event_time(value: object, expected: float | None) -> None:
    """eventTime parses ISO-8601 (Z or offsets) to epoch seconds; anything else is None."""
    assert event_time({"eventTime": value}) == expected


def test_event_time_absent() -> None:
    """An event without eventTime has no timestamp."""
    assert event_time({}) is None


# -- golden examples and lint -----------------------------------------------------------------------
def test_run_examples_catches_a_wrong_example(tmp_path: Path) -> None:
    """A wrong golden example is reported with file, rule, index, expected vs got and its note."""
    path = tmp_path / "r.toml"
    path.write_text(
        '[[rule]]\nid = "r"\npattern = \'{ $.eventName = "A" }\'\n'
        '[[rule.examples]]\nmatch = true\nevent = { eventName = "A" }\n'
        '[[rule.examples]]\nmatch = true\nevent = { eventName = "B" }\nnote = "deliberately wrong"\n'
    )
    (failure,) = RuleSet.load([path]).run_examples()
    assert (failure.file, failure.rule_id, failure.index) == (str(path), "r", 1)
    assert (failure.expected, failure.compiled, failure.reference) == (True, False, False)
    text = str(failure)
    assert "rule 'r' example 1 [inline]" in text and "expected match, got no match" in text
    assert "deliberately wrong" in text and "reference" not in text


def test_run_examples_reports_evaluator_disagreement() -> None:
    """If the compiled evaluator and the reference interpreter disagree, the failure says so."""
    good = compile_pattern('{ $.eventName = "A" }')
    broken = dataclasses.replace(good, matches=lambda event: True)
    rule = Rule(id="r", pattern=broken, examples=(Example(match=False, event={"eventName": "B"}),))
    (failure,) = RuleSet.from_rules([rule]).run_examples()
    assert (failure.compiled, failure.reference) == (True, False)
    assert "<in memory>" in str(failure) and "the reference interpreter says False" in str(failure)


def test_shipped_examples_pass() -> None:
    """The fixture pack's examples (inline, JSON text and files) all pass."""
    rs = RuleSet.load([DATA])
    assert sum(len(r.examples) for r in rs.rules) == 8
    assert rs.run_examples() == []


def test_lint_pairs_rule_ids_with_warnings() -> None:
    """lint() returns (rule id, warning) for pitfalls such as != on an often-absent field."""
    rs = RuleSet.from_rules(
        [
            make_rule("clean", '{ $.eventName = "ConsoleLogin" }'),
            make_rule(
                "mfa", '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }'
            ),
        ]
    )
    assert [(rid, w.code) for rid, w in rs.lint()] == [("mfa", "ne-optional-field")]


# -- structure ----------------------------------------------------------------------------------------
def test_selectors_cover_patterns_metrics_and_base_fields() -> None:
    """selectors holds what enabled rules read (pattern, value, dimensions) plus the four base fields."""
    metric = field_metric("$.bytes", {"Bucket": "$.requestParameters.bucketName"})
    rs = RuleSet.from_rules(
        [
            make_rule("a", "{ $.userIdentity.type = Root }", metric=metric),
            make_rule("off", "{ $.secret = 1 }", enabled=False),
        ]
    )
    assert rs.fields == {
        "$.eventName",
        "$.eventSource",
        "$.eventTime",
        "$.eventID",
        "$.userIdentity.type",
        "$.bytes",
        "$.requestParameters.bucketName",
    }
    assert parse_selector("$.bytes") in rs.selectors


def test_match_skips_disabled_rules_and_keeps_load_order() -> None:
    """match returns enabled matching rules in load order, indexed or not."""
    rules = [
        make_rule("any-error", '{ $.errorCode = "*" }'),
        make_rule("login", '{ $.eventName = "ConsoleLogin" }'),
        make_rule("off", '{ $.eventName = "ConsoleLogin" }', enabled=False),
        make_rule("root", '{ $.userIdentity.type = "Root" }'),
    ]
    rs = RuleSet.from_rules(rules)
    event = {"eventName": "ConsoleLogin", "errorCode": "Failed", "userIdentity": {"type": "Root"}}
    assert [r.id for r in rs.match(event)] == ["any-error", "login", "root"]
    assert [r.id for r in rs.always_run()] == ["any-error", "root"]
    assert rs.indexed_names() == {"ConsoleLogin"}


def test_rule_built_in_code_derives_index_key_and_title() -> None:
    """A Rule built without event_names or title gets them from its pattern and id."""
    rule = make_rule("r", '{ ($.eventName = "A" || $.eventName = "B") && $.x = 1 }')
    assert rule.event_names == frozenset({"A", "B"}) and rule.title == "r"
    assert make_rule("u", '{ $.eventName = "A" || $.x = 1 }').event_names is None


def test_from_rules_rejects_duplicate_ids() -> None:
    """Two rules with one id cannot form a rule set."""
    with pytest.raises(RuleLoadError, match="duplicate id"):
        RuleSet.from_rules([make_rule("r", "{ $.a = 1 }"), make_rule("r", "{ $.b = 1 }")])


def test_get_unknown_rule_raises_key_error() -> None:
    """get() of an unknown id raises KeyError, and len() counts all rules."""
    rs = RuleSet.from_rules([make_rule("r", "{ $.a = 1 }", enabled=False)])
    assert rs.get("r").id == "r" and len(rs) == 1
    with pytest.raises(KeyError):
        rs.get("nope")


def test_ruleset_pickles_as_its_rules() -> None:
    """A pickled rule set (for a process pool) rebuilds with the same rules, digest and matches."""
    rs = RuleSet.load([DATA])
    copy = pickle.loads(pickle.dumps(rs))
    assert [r.id for r in copy.rules] == [r.id for r in rs.rules] and copy.digest == rs.digest
    event = {
        "eventName": "ConsoleLogin",
        "userIdentity": {"type": "IAMUser"},
        "additionalEventData": {"MFAUsed": "No"},
    }
    assert [r.id for r in copy.match(event)] == ["console-login-without-mfa"]


# -- digest -------------------------------------------------------------------------------------------
BASE = '[[rule]]\nid = "r"\npattern = \'{ $.a = 1 }\'\nseverity = "high"\n'


def digest_of(tmp_path: Path, text: str, name: str = "r.toml") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return RuleSet.load([path]).digest


@pytest.mark.parametrize(
    ("text", "same"),
    [
        ("# a comment\n\n[[rule]]\nseverity = 'high'\nid=\"r\"\npattern = '{ $.a = 1 }'\n", True),
        (BASE + '[[rule.examples]]\nmatch = true\nevent = { a = 1 }\nnote = "examples do not count"\n', True),
        ('[pack]\nname = "renamed"\n' + BASE, True),
        (BASE.replace("high", "critical"), False),
        (BASE + 'description = "new text shown in alerts"\n', False),
        (BASE + 'tags = ["t"]\n', False),
        (BASE.replace("{ $.a = 1 }", "{ $.a = 2 }"), False),
        (BASE + '[rule.metric]\nnamespace = "N"\nname = "M"\nvalue = "1"\n', False),
    ],
    ids=["layout", "examples", "pack", "severity", "description", "tags", "pattern", "metric"],
)
def test_digest_tracks_run_time_content_only(tmp_path: Path, text: str, same: bool) -> None:
    """The digest ignores layout, comments, examples and pack metadata but not anything rules do or say."""
    base = digest_of(tmp_path / "base", BASE)
    assert (digest_of(tmp_path / "other", text, "moved/elsewhere.toml") == base) is same


def test_digest_is_stable_across_processes(tmp_path: Path) -> None:
    """The digest is the same in another process with another hash seed (it is content, not identity)."""
    here = RuleSet.load([DATA]).digest
    code = f"from trailwatchd.rules import RuleSet; print(RuleSet.load([{str(DATA)!r}]).digest)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == here and len(here) == 64
