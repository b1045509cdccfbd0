"""Rule files: the format's defaults, every validation rule, and problems reported all at once."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from trailwatchd.errors import ConfigError
from trailwatchd.rules import AlarmSpec, MetricSpec, Problem, RuleLoadError, RuleSet, load_rule_files

DATA = Path(__file__).parent / "data" / "rules"
PATTERN = "'{ $.eventName = \"ConsoleLogin\" }'"


def rule_toml(extra: str = "", metric: str | None = None, alarm: str | None = None, tail: str = "") -> str:
    """One ``[[rule]]`` with optional extra keys and ``[rule.metric]`` / ``[rule.alarm]`` bodies."""
    text = f'[[rule]]\nid = "r1"\npattern = {PATTERN}\n{extra}\n'
    if metric is not None:
        text += f"[rule.metric]\n{metric}\n"
    if alarm is not None:
        text += f"[rule.alarm]\n{alarm}\n"
    return text + tail


METRIC = 'namespace = "LogMetrics"\nname = "Logins"\nvalue = "1"'


def alarm_toml(body: str) -> str:
    """A rule with the standard metric and this ``[rule.alarm]`` body."""
    return rule_toml(metric=METRIC, alarm=body)


def example_toml(body: str) -> str:
    """A rule with one ``[[rule.examples]]`` table of this body."""
    return rule_toml(tail=f"[[rule.examples]]\n{body}\n")


def load_text(tmp_path: Path, text: str, name: str = "rules.toml") -> RuleSet:
    path = tmp_path / name
    path.write_text(text)
    return RuleSet.load([path])


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(RuleLoadError) as info:
        load_text(tmp_path, text)
    return info.value.problems


# -- valid files ------------------------------------------------------------------------------------
def test_full_pack_loads_every_key() -> None:
    """A file using every key loads with the values as written."""
    rs = RuleSet.load([DATA / "valid"])
    rule = rs.get("console-login-without-mfa")
    assert rule.title == "Console login without MFA"
    assert rule.severity == "high"
    assert rule.sinks == ("security", "pager")
    assert rule.tags == ("cis-1.2:3.2", "securityhub:CloudWatch.3")
    assert rule.event_names == frozenset({"ConsoleLogin"})
    assert rule.compiled is rule.pattern and rule.pattern_text.startswith("{ ($.eventName")
    assert rule.source_file == DATA / "valid" / "pack.toml"
    assert rule.metric == MetricSpec(
        namespace="LogMetrics",
        name="ConsoleSigninWithoutMFA",
        value="1",
        value_number=1.0,
        value_selector=None,
        default_value=0.0,
        unit="Count",
    )
    assert rule.alarm == AlarmSpec(
        name="High-ConsoleSigninWithoutMFA",
        threshold=1.0,
        description="Alarm on any sign-in without MFA.",
        statistic="Sum",
        period_secs=60,
        evaluation_periods=5,
        datapoints_to_alarm=2,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=("security", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ok_actions=("security",),
    )
    origins = [e.origin for e in rule.examples]
    assert origins == [
        "inline",
        "inline",
        "file:events/console-logins.json#0",
        "file:events/console-logins.json#1",
        "file:events/one-event.json#0",
        "file:events/lines.jsonl#1",
    ]
    assert rule.examples[1].event["additionalEventData"] is None
    assert rs.run_examples() == []


def test_defaults_apply() -> None:
    """Only id and pattern are required; everything else takes the documented default."""
    rs = RuleSet.load([DATA / "valid"])
    rule = rs.get("minimal")
    assert (rule.title, rule.description, rule.severity) == ("minimal", "", "warning")
    assert (rule.sinks, rule.tags, rule.metric, rule.alarm, rule.examples) == ((), (), None, None, ())
    assert rule.enabled is False
    assert rs.get("bytes-transferred").metric is not None
    assert rs.get("bytes-transferred").metric.unit == "Bytes"  # type: ignore[union-attr]


def test_alarm_defaults(tmp_path: Path) -> None:
    """An alarm with only a threshold gets CloudWatch's defaults and the rule id as its name."""
    rs = load_text(tmp_path, alarm_toml("threshold = 3\nevaluation_periods = 4"))
    assert rs.get("r1").alarm == AlarmSpec(
        name="r1", threshold=3.0, evaluation_periods=4, datapoints_to_alarm=4, period_secs=300
    )
    assert rs.get("r1").alarm.treat_missing_data == "missing"  # type: ignore[union-attr]


