"""Per-minute metric buckets for one alarm, and the evaluation range cut from them at a minute boundary.

CloudWatch Logs aggregates metric-filter values per minute of *log-event time* and an alarm sums (or
averages, ...) those minutes over each period; periods slide every minute ("at the end of minute 6, the
alarm is evaluated based on the data from minutes 2 to 6", AlarmThatSendsEmail). So we keep one small
statistic set per minute of ``eventTime`` (sum, sample count, minimum, maximum: enough for every
statistic an alarm may use) and build the periods at evaluation time. Pure; no clock of its own.

Late data (docs/alarms.md "Late data"): a minute is *final* once ``allowed_lateness_secs`` have passed
since its end. At evaluation time a period that has no datapoint yet and is not final is *pending*: it is
left out of the evaluation range instead of being counted as missing, and the range reaches back one
period further for each one left out. With ``allowed_lateness_secs = 0`` every past period is final and
the range is exactly CloudWatch's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trailwatchd.alarms.evaluator import Slot, evaluation_range

MINUTE = 60

STAT_NAMES = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")


def minute_of(epoch: float) -> int:
    """The minute index (epoch seconds // 60) an event time falls in."""
    return int(epoch // MINUTE)


def effective_period(period_secs: int) -> int:
    """Metric-filter metrics have one-minute resolution, so a 10 or 30 second period acts as 60 s."""
    return max(MINUTE, period_secs)


def lookback_periods(evaluation_periods: int, period_secs: int, lateness_secs: float) -> int:
    """Periods an evaluation may look at: the evaluation range plus the ones lateness can leave out."""
    period = effective_period(period_secs)
    return evaluation_range(evaluation_periods) + math.ceil(lateness_secs / period)


@dataclass(slots=True)
class Bucket:
    """The statistic set of one minute: what CloudWatch keeps per metric datapoint."""

    total: float
    count: float
    low: float
    high: float

    @classmethod
    def of(cls, value: float) -> Bucket:
        return cls(value, 1.0, value, value)

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1.0
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def merge(self, other: Bucket) -> None:
        self.total += other.total
        self.count += other.count
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def copy(self) -> Bucket:
        return Bucket(self.total, self.count, self.low, self.high)

    def statistic(self, name: str) -> float:
        """One of CloudWatch's five statistics over this set (Average = Sum / SampleCount)."""
        if name == "Sum":
            return self.total
        if name == "SampleCount":
            return self.count
        if name == "Average":
            return self.total / self.count
        if name == "Minimum":
            return self.low
        if name == "Maximum":
            return self.high
        raise ValueError(f"unknown statistic {name!r}")


@dataclass(slots=True)
class Series:
    """The minute buckets of one alarm's metric, plus the minutes in which any event was ingested.

    ``ingested`` is only kept for metrics with a ``default_value``: CloudWatch reports the default "during
    a period when logs are ingested but no matching logs are found" (PutMetricFilter), once per minute.
    """

    buckets: dict[int, Bucket] = field(default_factory=dict)
    ingested: set[int] = field(default_factory=set)

    def copy(self) -> Series:
        return Series({m: b.copy() for m, b in self.buckets.items()}, set(self.ingested))

    def add(self, minute: int, value: float) -> None:
        bucket = self.buckets.get(minute)
        if bucket is None:
            self.buckets[minute] = Bucket.of(value)
        else:
            bucket.add(value)

    def prune(self, oldest_minute: int) -> None:
        """Forget minutes before ``oldest_minute`` (no future evaluation can reach them)."""
        for minute in [m for m in self.buckets if m < oldest_minute]:
            del self.buckets[minute]
        self.ingested = {m for m in self.ingested if m >= oldest_minute}

    def period(self, first_minute: int, minutes: int, default_value: float | None) -> Bucket | None:
        """The merged statistic set of ``minutes`` minutes from ``first_minute``; None when empty."""
        merged: Bucket | None = None
        for minute in range(first_minute, first_minute + minutes):
            bucket = self.buckets.get(minute)
            if bucket is None and default_value is not None and minute in self.ingested:
                bucket = Bucket.of(default_value)
            if bucket is None:
                continue
            if merged is None:
                merged = bucket.copy()
            else:
                merged.merge(bucket)
        return merged

    # -- persistence ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "buckets": {str(m): [b.total, b.count, b.low, b.high] for m, b in sorted(self.buckets.items())},
            "ingested": sorted(self.ingested),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Series:
        buckets = {
            int(m): Bucket(float(v[0]), float(v[1]), float(v[2]), float(v[3]))
            for m, v in dict(doc.get("buckets") or {}).items()
        }
        return cls(buckets, {int(m) for m in doc.get("ingested") or ()})


@dataclass(frozen=True, slots=True)
class Window:
    """How to cut an evaluation range: the alarm's period shape and the statistic."""

    period_secs: int
    evaluation_periods: int
    statistic: str
    default_value: float | None = None


def evaluation_slots(
    series: Series, w: Window, *, at: int, final_before: float, lateness_secs: float
) -> list[Slot]:
    """The evaluation range at minute boundary ``at`` (epoch seconds), oldest first.

    Period k (k = 0 newest) covers ``[at - (k+1)P, at - kP)``. A period with no datapoint whose end is
    after ``final_before`` is pending and skipped; the newest ``evaluation_range`` remaining periods are
    returned. ``final_before`` is normally ``now - allowed_lateness_secs`` (see the service for restarts).
    """
    period = effective_period(w.period_secs)
    per = period // MINUTE
    wanted = evaluation_range(w.evaluation_periods)
    slots: list[Slot] = []
    for k in range(lookback_periods(w.evaluation_periods, w.period_secs, lateness_secs)):
        end = at - k * period
        start = end - period
        merged = series.period(start // MINUTE, per, w.default_value)
        if merged is None and end > final_before:
            continue  # pending: data for it may still arrive
        slots.append(Slot(float(start), None if merged is None else merged.statistic(w.statistic)))
        if len(slots) == wanted:
            break
    slots.reverse()
    return slots


def horizon_minutes(w: Window, lateness_secs: float) -> int:
    """How many minutes back from an evaluation a datapoint can still matter (plus one period of slack)."""
    period = effective_period(w.period_secs)
    periods = lookback_periods(w.evaluation_periods, w.period_secs, lateness_secs) + 1
    return periods * period // MINUTE


def add_ingested(series: Series, minutes: Iterable[int]) -> None:
    """Record minutes in which events were ingested (used only for ``default_value``)."""
    series.ingested.update(minutes)
