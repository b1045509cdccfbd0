"""`export cloudformation` round-trips through `import cloudformation` on every shipped pack, and
`export prometheus-rules` yields rules that promtool accepts and whose generated tests pass.

promtool comes from the Debian package `prometheus` (`make test` installs it). Without it these tests skip
with a reason, unless TRAILWATCHD_REQUIRE_PROMTOOL=1 (set by `make test`) makes its absence a failure.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.migrate.conftest import load_drafts, signature
from tests.rules.test_shipped_packs import PACKS
from trailwatchd.cli import main
from trailwatchd.metrics import MirrorSpec
from trailwatchd.migrate.cfn_yaml import load_template
from trailwatchd.migrate.export_cfn import export_template
from trailwatchd.migrate.importer import drafts_from_template
from trailwatchd.migrate.prometheus import export_alert, export_rules, promtool_cases
from trailwatchd.patterns import compile_pattern
from trailwatchd.rules import Rule, RuleSet
from trailwatchd.rules.model import AlarmSpec, MetricSpec


def pack_rules(pack: Path) -> list[Rule]:
    return list(RuleSet.load([str(pack)]).rules)


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
@pytest.mark.parametrize("form", ["json", "yaml"])
def test_export_then_import_gives_the_same_rules(pack: Path, form: str, tmp_path: Path) -> None:
    """import(export(pack)) == pack for all but golden examples (CloudFormation cannot hold them)."""
    rules = [r for r in pack_rules(pack) if r.metric is not None]
    template = export_template(rules)
    dump = yaml.safe_dump(template, allow_unicode=True, sort_keys=False)  # order of rules is kept
    text = json.dumps(template) if form == "json" else dump
    again = load_drafts(drafts_from_template(load_template(text)), tmp_path / "pack")
    assert [signature(r) for r in again] == [signature(r) for r in rules]
    assert sum(r.alarm is not None for r in again) == sum(r.alarm is not None for r in rules)


def test_rules_without_a_metric_are_not_exported() -> None:
    rule = Rule(id="no-metric", pattern=compile_pattern('{ $.eventName = "X" }'))
    assert export_template([rule])["Resources"] == {}


def test_cli_export_cloudformation_round_trips(tmp_path: Path) -> None:
    cis = next(p for p in PACKS if p.name == "cis-aws-foundations-1.2")
    out = tmp_path / "cis.json"
    assert main(["export", "cloudformation", "--rules", str(cis), "-o", str(out)], out=io.StringIO()) == 0
    code = main(["import", "cloudformation", str(out), "-o", str(tmp_path / "back")], out=io.StringIO())
    assert code == 0
    assert [signature(r) for r in pack_rules(tmp_path / "back")] == [signature(r) for r in pack_rules(cis)]


# -- Prometheus --------------------------------------------------------------------------------------------
def _alarm_rule(statistic: str = "Sum", value: str = "1", threshold: float = 1.0, **alarm: object) -> Rule:
    number = None if value.startswith("$") else float(value)
    metric = MetricSpec("LogMetrics", "UnauthorizedAPICalls", value, number, None)
    return Rule(
        id="r",
        pattern=compile_pattern('{ $.errorCode = "AccessDenied" }'),
        metric=metric,
        alarm=AlarmSpec(name="Warning-x", threshold=threshold, statistic=statistic, **alarm),  # type: ignore[arg-type]
    )


def test_alert_reads_the_mirror_counter_of_the_metric() -> None:
    exported = export_alert(_alarm_rule())
    assert exported.alert is not None
    family = MirrorSpec("LogMetrics", "UnauthorizedAPICalls").family
    assert f"increase({family}_total[300s])" in exported.alert["expr"]
    assert family == "logmetrics_unauthorized_api_calls"


def test_m_of_n_is_a_period_aligned_subquery() -> None:
    alert = export_alert(_alarm_rule(period_secs=60, evaluation_periods=60, datapoints_to_alarm=6)).alert
    assert alert is not None
    assert alert["expr"].endswith("[3600s:60s]) >= 6")


def test_field_valued_metric_only_exports_sum() -> None:
    assert export_alert(_alarm_rule("Sum", "$.bytes")).alert is not None
    skipped = export_alert(_alarm_rule("Average", "$.bytes"))
    assert skipped.alert is None and "per-event values" in skipped.skipped


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("TRAILWATCHD_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (TRAILWATCHD_REQUIRE_PROMTOOL=1): apt-get install prometheus")
        pytest.skip("promtool not installed (Debian package prometheus; `make test` installs it)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_promtool_accepts_rules_and_their_tests_pass(pack: Path, tmp_path: Path) -> None:
    promtool = _promtool()
    rules_yml, tests_yml = tmp_path / "rules.yml", tmp_path / "tests.yml"
    code = main(
        ["export", "prometheus-rules", "--rules", str(pack), "-o", str(rules_yml), "--tests", str(tests_yml)],
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert code == 0
    alarms = [r for r in pack_rules(pack) if r.alarm is not None]
    doc = yaml.safe_load(rules_yml.read_text(encoding="utf-8"))
    assert len(doc["groups"][0]["rules"]) == len(alarms)  # every shipped alarm is expressible
    check = _run(promtool, "check", "rules", str(rules_yml))
    assert check.returncode == 0, check.stdout + check.stderr
    cases = yaml.safe_load(tests_yml.read_text(encoding="utf-8"))["tests"]
    if alarms:
        fires = {c["alert_rule_test"][0]["alertname"] for c in cases if c["alert_rule_test"][0]["exp_alerts"]}
        silent = {
            c["alert_rule_test"][0]["alertname"] for c in cases if not c["alert_rule_test"][0]["exp_alerts"]
        }
        assert fires == silent == {a["alert"] for a in doc["groups"][0]["rules"]}
        test = _run(promtool, "test", "rules", str(tests_yml))
        assert test.returncode == 0, test.stdout + test.stderr


def test_promtool_tests_fail_when_the_rule_is_wrong(tmp_path: Path) -> None:
    """The generated cases can fail: with a threshold nobody reaches, 'fires on a burst' fails."""
    promtool = _promtool()
    rule = _alarm_rule(period_secs=60, evaluation_periods=5, datapoints_to_alarm=3)
    rules, exported = export_rules([rule])
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump(promtool_cases(exported, "rules.yml")), encoding="utf-8"
    )
    assert _run(promtool, "test", "rules", str(tmp_path / "tests.yml")).returncode == 0
    broken = rules["groups"][0]["rules"][0]
    broken["expr"] = broken["expr"].replace(">= bool 1)", ">= bool 100000)")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    failed = _run(promtool, "test", "rules", str(tmp_path / "tests.yml"))
    assert failed.returncode != 0 and "fires on a sustained burst" in failed.stdout + failed.stderr


@pytest.mark.parametrize(
    "variant",
    [
        {"statistic": "SampleCount", "comparison_operator": "GreaterThanThreshold"},
        {"statistic": "Sum", "treat_missing_data": "breaching", "threshold": 100.0},
        {"statistic": "Average", "comparison_operator": "LessThanOrEqualToThreshold", "threshold": 2.0},
        {"statistic": "Sum", "period_secs": 300, "evaluation_periods": 4, "datapoints_to_alarm": 3},
        {"statistic": "Maximum", "default_value": 0.0},
    ],
    ids=lambda v: "-".join(f"{k}={val}" for k, val in v.items()),
)
def test_generated_cases_pass_for_alarm_variants(variant: dict[str, object], tmp_path: Path) -> None:
    """Operators, statistics, missing-data modes and default values beyond the shipped packs' alarms."""
    promtool = _promtool()
    settings = dict(variant)
    default = settings.pop("default_value", None)
    rule = _alarm_rule(**settings)  # type: ignore[arg-type]
    if default is not None:
        assert rule.metric is not None
        rule = dataclasses.replace(rule, metric=dataclasses.replace(rule.metric, default_value=default))
    rules, exported = export_rules([rule])
    cases = promtool_cases(exported, "rules.yml")
    kinds = {bool(c["alert_rule_test"][0]["exp_alerts"]) for c in cases["tests"]}
    assert kinds == {True, False}, "a case where it fires and one where it stays silent"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(cases), encoding="utf-8")
    checked = _run(promtool, "check", "rules", str(tmp_path / "rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", str(tmp_path / "tests.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
