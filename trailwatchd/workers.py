"""Decode-and-evaluate worker processes (``[daemon] workers = N``): use more than one core per host.

Only pure CPU work crosses the process boundary. A task carries the object's bytes (or its inline events)
and the rule-set generation; the reply is the object's :class:`~trailwatchd.engine.ObjectResult` (rule
ids with the matched events, metric datapoints, counts), which is small next to the object because only
matched events are decoded in full. Fetching, the ledger, the spool, dedupe, throttling, alarms, metrics
and sinks stay in the main process, so acknowledgement works exactly as with in-thread evaluation, and
every Prometheus counter is incremented in the main process from the returned counts (no multiprocess
mode, no shared files).

Rule sets: each process caches the last few generations it was given. A task names its generation and
carries the pickled rules (about 60 KB for the CIS pack) only until every process has reported holding
that generation, so after a start or reload the first objects still run in parallel and later ones carry
no rules; a process that lost a generation from its cache answers "need rules" and gets them. A
generation is tied to the :class:`Snapshot` object the pipeline took for the object, so an object in
flight during a reload is evaluated by the rule set it started with, in whichever process runs it.

Crashes: a worker process that dies (OOM kill, a segfault in a C extension) breaks the whole
``ProcessPoolExecutor``; every object in flight on it gets ``BrokenProcessPool``. The pool is replaced
once (counted in ``trailwatchd_worker_restarts_total``) and those objects are evaluated again; an object
that breaks the pool :data:`MAX_ATTEMPTS` times is released unacknowledged (it comes back through the
source's own retry and, for SQS, ends in the queue's dead-letter queue) instead of being acked or dropped.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import pickle
import signal
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from trailwatchd.decode import DecodeLimits
from trailwatchd.engine import ObjectResult, Snapshot, evaluate_object
from trailwatchd.errors import DecodeError, TemporaryFetchError
from trailwatchd.rules import RuleSet

log = structlog.get_logger()

MAX_ATTEMPTS = 3
"""Evaluations of one object that may end in a broken pool before the object is released for later."""
CACHED_GENERATIONS = 4
"""Rule sets a worker process keeps: the current one plus those objects in flight may still use."""


def resolve_workers(value: int | Literal["auto"], *, cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """``"auto"``: one worker per CPU the process may use: its affinity mask, capped by a cgroup v2 CPU
    quota when one is set (a container limited to 2 CPUs on a 16-core host gets 2, not 16)."""
    if value != "auto":
        return value
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):  # no cgroup v2 file, or an unexpected format: the mask decides
        pass
    return max(1, cpus)


# -- the worker-process side --------------------------------------------------------------------------
_snapshots: OrderedDict[int, Snapshot] = OrderedDict()


@dataclass(frozen=True, slots=True)
class _NeedRules:
    """Reply of a process that does not hold the task's generation."""

    generation: int


@dataclass(frozen=True, slots=True)
class _Failed:
    """A :class:`DecodeError` travels back as plain fields (custom exception arguments do not pickle)."""

    name: str
    reason: str