def test_directories_load_recursively_in_sorted_order() -> None:
    """A directory loads every *.toml below it, sorted by path, so load order is stable."""
    ids = [r.id for r in RuleSet.load([DATA]).rules]
    assert ids == ["root-usage", "console-login-without-mfa", "bytes-transferred", "minimal"]


def test_globs_and_repeated_paths_load_each_file_once() -> None:
    """Globs expand (recursively with **) and a file named twice loads once."""
    rs = RuleSet.load([str(DATA / "**" / "*.toml"), DATA / "other" / "more.toml"])
    assert len(rs.rules) == 4


def test_a_single_path_string_is_one_path() -> None:
    """Passing one path as a plain string loads that path, not one path per character."""
    assert len(RuleSet.load(str(DATA)).rules) == 4


def test_dot_files_in_directories_are_skipped(tmp_path: Path) -> None:
    """Editor droppings such as .#rules.toml are not loaded from directories."""
    (tmp_path / "a.toml").write_text(rule_toml())
    (tmp_path / ".#a.toml").write_text("not toml at all [")
    assert [r.id for r in RuleSet.load([tmp_path]).rules] == ["r1"]


def test_gzip_example_file(tmp_path: Path) -> None:
    """An example file may be a gzip-compressed CloudTrail log file, detected by magic bytes."""
    records = {"Records": [{"eventName": "GetObject"}, {"eventName": "ConsoleLogin"}]}
    (tmp_path / "log.json.gz").write_bytes(gzip.compress(json.dumps(records).encode()))
    text = rule_toml(tail='[[rule.examples]]\nmatch = true\nfile = "log.json.gz"\nindex = 1\n')
    rule = load_text(tmp_path, text).get("r1")
    assert rule.examples[0].event == {"eventName": "ConsoleLogin"}


def test_example_floats_become_decimal() -> None:
    """Numbers in example files keep decoder semantics: non-integers are Decimal, not float."""
    rule = RuleSet.load([DATA / "valid"]).get("bytes-transferred")
    value = rule.examples[0].event["additionalEventData"]["bytesTransferredOut"]
    assert type(value).__name__ == "Decimal" and str(value) == "1024.0"


