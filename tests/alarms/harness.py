"""A real state store and alarm service driven by a hand-moved clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.payload import Change
from trailwatchd.alarms.service import AlarmService, AlarmSettings
from trailwatchd.alerts import alert_from_bytes
from trailwatchd.model import Alert, MetricDatapoint
from trailwatchd.patterns import compile_pattern
from trailwatchd.rules.model import AlarmSpec, MetricSpec, Rule
from trailwatchd.state import AsyncStateStore

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
"""10:00:00 UTC, a minute boundary; scenario times are minutes after it."""


def minute(n: float) -> float:
    return T0 + n * 60


def make_rule(
    *,
    name: str = "alarm-a",
    rule_id: str = "rule-a",
    default_value: float | None = None,
    **alarm: Any,
) -> Rule:
    spec = AlarmSpec(
        name=name,
        threshold=alarm.pop("threshold", 1.0),
        alarm_actions=alarm.pop("alarm_actions", ("pager",)),
        ok_actions=alarm.pop("ok_actions", ("pager",)),
        insufficient_data_actions=alarm.pop("insufficient_data_actions", ()),
        **alarm,
    )
    metric = MetricSpec(
        namespace="LogMetrics",
        name="Matches",
        value="1",
        value_number=1.0,
        value_selector=None,
        default_value=default_value,
    )
    return Rule(
        id=rule_id,
        pattern=compile_pattern('{ $.eventName = "ConsoleLogin" }'),
        severity="high",
        metric=metric,
        alarm=spec,
    )


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """Feeds datapoints through stage/commit/apply exactly as the pipeline does, and ticks."""

    state: AsyncStateStore
    service: AlarmService
    clock: Clock
    registry: CollectorRegistry
    rule: Rule
    objects: int = 0
    spooled: list[Alert] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        path: Path,
        rule: Rule,
        *,
        lateness: float = 0.0,
        now: float = T0,
        region: str = "us-east-1",
    ) -> Harness:
        state = AsyncStateStore(path)
        await state.__aenter__()
        clock = Clock(now)
        registry = CollectorRegistry()
        service = AlarmService(
            state=state,
            metrics=AlarmMetrics(registry),
            settings=AlarmSettings(allowed_lateness_secs=lateness, account_id="111122223333", region=region),
            clock=clock,
        )
        service.set_rules([rule])
        await service.load()
        return cls(state, service, clock, registry, rule)

    async def close(self) -> None:
        await self.state.close()

    async def feed(self, *points: tuple[float, float], events: Sequence[dict[str, Any]] = ()) -> None:
        """One object whose matches produced these (event time, value) datapoints."""
        now = self.clock.now
        datapoints = [
            (self.rule.id, MetricDatapoint("LogMetrics", "Matches", value, (), stamp))
            for stamp, value in points
        ]
        minutes = {datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M") for s, _ in points}
        minutes |= {str(e["eventTime"])[:16] for e in events}
        staged = await self.service.stage(
            datapoints,
            matches=[(self.rule.id, e) for e in events],
            event_minutes=minutes,
            now=now,
        )
        self.objects += 1
        await self.state.record_evaluation(
            "test", f"obj-{self.objects}", [], now=now, ttl_secs=60, meta=staged.meta
        )
        self.service.apply(staged)

    async def ingest_only(self, *stamps: float) -> None:
        """An object with events but no matches (logs ingested: default values apply)."""
        minutes = {datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M") for s in stamps}
        staged = await self.service.stage([], event_minutes=minutes, now=self.clock.now)
        self.objects += 1
        await self.state.record_evaluation(
            "test", f"obj-{self.objects}", [], now=self.clock.now, ttl_secs=60, meta=staged.meta
        )
        self.service.apply(staged)

    async def at(self, n: float) -> list[Change]:
        """Move the clock to minute ``n`` (plus 1 s) and tick."""
        self.clock.now = minute(n) + 1
        return await self.service.tick()

    async def states_over(self, start: float, stop: float) -> list[tuple[float, str, str]]:
        """Tick every minute in [start, stop); (minute, old, new) for each transition."""
        out = []
        n = start
        while n < stop:
            for change in await self.at(n):
                out.append((n, change.old_state, change.new_state))
            n += 1
        return out

    @property
    def current(self) -> str:
        return self.service.alarms[self.rule.alarm.name].state  # type: ignore[union-attr]

    async def notifications(self) -> list[Alert]:
        entries = await self.state.due(now=self.clock.now + 1e9, limit=1000)
        return [alert_from_bytes(e.payload) for e in entries]

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)
