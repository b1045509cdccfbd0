"""Alert hygiene between a match and the spool: exceptions, dedupe keys, per-rule rate limits, roll-ups.

A rule that matches 10,000 times in a storm must not page anyone 10,000 times, and it must not go
silent either (user asks: "rate limit = we missed the attack"). So a rule with ``max_alerts_per_minute``
sends that many alerts per minute and summarises the rest in **one roll-up alert per rule per minute**
("37 more matches of <rule> from <top principals> since <time>"), with counts and the top principals,
source IPs and accounts. A storm of N matches therefore yields at most ``max + 1`` alerts per rule per
minute, whatever N.

Lossless and restart-safe: the limiter state (counts and the pending roll-up aggregates) is a small JSON
document committed **in the same SQLite transaction** as the object whose matches changed it
(``record_evaluation(meta=...)``), and the in-memory copy is replaced only after that commit. A crash
before the commit leaves neither (the object comes back and is evaluated again); after it, both are on
disk. A pending roll-up is itself spooled, like any alert, when its minute is over. The state is bounded:
one entry per throttled rule, each counter capped at :data:`MAX_KEYS` distinct values (the rest counted
as ``(other)``), and entries of rules that no longer exist are flushed and dropped.

Exceptions (``except``) only suppress alerts: the rule's metric (the CloudWatch mirror) and
``trailwatchd_rule_matches_total`` still count the match, exactly as CloudWatch would with the unchanged
filter pattern. Excepted matches are counted in ``trailwatchd_rule_exceptions_total{rule}``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter

from trailwatchd.alerts import (
    _iso,
    account_of,
    alert_dedupe_key,
    alert_to_bytes,
    build_alert,
    clean,
    neutralise_markup,
    principal,
)
from trailwatchd.config import AccountEnrichment
from trailwatchd.model import Alert
from trailwatchd.patterns.reference import resolve
from trailwatchd.rules import Rule
from trailwatchd.state import NewAlert

WINDOW_SECS = 60
MAX_KEYS = 100
"""Distinct values kept per roll-up counter; further values are counted as ``(other)``."""
TOP = 5
OTHER = "(other)"
META_KEY = "alert_throttle"
STATE_VERSION = 1


def dedupe_key(rule: Rule, event: Mapping[str, Any], event_id: str) -> str:
    """``rule|eventID``, or ``rule|fields:<hash>`` of the ``dedupe_fields`` values when the rule has them.

    Each field contributes the JSON of what its selector selects (missing fields contribute ``[]``), so
    two events with the same principal ARN share a key while an event without one gets its own bucket.
    """
    if not rule.dedupe_selectors:
        return alert_dedupe_key(rule.id, event_id)
    values = [resolve(event, sel) for sel in rule.dedupe_selectors]
    blob = msgspec.json.encode(values, order="sorted")
    return f"{rule.id}|fields:{hashlib.sha256(blob).hexdigest()[:32]}"


def excepted(rule: Rule, event: Mapping[str, Any]) -> bool:
    """True when one of the rule's ``except`` patterns matches the event."""
    return any(p.matches(event) for p in rule.exceptions)


class _Counts(msgspec.Struct):
    values: dict[str, int] = {}

    def add(self, key: str | None) -> None:
        name = key or "?"
        if name not in self.values and len(self.values) >= MAX_KEYS:
            name = OTHER
        self.values[name] = self.values.get(name, 0) + 1

    def top(self) -> list[dict[str, Any]]:
        ranked = sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        return [{"value": k, "count": n} for k, n in ranked]


class Pending(msgspec.Struct):
    """Matches of one rule held back in one minute, summarised."""

    window: int
    since: float
    count: int = 0
    first_event_time: str | None = None
    last_event_time: str | None = None
    principals: _Counts = msgspec.field(default_factory=_Counts)
    source_ips: _Counts = msgspec.field(default_factory=_Counts)
    accounts: _Counts = msgspec.field(default_factory=_Counts)
    sample_event_ids: list[str] = []
    object_uri: str | None = None


class RuleWindow(msgspec.Struct):
    """Alerts sent by one rule in the current minute, and its pending roll-up."""

    window: int = 0
    sent: int = 0
    pending: Pending | None = None


class ThrottleState(msgspec.Struct):
    version: int = STATE_VERSION
    rules: dict[str, RuleWindow] = {}


