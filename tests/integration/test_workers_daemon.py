"""``daemon.workers = 2`` through the whole daemon: the same alerts, counts and metric datapoints as 1."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.corpus import build_corpus
from tests.integration.test_reload import (
    read_alerts,
    rules_text,
    wait_for,
    write_config,
    write_rules,
    write_trail,
)
from trailwatchd.config import load_config, parse_config
from trailwatchd.daemon import Daemon

REPO = Path(__file__).resolve().parents[2]
CIS = REPO / "config" / "rules" / "cis-aws-foundations-1.2"
COUNTED = (
    "trailwatchd_events_processed_total",
    "trailwatchd_objects_processed_total",
    "trailwatchd_rule_matches_total",
    "trailwatchd_alerts_total",
    "trailwatchd_metric_extraction_failures_total",
)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counted sample of the pipeline plus every CloudWatch mirror (``logmetrics_*``) sample."""
    out = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name in COUNTED or (s.name.startswith("logmetrics_") and s.name.endswith("_total")):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _run(tmp: Path, corpus: Path, files: int, workers: int) -> tuple[list[Any], dict[Any, float]]:
    state = tmp / f"w{workers}"
    state.mkdir()
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(state / "state.db"),
                "graceful_shutdown_secs": 10,
                "workers": workers,
            },
            "rules": {"paths": [str(CIS)], "default_sinks": ["out"]},
            "sources": {
                "in": {
                    "type": "directory",
                    "path": str(corpus),
                    "glob": "**/*.json.gz",
                    "poll_interval_secs": 0.05,
                }
            },
            "sinks": {
                "out": {"type": "file", "path": str(state / "alerts.jsonl")},
                "security": {"type": "file", "path": str(state / "alarms.jsonl")},
            },
        }
    )
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    ok = {"source": "in", "result": "ok"}
    while (registry.get_sample_value("trailwatchd_objects_processed_total", ok) or 0) < files or not (
        daemon.pipeline is not None and daemon.pipeline.idle
    ):
        assert loop.time() < deadline and not task.done(), "the daemon did not finish the corpus"
        await asyncio.sleep(0.05)
    if workers > 1:
        assert daemon.evaluators is not None and daemon.evaluators.workers == workers
        assert registry.get_sample_value("trailwatchd_worker_processes") == workers
    else:
        assert daemon.evaluators is None
    daemon.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    alerts = [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]
    return alerts, _samples(registry)


async def test_two_worker_processes_give_the_same_alerts_and_counts_as_one(tmp_path: Path) -> None:
    paths = build_corpus(12_000, 1_000, seed=7, root=tmp_path / "corpus")
    corpus = paths[0].parents[7]
    one_alerts, one_counts = await _run(tmp_path, corpus, len(paths), 1)
    two_alerts, two_counts = await _run(tmp_path, corpus, len(paths), 2)

    def identity(a: dict[str, Any]) -> tuple[str, str]:
        return a["rule_id"], a["event_id"]

    assert len(one_alerts) > 50  # the CIS pack matches a few percent of the synthetic corpus
    assert sorted(map(identity, two_alerts)) == sorted(map(identity, one_alerts))
    assert len(set(map(identity, two_alerts))) == len(two_alerts)  # no alert twice
    # Alert bodies agree except for the times the daemon stamped on them.
    strip = ("matched_at", "delivered_at")
    by_id = {identity(a): a for a in one_alerts}
    for alert in two_alerts:
        mine, theirs = dict(alert), dict(by_id[identity(alert)])
        mine["when"] = {k: v for k, v in mine["when"].items() if k not in strip}
        theirs["when"] = {k: v for k, v in theirs["when"].items() if k not in strip}
        assert mine == theirs
    assert one_counts == two_counts
    assert one_counts[("trailwatchd_events_processed_total", (("source", "in"),))] == 12_000
    assert any(name.startswith("logmetrics_") and v > 0 for (name, _), v in one_counts.items())


DESCRIBE_RULE = """
[[rule]]
id = "describe"
severity = "info"
pattern = '{ $.eventName = "DescribeInstances" }'
"""


async def test_reloads_with_worker_processes_switch_rules_and_lose_nothing(tmp_path: Path) -> None:
    """Files stream in while the rules are reloaded; with 2 worker processes every matching event alerts
    exactly once, and after a reload that changes the pattern the workers evaluate the new one."""
    (tmp_path / "in").mkdir()
    write_rules(tmp_path, rules_text())
    cfg = write_config(tmp_path, watch=False)
    cfg.write_text(cfg.read_text().replace("queue_size = 64", "queue_size = 64\nworkers = 2"))
    daemon = Daemon(load_config(cfg), registry=CollectorRegistry(), handle_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: daemon.ready, timeout=30)
        assert daemon.evaluators is not None
        expected: set[str] = set()

        async def feed() -> None:
            for f in range(30):
                events = [
                    (f"f{f}-e{i}", "ConsoleLogin" if i % 3 == 0 else "DescribeInstances") for i in range(30)
                ]
                expected.update(eid for eid, name in events if name == "ConsoleLogin")
                write_trail(tmp_path, f"f{f:03d}.json.gz", events)
                await asyncio.sleep(0.01)

        async def reload_often() -> None:
            for i in range(6):
                write_rules(tmp_path, rules_text(severity="critical" if i % 2 else "high"))
                assert (await daemon.reload("signal")).result == "success"
                await asyncio.sleep(0.03)

        await asyncio.gather(feed(), reload_often())
        await wait_for(lambda: len(read_alerts(tmp_path / "alerts.jsonl")) >= len(expected), timeout=60)
        await asyncio.sleep(0.5)
        got = Counter(a["event_id"] for a in read_alerts(tmp_path / "alerts.jsonl"))
        assert set(got) == expected
        assert [eid for eid, n in got.items() if n > 1] == []

        # A different pattern: the worker processes must evaluate the new rule set, not a cached one.
        write_rules(tmp_path, DESCRIBE_RULE)
        assert (await daemon.reload("signal")).result == "success"
        write_trail(
            tmp_path,
            "after.json.gz",
            [("after-login", "ConsoleLogin"), ("after-describe", "DescribeInstances")],
        )
        await wait_for(
            lambda: any(a["event_id"] == "after-describe" for a in read_alerts(tmp_path / "alerts.jsonl"))
        )
        await asyncio.sleep(0.3)
        late = [a for a in read_alerts(tmp_path / "alerts.jsonl") if a["event_id"].startswith("after-")]
        assert [(a["rule_id"], a["event_id"]) for a in late] == [("describe", "after-describe")]
        assert (
            daemon.metrics.registry.get_sample_value("trailwatchd_events_processed_total", {"source": "in"})
            == 30 * 30 + 2
        )
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 30) == 0
