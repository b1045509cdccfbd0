"""Overdue digests, clock injected: one alert per silent episode, cleared when digests resume, survives a
restart; the gauges follow the clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from tests.integrity.trail import ACCOUNT, BUCKET, REGION, T0, Trail, new_key, public_key_list
from trailwatchd.alerts import alert_from_bytes
from trailwatchd.integrity.keys import FileKeyProvider
from trailwatchd.integrity.metrics import IntegrityMetrics
from trailwatchd.integrity.overdue import META_KEY as OVERDUE_META_KEY
from trailwatchd.integrity.overdue import OverdueWatch
from trailwatchd.integrity.service import IntegrityService
from trailwatchd.integrity.store import MemoryStore, StoredObject
from trailwatchd.model import ObjectRef
from trailwatchd.state import AsyncStateStore

GRACE = 900.0
HOUR = 3600.0


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.key = new_key()
        self.trail = Trail(self.key)
        self.store = MemoryStore()
        self.keyfile = tmp_path / "keys.json"
        self.keyfile.write_text(json.dumps(public_key_list(self.key)))
        self.now = T0.timestamp()
        self.db = tmp_path / "state.db"

    async def service(self) -> tuple[IntegrityService, AsyncStateStore, CollectorRegistry]:
        state = AsyncStateStore(self.db)
        await state.__aenter__()
        registry = CollectorRegistry()
        svc = IntegrityService(
            store=self.store,
            keys=FileKeyProvider((self.keyfile,)),
            state=state,
            metrics=IntegrityMetrics(registry),
            sinks=("out",),
            clock=lambda: self.now,
            digest_overdue_secs=GRACE,
            delivery_wait_secs=0,  # no sink loop runs here: findings stay in the spool for the test to read
        )
        await svc.load()
        return svc, state, registry

    async def deliver(self, svc: IntegrityService, hour: int, *, start_chain: bool = False) -> None:
        end = T0 + timedelta(hours=hour)
        key = self.trail.add_digest(end, [], start_chain=start_chain)
        data, meta = self.trail.objects[key]
        self.store.objects[(BUCKET, key)] = StoredObject(data, meta)
        self.now = end.timestamp() + 300  # delivered a few minutes after its end
        report = await svc.on_digest(ObjectRef("src", key, bucket=BUCKET))
        assert report.digests_valid >= 1 and report.digests_invalid == 0


async def spooled(state: AsyncStateStore) -> list[str]:
    return [alert_from_bytes(e.payload).rule_id for e in await state.due(now=1e12, limit=1000)]


def gauge(reg: CollectorRegistry, name: str) -> float | None:
    return reg.get_sample_value(name, {"account": ACCOUNT, "region": REGION})


async def test_overdue_raised_once_cleared_on_resume_and_gauges(tmp_path: Path) -> None:
    env = Env(tmp_path)
    svc, state, reg = await env.service()
    assert await svc.check_overdue() == []  # nothing seen yet: no region is expected
    await env.deliver(svc, 0)
    await env.deliver(svc, 1)
    last_end = (T0 + timedelta(hours=1)).timestamp()
    env.now = last_end + HOUR + GRACE  # exactly at the limit: not yet overdue
    assert await svc.check_overdue() == []
    assert gauge(reg, "trailwatchd_integrity_seconds_since_last_verified_digest") == HOUR + GRACE
    env.now += 1
    found = await svc.check_overdue()
    assert [f.rule_id for f in found] == ["trailwatchd.integrity.digest_overdue"]
    assert (found[0].account, found[0].region) == (ACCOUNT, REGION)
    assert gauge(reg, "trailwatchd_integrity_digests_overdue") == 1
    env.now += 5 * HOUR  # still silent: the same episode is not raised again
    assert await svc.check_overdue() == []
    assert (
        gauge(reg, "trailwatchd_integrity_seconds_since_last_verified_digest") == HOUR + GRACE + 1 + 5 * HOUR
    )
    assert await spooled(state) == ["trailwatchd.integrity.digest_overdue"]
    # digests resume (a new chain after logging was turned back on): cleared with a notice
    await env.deliver(svc, 8, start_chain=True)
    assert gauge(reg, "trailwatchd_integrity_digests_overdue") == 0
    rules = await spooled(state)
    assert rules.count("trailwatchd.integrity.digests_resumed") == 1
    assert rules.count("trailwatchd.integrity.digest_overdue") == 1
    await svc.check_overdue()
    assert gauge(reg, "trailwatchd_integrity_seconds_since_last_verified_digest") == 300
    # a second silence is a new episode: raised again
    env.now = (T0 + timedelta(hours=8)).timestamp() + HOUR + GRACE + 1
    assert [f.rule_id for f in await svc.check_overdue()] == ["trailwatchd.integrity.digest_overdue"]
    assert (await spooled(state)).count("trailwatchd.integrity.digest_overdue") == 2
    await state.close()


async def test_overdue_state_survives_a_restart(tmp_path: Path) -> None:
    env = Env(tmp_path)
    svc, state, _ = await env.service()
    await env.deliver(svc, 0)
    env.now = T0.timestamp() + HOUR + GRACE + 60
    assert len(await svc.check_overdue()) == 1
    await state.close()
    svc2, state2, _ = await env.service()  # restarted: remembers the region and the open episode
    env.now += HOUR
    assert await svc2.check_overdue() == []
    await env.deliver(svc2, 3)
    assert (await spooled(state2)).count("trailwatchd.integrity.digests_resumed") == 1
    await state2.close()


async def test_a_restart_after_silence_still_notices(tmp_path: Path) -> None:
    env = Env(tmp_path)
    svc, state, _ = await env.service()
    await env.deliver(svc, 0)
    await state.close()
    env.now = T0.timestamp() + 10 * HOUR  # the daemon was down while digests stopped
    svc2, state2, _ = await env.service()
    assert [f.rule_id for f in await svc2.check_overdue()] == ["trailwatchd.integrity.digest_overdue"]
    await state2.close()


def test_watch_ignores_older_digests_and_is_per_region() -> None:
    watch = OverdueWatch(grace_secs=0)
    watch.observe("a", "us-east-1", T0, "s3://b/p1/")
    watch.observe("a", "eu-west-1", T0 + timedelta(hours=3), "s3://b/p2/")
    assert watch.observe("a", "us-east-1", T0 - timedelta(hours=5), "s3://b/p1/") is None  # backfill
    found = watch.check(T0.timestamp() + HOUR + 1)
    assert [(f.account, f.region) for f in found] == [("a", "us-east-1")]
    assert found[0].subject.startswith("s3://b/p1/#after=")
    restored = OverdueWatch(grace_secs=0)
    restored.load(watch.dump())
    assert restored.tracks == watch.tracks


async def test_damaged_state_is_discarded(tmp_path: Path) -> None:
    with pytest.raises(msgspec.DecodeError):
        OverdueWatch(grace_secs=0).load("{not json")
    env = Env(tmp_path)
    svc, state, _ = await env.service()
    await state.set_meta(OVERDUE_META_KEY, '{"a|r": {"last_end": "soon"}}')
    await svc.load()  # logged and dropped: the daemon starts with an empty watch
    assert svc.overdue is not None and svc.overdue.tracks == {}
    await env.deliver(svc, 0)
    assert svc.overdue.tracks[(ACCOUNT, REGION)].last_end == T0.timestamp()
    await state.close()
