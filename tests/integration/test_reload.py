"""Live reload end to end: an in-process daemon over a real config file, a directory source, file sinks.

Every reload trigger (the watcher, ``POST /-/reload``, :meth:`Daemon.reload` as SIGHUP calls it) is judged
from outside: the JSONL the sinks wrote, ``/metrics`` and the JSON answer of the endpoint.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd.config import load_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

RECORD = (
    '{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice",'
    '"accountId":"123456789012","userName":"alice"},"eventTime":"2024-05-01T12:00:00Z",'
    '"eventSource":"%(source)s","eventName":"%(name)s","awsRegion":"us-east-1",'
    '"sourceIPAddress":"203.0.113.7","eventID":"%(id)s","recipientAccountId":"123456789012",'
    '"additionalEventData":{"MFAUsed":"No"}}'
)

LOGIN_RULE = """
[[rule]]
id = "console-login"
severity = "{severity}"
pattern = '{{ $.eventName = "ConsoleLogin" }}'
[rule.metric]
namespace = "LogMetrics"
name = "{metric}"
value = "1"
[[rule.examples]]
match = true
event = {{ eventName = "ConsoleLogin" }}
"""
TRAIL_RULE = """
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{ $.eventName = "StopLogging" }'
[rule.metric]
namespace = "LogMetrics"
name = "StopLoggingCalls"
value = "1"
"""
BROKEN_RULE = """
[[rule]]
id = "console-login"
severity = "high"
pattern = '{ ($.eventName = "ConsoleLogin") && $.x = }'
"""


def rules_text(*, severity: str = "high", metric: str = "ConsoleLogins", trail: bool = True) -> str:
    return LOGIN_RULE.format(severity=severity, metric=metric) + (TRAIL_RULE if trail else "")


def write_config(
    root: Path,
    *,
    rules_path: str = "rules",
    sink_path: str = "alerts.jsonl",
    queue_size: int = 64,
    http: bool = False,
    allow: tuple[str, ...] = ("127.0.0.1", "::1"),
    watch: bool = True,
) -> Path:
    """Write ``trailwatchd.toml`` (atomically, as editors and ConfigMaps do) and return its path."""
    text = f"""
[daemon]
metrics_listen = "127.0.0.1:0"
state_path = "{root / "state.db"}"
graceful_shutdown_secs = 5
queue_size = {queue_size}

[rules]
paths = ["{root / rules_path}"]
default_sinks = ["out"]

[reload]
watch = {str(watch).lower()}
poll_interval_secs = 0.05
debounce_secs = 0.3
http_endpoint = {str(http).lower()}
http_allow = {json.dumps(list(allow))}

[sources.in]
type = "directory"
path = "{root / "in"}"
poll_interval_secs = 0.05

[sinks.out]
type = "file"
path = "{root / sink_path}"
"""
    path = root / "trailwatchd.toml"
    tmp = root / "trailwatchd.toml.tmp"
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_rules(root: Path, text: str, name: str = "rules/rules.toml") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_trail(root: Path, name: str, events: list[tuple[str, str]]) -> None:
    """A gzipped CloudTrail file of (eventID, eventName), renamed into ``in/``."""
    body = (
        '{"Records":['
        + ",".join(RECORD % {"id": eid, "name": n, "source": "signin.amazonaws.com"} for eid, n in events)
        + "]}"
    )
    tmp = root / "in" / f"{name}.tmp"
    tmp.write_bytes(gzip.compress(body.encode()))
    tmp.rename(root / "in" / name)


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """Complete lines only: the file sink appends from a worker thread, so while the daemon runs a poll
    can see the start of a batch before its newline (a reader tailing JSON Lines must do the same)."""
    if not path.exists():
        return []
    complete, _, _unterminated = path.read_text().rpartition("\n")
    return [json.loads(line) for line in complete.splitlines()]


def count_lines(path: Path) -> int:
    """Alerts written so far, cheaply (the daemon shares this event loop: do not parse while polling)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def wait_for(
    predicate: Any, timeout: float = 15.0, what: str = "condition", step: float = 0.02
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"{what} not reached in time"
        await asyncio.sleep(step)


def http(port: int, path: str, *, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sample(daemon: Daemon, name: str, labels: dict[str, str] | None = None) -> float | None:
    return daemon.metrics.registry.get_sample_value(name, labels or {})


def reloads(daemon: Daemon, result: str) -> float:
    return sample(daemon, "trailwatchd_config_reloads_total", {"result": result}) or 0.0


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Path, Daemon]]:
    """A daemon on ``tmp_path``'s config, rules and ``in/`` (stopped and checked at the end)."""
    (tmp_path / "in").mkdir()
    write_rules(tmp_path, rules_text())
    cfg_path = write_config(tmp_path)
    daemon = Daemon(load_config(cfg_path), registry=CollectorRegistry(), handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.ready, what="daemon ready")
    yield tmp_path, daemon
    daemon.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


