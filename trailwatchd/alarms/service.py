"""The asyncio side of alarms: feed datapoints in, evaluate every minute, persist, notify through the spool.

Two entry points, both serialised by their callers' own ordering rather than a lock of ours:

* :meth:`AlarmService.stage` / :meth:`AlarmService.apply` wrap the pipeline's per-object transaction
  (``state.record_evaluation``, which already runs under the pipeline's throttle lock, one object at a
  time). ``stage`` computes the alarms' new minute buckets on copies and returns them as ``meta`` rows,
  so the datapoints of an object are committed exactly when the object is marked evaluated: a crash
  before the commit replays the object, after it the datapoints are on disk. ``apply`` then swaps the
  copies in. The evaluation never writes buckets, so the two cannot overwrite each other.
* :meth:`AlarmService.tick` evaluates each alarm once per minute boundary, and saves the alarm states
  together with the notifications of any transition (``state.record_alarm_transitions``, one durable
  transaction): after a restart an alarm is in the state it was in, so it neither fires ALARM again nor
  sends a spurious OK.

Finality after a restart: minutes whose emptiness was already final stay final; for newer minutes the
service waits ``allowed_lateness_secs`` after starting before it treats an empty period as missing, so a
backlog that arrives after a restart is counted before any absence-driven transition (docs/alarms.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from trailwatchd.alarms.evaluator import ALARM, INSUFFICIENT_DATA, OK, STATES, Params, decide
from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.payload import Change, alarm_message, cw_time, sample_of, subject
from trailwatchd.alarms.series import MINUTE, Series, Window, evaluation_slots, horizon_minutes, minute_of
from trailwatchd.alerts import alert_to_bytes, build_alert
from trailwatchd.model import Alert, MetricDatapoint
from trailwatchd.rules.model import AlarmSpec, MetricSpec, Rule
from trailwatchd.state import AsyncStateStore, NewAlert, StateError
from trailwatchd.timeutil import parse_iso_time

log = structlog.get_logger()

SERIES_META_PREFIX = "alarm-series:"
STATE_VERSION = 1
FUTURE_SKEW_SECS = 900.0
"""Datapoints whose event time is further ahead of our clock than this are refused (clock skew bound)."""
ACTION_KEYS = {ALARM: "alarm_actions", OK: "ok_actions", INSUFFICIENT_DATA: "insufficient_data_actions"}

ActionResolver = Callable[[str], tuple[str | None, str]]
"""An action (sink id or SNS topic ARN) -> (sink id to deliver to or None, what the message shows)."""


def _identity(action: str) -> tuple[str | None, str]:
    return action, action


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """``[alarms]`` as the service needs it (kept apart from config types for tests)."""

    allowed_lateness_secs: float = 900.0
    account_id: str | None = None
    region: str = "us-east-1"
    sample_events: int = 3
    notification_ttl_secs: float = 7 * 86400.0


def config_digest(spec: AlarmSpec, metric: MetricSpec) -> str:
    """Identity of an alarm's configuration: a change sets AlarmConfigurationUpdatedTimestamp."""
    text = repr((spec, metric.namespace, metric.name, metric.default_value))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Alarm:
    """One alarm's runtime state (everything :meth:`to_json` and the series meta row persist)."""

    rule: Rule
    spec: AlarmSpec
    metric: MetricSpec
    series: Series = field(default_factory=Series)
    samples: list[dict[str, Any]] = field(default_factory=list)
    account: str | None = None
    state: str = INSUFFICIENT_DATA
    reason: str = "Unchecked: Initial alarm creation"
    changed_at: float = 0.0
    config: str = ""
    config_updated_at: float = 0.0
    evaluated_at: int | None = None
    final_before: float | None = None
    loaded: bool = False

    @property
    def window(self) -> Window:
        s = self.spec
        return Window(s.period_secs, s.evaluation_periods, s.statistic, self.metric.default_value)

    @property
    def params(self) -> Params:
        s = self.spec
        return Params(
            evaluation_periods=s.evaluation_periods,
            datapoints_to_alarm=s.datapoints_to_alarm,
            comparison_operator=s.comparison_operator,
            threshold=s.threshold,
            treat_missing_data=s.treat_missing_data,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "rule_id": self.rule.id,
            "state": self.state,
            "reason": self.reason,
            "changed_at": self.changed_at,
            "config": self.config,
            "config_updated_at": self.config_updated_at,
            "evaluated_at": self.evaluated_at,
            "final_before": self.final_before,
        }

    def restore(self, doc: Mapping[str, Any]) -> None:
        """Take over a saved state row; all or nothing (raises TypeError/ValueError on a damaged row)."""
        state = str(doc.get("state"))
        if state not in STATES:
            raise ValueError(f"unknown alarm state {state!r}")
        reason = str(doc.get("reason") or self.reason)
        changed_at = float(doc.get("changed_at") or 0.0)
        updated_at = self.config_updated_at
        if doc.get("config") == self.config:
            updated_at = float(doc.get("config_updated_at") or updated_at)
        evaluated, final = doc.get("evaluated_at"), doc.get("final_before")
        self.state, self.reason, self.changed_at, self.config_updated_at = (
            state,
            reason,
            changed_at,
            updated_at,
        )
        self.evaluated_at = int(evaluated) if isinstance(evaluated, int | float) else None
        self.final_before = float(final) if isinstance(final, int | float) else None


