"""The alarm hooks in the pipeline and the daemon's rule checks, and action routing to sinks."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.alarms.harness import Harness, make_rule, minute
from tests.unit.test_pipeline import item, log_file, make, record, run_item
from trailwatchd.alarms import routing
from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.service import SERIES_META_PREFIX, AlarmService, AlarmSettings
from trailwatchd.config import FileSinkConfig, SinkConfig, SnsSinkConfig, load_config, parse_config
from trailwatchd.daemon import load_rules
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.errors import ConfigError
from trailwatchd.rules import RuleSet

RULES = """
[[rule]]
id = "console-login"
severity = "high"
pattern = '{ $.eventName = "ConsoleLogin" }'
[rule.metric]
namespace = "T"
name = "Logins"
value = "1"
[rule.alarm]
name = "logins"
threshold = 2
period_secs = 60
alarm_actions = ["out"]
"""
TOPIC = "arn:aws:sns:us-east-1:111122223333:sec-alarms"


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return RuleSet.load([path])


async def test_datapoints_commit_with_the_object_and_a_replay_counts_once(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    """An object's datapoints are in the state store when it is evaluated; redelivery adds nothing."""
    now = [1_704_067_260.0]  # 2024-01-01T00:01:00Z, just after the events' minute
    pipe, sink, state, _ = await make(tmp_path, ruleset, {"k1": log_file(record("a"), record("b"))}, now)
    try:
        service = AlarmService(
            state=state,
            metrics=AlarmMetrics(CollectorRegistry()),
            settings=AlarmSettings(allowed_lateness_secs=0),
            clock=lambda: now[0],
            resolve=lambda action: (action, action),
        )
        service.set_rules(ruleset.rules)
        pipe.alarms = service
        for _ in range(2):  # the second time the ledger recognises the object
            work, ack = item("k1")
            await run_item(pipe, work, ack)
        saved = json.loads(await state.get_meta(SERIES_META_PREFIX + "logins") or "{}")
        assert saved["buckets"] == {str(1_704_067_200 // 60): [2.0, 2.0, 1.0, 1.0]}
        assert [s["event_id"] for s in saved["samples"]] == ["b", "a"]
        changes = await service.tick(now[0])
        assert [(c.old_state, c.new_state) for c in changes] == [("INSUFFICIENT_DATA", "ALARM")]
        deliver = asyncio.create_task(pipe.deliver_loop("out", idle_secs=0.01))
        try:
            for _ in range(200):
                if await state.spool_depth() == 0:
                    break
                await asyncio.sleep(0.01)
        finally:
            deliver.cancel()
            await asyncio.gather(deliver, return_exceptions=True)
        alarm_alerts = [a for a in sink.delivered if a.kind == "alarm"]
        assert [a.body["NewStateValue"] for a in alarm_alerts] == ["ALARM"]
        assert alarm_alerts[0].subject == 'ALARM: "logins" in US East (N. Virginia)'
    finally:
        await state.close()


def test_engine_reports_event_minutes_only_when_a_metric_has_a_default_value(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    """Matching or not, each event's minute counts as "logs ingested", tracked only when it is needed."""
    other = record("c", "GetTrail") | {"eventTime": "2024-01-01T00:03:59Z"}
    data = log_file(record("a"), other)
    assert evaluate_object(Snapshot.of(ruleset), name="k", data=data).event_minutes == set()
    path = tmp_path / "d.toml"
    path.write_text(RULES.replace('value = "1"', 'value = "1"\ndefault_value = 0'))
    snap = Snapshot.of(RuleSet.load([path]))
    assert snap.track_minutes
    result = evaluate_object(snap, name="k", data=data)
    assert result.event_minutes == {"2024-01-01T00:00", "2024-01-01T00:03"}
    assert result.newest_event_time == "2024-01-01T00:03:59Z"


def test_topic_arn_actions_resolve_to_configured_or_implicit_sns_sinks(tmp_path: Path) -> None:
    """An ARN matching a configured SNS sink uses it; an unknown ARN gets an implicit sink; ids show ARNs."""
    path = tmp_path / "r.toml"
    path.write_text(
        RULES.replace(
            'alarm_actions = ["out"]', f'alarm_actions = ["{TOPIC}", "file"]\nok_actions = ["sec"]'
        ).replace(
            'name = "logins"',
            'name = "logins"\ninsufficient_data_actions = ["arn:aws:sns:eu-west-1:111122223333:x.fifo"]',
        )
    )
    rules = RuleSet.load([path]).rules
    configured: dict[str, SinkConfig] = {
        "sec": SnsSinkConfig(topic_arn=TOPIC),
        "file": FileSinkConfig(path="a.jsonl"),
    }
    assert routing.implicit_sinks(rules, configured) == {
        "alarm-topic-x-fifo": SnsSinkConfig(topic_arn="arn:aws:sns:eu-west-1:111122223333:x.fifo")
    }
    resolve = routing.resolver(configured | routing.implicit_sinks(rules, configured))
    assert resolve(TOPIC) == ("sec", TOPIC)
    assert resolve("sec") == ("sec", TOPIC)
    assert resolve("file") == ("file", "file")
    assert resolve("arn:aws:sns:eu-west-1:111122223333:x.fifo") == (
        "alarm-topic-x-fifo",
        "arn:aws:sns:eu-west-1:111122223333:x.fifo",
    )
    assert resolve("arn:aws:sns:us-east-1:1:unknown") == (None, "arn:aws:sns:us-east-1:1:unknown")
    assert routing.action_problems(rules, configured) == []
    # Without any configured sink every ARN becomes its own implicit sink.
    assert set(routing.implicit_sinks(rules, {})) == {"alarm-topic-sec-alarms", "alarm-topic-x-fifo"}


def test_unknown_alarm_action_is_a_config_error(tmp_path: Path) -> None:
    """A sink id that is not under [sinks] fails the rule load, naming the rule and the action."""
    path = tmp_path / "r.toml"
    path.write_text(RULES.replace('alarm_actions = ["out"]', 'alarm_actions = ["pager"]'))
    config = parse_config(
        {"rules": {"paths": [str(path)], "default_sinks": ["out"]}, "sinks": {"out": {"type": "log"}}}, env={}
    )
    with pytest.raises(ConfigError, match=r"pager \(console-login alarm_actions\)"):
        load_rules(config)


def test_alarms_config_defaults_and_limits() -> None:
    """[alarms] defaults (900 s lateness, minute ticks) and its validation."""
    config = parse_config({"sinks": {"console": {"type": "log"}}}, env={})
    assert (config.alarms.enabled, config.alarms.allowed_lateness_secs) == (True, 900.0)
    assert (config.alarms.evaluation_interval_secs, config.alarms.sample_events) == (60.0, 3)
    with pytest.raises(ConfigError, match=r"alarms\.allowed_lateness_secs"):
        parse_config({"alarms": {"allowed_lateness_secs": -1}}, env={})  # before the sinks check
    with pytest.raises(ConfigError, match=r"alarms\.account_id"):
        parse_config({"alarms": {"account_id": "12"}}, env={})


def test_reference_config_loads_with_its_rule_packs(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo config's rules load: every alarm action of the shipped packs names a defined sink."""
    monkeypatch.chdir(repo_root)
    config = load_config(repo_root / "config" / "trailwatchd.toml")
    ruleset = load_rules(config)
    assert routing.alarm_actions(ruleset.rules)
    assert routing.action_problems(ruleset.rules, config.sinks) == []
    assert config.alarms.allowed_lateness_secs == 900.0


async def test_alarm_metrics_pass_promtool(tmp_path: Path) -> None:
    """The alarm families as /metrics exposes them are valid for ``promtool check metrics``."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("TRAILWATCHD_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (TRAILWATCHD_REQUIRE_PROMTOOL=1): apt-get install prometheus")
        pytest.skip("promtool not installed (Debian package prometheus; `make test` installs it)")
    h = await Harness.start(tmp_path / "s.db", make_rule(period_secs=60))
    try:
        h.clock.now = minute(0) + 30
        await h.feed((minute(0) + 1, 3.0))
        await h.at(1)
        text = generate_latest(h.registry)
    finally:
        await h.close()
    assert b'trailwatchd_alarm_state{alarm="alarm-a",state="ALARM"} 1.0' in text
    assert (
        b'trailwatchd_alarm_transitions_total{alarm="alarm-a",from="INSUFFICIENT_DATA",to="ALARM"} 1.0'
        in text
    )
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