async def test_broken_rule_keeps_old_rules_then_fix_applies(running: tuple[Path, Daemon]) -> None:
    """A reload that breaks a rule is a failure with the location; the old rules keep matching. A fix
    applies: the new severity shows in alerts of files that arrive after it."""
    root, daemon = running
    daemon.config = load_config(write_config(root, watch=False))  # only explicit reloads in this test
    write_rules(root, BROKEN_RULE)
    outcome = await daemon.reload("signal")
    assert outcome.result == "failure", outcome.errors
    assert len(outcome.errors) == 1
    assert "rules.toml: rule 'console-login' rule[0].pattern: missing value" in outcome.errors[0]
    assert "(at column 43)" in outcome.errors[0]
    assert reloads(daemon, "failure") == 1

    write_trail(root, "a.json.gz", [("e1", "ConsoleLogin"), ("e2", "StopLogging")])
    await wait_for(lambda: len(read_alerts(root / "alerts.jsonl")) == 2, what="two alerts on the old rules")
    assert {a["rule_id"] for a in read_alerts(root / "alerts.jsonl")} == {"console-login", "stop-logging"}

    write_rules(root, rules_text(severity="critical", trail=False))
    outcome = await daemon.reload("signal")
    assert outcome.result == "success", outcome.errors
    assert reloads(daemon, "success") == 2  # the startup load and this one
    write_trail(root, "b.json.gz", [("e3", "ConsoleLogin"), ("e4", "StopLogging")])
    await wait_for(lambda: len(read_alerts(root / "alerts.jsonl")) == 3, what="the third alert")
    await asyncio.sleep(0.3)
    got = read_alerts(root / "alerts.jsonl")
    assert [(a["event_id"], a["severity"]) for a in got[2:]] == [("e3", "critical")]
    info = daemon.metrics.registry.get_sample_value(
        "trailwatchd_config_info",
        {"config_sha256": daemon.config.digest, "rules_sha256": outcome.rules_digest},
    )
    assert info == 1.0


async def test_watcher_debounces_quick_writes_into_one_reload(running: tuple[Path, Daemon]) -> None:
    """Five saves 50 ms apart (debounce 300 ms) are one reload; the new rule then matches."""
    root, daemon = running
    before = reloads(daemon, "success")
    for i in range(5):
        write_rules(root, rules_text(severity="critical", metric=f"ConsoleLogins{i}"))
        await asyncio.sleep(0.05)
    await wait_for(lambda: reloads(daemon, "success") == before + 1, what="one reload")
    await asyncio.sleep(1.0)  # several more polls and debounce windows: no second reload
    assert reloads(daemon, "success") == before + 1
    assert reloads(daemon, "failure") == 0
    families = daemon.mirrors.families
    assert "logmetrics_console_logins4" in families and "logmetrics_console_logins" not in families