@dataclass(slots=True)
class Staged:
    """New buckets and samples of the alarms one object touched, not yet applied."""

    meta: dict[str, str] = field(default_factory=dict)
    series: dict[str, tuple[Series, list[dict[str, Any]], str | None]] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)


class AlarmService:
    """Evaluates every ``[rule.alarm]`` the CloudWatch way; see the module docstring."""

    def __init__(
        self,
        *,
        state: AsyncStateStore,
        metrics: AlarmMetrics,
        settings: AlarmSettings | None = None,
        clock: Callable[[], float] = time.time,
        resolve: ActionResolver = _identity,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.settings = settings or AlarmSettings()
        self.clock = clock
        self.resolve = resolve
        self.started_at = clock()
        self.alarms: dict[str, Alarm] = {}
        self.by_rule: dict[str, str] = {}
        self._load_lock = asyncio.Lock()  # the pipeline and the minute task may both find new alarms

    # -- rules ------------------------------------------------------------------------------------
    def set_rules(self, rules: Iterable[Rule]) -> None:
        """Install the alarms of a rule set (startup and reload); an alarm keeps its state by name."""
        now = self.clock()
        wanted: dict[str, Alarm] = {}
        by_rule: dict[str, str] = {}
        for rule in rules:
            if not rule.enabled or rule.alarm is None or rule.metric is None:
                continue
            name = rule.alarm.name
            digest = config_digest(rule.alarm, rule.metric)
            alarm = self.alarms.get(name)
            if alarm is None:
                alarm = Alarm(rule, rule.alarm, rule.metric, config=digest, config_updated_at=now)
            else:
                if alarm.config != digest:
                    alarm.config, alarm.config_updated_at = digest, now
                alarm.rule, alarm.spec, alarm.metric = rule, rule.alarm, rule.metric
            wanted[name] = alarm
            by_rule[rule.id] = name
        for name in set(self.alarms) - set(wanted):
            self.metrics.forget(name)
        self.alarms, self.by_rule = wanted, by_rule

    async def load(self) -> None:
        """Read the saved state and buckets of alarms not loaded yet (new at startup or reload)."""
        if all(alarm.loaded for alarm in self.alarms.values()):
            return
        async with self._load_lock:
            for name, alarm in list(self.alarms.items()):
                if not alarm.loaded:
                    await self._load_one(name, alarm)

    async def _load_one(self, name: str, alarm: Alarm) -> None:
        """Restore one alarm from its state row and its series meta row (a bad row is logged, not fatal)."""
        doc = await self.state.get_alarm(name)
        if isinstance(doc, Mapping):
            try:
                alarm.restore(doc)
            except (TypeError, ValueError) as exc:  # hand-edited or damaged row: start afresh, say so
                log.error("alarm_state_discarded", alarm=name, error=str(exc))
        raw = await self.state.get_meta(SERIES_META_PREFIX + name)
        if raw:
            try:
                saved = json.loads(raw)
                alarm.series = Series.from_json(saved)
                alarm.samples = [s for s in saved.get("samples") or () if isinstance(s, dict)]
                alarm.account = saved.get("account") if isinstance(saved.get("account"), str) else None
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                log.error("alarm_series_discarded", alarm=name, error=str(exc))
        alarm.loaded = True
        self.metrics.init_alarm(name, alarm.state)
        log.info("alarm_loaded", alarm=name, state=alarm.state, minutes=len(alarm.series.buckets))

    # -- datapoints -------------------------------------------------------------------------------
    async def stage(
        self,
        datapoints: Sequence[tuple[str, MetricDatapoint]],
        *,
        matches: Sequence[tuple[str, Mapping[str, Any]]] = (),
        event_minutes: Iterable[str] = (),
        now: float,
        object_uri: str | None = None,
    ) -> Staged:
        """The alarms' new buckets after one object, as ``meta`` rows for the object's transaction."""
        await self.load()
        staged = Staged()
        boundary = int(now // MINUTE)

        def series_for(alarm: Alarm) -> Series:
            entry = staged.series.get(alarm.spec.name)
            if entry is None:
                entry = (alarm.series.copy(), list(alarm.samples), alarm.account)
                staged.series[alarm.spec.name] = entry
            return entry[0]

        for rule_id, point in datapoints:
            name = self.by_rule.get(rule_id)
            if name is None:
                continue
            alarm = self.alarms[name]
            stamp = now if point.timestamp is None else point.timestamp
            oldest = boundary - horizon_minutes(alarm.window, self.settings.allowed_lateness_secs)
            if minute_of(stamp) < oldest:
                outcome = "too_late"
            elif stamp > now + FUTURE_SKEW_SECS:
                outcome = "future"
            else:
                outcome = "counted"
                series_for(alarm).add(minute_of(stamp), point.value)
            staged.outcomes[(name, outcome)] = staged.outcomes.get((name, outcome), 0) + 1
        minutes = self._minutes(event_minutes)
        for alarm in self.alarms.values():
            if alarm.metric.default_value is not None and minutes:
                series_for(alarm).ingested.update(minutes)
        self._stage_samples(staged, matches, now=now, object_uri=object_uri)
        for name, (series, samples, account) in staged.series.items():
            alarm = self.alarms[name]
            series.prune(boundary - horizon_minutes(alarm.window, self.settings.allowed_lateness_secs))
            doc = {"v": STATE_VERSION, **series.to_json(), "samples": samples, "account": account}
            staged.meta[SERIES_META_PREFIX + name] = json.dumps(doc, separators=(",", ":"))
        return staged

    @staticmethod
    def _minutes(texts: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for text in texts:
            at = parse_iso_time(text[:16] + ":00Z")
            if at is not None:
                out.add(minute_of(at))
        return out

    def _stage_samples(
        self,
        staged: Staged,
        matches: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        now: float,
        object_uri: str | None,
    ) -> None:
        keep = self.settings.sample_events
        if keep <= 0:
            return
        newest: dict[str, list[Mapping[str, Any]]] = {}
        for rule_id, event in matches:
            name = self.by_rule.get(rule_id)
            if name is not None and name in staged.series:
                newest.setdefault(name, []).append(event)
        for name, events in newest.items():
            alarm = self.alarms[name]
            series, samples, account = staged.series[name]
            fresh = []
            for event in reversed(events[-keep:]):
                body = build_alert(
                    rule_id=alarm.rule.id,
                    title=alarm.rule.title,
                    severity=alarm.rule.severity,
                    event=event,
                    object_uri=object_uri,
                    matched_at=now,
                ).body
                fresh.append(sample_of(body))
            where = fresh[0].get("where") or {}
            account = where.get("account") or account
            staged.series[name] = (series, (fresh + samples)[:keep], account)

    def apply(self, staged: Staged) -> None:
        """Swap in what :meth:`stage` computed, once its transaction committed."""
        for name, (series, samples, account) in staged.series.items():
            alarm = self.alarms.get(name)
            if alarm is not None:
                alarm.series, alarm.samples, alarm.account = series, samples, account
        for (name, outcome), n in staged.outcomes.items():
            self.metrics.datapoints.labels(name, outcome).inc(n)

    # -- evaluation -------------------------------------------------------------------------------
    def _final_before(self, alarm: Alarm, now: float) -> float:
        lateness = self.settings.allowed_lateness_secs
        saved = alarm.final_before if alarm.final_before is not None else -math.inf
        if now - self.started_at >= lateness:
            return max(saved, now - lateness)
        return saved

    async def tick(self, now: float | None = None) -> list[Change]:
        """Evaluate every alarm at the latest minute boundary not yet evaluated; return the transitions."""
        now = self.clock() if now is None else now
        await self.load()
        at = int(now // MINUTE) * MINUTE
        lateness = self.settings.allowed_lateness_secs
        states: dict[str, Any] = {}
        notes: list[NewAlert] = []
        changes: list[tuple[Alarm, Change]] = []
        updates: list[tuple[Alarm, int, float]] = []
        for name, alarm in self.alarms.items():
            if alarm.evaluated_at is not None and alarm.evaluated_at >= at:
                continue
            final = self._final_before(alarm, now)
            slots = evaluation_slots(
                alarm.series, alarm.window, at=at, final_before=final, lateness_secs=lateness
            )
            decision = decide(slots, alarm.params) if slots else None
            updates.append((alarm, at, final))
            saved_final = final if math.isfinite(final) else None
            doc = alarm.to_json() | {"evaluated_at": at, "final_before": saved_final}
            if decision is not None and decision.state is not None and decision.state != alarm.state:
                change = Change(
                    spec=alarm.spec,
                    metric=alarm.metric,
                    old_state=alarm.state,
                    new_state=decision.state,
                    reason=decision.reason,
                    changed_at=now,
                    config_updated_at=alarm.config_updated_at,
                    samples=tuple(alarm.samples) if decision.state == ALARM else (),
                )
                changes.append((alarm, change))
                doc |= {"state": change.new_state, "reason": change.reason, "changed_at": now}
                note = self._notification(alarm, change)
                if note is not None:
                    notes.append(note)
            states[name] = doc
        if not states:
            return []
        try:
            await self.state.record_alarm_transitions(
                states, notes, now=now, ttl_secs=self.settings.notification_ttl_secs
            )
        except (sqlite3.Error, StateError) as exc:  # disk full, locked: evaluated again next tick
            log.error("alarm_evaluation_failed", error=str(exc))
            return []
        for alarm, evaluated, final in updates:
            alarm.evaluated_at = evaluated
            alarm.final_before = final if math.isfinite(final) else None
        for alarm, change in changes:
            alarm.state, alarm.reason, alarm.changed_at = change.new_state, change.reason, change.changed_at
            self.metrics.transitions.labels(alarm.spec.name, change.old_state, change.new_state).inc()
            self.metrics.set_state(alarm.spec.name, change.new_state)
            log.warning(
                "alarm_state_changed",
                alarm=alarm.spec.name,
                rule_id=alarm.rule.id,
                old_state=change.old_state,
                new_state=change.new_state,
                reason=change.reason,
            )
        return [change for _, change in changes]

    def _notification(self, alarm: Alarm, change: Change) -> NewAlert | None:
        """The spool entry for a transition: CloudWatch's message to the new state's actions."""
        targets: list[str] = []
        for action in getattr(alarm.spec, ACTION_KEYS[change.new_state]):
            sink_id, _ = self.resolve(action)
            if sink_id is None:
                log.error("alarm_action_unresolved", alarm=alarm.spec.name, action=action)
            elif sink_id not in targets:
                targets.append(sink_id)
        if not targets:
            return None
        shown = {key: [self.resolve(a)[1] for a in getattr(alarm.spec, key)] for key in ACTION_KEYS.values()}
        region = self.settings.region
        message = alarm_message(
            change, account_id=self.settings.account_id or alarm.account or "", region=region, actions=shown
        )
        title = subject(change.new_state, alarm.spec.name, region)
        key = f"alarm|{alarm.spec.name}|{change.new_state}|{cw_time(change.changed_at)}"
        alert = Alert(
            rule_id=alarm.rule.id,
            event_id=key,
            severity=alarm.rule.severity,
            title=title,
            body=message,
            sinks=tuple(targets),
            kind="alarm",
            subject=title,
        )
        return NewAlert(dedupe_key=key, payload=alert_to_bytes(alert), sink_ids=tuple(targets))

    async def run(self, *, every_secs: float = 60.0) -> None:
        """Evaluate at every minute boundary, forever (cancelled at shutdown)."""
        while True:
            await self.tick()
            now = self.clock()
            until_boundary = MINUTE - (now % MINUTE) + 0.5
            await asyncio.sleep(min(every_secs, max(0.05, until_boundary)))