def _init_worker() -> None:
    """Process initializer: the parent owns signals (SIGINT/SIGTERM drain the daemon, not the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@dataclass(frozen=True, slots=True)
class _Task:
    """One object to evaluate; ``rules`` only when the process asked for them."""

    generation: int
    rules: bytes | None
    name: str
    data: bytes | None
    inline: tuple[bytes, ...] | None
    limits: DecodeLimits
    hash_content: bool = False


def _evaluate_in_worker(task: _Task) -> tuple[int, bool, ObjectResult | _NeedRules | _Failed]:
    """Returns (pid, whether this task loaded the rules, the result)."""
    pid = os.getpid()
    snap = _snapshots.get(task.generation)
    loaded = False
    if snap is None:
        if task.rules is None:
            return pid, False, _NeedRules(task.generation)
        rules = pickle.loads(task.rules)  # noqa: S301 - pickled by our parent process
        snap = _snapshots[task.generation] = Snapshot.of(RuleSet(rules))
        loaded = True
        while len(_snapshots) > CACHED_GENERATIONS:
            _snapshots.popitem(last=False)
    else:
        _snapshots.move_to_end(task.generation)
    try:
        return (
            pid,
            loaded,
            evaluate_object(
                snap,
                name=task.name,
                data=task.data,
                inline=task.inline,
                limits=task.limits,
                hash_content=task.hash_content,
            ),
        )
    except DecodeError as err:
        return pid, loaded, _Failed(err.name, err.reason)


# -- the main-process side ----------------------------------------------------------------------------
class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.processes = Gauge(
            "trailwatchd_worker_processes",
            "Decode-and-evaluate worker processes (daemon.workers).",
            registry=registry,
        )
        self.restarts = Counter(
            "trailwatchd_worker_restarts",
            "Worker pools replaced because a worker process died; the objects in flight were retried.",
            registry=registry,
        )
        self.rules_loaded = Counter(
            "trailwatchd_worker_rules_loaded",
            "Rule sets loaded by worker processes (once per process per rule-set generation).",
            registry=registry,
        )


class EvaluatorPool:
    """A process pool that evaluates objects like :func:`evaluate_object` does in a thread."""

    def __init__(self, workers: int, *, registry: CollectorRegistry, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._ctx = multiprocessing.get_context(start_method)
        self.metrics = WorkerMetrics(registry)
        self.metrics.processes.set(workers)
        self._pool = self._new_pool()
        self._holders: dict[int, set[int]] = {}
        """Generation -> worker pids known to hold it; tasks carry the rules until every process does."""
        self._generations: dict[int, tuple[int, bytes]] = {}
        """``id(snapshot)`` -> (generation, pickled rules); the snapshot is kept alive by the pipeline."""
        self._snapshots: dict[int, Snapshot] = {}
        self._next_generation = 0
        self._restart_lock = asyncio.Lock()
        self.restarts = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_init_worker)

    def _generation(self, snap: Snapshot) -> tuple[int, bytes]:
        known = self._generations.get(id(snap))
        if known is None or self._snapshots.get(id(snap)) is not snap:
            self._next_generation += 1
            known = (self._next_generation, pickle.dumps(snap.ruleset.rules, pickle.HIGHEST_PROTOCOL))
            # Keep the last few snapshots referenced so their ids are not reused by new objects.
            self._generations[id(snap)] = known
            self._snapshots[id(snap)] = snap
            while len(self._snapshots) > CACHED_GENERATIONS:
                oldest = next(iter(self._snapshots))
                self._holders.pop(self._generations[oldest][0], None)
                del self._snapshots[oldest], self._generations[oldest]
        return known

    async def evaluate(
        self,
        snap: Snapshot,
        *,
        name: str,
        data: bytes | None,
        inline: tuple[bytes, ...] | None,
        limits: DecodeLimits,
        hash_content: bool = False,
    ) -> ObjectResult:
        """Evaluate one object in a worker process; raises DecodeError like the in-thread path.

        Raises :class:`TemporaryFetchError` (code ``worker_crashed``) when the object broke the pool
        :data:`MAX_ATTEMPTS` times: the caller releases it unacknowledged.
        """
        generation, rules = self._generation(snap)
        holders = self._holders.setdefault(generation, set())
        loop = asyncio.get_running_loop()
        attempts = 0
        need = False
        while True:
            pool = self._pool
            # Until every process has reported this generation, tasks carry the rules: the first objects
            # after a start or reload run in parallel instead of each bouncing once.
            send = rules if need or len(holders) < self.workers else None
            task = _Task(generation, send, name, data, inline, limits, hash_content)
            try:
                pid, loaded, reply = await loop.run_in_executor(pool, _evaluate_in_worker, task)
            except BrokenProcessPool:
                attempts += 1
                await self._replace(pool)
                log.warning("worker_pool_broken", object_key=name, attempt=attempts)
                if attempts >= MAX_ATTEMPTS:
                    raise TemporaryFetchError(
                        name, f"a worker process died {attempts} times evaluating it", code="worker_crashed"
                    ) from None
                continue
            if loaded:
                self.metrics.rules_loaded.inc()
            if isinstance(reply, _NeedRules):  # evicted from that process's cache: send them along
                need = True
                continue
            holders.add(pid)
            if isinstance(reply, _Failed):
                raise DecodeError(reply.name, reply.reason)
            return reply

    async def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Replace the pool once, however many objects saw it break."""
        async with self._restart_lock:
            if self._pool is not broken:
                return
            self.restarts += 1
            self.metrics.restarts.inc()
            self._pool = self._new_pool()
            for holders in self._holders.values():  # new processes know no rules yet
                holders.clear()
            log.error("worker_pool_restarted", restarts=self.restarts, workers=self.workers)
        broken.shutdown(wait=False, cancel_futures=True)

    async def warm_up(self) -> None:
        """Start every worker process now (spawn takes ~0.3 s each) rather than on the first object."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, os.getpid) for _ in range(self.workers)))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
