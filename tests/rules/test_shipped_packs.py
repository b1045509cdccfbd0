"""The shipped rule packs and bundled examples are what their documentation and sources say they are.

Why a separate suite: a detection that silently never fires, or that drifted from the text Security Hub or
the CIS template prescribes, is the costliest bug a rule pack can have (user-asks.md, failure mode 4). So
every shipped rule must prove itself with matching and near-miss golden events in both evaluators and
through the index. The CIS pack is compared field by field with the seed CloudFormation template. Golden
events copied from the corpus must still equal their sources. examples/README.md must state exactly which
rules each bundled file triggers.

Tests that need ``shared/`` next to the checkout (the seed template, the corpus) skip with a reason when it
is absent; everything else runs from the repository alone.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from trailwatchd.decode import load_events
from trailwatchd.metrics import mirror_metric_name
from trailwatchd.patterns import loads_event
from trailwatchd.rules import Rule, RuleSet

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "config" / "rules"
PACKS = sorted(p for p in RULES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))
SHARED = REPO.parent / "shared"
CIS_TEMPLATE = SHARED / "seeds" / "001_ba7f21fd7c08688c.txt"
CORPUS = SHARED / "corpus"
EXAMPLES = REPO / "examples"
DATA_SUFFIXES = (".json", ".json.gz")

# Lint warnings kept on purpose. Each entry needs a reason; an entry that no longer fires fails
# test_accepted_lint_table_is_current, so the table cannot rot.
ACCEPTED_LINT = {
    ("cis-3.2-console-sign-in-without-mfa", "ne-optional-field"): (
        "CIS 1.2 3.2 is shipped byte for byte as the seed template publishes it; cloudtrail-essentials' "
        "console-signin-without-mfa is the guarded variant"
    ),
    ("securityhub-cloudwatch.3-console-signin-without-mfa", "ne-optional-field"): (
        "Security Hub CloudWatch.3 fails unless the filter is exactly its published text"
    ),
}

# The namespace each pack's metrics must use, so packs load together without Prometheus collisions.
NAMESPACES = {
    "cis-aws-foundations-1.2": "LogMetrics",
    "securityhub-cloudwatch": "SecurityHub",
    "cloudtrail-essentials": "TrailWatch",
    "s3-data-events": "TrailWatch",
}


@functools.cache
def shipped() -> RuleSet:
    """Every pack under config/rules, loaded together exactly as a user would load them."""
    return RuleSet.load([str(p) for p in PACKS])


def rules_of(pack: str) -> list[Rule]:
    """The rules whose file lives in the named pack folder."""
    return [r for r in shipped().rules if r.source_file is not None and r.source_file.parent.name == pack]


def _id(rule: Rule) -> str:
    return rule.id


# ---------------------------------------------------------------------------------------------------------
# Every rule: examples, both evaluators, the index, lint


def test_expected_packs_are_shipped() -> None:
    """The four documented packs exist and each has rules."""
    assert {p.name for p in PACKS} == set(NAMESPACES)
    assert all(rules_of(name) for name in NAMESPACES)


@pytest.mark.parametrize("rule", shipped().rules, ids=_id)
def test_rule_has_matching_and_non_matching_example(rule: Rule) -> None:
    """A rule, enabled or not, without a matching and a non-matching golden event fails CI."""
    assert any(e.match for e in rule.examples), "no golden event it must match"
    assert any(not e.match for e in rule.examples), "no near miss it must not match"


def test_golden_examples_pass_in_both_evaluators() -> None:
    """Every golden event gives its expected answer in the compiled and the reference evaluator."""
    assert [str(failure) for failure in shipped().run_examples()] == []


@pytest.mark.parametrize("rule", shipped().rules, ids=_id)
def test_indexed_match_agrees_with_golden_examples(rule: Rule) -> None:
    """The eventName index the daemon uses finds the rule for exactly its matching examples."""
    live = rule if rule.enabled else dataclasses.replace(rule, enabled=True)
    index = RuleSet.from_rules([live])
    got = [live in index.match(e.event) for e in rule.examples]
    assert got == [e.match for e in rule.examples]


def test_disabled_rules_never_fire() -> None:
    """Template rules (enabled = false) stay silent even on their own matching examples."""
    disabled = [r for r in shipped().rules if not r.enabled]
    assert disabled, "the s3-data-events template ships disabled"
    fired = [r.id for r in disabled for e in r.examples if e.match and r in shipped().match(e.event)]
    assert fired == []


def test_lint_warnings_are_all_accepted() -> None:
    """A lint warning fails CI unless the ACCEPTED_LINT table keeps it, with a reason."""
    found = {(rule_id, w.code) for rule_id, w in shipped().lint()}
    assert found - set(ACCEPTED_LINT) == set()


def test_accepted_lint_table_is_current() -> None:
    """Every accepted (rule, lint code) pair still occurs, so the table lists only real exceptions."""
    found = {(rule_id, w.code) for rule_id, w in shipped().lint()}
    assert set(ACCEPTED_LINT) - found == set()


@pytest.mark.parametrize(("pack", "namespace"), sorted(NAMESPACES.items()))
def test_pack_metrics_use_its_namespace(pack: str, namespace: str) -> None:
    """Every rule of the pack mirrors a metric, in the pack's own namespace."""
    assert {r.id: (r.metric.namespace if r.metric else None) for r in rules_of(pack)} == {
        r.id: namespace for r in rules_of(pack)
    }


