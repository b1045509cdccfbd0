"""Evaluate one object's records against a rule-set snapshot: the CPU-bound core shared by the daemon
and ``trailwatchd scan``.

It is synchronous on purpose: the daemon runs it in a worker thread (or process) so a 50 MB object never
stalls the event loop, and ``scan`` calls it directly. The snapshot pairs a :class:`RuleSet` with the
:class:`RecordDecoder` generated from the fields that rule set reads, so both change together on reload
and an object is always evaluated by exactly one rule set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from trailwatchd.decode import DecodeLimits, DecodeStats, RecordDecoder, iter_records
from trailwatchd.model import MetricDatapoint
from trailwatchd.rules import RuleSet
from trailwatchd.timeutil import parse_iso_time


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable rule set plus the projection decoder built for it."""

    ruleset: RuleSet
    decoder: RecordDecoder
    track_minutes: bool = False
    """Record each event's minute: only metrics with a ``default_value`` need it (bench/alarm_eval.py)."""

    @classmethod
    def of(cls, ruleset: RuleSet) -> Snapshot:
        defaults = any(
            r.enabled and r.metric is not None and r.metric.default_value is not None for r in ruleset.rules
        )
        return cls(ruleset, RecordDecoder(ruleset.selectors), defaults)


@dataclass(slots=True)
class ObjectResult:
    """What one object produced: matches with their full events, metric datapoints, counts."""

    matches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(rule id, fully decoded event) per match, in record order."""
    datapoints: list[tuple[str, MetricDatapoint]] = field(default_factory=list)
    """(rule id, datapoint) per match of a rule with a metric whose value could be extracted."""
    extraction_failures: dict[str, int] = field(default_factory=dict)
    stats: DecodeStats = field(default_factory=DecodeStats)
    newest_event_time: str | None = None
    """The largest eventTime seen (ISO-8601 strings sort chronologically)."""
    event_minutes: set[str] = field(default_factory=set)
    """``YYYY-MM-DDTHH:MM`` of every eventTime seen, when the snapshot tracks minutes: the minutes with
    ingested logs, in which a metric's ``default_value`` is reported (alarms)."""
    content_sha256: str | None = None
    """Hex SHA-256 of the decompressed object, when ``evaluate_object(hash_content=True)``."""

    @property
    def events(self) -> int:
        return int(self.stats.records)

    def newest_event_epoch(self) -> float | None:
        """``newest_event_time`` as epoch seconds, or None when absent or unparsable."""
        return parse_iso_time(self.newest_event_time)


def _records(
    snap: Snapshot,
    *,
    data: bytes | IO[bytes] | None,
    inline: Iterable[bytes] | None,
    name: str,
    limits: DecodeLimits,
    stats: DecodeStats,
) -> Iterator[tuple[dict[str, Any], bytes]]:
    if inline is not None:
        for raw in inline:
            stats.records += 1
            yield snap.decoder.project(raw), raw
        return
    assert data is not None
    yield from iter_records(data, name=name, decoder=snap.decoder, limits=limits, stats=stats)


def evaluate_object(
    snap: Snapshot,
    *,
    name: str,
    data: bytes | IO[bytes] | None = None,
    inline: Iterable[bytes] | None = None,
    limits: DecodeLimits | None = None,
    hash_content: bool = False,
) -> ObjectResult:
    """Decode and evaluate every record of one object (or of inline events).

    ``data`` is the object as stored, as bytes or as a binary file object; a file object is read in
    256 KiB steps, so the object is never held whole (only the matched events are kept).

    Raises :class:`trailwatchd.errors.DecodeError` for malformed input; nothing from a malformed object
    is reported, so a retry or a park never double-counts. ``hash_content`` also hashes the decompressed
    bytes (``ObjectResult.content_sha256``) for the digest check.
    """
    result = ObjectResult()
    if hash_content and data is not None:  # integrity: hash the bytes already streaming through
        result.stats.sha256 = hashlib.sha256()
    ruleset = snap.ruleset
    newest = ""
    minutes = result.event_minutes if snap.track_minutes else None
    for event, raw in _records(
        snap, data=data, inline=inline, name=name, limits=limits or DecodeLimits(), stats=result.stats
    ):
        when = event.get("eventTime")
        if isinstance(when, str):
            if minutes is not None:
                minutes.add(when[:16])
            if when > newest:  # noqa: PLR1730 - a comparison is cheaper than max() on the per-event path
                newest = when
        rules = ruleset.match(event)
        if not rules:
            continue
        full = snap.decoder.full(raw)
        for rule in rules:
            result.matches.append((rule.id, full))
            if rule.metric is None:
                continue
            point = ruleset.datapoint(rule, event)
            if point is None:
                result.extraction_failures[rule.id] = result.extraction_failures.get(rule.id, 0) + 1
            else:
                result.datapoints.append((rule.id, point))
    result.newest_event_time = newest or None
    if result.stats.sha256 is not None:  # a plain string: results travel back from worker processes
        result.content_sha256 = str(result.stats.sha256.hexdigest())
        result.stats.sha256 = None
    return result