# -- invalid snippets -------------------------------------------------------------------------------
INVALID = [
    ("top-level", 'colour = "red"\n' + rule_toml(), "(top level).colour", "unknown key"),
    ("pack-key", '[pack]\nname = "x"\nauthor = "me"\n' + rule_toml(), "pack.author", "unknown key"),
    ("pack-type", 'pack = "x"\n' + rule_toml(), "pack", "must be a table"),
    ("pack-value", "[pack]\nversion = 2\n" + rule_toml(), "pack.version", "must be a string"),
    ("rule-table", f'[rule]\nid = "r1"\npattern = {PATTERN}\n', "rule", "[[rule]]"),
    ("rule-key", rule_toml('severty = "high"'), "rule[0].severty", "unknown key"),
    ("id-missing", f"[[rule]]\npattern = {PATTERN}\n", "rule[0].id", "required"),
    ("id-charset", rule_toml().replace('"r1"', '"Bad_ID"'), "rule[0].id", "a-z, 0-9"),
    ("id-newline", rule_toml().replace('"r1"', '"r1\\n"'), "rule[0].id", "a-z, 0-9"),
    ("id-long", rule_toml().replace('"r1"', '"' + "a" * 129 + '"'), "rule[0].id", "1-128"),
    ("pattern-missing", '[[rule]]\nid = "r1"\n', "rule[0].pattern", "required"),
    ("pattern-type", '[[rule]]\nid = "r1"\npattern = 3\n', "rule[0].pattern", "filter pattern string"),
    ("severity", rule_toml('severity = "urgent"'), "rule[0].severity", "critical, high, warning"),
    ("enabled", rule_toml('enabled = "yes"'), "rule[0].enabled", "true or false"),
    ("title", rule_toml("title = 5"), "rule[0].title", "must be a string"),
    ("sinks", rule_toml('sinks = "security"'), "rule[0].sinks", "list of non-empty strings"),
    ("tags", rule_toml('tags = [""]'), "rule[0].tags", "list of non-empty strings"),
    ("metric-type", rule_toml('metric = "x"'), "rule[0].metric", "must be a table"),
    ("metric-key", rule_toml(metric=METRIC + "\nemitSystemFieldDimensions = []"),
     "rule[0].metric.emitSystemFieldDimensions", "unknown key"),
    ("namespace", rule_toml(metric='name = "n"\nvalue = "1"'), "rule[0].metric.namespace", "required"),
    ("name-colon", rule_toml(metric='namespace = "a"\nname = "b:c"\nvalue = "1"'),
     "rule[0].metric.name", "without ':'"),
    ("name-long", rule_toml(metric=f'namespace = "a"\nname = "{"n" * 256}"\nvalue = "1"'),
     "rule[0].metric.name", "1-255"),
    ("value-word", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = "length"'),
     "rule[0].metric.value", "a number"),
    ("value-missing", rule_toml(metric='namespace = "a"\nname = "b"'), "rule[0].metric.value", "required"),
    ("value-negative", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = -1'),
     "rule[0].metric.value", "counters never decrease"),
    ("value-negative-text", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = "-2.5"'),
     "rule[0].metric.value", "must not be negative"),
    ("value-inf", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = inf'),
     "rule[0].metric.value", "a number"),
    ("value-bool", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = true'),
     "rule[0].metric.value", "a number"),
    ("value-selector", rule_toml(metric='namespace = "a"\nname = "b"\nvalue = "$.a."'),
     "rule[0].metric.value", "property name"),
    ("value-long", rule_toml(metric=f'namespace = "a"\nname = "b"\nvalue = "$.{"a" * 100}"'),
     "rule[0].metric.value", "at most 100"),
    ("default-nonzero", rule_toml(metric=METRIC + "\ndefault_value = 5"),
     "rule[0].metric.default_value", "only 0 is supported"),
    ("default-text", rule_toml(metric=METRIC + '\ndefault_value = "0"'),
     "rule[0].metric.default_value", "must be a number"),
    ("default-and-dims", rule_toml(metric=METRIC + '\ndefault_value = 0\ndimensions = { E = "$.eventName" }'),
     "rule[0].metric.default_value", "mutually exclusive"),
    ("unit", rule_toml(metric=METRIC + '\nunit = "Counts"'), "rule[0].metric.unit", "StandardUnit"),
    ("dims-type", rule_toml(metric=METRIC + '\ndimensions = ["$.eventName"]'),
     "rule[0].metric.dimensions", "must be a table"),
    ("dims-count", rule_toml(metric=METRIC + '\ndimensions = { A = "$.a", B = "$.b", C = "$.c", D = "$.d" }'),
     "rule[0].metric.dimensions", "at most 3"),
    ("dim-colon", rule_toml(metric=METRIC + '\ndimensions = { ":x" = "$.eventName" }'),
     "rule[0].metric.dimensions.:x", "not starting with ':'"),
    ("dim-blank", rule_toml(metric=METRIC + '\ndimensions = { " " = "$.eventName" }'),
     "rule[0].metric.dimensions. ", "not blank"),
    ("dim-unicode", rule_toml(metric=METRIC + '\ndimensions = { "Événement" = "$.eventName" }'),
     "rule[0].metric.dimensions.Événement", "ASCII"),
    ("dim-digit", rule_toml(metric=METRIC + '\ndimensions = { "1st" = "$.eventName" }'),
     "rule[0].metric.dimensions.1st", "must start with a letter"),
    ("dim-collide", rule_toml(metric=METRIC + '\ndimensions = { EventName = "$.a", event_name = "$.b" }'),
     "rule[0].metric.dimensions.event_name", "like dimension 'EventName'"),
    ("dim-literal", rule_toml(metric=METRIC + '\ndimensions = { E = "eventName" }'),
     "rule[0].metric.dimensions.E", "field reference"),
    ("dim-ip", rule_toml(metric=METRIC + '\ndimensions = { Ip = "$.sourceIPAddress" }'),
     "rule[0].metric.dimensions.Ip", "sourceIPAddress is unique per event"),
    ("dim-key", rule_toml(metric=METRIC + '\ndimensions = { K = "$.userIdentity.accessKeyId" }'),
     "rule[0].metric.dimensions.K", "accessKeyId is unique per event"),
    ("alarm-no-metric", rule_toml(alarm="threshold = 1"), "rule[0].alarm", "needs [rule.metric]"),
    ("alarm-type", rule_toml(metric=METRIC, tail="").replace("[rule.metric]", 'alarm = 1\n[rule.metric]'),
     "rule[0].alarm", "must be a table"),
    ("alarm-key", alarm_toml("threshold = 1\nunit = 'Count'"),
     "rule[0].alarm.unit", "unknown key"),
    ("threshold", alarm_toml("period_secs = 60"), "rule[0].alarm.threshold", "required"),
    ("threshold-nan", alarm_toml("threshold = nan"), "rule[0].alarm.threshold", "number"),
    ("period", alarm_toml("threshold = 1\nperiod_secs = 45"),
     "rule[0].alarm.period_secs", "10, 30 or a multiple of 60"),
    ("period-type", alarm_toml("threshold = 1\nperiod_secs = 60.0"),
     "rule[0].alarm.period_secs", "integer >= 1"),
    ("periods-zero", alarm_toml("threshold = 1\nevaluation_periods = 0"),
     "rule[0].alarm.evaluation_periods", "integer >= 1"),
    ("datapoints", alarm_toml("threshold = 1\nevaluation_periods = 2\ndatapoints_to_alarm = 3"),
     "rule[0].alarm.datapoints_to_alarm", "<= evaluation_periods (2)"),
    ("one-day", alarm_toml("threshold = 1\nperiod_secs = 3600\nevaluation_periods = 25"),
     "rule[0].alarm.evaluation_periods", "<= 86400"),
    ("statistic", alarm_toml("threshold = 1\nstatistic = 'p99'"),
     "rule[0].alarm.statistic", "Sum, SampleCount"),
    ("operator", alarm_toml("threshold = 1\ncomparison_operator = '>='"),
     "rule[0].alarm.comparison_operator", "GreaterThanOrEqualToThreshold"),
    ("missing-data", alarm_toml("threshold = 1\ntreat_missing_data = 'zero'"),
     "rule[0].alarm.treat_missing_data", "notBreaching"),
    ("actions-count", alarm_toml("threshold = 1\nalarm_actions = " + json.dumps(list("abcdef"))),
     "rule[0].alarm.alarm_actions", "at most 5"),
    ("actions-arn", alarm_toml("threshold = 1\nok_actions = ['arn:aws:lambda:us-east-1:1:f']"),
     "rule[0].alarm.ok_actions[0]", "SNS topic ARNs"),
    ("alarm-name", alarm_toml(f"threshold = 1\nname = '{'a' * 256}'"),
     "rule[0].alarm.name", "at most 255"),
    ("examples-type", rule_toml("examples = 1"), "rule[0].examples", "array of tables"),
    ("example-match", example_toml("event = { eventName = 'x' }"),
     "rule[0].examples[0].match", "true or false"),
    ("example-two", example_toml("match = true\nevent = {}\nevent_json = '{}'"),
     "rule[0].examples[0]", "exactly one of"),
    ("example-none", example_toml("match = true"), "rule[0].examples[0]", "exactly one of"),
    ("example-key", example_toml("match = true\nevent = {}\nexpect = 1"),
     "rule[0].examples[0].expect", "unknown key"),
    ("example-json", rule_toml(tail="[[rule.examples]]\nmatch = true\nevent_json = '{\"a\": '\n"),
     "rule[0].examples[0].event_json", "invalid JSON"),
    ("example-json-nan", rule_toml(tail="[[rule.examples]]\nmatch = true\nevent_json = '{\"a\": NaN}'\n"),
     "rule[0].examples[0].event_json", "invalid JSON"),
    ("example-array", example_toml("match = true\nevent_json = '[1]'"),
     "rule[0].examples[0].event_json", "one JSON object"),
    ("example-file", example_toml("match = true\nfile = 'nope.json'"),
     "rule[0].examples[0].file", "cannot read nope.json"),
    ("example-index-file", example_toml("match = true\nevent = {}\nindex = 0"),
     "rule[0].examples[0].index", "only meaningful with file"),
    ("example-note", example_toml("match = true\nevent = {}\nnote = 1"),
     "rule[0].examples[0].note", "must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_snippets(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    """Each invalid snippet is reported under its key path with an explaining message."""
    problems = problems_of(tmp_path, text)
    found = [p for p in problems if p.key == key]
    assert found, f"no problem at {key}; got {[str(p) for p in problems]}"
    assert any(fragment in p.message for p in found), [p.message for p in found]
    assert all(p.file == str(tmp_path / "rules.toml") for p in problems)


@pytest.mark.parametrize(
    ("events", "index", "fragment"),
    [
        ('{"Records": [{"a": 1}, {"a": 2}]}', None, "holds 2 records: say which with index = N"),
        ('[{"a": 1}]', 1, "index must be an integer 0..0"),
        ('[{"a": 1}]', True, "index must be an integer"),
        ('{"a": 1}\n{"a": \n', 0, "line 2 is not JSON"),
        ("\x1f\x8bnot really gzip", 0, "cannot read"),
    ],
)
def test_example_file_problems(tmp_path: Path, events: str, index: object, fragment: str) -> None:
    """Example files that hold several records, too few, or bad JSON are reported with the reason."""
    (tmp_path / "ev.json").write_text(events)
    idx = "" if index is None else f"index = {json.dumps(index)}\n"
    problems = problems_of(tmp_path, example_toml(f"match = true\nfile = 'ev.json'\n{idx}"))
    assert [p.key for p in problems] == ["rule[0].examples[0].file"]
    assert fragment in problems[0].message


def test_pattern_error_keeps_position_and_caret(tmp_path: Path) -> None:
    """A pattern syntax error keeps its line, column and caret picture in the problem."""
    text = "[[rule]]\nid = \"bad\"\npattern = '{ $.eventName = }'\n"
    (problem,) = problems_of(tmp_path, text)
    assert (problem.rule_id, problem.key, problem.line, problem.column) == ("bad", "rule[0].pattern", 1, 17)
    assert problem.message.endswith("{ $.eventName = }\n                    ^")
    assert "column 17" in str(problem)


def test_multiline_pattern_error_reports_the_line(tmp_path: Path) -> None:
    """In a multi-line pattern the problem says which pattern line holds the error."""
    text = "[[rule]]\nid = \"bad\"\npattern = '''{\n  ($.a = 1) &&\n  ($.b = )\n}'''\n"
    (problem,) = problems_of(tmp_path, text)
    assert (problem.line, problem.column) == (3, 10)
    assert "line 3, column 10" in problem.message


def test_toml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    """A TOML syntax error names the file, the line and the column, with a caret under it."""
    (problem,) = problems_of(tmp_path, '[[rule]]\nid = "r1"\npattern = {\n')
    assert (problem.key, problem.line, problem.column) == ("(file)", 3, 12)
    assert "not valid TOML" in problem.message and problem.message.endswith("pattern = {\n               ^")


@pytest.mark.parametrize("path", ["missing.toml", "missing-dir/", "nothing-*.toml"])
def test_missing_paths_are_errors(tmp_path: Path, path: str) -> None:
    """A path that does not exist (or a glob matching nothing) is an error naming it."""
    with pytest.raises(RuleLoadError) as info:
        RuleSet.load([str(tmp_path / path)])
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / path) and problem.key == "paths"


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    """A directory without rule files is reported rather than silently loading nothing."""
    with pytest.raises(RuleLoadError, match="holds no"):
        RuleSet.load([tmp_path])


def test_all_problems_are_collected_at_once(tmp_path: Path) -> None:
    """Problems in several rules, several files and the path list all arrive in one RuleLoadError."""
    (tmp_path / "a.toml").write_text(
        rule_toml('severity = "urgent"', metric=METRIC + "\ndefault_value = 2", alarm="period_secs = 7")
        + "[[rule]]\nid = \"r2\"\npattern = '{ $.a = }'\ntitle = 1\n"
        + "[[rule]]\nid = \"r3\"\npattern = '{ $.a = 1 }'\n"
    )
    (tmp_path / "b.toml").write_text("[[rule]\n")
    with pytest.raises(RuleLoadError) as info:
        RuleSet.load([tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "c.toml"])
    err = info.value
    keys = {(Path(p.file).name, p.rule_id, p.key) for p in err.problems}
    assert keys == {
        ("a.toml", "r1", "rule[0].severity"),
        ("a.toml", "r1", "rule[0].metric.default_value"),
        ("a.toml", "r1", "rule[0].alarm.threshold"),
        ("a.toml", "r1", "rule[0].alarm.period_secs"),
        ("a.toml", "r2", "rule[1].pattern"),
        ("a.toml", "r2", "rule[1].title"),
        ("b.toml", None, "(file)"),
        ("c.toml", None, "paths"),
    }
    assert isinstance(err, ConfigError)
    text = str(err)
    assert text.startswith("8 problem(s) in rule files:")
    assert all(str(p) in text for p in err.problems)


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    """A rule id defined in two files is an error naming both files."""
    (tmp_path / "a.toml").write_text(rule_toml())
    (tmp_path / "b.toml").write_text('[[rule]]\nid = "r0"\npattern = "{ $.a = 1 }"\n' + rule_toml())
    with pytest.raises(RuleLoadError) as info:
        RuleSet.load([tmp_path])
    (problem,) = info.value.problems
    assert (problem.file, problem.rule_id, problem.key) == (str(tmp_path / "b.toml"), "r1", "rule[1].id")
    assert f"already defined in {tmp_path / 'a.toml'}" in problem.message


@pytest.mark.parametrize(
    ("second", "ok"),
    [
        ('namespace = "LogMetrics"\nname = "Logins"\nvalue = "1"', True),
        ('namespace = "LogMetrics"\nname = "Logins"\nvalue = "1"\ndimensions = { E = "$.eventName" }', False),
        ('namespace = "logmetrics"\nname = "logins"\nvalue = "1"', False),
    ],
    ids=["same-metric", "other-dimensions", "same-prometheus-name"],
)
def test_metric_shared_across_rules(tmp_path: Path, second: str, ok: bool) -> None:
    """Rules may share a metric only if the Prometheus mirror can register it once with one label set."""
    text = rule_toml(metric=METRIC) + f'[[rule]]\nid = "r2"\npattern = {PATTERN}\n[rule.metric]\n{second}\n'
    if ok:
        assert len(load_text(tmp_path, text).rules) == 2
    else:
        (problem,) = problems_of(tmp_path, text)
        assert (problem.rule_id, problem.key) == ("r2", "rule[1].metric")
        assert "logmetrics_logins_total" in problem.message and "'r1'" in problem.message


def test_load_rule_files_returns_rules_in_order() -> None:
    """The function behind RuleSet.load returns the validated rules in load order."""
    rules = load_rule_files([DATA / "valid" / "pack.toml", DATA / "other"])
    assert [r.id for r in rules] == [
        "console-login-without-mfa",
        "bytes-transferred",
        "minimal",
        "root-usage",
    ]


def test_shipped_packs_load_and_pass(repo_root: Path, tmp_path: Path) -> None:
    """The rule packs under config/rules load cleanly (copied, so paths here prove relativity)."""
    packs = repo_root / "config" / "rules"
    if not packs.is_dir():
        pytest.skip("no shipped rule packs yet")
    shutil.copytree(packs, tmp_path / "rules")
    rs = RuleSet.load([tmp_path / "rules"])
    assert rs.rules and rs.run_examples() == []
