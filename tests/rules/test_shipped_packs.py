"""Every shipped rule pack loads, every rule has matching and non-matching golden events, and they pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trailwatchd.rules import RuleSet

REPO = Path(__file__).resolve().parents[2]
PACKS = sorted(p for p in (REPO / "config" / "rules").iterdir() if p.is_dir())
SEED = REPO.parent / "shared" / "seeds" / "001_ba7f21fd7c08688c.txt"

# Lint warnings kept on purpose, each with its reason.
ACCEPTED_LINT = {
    (
        "cis-3.2-console-sign-in-without-mfa",
        "ne-optional-field",
    ): "CIS 3.2 is shipped exactly as published; cloudtrail-essentials has the guarded variant",
    ("securityhub-cloudwatch.3", "ne-optional-field"): "Security Hub requires this exact filter text",
}


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return RuleSet.load([str(p) for p in PACKS])


def test_packs_exist() -> None:
    """The CIS and essentials packs ship with the repository."""
    names = {p.name for p in PACKS}
    assert {
        "cis-aws-foundations-1.2",
        "cloudtrail-essentials",
        "securityhub-cloudwatch",
        "s3-data-events",
    } <= names


def test_every_rule_has_both_kinds_of_example(shipped: RuleSet) -> None:
    """A rule without a matching and a non-matching golden event fails CI."""
    missing = [
        r.id
        for r in shipped.rules
        if not any(e.match for e in r.examples) or not any(not e.match for e in r.examples)
    ]
    assert missing == []


def test_golden_examples_pass_in_both_evaluators(shipped: RuleSet) -> None:
    """Every golden event gives its expected answer in the compiled and the reference evaluator."""
    assert [str(f) for f in shipped.run_examples()] == []


def test_no_unaccepted_lint(shipped: RuleSet) -> None:
    """Known pitfalls appear only where the table above accepts them with a reason."""
    found = {(rule_id, w.code) for rule_id, w in shipped.lint()}
    assert found - set(ACCEPTED_LINT) == set()


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seeds is not beside the checkout")
def test_cis_pack_matches_the_seed_template(shipped: RuleSet) -> None:
    """Patterns, metric names and alarm settings equal the CloudFormation template's, in order."""
    text = SEED.read_text(encoding="utf-8")
    patterns = re.findall(r"FilterPattern: '(.*)'", text)
    metrics = re.findall(r"- MetricName: (\S+)", text)
    alarm_names = [
        n.replace("${AWS::StackName}", "trailwatchd") for n in re.findall(r"AlarmName: !Sub '(.*)'", text)
    ]
    periods = [int(x) for x in re.findall(r"\n      Period: (\d+)", text)]
    evaluations = [int(x) for x in re.findall(r"EvaluationPeriods: (\d+)", text)]
    statistics = re.findall(r"Statistic: (\w+)", text)
    missing = re.findall(r"TreatMissingData: (\w+)", text)
    cis = [r for r in shipped.rules if r.id.startswith("cis-3.")]
    assert len(cis) == 14 == len(patterns)
    for rule, pattern, metric, alarm, period, evals, stat, miss in zip(
        cis, patterns, metrics, alarm_names, periods, evaluations, statistics, missing, strict=True
    ):
        assert rule.pattern.text == pattern
        assert rule.metric is not None and (rule.metric.namespace, rule.metric.name) == ("LogMetrics", metric)
        assert rule.alarm is not None
        assert (rule.alarm.name, rule.alarm.period_secs, rule.alarm.evaluation_periods) == (
            alarm,
            period,
            evals,
        )
        assert (rule.alarm.statistic, rule.alarm.treat_missing_data) == (stat, miss)
        assert rule.severity == ("notice" if alarm.startswith("Notice-") else "warning")
