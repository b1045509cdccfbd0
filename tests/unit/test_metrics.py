"""Metric naming and the mirror-counter families."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from trailwatchd.metrics import Metrics, MirrorCounters, MirrorSpec, mirror_metric_name, snake_case


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("UnauthorizedAPICalls", "unauthorized_api_calls"),
        ("IAMPolicyChanges", "iam_policy_changes"),
        ("ConsoleSigninFailureCount", "console_signin_failure_count"),
        ("S3BucketPolicyChanges", "s3_bucket_policy_changes"),
        ("event-type.count", "event_type_count"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    """CloudWatch CamelCase names become Prometheus snake_case, acronyms kept together."""
    assert snake_case(name) == expected


def test_mirror_name_matches_issue_example() -> None:
    """LogMetrics/UnauthorizedAPICalls mirrors as logmetrics_unauthorized_api_calls(_total)."""
    assert mirror_metric_name("LogMetrics", "UnauthorizedAPICalls") == "logmetrics_unauthorized_api_calls"


def test_mirror_counts_sum_values_and_start_at_zero() -> None:
    """A mirror family exists at 0 before any match and sums datapoint values like CloudWatch's Sum."""
    reg = CollectorRegistry()
    mirrors = MirrorCounters(reg)
    mirrors.replace([MirrorSpec("LogMetrics", "RootAccountUsageCount")])
    assert reg.get_sample_value("logmetrics_root_account_usage_count_total") == 0.0
    mirrors.inc("LogMetrics", "RootAccountUsageCount", 1.0)
    mirrors.inc("LogMetrics", "RootAccountUsageCount", 2.5)
    assert reg.get_sample_value("logmetrics_root_account_usage_count_total") == 3.5


def test_mirror_dimensions_become_labels() -> None:
    """Dimension names are snake-cased into labels and values label the series."""
    reg = CollectorRegistry()
    mirrors = MirrorCounters(reg)
    mirrors.replace([MirrorSpec("TrailWatch", "Calls", ("EventName",))])
    mirrors.inc("TrailWatch", "Calls", 1.0, [("EventName", "StopLogging")])
    assert reg.get_sample_value("trailwatch_calls_total", {"event_name": "StopLogging"}) == 1.0


def test_replace_keeps_unchanged_and_drops_changed_families() -> None:
    """On reload an unchanged family keeps its count; a family whose labels changed is re-created."""
    reg = CollectorRegistry()
    mirrors = MirrorCounters(reg)
    mirrors.replace([MirrorSpec("A", "Kept"), MirrorSpec("A", "Changed")])
    mirrors.inc("A", "Kept", 4.0)
    mirrors.inc("A", "Changed", 4.0)
    mirrors.replace([MirrorSpec("A", "Kept"), MirrorSpec("A", "Changed", ("Region",))])
    assert reg.get_sample_value("a_kept_total") == 4.0
    assert reg.get_sample_value("a_changed_total") is None
    mirrors.replace([MirrorSpec("A", "Kept")])
    assert "a_changed" not in generate_latest(reg).decode()


def test_conflicting_dimensions_rejected() -> None:
    """Two rules defining one metric with different dimensions is an error naming the metric."""
    mirrors = MirrorCounters(CollectorRegistry())
    with pytest.raises(ValueError, match="A/M is defined twice"):
        mirrors.replace([MirrorSpec("A", "M"), MirrorSpec("A", "M", ("X",))])


def test_known_series_initialised_to_zero() -> None:
    """Every per-source, per-sink and per-rule series exists at 0 before traffic."""
    m = Metrics()
    m.init_source("org", sqs=True)
    m.init_sink("security")
    m.init_rules(["cis-3.1"])
    reg = m.registry
    assert reg.get_sample_value("trailwatchd_objects_processed_total", {"source": "org", "result": "ok"}) == 0
    assert (
        reg.get_sample_value("trailwatchd_sqs_messages_total", {"source": "org", "outcome": "deleted"}) == 0
    )
    assert reg.get_sample_value("trailwatchd_alerts_total", {"sink": "security", "outcome": "published"}) == 0
    assert reg.get_sample_value("trailwatchd_rule_matches_total", {"rule": "cis-3.1"}) == 0