def test_every_rule_has_its_own_prometheus_family() -> None:
    """No two shipped rules share a mirrored counter, so each detection is graphable on its own."""
    families = [mirror_metric_name(r.metric.namespace, r.metric.name) for r in shipped().rules if r.metric]
    assert len(families) == len(set(families)) == len(shipped().rules)


def test_s3_template_pack_is_disabled_and_uses_the_placeholder() -> None:
    """The template ships inert: every rule disabled and scoped to the documented placeholder bucket."""
    template = rules_of("s3-data-events")
    assert [r.id for r in template if r.enabled] == []
    assert all('"example-sensitive-bucket"' in r.pattern.text for r in template)


# ---------------------------------------------------------------------------------------------------------
# CIS 1.2 pack against the seed CloudFormation template


def _template_sections() -> dict[int, tuple[dict[str, str], dict[str, Any]]]:
    """CIS number -> (metric filter properties, alarm properties) parsed from the template text.

    The template is YAML inside an article, so a full YAML parser would trip over the prose; the resources
    are regular enough that "Key: value" lines under each "# CIS 3.N" comment are unambiguous.
    """
    text = CIS_TEMPLATE.read_text(encoding="utf-8")
    text = text[text.index("Resources:") : text.index("SNSAlert:")]
    parts = re.split(r"^  # CIS 3\.(\d+) ", text, flags=re.MULTILINE)
    sections: dict[int, tuple[dict[str, str], dict[str, Any]]] = {}
    for number, body in zip(parts[1::2], parts[2::2], strict=True):
        filter_part, alarm_part = body.split("Type: 'AWS::CloudWatch::Alarm'")
        metric = {
            "pattern": re.search(r"FilterPattern: '(.*)'\n", filter_part).group(1),  # type: ignore[union-attr]
            "name": re.search(r"- MetricName: (\S+)", filter_part).group(1),  # type: ignore[union-attr]
            "namespace": re.search(r"MetricNamespace: (\S+)", filter_part).group(1),  # type: ignore[union-attr]
            "value": re.search(r"MetricValue: '(.*)'", filter_part).group(1),  # type: ignore[union-attr]
        }
        alarm: dict[str, Any] = dict(re.findall(r"^      (\w+): (.+)$", alarm_part, flags=re.MULTILINE))
        for actions in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            listed = re.search(rf"^      {actions}:\n((?:        - .+\n)+)", alarm_part, flags=re.MULTILINE)
            alarm[actions] = re.findall(r"- (.+)", listed.group(1)) if listed else []
        sections[int(number)] = (metric, alarm)
    return sections


needs_template = pytest.mark.skipif(
    not CIS_TEMPLATE.exists(),
    reason="shared/seeds (the CIS CloudFormation template) is not beside the checkout",
)


