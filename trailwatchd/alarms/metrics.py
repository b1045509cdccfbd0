"""Alarm telemetry: the state of each alarm, its transitions, and what happened to its datapoints.

Labels are alarm names from the rule files (a bounded, configured set) and fixed vocabularies.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from trailwatchd.alarms.evaluator import STATES

DATAPOINT_OUTCOMES = ("counted", "too_late", "future")


class AlarmMetrics:
    """``trailwatchd_alarm_state``, ``trailwatchd_alarm_transitions_total``, ``..._datapoints_total``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.state = Gauge(
            "trailwatchd_alarm_state",
            "1 for the alarm's current state (OK, ALARM or INSUFFICIENT_DATA), 0 for the other two.",
            ["alarm", "state"],
            registry=registry,
        )
        self.transitions = Counter(
            "trailwatchd_alarm_transitions_total",
            "Alarm state changes (each one notifies the actions of the new state).",
            ["alarm", "from", "to"],
            registry=registry,
        )
        self.datapoints = Counter(
            "trailwatchd_alarm_datapoints_total",
            "Metric datapoints offered to an alarm: counted, too_late (older than any evaluation can "
            "reach) or future (event time more than the allowed clock skew ahead).",
            ["alarm", "outcome"],
            registry=registry,
        )
        self._known: set[str] = set()

    def init_alarm(self, name: str, state: str) -> None:
        """Create every series of a new alarm at 0 and show its current state."""
        if name not in self._known:
            self._known.add(name)
            for old in STATES:
                for new in STATES:
                    if old != new:
                        self.transitions.labels(name, old, new)
            for outcome in DATAPOINT_OUTCOMES:
                self.datapoints.labels(name, outcome)
        self.set_state(name, state)

    def set_state(self, name: str, state: str) -> None:
        for candidate in STATES:
            self.state.labels(name, candidate).set(1.0 if candidate == state else 0.0)

    def forget(self, name: str) -> None:
        """An alarm removed by a reload: drop its state series (its counters keep their history)."""
        for candidate in STATES:
            with contextlib.suppress(KeyError):
                self.state.remove(name, candidate)