@dataclass
class Plan:
    """What one object (or one flush) adds to the spool, and the limiter state to commit with it."""

    alerts: list[NewAlert] = field(default_factory=list)
    excepted: dict[str, int] = field(default_factory=dict)
    rolled_up: dict[str, int] = field(default_factory=dict)
    rollups: list[Alert] = field(default_factory=list)
    state: ThrottleState | None = None

    def meta(self) -> dict[str, str]:
        """The ``meta`` rows to write in the same transaction (empty when the state did not change)."""
        if self.state is None:
            return {}
        return {META_KEY: msgspec.json.encode(self.state).decode()}


class Throttle:
    """Per-rule limiter and roll-up aggregator; pure apart from the clock value passed in."""

    def __init__(self, state: ThrottleState | None = None) -> None:
        self.state = state or ThrottleState()

    @classmethod
    def load(cls, raw: str | None) -> Throttle:
        """From the stored JSON; an unreadable document starts empty (logged by the caller)."""
        if not raw:
            return cls()
        state = msgspec.json.decode(raw, type=ThrottleState)
        return cls(state)

    def commit(self, plan: Plan) -> None:
        """Adopt the plan's state once its transaction committed."""
        if plan.state is not None:
            self.state = plan.state

    def plan(
        self,
        matches: Iterable[tuple[Rule, Mapping[str, Any]]],
        *,
        rules: Mapping[str, Rule],
        object_uri: str | None,
        now: float,
        default_sinks: Sequence[str],
        default_ttl_secs: float,
        object_created_at: float | None = None,
        accounts: Mapping[str, AccountEnrichment] | None = None,
    ) -> Plan:
        """Alerts for these matches, due roll-ups first; the limiter state is changed on a copy.

        ``accounts`` (``[enrichment.accounts]``) names the event's account and may override the severity.
        """
        state = copy.deepcopy(self.state)
        plan = Plan()
        window = int(now // WINDOW_SECS) * WINDOW_SECS
        self._flush(
            state,
            plan,
            rules,
            now=now,
            window=window,
            default_sinks=default_sinks,
            default_ttl_secs=default_ttl_secs,
        )
        for rule, event in matches:
            if excepted(rule, event):
                plan.excepted[rule.id] = plan.excepted.get(rule.id, 0) + 1
                continue
            sinks = tuple(rule.sinks) or tuple(default_sinks)
            account = (accounts or {}).get(account_of(event) or "")
            alert = build_alert(
                rule_id=rule.id,
                title=rule.title,
                severity=account.severity_for(rule.id, rule.severity) if account else rule.severity,
                account_name=account.name if account else None,
                description=rule.description,
                tags=tuple(rule.tags),
                sinks=sinks,
                event=event,
                object_uri=object_uri,
                matched_at=now,
                object_created_at=object_created_at,
            )
            limit = rule.max_alerts_per_minute
            if limit is not None:
                slot = state.rules.setdefault(rule.id, RuleWindow(window=window))
                if slot.window != window:
                    slot.window, slot.sent = window, 0
                if slot.sent >= limit:
                    _absorb(slot, alert, event, window=window, now=now, object_uri=object_uri)
                    plan.rolled_up[rule.id] = plan.rolled_up.get(rule.id, 0) + 1
                    continue
                slot.sent += 1
            ttl = float(rule.dedupe_secs) if rule.dedupe_secs else default_ttl_secs
            plan.alerts.append(
                NewAlert(dedupe_key(rule, event, alert.event_id), alert_to_bytes(alert), sinks, ttl)
            )
        if state.rules or self.state.rules:
            plan.state = state
        return plan

    def flush(
        self, *, rules: Mapping[str, Rule], now: float, default_sinks: Sequence[str], default_ttl_secs: float
    ) -> Plan:
        """Roll-ups whose minute is over (for quiet periods, when no object triggers the flush)."""
        state = copy.deepcopy(self.state)
        plan = Plan()
        window = int(now // WINDOW_SECS) * WINDOW_SECS
        self._flush(
            state,
            plan,
            rules,
            now=now,
            window=window,
            default_sinks=default_sinks,
            default_ttl_secs=default_ttl_secs,
        )
        if plan.alerts or len(state.rules) != len(self.state.rules):
            plan.state = state
        return plan

    @staticmethod
    def _flush(
        state: ThrottleState,
        plan: Plan,
        rules: Mapping[str, Rule],
        *,
        now: float,
        window: int,
        default_sinks: Sequence[str],
        default_ttl_secs: float,
    ) -> None:
        for rule_id in sorted(state.rules):
            slot = state.rules[rule_id]
            rule = rules.get(rule_id)
            gone = rule is None or rule.max_alerts_per_minute is None
            pending = slot.pending
            if pending is not None and (gone or pending.window < window):
                alert = rollup_alert(rule_id, rule, pending, now=now, default_sinks=default_sinks)
                plan.rollups.append(alert)
                plan.alerts.append(
                    NewAlert(
                        f"{rule_id}|rollup:{pending.window}",
                        alert_to_bytes(alert),
                        alert.sinks,
                        default_ttl_secs,
                    )
                )
                slot.pending = None
            if gone or (slot.pending is None and slot.window < window):
                del state.rules[rule_id]  # nothing to remember: bounded by the throttled rules


def _absorb(
    slot: RuleWindow,
    alert: Alert,
    event: Mapping[str, Any],
    *,
    window: int,
    now: float,
    object_uri: str | None,
) -> None:
    pending = slot.pending
    if pending is None:
        pending = slot.pending = Pending(window=window, since=now, object_uri=object_uri)
    pending.count += 1
    body = alert.body
    when = clean(event.get("eventTime"), 40)
    if when:
        if pending.first_event_time is None or when < pending.first_event_time:
            pending.first_event_time = when
        if pending.last_event_time is None or when > pending.last_event_time:
            pending.last_event_time = when
    where = body["where"]
    pending.principals.add(principal(event))
    pending.source_ips.add(where.get("source_ip"))
    pending.accounts.add(where.get("account"))
    if len(pending.sample_event_ids) < TOP:
        pending.sample_event_ids.append(alert.event_id)


def rollup_alert(
    rule_id: str, rule: Rule | None, pending: Pending, *, now: float, default_sinks: Sequence[str]
) -> Alert:
    """The roll-up alert: schema v1 with ``kind = "rollup"`` and a ``rollup`` object (docs/alerts.md)."""
    title = clean(rule.title if rule else rule_id, 200) or rule_id
    tops = pending.principals.top()
    who = ", ".join(f"{t['value']} ({t['count']})" for t in tops[:3]) or "?"
    since = _iso(pending.since) or "?"
    summary = neutralise_markup(f"{pending.count} more matches of {title} from {who} since {since}")
    sinks = (tuple(rule.sinks) if rule else ()) or tuple(default_sinks)
    event_id = f"rollup:{rule_id}:{pending.window}"
    body: dict[str, Any] = {
        "schema_version": 1,
        "kind": "rollup",
        "rule_id": rule_id,
        "event_id": event_id,
        "severity": rule.severity if rule else "warning",
        "title": title,
        "description": rule.description if rule else "",
        "tags": list(rule.tags) if rule else [],
        "summary": summary,
        "rollup": {
            "count": pending.count,
            "window_start": _iso(pending.window),
            "window_secs": WINDOW_SECS,
            "since": since,
            "max_alerts_per_minute": rule.max_alerts_per_minute if rule else None,
            "first_event_time": pending.first_event_time,
            "last_event_time": pending.last_event_time,
            "top_principals": tops,
            "top_source_ips": pending.source_ips.top(),
            "top_accounts": pending.accounts.top(),
            "distinct_principals_capped": len(pending.principals.values) >= MAX_KEYS,
            "sample_event_ids": list(pending.sample_event_ids),
        },
        "when": {"event_time": pending.last_event_time, "matched_at": _iso(now)},
        "source": {"object": pending.object_uri},
    }
    return Alert(
        rule_id=rule_id,
        event_id=event_id,
        severity=str(body["severity"]),
        title=title,
        body=body,
        sinks=sinks,
    )


class ThrottleMetrics:
    """``trailwatchd_rule_exceptions_total`` and ``trailwatchd_alerts_rolled_up_total`` (label: rule)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.exceptions = Counter(
            "trailwatchd_rule_exceptions_total",
            "Matches dropped by a rule's except patterns (the rule's metric still counts them).",
            ["rule"],
            registry=registry,
        )
        self.rolled_up = Counter(
            "trailwatchd_alerts_rolled_up_total",
            "Matches over a rule's max_alerts_per_minute, summarised in a roll-up alert.",
            ["rule"],
            registry=registry,
        )
        self.rollups = Counter(
            "trailwatchd_rollup_alerts_total", "Roll-up alerts spooled.", ["rule"], registry=registry
        )

    def observe(self, plan: Plan) -> None:
        for rule_id, n in plan.excepted.items():
            self.exceptions.labels(rule_id).inc(n)
        for rule_id, n in plan.rolled_up.items():
            self.rolled_up.labels(rule_id).inc(n)
        for alert in plan.rollups:
            self.rollups.labels(alert.rule_id).inc()
