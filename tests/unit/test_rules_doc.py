"""The rule file in docs/rules.md is a valid rule file whose golden examples pass, and its pitfalls hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns import compile_pattern, loads_event
from trailwatchd.rules import RuleSet

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_documented_rule_file_loads_and_its_examples_pass(tmp_path: Path) -> None:
    block = DOC.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    head, _, _ = block.partition('[[rule.examples]]\nmatch = true\nfile = "events/root-login.json"')
    rules = tmp_path / "rules.toml"
    rules.write_text(head)
    ruleset = RuleSet.load([rules])
    assert [r.id for r in ruleset.rules] == ["root-console-login"]
    assert ruleset.run_examples() == []
    rule = ruleset.rules[0]
    assert rule.metric is not None and rule.alarm is not None and len(rule.examples) == 2


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ('{ $.additionalEventData.MFAUsed != "Yes" }', {"eventName": "ConsoleLogin"}, False),
        ("{ $.readOnly = true }", {"readOnly": True}, False),
        ("{ $.readOnly IS TRUE }", {"readOnly": True}, True),
        ('{ $.eventName = "Delete" }', {"eventName": "DeleteTrail"}, False),
        ('{ $.eventName = "Delete*" }', {"eventName": "DeleteTrail"}, True),
        ("{ $.eventName = %Delete% }", {"eventName": "DeleteTrail"}, True),
        ("{ $.a = 1 }", {"a": "1"}, True),
        ("{ $.eventName = %^PutBucket|^DeleteBucket% }", {"eventName": "DeleteBucketPolicy"}, True),
    ],
)
def test_documented_pitfalls(pattern: str, event: dict[str, object], matches: bool) -> None:
    assert compile_pattern(pattern).matches(loads_event(json.dumps(event))) is matches


def test_documented_rejection_of_regex_parentheses() -> None:
    with pytest.raises(PatternSyntaxError, match="parentheses are not supported"):
        compile_pattern("{ $.eventName = %^(Put|Delete)Bucket% }")