async def test_configmap_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """Kubernetes updates a ConfigMap volume by re-pointing ``..data``; the rule file's path is a symlink
    that never changes. The watcher must see the new content."""
    (tmp_path / "in").mkdir()
    cm = tmp_path / "rules"
    (cm / "..2026_11_22_v1").mkdir(parents=True)
    (cm / "..2026_11_22_v1" / "rules.toml").write_text(rules_text(trail=False))
    (cm / "..data").symlink_to("..2026_11_22_v1")
    (cm / "rules.toml").symlink_to("..data/rules.toml")
    daemon = Daemon(load_config(write_config(tmp_path)), registry=CollectorRegistry(), handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.ready)
    assert daemon.ruleset is not None and [r.id for r in daemon.ruleset.rules] == ["console-login"]

    (cm / "..2026_11_22_v2").mkdir()
    (cm / "..2026_11_22_v2" / "rules.toml").write_text(rules_text(trail=True))
    (cm / "..data_tmp").symlink_to("..2026_11_22_v2")
    os.replace(cm / "..data_tmp", cm / "..data")  # the atomic swap kubelet does
    shutil.rmtree(cm / "..2026_11_22_v1")
    await wait_for(lambda: reloads(daemon, "success") == 2, what="reload after the swap")
    assert [r.id for r in daemon.ruleset.rules] == ["console-login", "stop-logging"]
    write_trail(tmp_path, "a.json.gz", [("s1", "StopLogging")])
    await wait_for(lambda: len(read_alerts(tmp_path / "alerts.jsonl")) == 1)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 15) == 0


async def test_http_reload_endpoint_off_on_and_allow_list(running: tuple[Path, Daemon]) -> None:
    """Off by default (404); on, it reloads and answers JSON; a client outside http_allow gets 403 and
    no reload happens."""
    root, daemon = running
    port = daemon.metrics_port
    assert port is not None
    status, _ = await asyncio.to_thread(http, port, "/-/reload", method="POST")
    assert status == 404

    write_config(root, http=True, watch=False)
    assert (await daemon.reload("signal")).result == "success"  # [reload] itself applies live
    write_rules(root, rules_text(severity="critical"))
    status, body = await asyncio.to_thread(http, port, "/-/reload", method="POST")
    answer = json.loads(body)
    assert status == 200 and answer["result"] == "success" and answer["trigger"] == "http"
    assert answer["rules_digest"] == daemon.ruleset.digest  # type: ignore[union-attr]
    assert daemon.ruleset.get("console-login").severity == "critical"  # type: ignore[union-attr]

    write_rules(root, BROKEN_RULE)
    status, body = await asyncio.to_thread(http, port, "/-/reload", method="POST")
    assert status == 422
    assert "missing value after the operator" in json.loads(body)["errors"][0]

    write_config(root, http=True, watch=False, allow=("10.0.0.0/8",))
    write_rules(root, rules_text())
    assert (await daemon.reload("signal")).result == "success"
    successes = reloads(daemon, "success")
    status, body = await asyncio.to_thread(http, port, "/-/reload", method="POST")
    assert status == 403 and "not in [reload].http_allow" in body
    assert reloads(daemon, "success") == successes


async def test_refused_global_change_keeps_running_config(running: tuple[Path, Daemon]) -> None:
    """[daemon] settings cannot change live: refused, named, counted, and nothing else applied with it."""
    root, daemon = running
    write_config(root, queue_size=8, watch=False)
    write_rules(root, rules_text(severity="critical"))
    old_digest = daemon.config.digest
    outcome = await daemon.reload("signal")
    assert outcome.result == "refused"
    assert any("daemon.queue_size: cannot change while running; restart" in e for e in outcome.errors)
    assert daemon.config.digest == old_digest and daemon.config.daemon.queue_size == 64
    assert daemon.ruleset.get("console-login").severity == "high"  # type: ignore[union-attr]
    assert reloads(daemon, "refused") == 1


async def test_changed_sink_restarts_unchanged_source_keeps_running(running: tuple[Path, Daemon]) -> None:
    """Moving the file sink restarts that sink only; the source object and its task are untouched."""
    root, daemon = running
    source, feeder = daemon.sources["in"], daemon._feeders["in"]
    old_sink = daemon.sinks["out"]
    write_trail(root, "a.json.gz", [("e1", "ConsoleLogin")])
    await wait_for(lambda: len(read_alerts(root / "alerts.jsonl")) == 1)

    write_config(root, sink_path="moved.jsonl", watch=False)
    outcome = await daemon.reload("signal")
    assert outcome.result == "success", outcome.errors
    assert outcome.restarted == ["sinks.out:restarted"]
    assert daemon.sinks["out"] is not old_sink
    assert daemon.sources["in"] is source and daemon._feeders["in"] is feeder and not feeder.done()
    write_trail(root, "b.json.gz", [("e2", "ConsoleLogin")])
    await wait_for(lambda: len(read_alerts(root / "moved.jsonl")) == 1, what="alert in the moved file")
    assert [a["event_id"] for a in read_alerts(root / "alerts.jsonl")] == ["e1"]


