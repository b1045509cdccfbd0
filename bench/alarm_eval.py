"""Alarm cost: staging an object's datapoints, one minute's evaluation of the CIS alarms, engine overhead.

Figures:

* stage: one object's 1,000 CIS 3.1 datapoints spread over 60 minutes into the alarm's buckets (copy,
  add, prune, JSON for the object's transaction), in datapoints/s;
* tick: one minute's evaluation of all 14 CIS alarms with full buckets, including the durable SQLite
  commit of their states, in ms (it runs once a minute);
* decision: CloudWatch's decision for CIS 3.1 alone (95 one-minute periods cut from the buckets);
* engine: evaluate_object on a 20,000-event file with the CIS pack, without and with the per-event
  minute tracking that metric default values need (same run, same data).

Each timing is the best of 3.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench import Figure, best_of
from trailwatchd.alarms.metrics import AlarmMetrics
from trailwatchd.alarms.series import evaluation_slots
from trailwatchd.alarms.service import AlarmService, AlarmSettings
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.model import MetricDatapoint
from trailwatchd.rules import RuleSet
from trailwatchd.state import AsyncStateStore

CIS = Path(__file__).resolve().parent.parent / "config" / "rules" / "cis-aws-foundations-1.2"
T0 = 1_714_557_600.0  # 2024-05-01T10:00:00Z


def _events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "eventVersion": "1.08",
            "eventID": f"e{i}",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + (i % 3600))),
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances" if i % 10 else "RunInstances",
            "errorCode": "Client.UnauthorizedOperation" if i % 50 == 0 else None,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u"},
            "recipientAccountId": "111122223333",
        }
        for i in range(n)
    ]


async def _alarm_figures(quick: bool) -> list[Figure]:
    ruleset = RuleSet.load([CIS])
    rule = ruleset.get("cis-3.1-unauthorized-api-calls")
    n = 200 if quick else 1_000
    points = [
        (rule.id, MetricDatapoint("LogMetrics", "UnauthorizedAPICalls", 1.0, (), T0 + i * 3.6))
        for i in range(n)
    ]
    now = T0 + 3600 + 30
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncStateStore(Path(tmp) / "s.db") as state:
            service = AlarmService(
                state=state,
                metrics=AlarmMetrics(CollectorRegistry()),
                settings=AlarmSettings(allowed_lateness_secs=900),
                clock=lambda: now,
            )
            service.set_rules(ruleset.rules)
            await service.load()
            loop = asyncio.get_running_loop()

            async def stage_once() -> None:
                staged = await service.stage(points, now=now)
                service.apply(staged)

            started = loop.time()
            best_stage = float("inf")
            for _ in range(3):
                started = loop.time()
                await stage_once()
                best_stage = min(best_stage, loop.time() - started)
            for alarm in service.alarms.values():  # every alarm with 60 minutes of data
                alarm.series = service.alarms[rule.alarm.name].series.copy()  # type: ignore[union-attr]
            best_tick = float("inf")
            for k in range(3):
                for alarm in service.alarms.values():
                    alarm.evaluated_at = None
                started = loop.time()
                await service.tick(now + k * 60)
                best_tick = min(best_tick, loop.time() - started)
            alarm = service.alarms[rule.alarm.name]  # type: ignore[union-attr]
            at = int(now // 60) * 60
            decide_time = best_of(
                3,
                lambda: evaluation_slots(
                    alarm.series, alarm.window, at=at, final_before=now - 900, lateness_secs=900
                ),
            )
            state_bytes = len(json.dumps(alarm.series.to_json()))
    return [
        Figure(f"alarm stage ({n:,} datapoints, 1 object)", n / best_stage, "points/s"),
        Figure("alarm tick (14 CIS alarms + commit)", best_tick * 1000, "ms", "once per minute"),
        Figure("alarm range cut (CIS 3.1, 95 periods)", decide_time * 1e6, "us"),
        Figure("alarm buckets saved per object (CIS 3.1)", state_bytes, "bytes", "60 minutes of data"),
    ]


def _engine_figures(quick: bool) -> list[Figure]:
    n = 4_000 if quick else 20_000
    data = gzip.compress(json.dumps({"Records": _events(n)}).encode())
    snap = Snapshot.of(RuleSet.load([CIS]))  # the CIS pack sets no default_value: minutes not tracked
    tracking = dataclasses.replace(snap, track_minutes=True)
    plain = best_of(3, lambda: evaluate_object(snap, name="bench", data=data))
    tracked = best_of(3, lambda: evaluate_object(tracking, name="bench", data=data))
    return [
        Figure(f"evaluate_object, CIS pack ({n:,} events)", n / plain, "events/s"),
        Figure(
            "with event-minute tracking (default_value)",
            n / tracked,
            "events/s",
            f"x{tracked / plain:.2f} the time without tracking; only packs with a default_value pay it",
        ),
    ]


def run(quick: bool) -> list[Figure]:
    return asyncio.run(_alarm_figures(quick)) + _engine_figures(quick)


if __name__ == "__main__":
    for figure in run(quick=False):
        print(figure.line())
