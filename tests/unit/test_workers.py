"""Worker processes (trailwatchd/workers.py): same results as in-thread evaluation, rule generations,
crashes retried and never acknowledged. Real spawned processes, no fakes."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd.config import parse_config
from trailwatchd.decode import DecodeLimits
from trailwatchd.engine import ObjectResult, Snapshot, evaluate_object
from trailwatchd.errors import ConfigError, DecodeError, TemporaryFetchError
from trailwatchd.rules import RuleSet
from trailwatchd.workers import MAX_ATTEMPTS, EvaluatorPool, resolve_workers

REPO = Path(__file__).resolve().parents[2]
CIS = REPO / "config" / "rules" / "cis-aws-foundations-1.2"
LIMITS = DecodeLimits()


def _corpus_objects(corpus_dir: Path) -> list[tuple[str, bytes]]:
    """Every stratus-red-team sample as one gzip CloudTrail object."""
    out = []
    for path in sorted((corpus_dir / "stratus-red-team").glob("*.json")):
        records = json.loads(path.read_text())
        records = records if isinstance(records, list) else [records]
        body = json.dumps({"Records": records}).encode()
        out.append((path.name, gzip.compress(body)))
    return out


def _summary(result: ObjectResult) -> tuple[Any, ...]:
    return (
        result.matches,
        result.datapoints,
        result.extraction_failures,
        result.events,
        result.stats.skipped_oversize,
        result.newest_event_time,
        sorted(result.event_minutes),
    )


@pytest.fixture
async def pool() -> Any:
    p = EvaluatorPool(2, registry=CollectorRegistry())
    await p.warm_up()
    yield p
    await asyncio.to_thread(p.close)


async def test_processes_give_the_in_thread_results(pool: EvaluatorPool, corpus_dir: Path) -> None:
    """The CIS pack over the corpus: identical matches, datapoints and counts in either place."""
    snap = Snapshot.of(RuleSet.load([CIS]))
    objects = _corpus_objects(corpus_dir)
    assert len(objects) >= 5
    remote = await asyncio.gather(
        *(pool.evaluate(snap, name=n, data=d, inline=None, limits=LIMITS) for n, d in objects)
    )
    local = [evaluate_object(snap, name=n, data=d, limits=LIMITS) for n, d in objects]
    assert [_summary(r) for r in remote] == [_summary(r) for r in local]
    assert sum(len(r.matches) for r in remote) > 0  # the comparison covers real matches
    # Each process was sent the rules once, not with every object.
    assert 1 <= pool.metrics.rules_loaded._value.get() <= pool.workers


async def test_inline_events_and_decode_errors_cross_the_boundary(pool: EvaluatorPool) -> None:
    snap = Snapshot.of(RuleSet.load([CIS]))
    inline = (b'{"eventVersion":"1.08","eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}',)
    got = await pool.evaluate(snap, name="inline:x", data=None, inline=inline, limits=LIMITS)
    assert [rule for rule, _ in got.matches] == [
        rule for rule, _ in evaluate_object(snap, name="inline:x", inline=inline).matches
    ]
    assert got.matches
    with pytest.raises(DecodeError) as err:
        await pool.evaluate(snap, name="bad.json.gz", data=b"\x1f\x8bnot gzip", inline=None, limits=LIMITS)
    assert err.value.name == "bad.json.gz"


async def test_a_new_rule_set_reaches_every_process_and_the_old_one_still_works(
    pool: EvaluatorPool, tmp_path: Path
) -> None:
    """A reload installs a new snapshot: later objects use it, objects that started earlier keep theirs."""
    event = json.dumps({"eventVersion": "1.08", "eventName": "Frobnicate", "eventID": "e1"}).encode()
    rule = '[[rule]]\nid = "{id}"\nseverity = "high"\npattern = \'{{ $.eventName = "Frobnicate" }}\'\n'
    (tmp_path / "a.toml").write_text(rule.format(id="first"))
    old = Snapshot.of(RuleSet.load([tmp_path / "a.toml"]))
    (tmp_path / "a.toml").write_text(rule.format(id="second"))
    new = Snapshot.of(RuleSet.load([tmp_path / "a.toml"]))
    for _ in range(2):  # enough objects that both processes see both generations
        olds = await asyncio.gather(
            *(pool.evaluate(old, name="o", data=None, inline=(event,), limits=LIMITS) for _ in range(6))
        )
        news = await asyncio.gather(
            *(pool.evaluate(new, name="n", data=None, inline=(event,), limits=LIMITS) for _ in range(6))
        )
        assert {r.matches[0][0] for r in olds} == {"first"}
        assert {r.matches[0][0] for r in news} == {"second"}


async def test_a_killed_worker_is_replaced_and_the_object_evaluated(pool: EvaluatorPool) -> None:
    snap = Snapshot.of(RuleSet.load([CIS]))
    event = b'{"eventVersion":"1.08","eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}'
    before = await pool.evaluate(snap, name="x", data=None, inline=(event,), limits=LIMITS)
    for pid in list(pool._pool._processes):  # an OOM kill of every worker process
        os.kill(pid, signal.SIGKILL)
    after = await pool.evaluate(snap, name="x", data=None, inline=(event,), limits=LIMITS)
    assert _summary(after) == _summary(before)
    assert pool.restarts == 1
    assert pool.metrics.restarts._value.get() == 1


class _ExitWhenUnpickled:
    """Rules whose unpickling kills the worker process: an object that crashes its worker every time."""

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (os._exit, (3,))


class _PoisonRules:
    rules = (_ExitWhenUnpickled(),)


async def test_an_object_that_always_crashes_its_worker_is_released_not_acknowledged(
    pool: EvaluatorPool,
) -> None:
    good = Snapshot.of(RuleSet.load([CIS]))
    poison = Snapshot(ruleset=_PoisonRules(), decoder=good.decoder)  # type: ignore[arg-type]
    with pytest.raises(TemporaryFetchError) as err:
        await pool.evaluate(poison, name="poison.json.gz", data=None, inline=(b"{}",), limits=LIMITS)
    assert err.value.code == "worker_crashed"
    assert pool.restarts == MAX_ATTEMPTS
    event = b'{"eventVersion":"1.08","eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com"}'
    ok = await pool.evaluate(good, name="x", data=None, inline=(event,), limits=LIMITS)
    assert ok.matches  # the pool works again for everything else


def test_resolve_workers(tmp_path: Path) -> None:
    assert resolve_workers(3) == 3
    mask = len(os.sched_getaffinity(0))
    assert resolve_workers("auto", cpu_max=tmp_path / "absent") == mask
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert resolve_workers("auto", cpu_max=tmp_path / "cpu.max") == mask
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a 1.5-CPU container quota
    assert resolve_workers("auto", cpu_max=tmp_path / "cpu.max") == min(mask, 2)
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert resolve_workers("auto", cpu_max=tmp_path / "cpu.max") == 1
    with pytest.raises(ValueError, match="workers"):
        EvaluatorPool(0, registry=CollectorRegistry())


def test_workers_option_is_validated() -> None:
    base: dict[str, Any] = {"sinks": {"console": {"type": "log"}}}
    assert parse_config(base, env={}).daemon.workers == 1
    assert parse_config({**base, "daemon": {"workers": "auto"}}, env={}).daemon.workers == "auto"
    assert parse_config({**base, "daemon": {"workers": 3}}, env={}).daemon.workers == 3
    for bad in (0, "all", 1.5):
        with pytest.raises(ConfigError, match="workers"):
            parse_config({**base, "daemon": {"workers": bad}}, env={})
