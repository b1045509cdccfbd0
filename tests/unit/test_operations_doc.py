"""docs/operations.md describes every metric the daemon exports, and names no metric that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.integrity.metrics import IntegrityMetrics
from trailwatchd.metrics import Metrics
from trailwatchd.throttle import ThrottleMetrics
from trailwatchd.workers import WorkerMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def exported_names() -> set[str]:
    """Every ``trailwatchd_*`` family as /metrics shows it (``_total`` for counters, ``_info`` for infos)."""
    registry = CollectorRegistry()
    Metrics(registry)
    ThrottleMetrics(registry)
    AlarmMetrics(registry)
    IntegrityMetrics(registry)
    WorkerMetrics(registry)  # only registered with [daemon] workers > 1
    text = generate_latest(registry).decode()
    names = {m.group(1) for m in re.finditer(r"^# TYPE (trailwatchd_\w+) ", text, re.MULTILINE)}
    return {n for n in names if not n.endswith("_created")}


def test_every_metric_is_described_in_operations_md() -> None:
    documented = set(re.findall(r"`(trailwatchd_\w+)`", DOC.read_text()))
    missing = sorted(exported_names() - documented)
    assert not missing, f"describe these metrics in docs/operations.md: {missing}"


def test_operations_md_names_only_real_metrics() -> None:
    real = exported_names()
    mentioned = set(re.findall(r"\b(trailwatchd_[a-z_]+)", DOC.read_text()))
    stale = sorted(
        n for n in mentioned if n not in real and not any(n.startswith(r) or r.startswith(n) for r in real)
    )
    assert not stale, f"docs/operations.md names metrics that do not exist: {stale}"
