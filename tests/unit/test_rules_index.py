"""The eventName index never changes results: indexed match() equals trying every rule."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailwatchd.patterns import compile_pattern, loads_event
from trailwatchd.rules import Rule, RuleSet

NAMES = [
    "ConsoleLogin", "CreateUser", "CreateAccessKey", "DeleteTrail", "StopLogging", "PutBucketPolicy",
    "AuthorizeSecurityGroupIngress", "AssumeRole", "GetObject", "RunInstances", "42", "4.50",
]  # fmt: skip
# Every shape the index must handle: pinned names, ORs of names, names ANDed with other fields,
# unindexable forms (wildcards, regex, !=, OR with another field), a contradiction, numeric lexemes.
SHAPES = [
    '{{ $.eventName = "{a}" }}',
    "{{ $.eventName = {a} }}",
    '{{ ($.eventName = "{a}") || ($.eventName = "{b}") }}',
    '{{ ($.eventName = "{a}" || $.eventName = "{b}") && $.userIdentity.type = "IAMUser" }}',
    '{{ $.eventName = "{a}" && $.errorCode = "*" }}',
    '{{ $.eventName = "{a}" || $.errorCode = "AccessDenied*" }}',
    '{{ $.eventName = "{a}" && $.eventName = "{b}" }}',
    '{{ $.eventName != "{a}" }}',
    '{{ $.eventName = "Create*" }}',
    "{{ $.eventName = %^Delete.*% }}",
    '{{ $.eventSource = "iam.amazonaws.com" }}',
    '{{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }}',
]


def synthetic_rules(count: int, seed: int = 7) -> list[Rule]:
    """``count`` rules cycling through SHAPES with seeded event names."""
    rng = random.Random(seed)
    rules = []
    for i in range(count):
        a, b = rng.sample(NAMES, 2)
        text = SHAPES[i % len(SHAPES)].format(a=a, b=b)
        rules.append(Rule(id=f"synth-{i}", pattern=compile_pattern(text), enabled=i % 17 != 5))
    return rules


def corpus_events(corpus: Path) -> list[dict[str, Any]]:
    """Every CloudTrail record of the shared corpus (JSON Lines and JSON arrays of records)."""
    events: list[dict[str, Any]] = []
    for path in sorted(corpus.rglob("*.json*")):
        if path.parent.name == "envelopes":
            continue
        text = path.read_text()
        if path.suffix == ".jsonl":
            events.extend(loads_event(line) for line in text.splitlines() if line.strip())
        else:
            doc = loads_event(text)
            events.extend(doc if isinstance(doc, list) else doc.get("Records", [doc]))
    return [e for e in events if isinstance(e, dict)]


def rule_sets(repo_root: Path) -> list[RuleSet]:
    """The shipped packs alone (when present), 60 synthetic rules, and both together."""
    packs = repo_root / "config" / "rules"
    shipped = list(RuleSet.load([packs]).rules) if packs.is_dir() else []
    synth = synthetic_rules(60)
    sets = [RuleSet.from_rules(synth), RuleSet.from_rules(shipped + synth)]
    return [RuleSet.from_rules(shipped), *sets] if shipped else sets


def assert_same(rs: RuleSet, event: dict[str, Any]) -> None:
    indexed = [r.id for r in rs.match(event)]
    brute = [r.id for r in rs.match_unindexed(event)]
    assert indexed == brute, event.get("eventName")


def test_index_equals_brute_force_on_corpus(corpus_dir: Path, repo_root: Path) -> None:
    """On every corpus record the indexed match() gives the same rules, in the same order, as brute force."""
    events = corpus_events(corpus_dir)
    assert len(events) > 100
    matched = 0
    for rs in rule_sets(repo_root):
        for event in events:
            assert_same(rs, event)
            matched += bool(rs.match(event))
    assert matched > 50  # the comparison is not vacuous: many events do match something


def test_synthetic_rules_are_mostly_indexed() -> None:
    """Many synthetic shapes pin eventName, so the equivalence tests exercise the index itself."""
    rs = RuleSet.from_rules(synthetic_rules(60))
    indexed = [r for r in rs.rules if r.enabled and r.event_names is not None]
    assert len(indexed) >= 20 and len(rs.always_run()) + len(indexed) == 56
    assert {"42", "4.50"} <= rs.indexed_names()


names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(["Create", "CreateFoo", "DeleteX", "consolelogin", ""]),
    st.integers(-5, 50),
    st.sampled_from([Decimal("4.50"), Decimal("4.5"), 4.5, 42.0, True, None]),
    st.just({"nested": "ConsoleLogin"}),
    st.just(["ConsoleLogin"]),
)
events = st.fixed_dictionaries(
    {},
    optional={
        "eventName": names,
        "eventSource": st.sampled_from(["iam.amazonaws.com", "s3.amazonaws.com"]),
        "errorCode": st.sampled_from(
            ["AccessDenied", "AccessDeniedException", "Client.UnauthorizedOperation"]
        ),
        "userIdentity": st.fixed_dictionaries(
            {"type": st.sampled_from(["Root", "IAMUser", "AssumedRole"])},
            optional={"invokedBy": st.just("cloudtrail.amazonaws.com")},
        ),
    },
)


@settings(max_examples=400, deadline=None)
@given(event=events)
def test_index_equals_brute_force_on_generated_events(event: dict[str, Any]) -> None:
    """On generated events (odd eventName types included) the index changes nothing."""
    for rs in GENERATED_SETS:
        assert_same(rs, event)


GENERATED_SETS = [RuleSet.from_rules(synthetic_rules(60, seed)) for seed in (1, 2, 3)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [(42, ["n42"]), (Decimal("4.50"), ["n450"]), (4.5, []), ("42", ["n42"]), (True, [])],
)
def test_numeric_event_names_use_their_lexeme(name: object, expected: list[str]) -> None:
    """A number eventName meets the rules pinned to its JSON lexeme, exactly as the evaluators compare."""
    rs = RuleSet.from_rules(
        [
            Rule(id="n42", pattern=compile_pattern('{ $.eventName = "42" }')),
            Rule(id="n450", pattern=compile_pattern('{ $.eventName = "4.50" }')),
        ]
    )
    assert [r.id for r in rs.match({"eventName": name})] == expected
    assert [r.id for r in rs.match_unindexed({"eventName": name})] == expected
