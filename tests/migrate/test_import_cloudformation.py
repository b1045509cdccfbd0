"""`import cloudformation`: the seed CIS template converts with every filter, metric and alarm setting intact;
short-form tags, JSON templates and unresolvable references are handled and reported."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tests.migrate.conftest import load_drafts
from tests.rules.test_shipped_packs import (
    CIS_TEMPLATE,
    _template_sections,
    assert_rule_equals_template_section,
    needs_template,
    rules_of,
)
from trailwatchd.cli import main
from trailwatchd.errors import ConfigError
from trailwatchd.migrate.cfn_yaml import load_template
from trailwatchd.migrate.importer import drafts_from_template
from trailwatchd.rules import Rule, RuleSet


def seed_template_text() -> str:
    """The CloudFormation YAML of the seed article: its first Resources block, without the prose after it."""
    text = CIS_TEMPLATE.read_text(encoding="utf-8")
    start = text.index("Resources:")
    return text[start : text.index("\nまた、", start)]


@pytest.fixture(scope="module")
def imported_cis(tmp_path_factory: pytest.TempPathFactory) -> list[Rule]:
    if not CIS_TEMPLATE.exists():
        pytest.skip("shared/seeds (the CIS CloudFormation template) is not beside the checkout")
    template = load_template(seed_template_text())
    drafts = drafts_from_template(template, sinks={"SnsTopicARN": "security"})
    return load_drafts(drafts, tmp_path_factory.mktemp("cis") / "pack")


@needs_template
def test_seed_template_imports_fourteen_rules_with_alarms(imported_cis: list[Rule]) -> None:
    assert len(imported_cis) == 14
    assert all(r.alarm is not None and r.metric is not None for r in imported_cis)


@needs_template
@pytest.mark.parametrize("number", range(1, 15), ids=lambda n: f"3.{n}")
def test_imported_rule_equals_the_template(imported_cis: list[Rule], number: int) -> None:
    """The same field-by-field comparison the shipped CIS pack passes, applied to the imported rule."""
    metric, alarm = _template_sections()[number]
    (rule,) = [r for r in imported_cis if r.metric is not None and r.metric.name == metric["name"]]
    assert_rule_equals_template_section(rule, metric, alarm)


@needs_template
def test_imported_rules_equal_the_shipped_cis_pack(imported_cis: list[Rule]) -> None:
    """Pattern, metric, alarm (every setting) and severity equal the hand-written pack's."""
    shipped = {r.metric.name: r for r in rules_of("cis-aws-foundations-1.2") if r.metric is not None}
    for rule in imported_cis:
        assert rule.metric is not None
        want = shipped[rule.metric.name]
        assert (rule.pattern.text, rule.metric, rule.alarm, rule.severity) == (
            want.pattern.text,
            want.metric,
            want.alarm,
            want.severity,
        )


