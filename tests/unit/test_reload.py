"""The pure parts of live reload: config diffs, file fingerprints, the debounce, the HTTP allow list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from trailwatchd.config import Config, parse_config
from trailwatchd.http import client_allowed
from trailwatchd.metrics import MirrorCounters, MirrorSpec
from trailwatchd.reload import FileWatcher, diff_config, fingerprint, problem_lines

BASE: dict[str, Any] = {
    "daemon": {"metrics_listen": "127.0.0.1:9108", "queue_size": 64},
    "rules": {"paths": ["rules"], "default_sinks": ["out"]},
    "sources": {"a": {"type": "directory", "path": "in"}, "b": {"type": "directory", "path": "in-b"}},
    "sinks": {"out": {"type": "file", "path": "alerts.jsonl"}, "log": {"type": "log"}},
}


def config(**changes: Any) -> Config:
    data: dict[str, Any] = {k: dict(v) for k, v in BASE.items()}
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if value is None:
            data[section].pop(key)
        else:
            data[section][key] = value
    return parse_config(data)


def test_identical_configs_change_nothing() -> None:
    change = diff_config(config(), config())
    assert change.refused == () and change.restarts == ()


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"daemon__metrics_listen": "0.0.0.0:9108"}, ("daemon.metrics_listen",)),
        ({"daemon__queue_size": 8}, ("daemon.queue_size",)),
    ],
)
def test_restart_only_settings_are_refused_by_key(changes: dict[str, Any], refused: tuple[str, ...]) -> None:
    assert diff_config(config(), config(**changes)).refused == refused


def test_aws_alarms_and_integrity_are_restart_only_but_rules_and_enrichment_are_live() -> None:
    old = config()
    new = parse_config(
        {
            **BASE,
            "aws": {"region": "eu-west-1"},
            "alarms": {"allowed_lateness_secs": 0},
            "integrity": {"enabled": True},
            "rules": {"paths": ["other"], "default_sinks": ["log"]},
            "enrichment": {"accounts": {"123456789012": {"name": "prod"}}},
            "reload": {"http_endpoint": True},
        },
        env={},
    )
    assert diff_config(old, new).refused == (
        "aws.region",
        "alarms.allowed_lateness_secs",
        "integrity.enabled",
    )


def test_sources_and_sinks_are_diffed_by_id() -> None:
    new = config(
        sources__a={"type": "directory", "path": "elsewhere"},
        sources__b=None,
        sources__c={"type": "directory", "path": "in-c"},
        sinks__log={"type": "log", "level": "error"},
    )
    change = diff_config(config(), new)
    assert change.refused == ()
    assert (change.sources_added, change.sources_removed, change.sources_changed) == (("c",), ("b",), ("a",))
    assert (change.sinks_added, change.sinks_removed, change.sinks_changed) == ((), (), ("log",))
    assert change.restarts == (
        "sources.c:added",
        "sources.b:removed",
        "sources.a:restarted",
        "sinks.log:restarted",
    )


def rules_config(tmp_path: Path, *paths: str) -> Config:
    cfg = tmp_path / "trailwatchd.toml"
    cfg.write_text("# config\n")
    return parse_config(
        {"rules": {"paths": [str(tmp_path / p) for p in paths], "default_sinks": []}}, file=str(cfg)
    )


def test_fingerprint_follows_content_not_metadata(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    rule = tmp_path / "rules" / "a.toml"
    rule.write_text("one")
    cfg = rules_config(tmp_path, "rules")
    first = fingerprint(cfg)
    os.utime(rule, (1, 1))  # touch: same bytes
    assert fingerprint(cfg) == first
    rule.write_text("two")
    second = fingerprint(cfg)
    assert second != first
    (tmp_path / "rules" / "b.toml").write_text("new file")
    assert fingerprint(cfg) not in (first, second)
    (tmp_path / "rules" / ".b.toml.swp").write_text("editor dropping")
    third = fingerprint(cfg)
    (tmp_path / "rules" / ".c.toml.swp").write_text("another")
    assert fingerprint(cfg) == third
    (tmp_path / "trailwatchd.toml").write_text("# edited\n")
    assert fingerprint(cfg) != third


def test_fingerprint_sees_a_configmap_symlink_swap(tmp_path: Path) -> None:
    cm = tmp_path / "cm"
    for version, text in (("..v1", "old"), ("..v2", "new")):
        (cm / version).mkdir(parents=True)
        (cm / version / "rules.toml").write_text(text)
    (cm / "..data").symlink_to("..v1")
    (cm / "rules.toml").symlink_to("..data/rules.toml")
    cfg = rules_config(tmp_path, "cm")
    before = fingerprint(cfg)
    (cm / "..tmp").symlink_to("..v2")
    os.replace(cm / "..tmp", cm / "..data")
    assert fingerprint(cfg) != before


async def test_watcher_debounces_and_reports_a_failed_reload_once(tmp_path: Path) -> None:
    """Changes reload only after ``debounce_secs`` of quiet; a reload that fails is not retried on every
    poll, only after the next edit."""
    (tmp_path / "rules").mkdir()
    rule = tmp_path / "rules" / "a.toml"
    rule.write_text("v0")
    cfg = parse_config(
        {"rules": {"paths": [str(tmp_path / "rules")], "default_sinks": []}, "reload": {"debounce_secs": 5}},
        file=str(tmp_path / "missing.toml"),
    )
    now = [0.0]
    calls: list[float] = []

    async def on_change() -> None:  # what Daemon.reload does: fingerprint first, then read, then mark
        calls.append(now[0])
        watcher.mark_applied(fingerprint(cfg))

    watcher = FileWatcher(lambda: cfg, on_change, clock=lambda: now[0])
    await watcher.prime()
    assert not await watcher.check()
    for t, text in ((1.0, "v1"), (2.0, "v2"), (4.0, "v3")):
        now[0] = t
        rule.write_text(text)
        assert not await watcher.check()
    now[0] = 8.9
    assert not await watcher.check()  # 4.9 s since the last change
    now[0] = 9.0
    assert await watcher.check()
    assert calls == [9.0]
    for t in (10.0, 20.0, 30.0):  # the callback "failed" (config unchanged): no retry without an edit
        now[0] = t
        assert not await watcher.check()
    rule.write_text("v4")
    now[0] = 31.0
    assert not await watcher.check()
    now[0] = 36.0
    assert await watcher.check()
    assert calls == [9.0, 36.0]


@pytest.mark.parametrize(
    ("remote", "allow", "ok"),
    [
        ("127.0.0.1", ["127.0.0.1", "::1"], True),
        ("::1", ["127.0.0.1", "::1"], True),
        ("::ffff:127.0.0.1", ["127.0.0.1"], True),
        ("10.1.2.3", ["127.0.0.1", "::1"], False),
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("127.0.0.1", ["10.0.0.0/8"], False),
        (None, ["127.0.0.1"], False),
        ("not-an-ip", ["127.0.0.1"], False),
        ("127.0.0.1", ["garbage", "127.0.0.1"], True),
    ],
)
def test_reload_endpoint_allow_list(remote: str | None, allow: list[str], ok: bool) -> None:
    assert client_allowed(remote, allow) is ok


def test_mirror_check_refuses_a_family_that_collides_and_changes_nothing() -> None:
    registry = CollectorRegistry()
    Counter("trailwatchd_alerts", "taken", registry=registry)
    mirrors = MirrorCounters(registry)
    mirrors.replace([MirrorSpec("LogMetrics", "RootUsage", ())])
    with pytest.raises(ValueError, match="already a trailwatchd metric"):
        mirrors.check([MirrorSpec("trailwatchd", "Alerts", ())])
    assert mirrors.families == ("logmetrics_root_usage",)
    mirrors.check([MirrorSpec("LogMetrics", "RootUsage", ("account",))])  # own family: may be re-created


def test_problem_lines_split_a_multi_problem_error() -> None:
    err = ValueError("first line\n\nsecond line")
    assert problem_lines(err) == ["first line", "second line"]


async def test_an_edit_during_a_reload_triggers_the_next_reload(tmp_path: Path) -> None:
    """The fingerprint is taken before the reload reads the files: an edit that lands while it runs is not
    marked as applied (the reviewer's race), so the next poll reloads again."""
    (tmp_path / "rules").mkdir()
    rule = tmp_path / "rules" / "a.toml"
    rule.write_text("v0")
    cfg = parse_config(
        {"rules": {"paths": [str(tmp_path / "rules")], "default_sinks": []}, "reload": {"debounce_secs": 0}},
        file=str(tmp_path / "missing.toml"),
    )
    calls = 0

    async def on_change() -> None:
        nonlocal calls
        calls += 1
        before = fingerprint(cfg)
        if calls == 1:
            rule.write_text("edited while the reload runs")
        watcher.mark_applied(before)

    watcher = FileWatcher(lambda: cfg, on_change)
    await watcher.prime()
    rule.write_text("v1")
    assert await watcher.check() and calls == 1
    assert await watcher.check() and calls == 2  # the mid-reload edit is picked up
    assert not await watcher.check()