@needs_template
def test_template_has_fourteen_cis_sections() -> None:
    """The parser finds CIS 3.1-3.14 in the template, so the per-control comparisons below are complete."""
    assert sorted(_template_sections()) == list(range(1, 15))
    assert len(rules_of("cis-aws-foundations-1.2")) == 14


@needs_template
@pytest.mark.parametrize("number", range(1, 15), ids=lambda n: f"3.{n}")
def test_cis_rule_equals_the_template(number: int) -> None:
    """Pattern, metric, alarm name, text and every alarm setting equal the template's for this control."""
    metric, alarm = _template_sections()[number]
    (rule,) = [r for r in rules_of("cis-aws-foundations-1.2") if r.id.startswith(f"cis-3.{number}-")]
    assert_rule_equals_template_section(rule, metric, alarm)


def assert_rule_equals_template_section(rule: Rule, metric: dict[str, str], alarm: dict[str, Any]) -> None:
    """Every field of one template section, compared with a rule (also used by tests/migrate)."""
    assert rule.pattern.text == metric["pattern"]
    assert rule.metric is not None and rule.alarm is not None
    assert (rule.metric.namespace, rule.metric.name, rule.metric.value) == (
        metric["namespace"],
        metric["name"],
        metric["value"],
    )
    # The template sets neither, so CloudWatch's defaults apply: no default value, unit "None".
    assert (rule.metric.default_value, rule.metric.unit, rule.metric.dimensions) == (None, "None", ())
    # The alarm watches the filter's own metric (an unwired alarm never fires).
    assert (alarm["Namespace"], alarm["MetricName"]) == (metric["namespace"], metric["name"])
    name = re.fullmatch(r"!Sub '(.*)'", alarm["AlarmName"]).group(1)  # type: ignore[union-attr]
    assert rule.alarm.name == name.replace("${AWS::StackName}", "trailwatchd")
    assert rule.severity == {"Warning": "warning", "Notice": "notice"}[name.split("-")[0]]
    assert rule.alarm.description == alarm["AlarmDescription"].strip("'")
    assert rule.alarm.statistic == alarm["Statistic"]
    assert rule.alarm.period_secs == int(alarm["Period"])
    assert rule.alarm.evaluation_periods == int(alarm["EvaluationPeriods"])
    # DatapointsToAlarm defaults to EvaluationPeriods in CloudWatch when the template omits it.
    assert rule.alarm.datapoints_to_alarm == int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]))
    assert rule.alarm.threshold == float(alarm["Threshold"])
    assert rule.alarm.comparison_operator == alarm["ComparisonOperator"]
    assert rule.alarm.treat_missing_data == alarm["TreatMissingData"]
    assert alarm["ActionsEnabled"] == "true"

    def sinks(refs: list[str]) -> tuple[str, ...]:
        assert set(refs) <= {"!Ref SnsTopicARN"}, refs
        return ("security",) * len(refs)

    assert rule.alarm.alarm_actions == sinks(alarm["AlarmActions"])
    assert rule.alarm.ok_actions == sinks(alarm["OKActions"])
    assert rule.alarm.insufficient_data_actions == sinks(alarm["InsufficientDataActions"])


# ---------------------------------------------------------------------------------------------------------
# Golden event files: listed, used, and equal to their corpus source


def _source_rows() -> list[tuple[Path, dict[str, str]]]:
    rows = []
    for table in sorted(RULES_DIR.glob("*/events/SOURCES.tsv")):
        with table.open(encoding="utf-8", newline="") as f:
            rows += [(table.parent, row) for row in csv.DictReader(f, delimiter="\t")]
    return rows