SHORT_FORMS = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Env: {Type: String, Default: prod}
  PagerTopic: {Type: String, Default: 'arn:aws:sns:eu-west-1:111122223333:pager'}
  OpsTopic: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
  RootFilter:
    Type: AWS::Logs::MetricFilter
    Properties:
      LogGroupName: !Ref TrailGroup
      FilterPattern: '{ $.userIdentity.type = "Root" && $.eventType != "AwsServiceEvent" }'
      MetricTransformations:
        - MetricName: !Sub '${Env}-RootUsage'
          MetricNamespace: !Join ['', [Sec, Metrics]]
          MetricValue: '1'
          DefaultValue: 0
          Unit: Count
  RootAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub 'Critical-${AWS::StackName}-root-${Env}'
      AlarmDescription: !Sub
        - 'root used in ${Where} (${AWS::Region})'
        - Where: !Ref Env
      MetricName: !Sub '${Env}-RootUsage'
      Namespace: SecMetrics
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 3
      DatapointsToAlarm: 2
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: breaching
      AlarmActions: [!Ref PagerTopic, !Ref OpsTopic, !GetAtt Topic.TopicArn]
      OKActions: ['arn:aws:sns:eu-west-1:111122223333:ok']
  DimensionAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: per-dimension
      MetricName: prod-RootUsage
      Namespace: SecMetrics
      Dimensions: [{Name: EventName, Value: ConsoleLogin}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanThreshold
"""


def test_short_form_tags_resolve_or_become_placeholders(tmp_path: Path) -> None:
    drafts = drafts_from_template(load_template(SHORT_FORMS), stack_name="acme")
    (rule,) = load_drafts(drafts, tmp_path / "pack")
    assert rule.metric is not None and rule.alarm is not None
    assert (rule.metric.namespace, rule.metric.name, rule.metric.default_value, rule.metric.unit) == (
        "SecMetrics",
        "prod-RootUsage",
        0.0,
        "Count",
    )
    assert rule.alarm.name == "Critical-acme-root-prod"
    assert rule.severity == "critical"  # from the alarm name's prefix
    assert rule.alarm.description == "root used in prod (${AWS::Region})"
    assert (rule.alarm.period_secs, rule.alarm.evaluation_periods, rule.alarm.datapoints_to_alarm) == (
        300,
        3,
        2,
    )
    assert rule.alarm.treat_missing_data == "breaching"
    # A parameter whose default is a topic ARN stays an ARN; the others become sink ids to define.
    assert rule.alarm.alarm_actions == ("arn:aws:sns:eu-west-1:111122223333:pager", "ops-topic", "topic")
    assert rule.alarm.ok_actions == ("arn:aws:sns:eu-west-1:111122223333:ok",)
    assert set(drafts.placeholders) == {"ops-topic", "topic"}
    readme = (tmp_path / "pack" / "README.md").read_text(encoding="utf-8")
    assert "[sinks.ops-topic]" in readme
    assert "!GetAtt Topic" in readme
    assert "${AWS::Region} cannot be resolved offline" in readme
    assert "DimensionAlarm: not imported: uses Dimensions" in readme
    assert "TODO: golden examples" in readme


def test_json_template_imports_like_yaml(tmp_path: Path) -> None:
    """The same template as JSON (long-form intrinsics) gives the same rule."""
    yaml_rules = load_drafts(drafts_from_template(load_template(SHORT_FORMS)), tmp_path / "a")
    as_json = json.dumps(load_template(SHORT_FORMS))
    json_rules = load_drafts(drafts_from_template(load_template(as_json)), tmp_path / "b")
    assert [(r.pattern.text, r.metric, r.alarm) for r in yaml_rules] == [
        (r.pattern.text, r.metric, r.alarm) for r in json_rules
    ]


def test_generated_pack_has_todo_example_stubs(tmp_path: Path) -> None:
    load_drafts(drafts_from_template(load_template(SHORT_FORMS)), tmp_path / "pack")
    text = (tmp_path / "pack" / "imported.toml").read_text(encoding="utf-8")
    assert "# TODO golden examples" in text
    assert '# file = "events/prod-root-usage.match.json"' in text
    assert (tmp_path / "pack" / "events" / "README.md").read_text(encoding="utf-8").startswith("TODO")


def test_cli_import_cloudformation(tmp_path: Path) -> None:
    src = tmp_path / "t.yaml"
    src.write_text(SHORT_FORMS, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["import", "cloudformation", str(src), "-o", str(tmp_path / "my-pack")], out=out, err=err)
    assert code == 0, err.getvalue()
    assert "1 rules, 1 alarms" in out.getvalue()
    assert "TODO sink ops-topic" in out.getvalue()
    assert len(RuleSet.load([str(tmp_path / "my-pack")]).rules) == 1
    # Never overwrite an existing pack.
    assert (
        main(["import", "cloudformation", str(src), "-o", str(tmp_path / "my-pack")], out=out, err=err) == 2
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just: text", "no Resources mapping"),
        ("Resources: {A: {Type: 'AWS::SNS::Topic'}}", "no AWS::Logs::MetricFilter"),
        ("{not json", "not a CloudFormation template"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        drafts_from_template(load_template(text))


def test_cli_reports_bad_template(tmp_path: Path) -> None:
    src = tmp_path / "t.yaml"
    src.write_text("Resources: [", encoding="utf-8")
    err = io.StringIO()
    assert (
        main(["import", "cloudformation", str(src), "-o", str(tmp_path / "p")], out=io.StringIO(), err=err)
        == 2
    )
    assert "t.yaml" in err.getvalue()
