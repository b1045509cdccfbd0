"""The daemon end to end in directory mode: files in, alerts out, metrics served, restart-safe."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon

RULES = """
[[rule]]
id = "console-login-no-mfa"
severity = "high"
pattern = '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }'
[rule.metric]
namespace = "LogMetrics"
name = "ConsoleSigninWithoutMFA"
value = "1"
"""


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    body = '{"Records":[' + ",".join(json.dumps(r, separators=(",", ":")) for r in records) + "]}"
    path.write_bytes(gzip.compress(body.encode()))


def make_config(tmp_path: Path) -> Any:
    (tmp_path / "rules.toml").write_text(RULES)
    (tmp_path / "in").mkdir(exist_ok=True)
    return parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
            },
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["out"]},
            "sources": {
                "in": {"type": "directory", "path": str(tmp_path / "in"), "poll_interval_secs": 0.05}
            },
            "sinks": {"out": {"type": "file", "path": str(tmp_path / "alerts.jsonl")}},
        }
    )


def alerts(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def corpus_records(corpus_dir: Path) -> list[dict[str, Any]]:
    return json.loads(
        (corpus_dir / "stratus-red-team" / "aws.initial-access.console-login-without-mfa.json").read_text()
    )


async def test_directory_daemon_alerts_serves_metrics_and_survives_restart(
    tmp_path: Path, corpus_records: list[dict[str, Any]]
) -> None:
    """A dropped file alerts once, metrics mirror the CloudWatch metric, and a restart re-alerts nothing."""
    config = make_config(tmp_path)
    write_log(tmp_path / "in" / "a.json.gz", corpus_records)
    daemon = Daemon(config, registry=CollectorRegistry(), handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await wait_for(lambda: len(alerts(tmp_path)) >= 1)
    await wait_for(lambda: daemon.ready)
    assert daemon.metrics_port is not None
    status, text = await asyncio.to_thread(get, daemon.metrics_port, "/metrics")
    assert status == 200
    assert "logmetrics_console_signin_without_mfa_total 1.0" in text
    assert 'trailwatchd_rule_matches_total{rule="console-login-no-mfa"} 1.0' in text
    assert (await asyncio.to_thread(get, daemon.metrics_port, "/healthz"))[0] == 200
    assert (await asyncio.to_thread(get, daemon.metrics_port, "/readyz"))[0] == 200
    daemon.request_stop()
    assert await asyncio.wait_for(task, 10) == 0
    first = alerts(tmp_path)
    assert [a["rule_id"] for a in first] == ["console-login-no-mfa"]
    assert first[0]["who"]["mfa"] == "No" and first[0]["where"]["source_ip"]

    # Restart on the same state: the old file is not processed again; a new file is.
    newer = [dict(r, eventID="second-" + r["eventID"]) for r in corpus_records]
    write_log(tmp_path / "in" / "b.json.gz", newer)
    daemon2 = Daemon(config, registry=CollectorRegistry(), handle_signals=False)
    task2 = asyncio.create_task(daemon2.run())
    await wait_for(lambda: len(alerts(tmp_path)) >= 2)
    await wait_for(lambda: daemon2.ready)
    await asyncio.sleep(0.3)  # several more polls: nothing else may appear
    daemon2.request_stop()
    assert await asyncio.wait_for(task2, 10) == 0
    assert len(alerts(tmp_path)) == 2


async def test_bad_file_is_parked_not_fatal(tmp_path: Path, corpus_records: list[dict[str, Any]]) -> None:
    """A truncated file is counted as a decode error and the daemon keeps processing good files."""
    config = make_config(tmp_path)
    (tmp_path / "in" / "broken.json.gz").write_bytes(
        gzip.compress(b'{"Records":[{"eventVersion":"1.08"')[:-6]
    )
    write_log(tmp_path / "in" / "good.json.gz", corpus_records)
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    await wait_for(lambda: len(alerts(tmp_path)) >= 1)
    await wait_for(
        lambda: (
            (
                registry.get_sample_value(
                    "trailwatchd_objects_processed_total", {"source": "in", "result": "decode_error"}
                )
                or 0
            )
            >= 1
        )
    )
    daemon.request_stop()
    assert await asyncio.wait_for(task, 10) == 0


async def test_state_is_pruned_periodically_without_re_alerting(
    tmp_path: Path, corpus_records: list[dict[str, Any]]
) -> None:
    """The daemon prunes finished ledger rows and delivered alerts past retention_secs, on schedule."""
    base = make_config(tmp_path)
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
                "retention_secs": 3600,
                "prune_interval_secs": 0.05,
            },
            "rules": {"paths": list(base.rules.paths), "default_sinks": ["out"]},
            "sources": {
                "in": {"type": "directory", "path": str(tmp_path / "in"), "poll_interval_secs": 0.05}
            },
            "sinks": {"out": {"type": "file", "path": str(tmp_path / "alerts.jsonl")}},
        }
    )
    write_log(tmp_path / "in" / "a.json.gz", corpus_records)
    skew = [0.0]
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False, clock=lambda: time.time() + skew[0])

    def pruned(table: str) -> float:
        return registry.get_sample_value("trailwatchd_state_pruned_rows_total", {"table": table}) or 0.0

    task = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: len(alerts(tmp_path)) == 1)
        await asyncio.sleep(0.2)  # several prunes inside the retention: nothing may go
        assert pruned("ledger") == 0 and pruned("spool") == 0
        skew[0] = 2 * 3600.0  # two hours later, the finished object and its delivered alert expire
        await wait_for(lambda: pruned("ledger") == 1 and pruned("spool") == 1)
        await asyncio.sleep(0.3)  # the directory source's own checkpoint still says the file is done
        assert len(alerts(tmp_path)) == 1
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