@pytest.mark.parametrize("events_dir", sorted(RULES_DIR.glob("*/events")), ids=lambda p: p.parent.name)
def test_event_files_are_listed_and_used(events_dir: Path) -> None:
    """Every event file has a provenance row and is some golden example; every row names a real file."""
    on_disk = {p.name for p in events_dir.glob("*.json")}
    listed = {row["file"] for d, row in _source_rows() if d == events_dir}
    used = {
        e.origin.removeprefix("file:events/").rsplit("#", 1)[0]
        for r in rules_of(events_dir.parent.name)
        for e in r.examples
        if e.origin.startswith("file:events/")
    }
    assert (events_dir / "NOTICE.md").is_file()
    assert on_disk == listed == used


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared/corpus is not beside the checkout")
@pytest.mark.parametrize(
    ("events_dir", "row"), _source_rows(), ids=[f"{d.parent.name}/{row['file']}" for d, row in _source_rows()]
)
def test_event_file_equals_its_corpus_record(events_dir: Path, row: dict[str, str]) -> None:
    """A copied golden event is its corpus record unchanged: same keys, same order, same values."""
    source = CORPUS / row["corpus_path"]
    record = row["record"]
    if record.startswith("L"):
        original = loads_event(source.read_text(encoding="utf-8").splitlines()[int(record[1:]) - 1])
    else:
        original = loads_event(source.read_text(encoding="utf-8"))[int(record)]
    copy = loads_event((events_dir / row["file"]).read_text(encoding="utf-8"))
    assert copy == original
    assert json.dumps(copy, default=str) == json.dumps(original, default=str)  # key order too


def test_licence_texts_are_shipped_with_the_packs() -> None:
    """The licences the event NOTICE files point to are present."""
    names = {"Apache-2.0-stratus-red-team.txt", "CC-BY-SA-4.0.txt", "MIT-0.txt"}
    assert {p.name for p in (RULES_DIR / "LICENSES").iterdir()} == names
    assert {p.name for p in (EXAMPLES / "LICENSES").iterdir()} == names


# ---------------------------------------------------------------------------------------------------------
# Bundled examples/


def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.name.endswith(DATA_SUFFIXES))


def _readme_table() -> dict[str, set[str]]:
    """File name -> rule ids, from the table in examples/README.md."""
    table = {}
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = set(re.findall(r"`([a-z0-9][a-z0-9._-]*)`", cells[2]))
    return table


def test_readme_lists_every_example_file() -> None:
    """examples/README.md and NOTICE.md describe exactly the data files in the folder."""
    names = {p.name for p in _example_files()}
    assert set(_readme_table()) == names
    notice = (EXAMPLES / "NOTICE.md").read_text(encoding="utf-8")
    assert [n for n in sorted(names) if f"`{n}`" not in notice] == []


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.name)
def test_example_triggers_exactly_the_rules_the_readme_says(path: Path) -> None:
    """Decoded as the daemon decodes it, the file fires exactly the rules its README row lists."""
    events = load_events(path.read_bytes(), path.name)
    fired = {rule.id for event in events for rule in shipped().match(event)}
    assert fired == _readme_table()[path.name]


@pytest.mark.parametrize(
    "path", [p for p in _example_files() if p.name.endswith(".gz")], ids=lambda p: p.name
)
def test_example_has_cloudtrails_delivery_shape(path: Path) -> None:
    """Key-style name, gzip, compact {"Records": [...]}, eventVersion first, account and region as named."""
    match = re.fullmatch(
        r"(\d{12})_CloudTrail_([a-z0-9-]+)_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz", path.name
    )
    assert match is not None
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b"
    text = gzip.decompress(data).decode("utf-8")
    doc = json.loads(text)
    assert list(doc) == ["Records"] and doc["Records"]
    assert text == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for record in doc["Records"]:
        assert next(iter(record)) == "eventVersion"
        assert record.get("recipientAccountId", record["userIdentity"]["accountId"]) == match.group(1)
        assert record["awsRegion"] == match.group(2)


def test_examples_have_unique_event_ids() -> None:
    """No eventID repeats across the examples, so the demo's alert count equals its match count."""
    ids = [e["eventID"] for p in _example_files() for e in load_events(p.read_bytes(), p.name)]
    assert len(ids) == len(set(ids))


def test_examples_folder_stays_small() -> None:
    """The bundled examples stay under 200 KB, licences and docs included."""
    assert sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file()) < 200_000


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared/corpus is not beside the checkout")
def test_build_script_reproduces_the_committed_examples() -> None:
    """examples/build.py regenerates every data file byte for byte, so none was edited by hand."""
    spec = importlib.util.spec_from_file_location("examples_build", EXAMPLES / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    built = build.build(CORPUS)
    assert {p.name: p.read_bytes() for p in _example_files()} == built