async def test_changed_source_restarts_and_processes_new_folder(running: tuple[Path, Daemon]) -> None:
    """A source whose path changed is drained, stopped and restarted on the new folder."""
    root, daemon = running
    old = daemon.sources["in"]
    text = (
        (root / "trailwatchd.toml").read_text().replace(f'path = "{root / "in"}"', f'path = "{root / "in2"}"')
    )
    (root / "in2").mkdir()
    (root / "trailwatchd.toml").write_text(text)
    outcome = await daemon.reload("signal")
    assert outcome.result == "success", outcome.errors
    assert outcome.restarted == ["sources.in:restarted"]
    assert daemon.sources["in"] is not old
    body = '{"Records":[' + RECORD % {"id": "n1", "name": "ConsoleLogin", "source": "x"} + "]}"
    (root / "in2" / "n.json.gz").write_bytes(gzip.compress(body.encode()))
    await wait_for(lambda: [a["event_id"] for a in read_alerts(root / "alerts.jsonl")] == ["n1"])


async def test_steady_stream_across_reloads_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Files keep arriving while the rules are reloaded ten times (alternating severities): every
    matching event alerts exactly once, each on the rule set its object started with."""
    (tmp_path / "in").mkdir()
    write_rules(tmp_path, rules_text())
    daemon = Daemon(
        load_config(write_config(tmp_path, watch=False)), registry=CollectorRegistry(), handle_signals=False
    )
    task = asyncio.create_task(daemon.run())
    await wait_for(lambda: daemon.ready)
    expected: set[str] = set()

    async def feed() -> None:
        for f in range(60):
            events = [
                (f"f{f}-e{i}", "ConsoleLogin" if i % 3 == 0 else "DescribeInstances") for i in range(30)
            ]
            expected.update(eid for eid, name in events if name == "ConsoleLogin")
            write_trail(tmp_path, f"f{f:03d}.json.gz", events)
            await asyncio.sleep(0.01)

    async def reload_often() -> None:
        for i in range(10):
            write_rules(tmp_path, rules_text(severity="critical" if i % 2 else "high"))
            assert (await daemon.reload("signal")).result == "success"
            await asyncio.sleep(0.03)

    await asyncio.gather(feed(), reload_often())
    await wait_for(lambda: len(read_alerts(tmp_path / "alerts.jsonl")) >= len(expected), timeout=30)
    await asyncio.sleep(0.5)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 15) == 0
    got = Counter(a["event_id"] for a in read_alerts(tmp_path / "alerts.jsonl"))
    assert set(got) == expected
    assert [eid for eid, n in got.items() if n > 1] == []
    assert sample(daemon, "trailwatchd_events_processed_total", {"source": "in"}) == 60 * 30


async def test_mirror_family_follows_a_renamed_metric(running: tuple[Path, Daemon]) -> None:
    """A rule whose metric changed leaves no family behind; the unchanged rule keeps its count; the
    exposition passes promtool after the reload."""
    root, daemon = running
    write_trail(root, "a.json.gz", [("e1", "ConsoleLogin"), ("e2", "StopLogging")])
    await wait_for(lambda: len(read_alerts(root / "alerts.jsonl")) == 2)
    write_config(root, watch=False)
    write_rules(root, rules_text(metric="ConsoleSignins"))
    assert (await daemon.reload("signal")).result == "success"
    port = daemon.metrics_port
    assert port is not None
    _, text = await asyncio.to_thread(http, port, "/metrics")
    assert "logmetrics_console_logins_total" not in text
    assert "logmetrics_console_signins_total 0.0" in text
    assert "logmetrics_stop_logging_calls_total 1.0" in text
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("TRAILWATCHD_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is required (TRAILWATCHD_REQUIRE_PROMTOOL=1): apt-get install prometheus")
        pytest.skip("promtool not installed")
    proc = subprocess.run(
        [promtool, "check", "metrics"], check=False, input=text, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
