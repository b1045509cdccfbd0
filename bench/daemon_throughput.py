"""Events/s through the whole daemon, ``workers = 1`` vs ``workers = 2``: ``make bench-daemon``.

The daemon runs as in production except for the clock: a directory source over the seeded corpus
(:func:`bench.corpus.build_corpus`, gzip files laid out as CloudTrail writes them), the CIS pack with its
alarms, the ledger/spool in SQLite and a JSONL file sink. Each run starts on an empty state store, is
timed from the moment the sources start until every file is acknowledged, and is checked: both runs must
report the same event, match and alert counts (correctness is tested in tests/; this guards the figures).

Besides events/s and the ratio, it prints where the CPU time goes per event: in the daemon process
(reading files, the ledger and spool transactions, alert rendering, the file sink, pickling to and from
the workers) and in the worker processes (inflate, split, projection decode, rule evaluation). With C
cores the ceiling is ``C / (main + worker CPU per event)``; the main process's share is what keeps the
second core from doubling throughput.

    python -m bench.daemon_throughput [--quick] [--events N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench import Figure
from bench._cast import ACCOUNTS, EPOCH, REGIONS
from bench.corpus import (
    DATA_DIR,
    VERSION,
    build_corpus,
    encode_record,
    generate_records,
    log_key,
    write_log_file,
)
from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon
from trailwatchd.engine import Snapshot
from trailwatchd.logs import configure_logging
from trailwatchd.rules import RuleSet

REPO = Path(__file__).resolve().parent.parent
CIS = REPO / "config" / "rules" / "cis-aws-foundations-1.2"
PER_FILE = 5_000


@dataclass(frozen=True, slots=True)
class Run:
    workers: int
    seconds: float
    events: float
    matches: float
    alerts: int
    main_cpu: float
    worker_cpu: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    return registry.get_sample_value(name, labels or {}) or 0.0


def _proc_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes, from /proc (Linux)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _matches(registry: CollectorRegistry) -> float:
    total = 0.0
    for family in registry.collect():
        if family.name == "trailwatchd_rule_matches":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


async def _run_daemon(workers: int, corpus: Path, files: int, work: Path, profile: bool) -> Run:
    state = work / f"w{workers}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(state / "state.db"),
                "workers": workers,
                "log_level": "warning",
            },
            "rules": {"paths": [str(CIS)], "default_sinks": ["out"]},
            "sources": {
                "trail": {
                    "type": "directory",
                    "path": str(corpus),
                    "glob": "**/*.json.gz",
                    "poll_interval_secs": 0.05,
                }
            },
            "sinks": {
                "out": {"type": "file", "path": str(state / "alerts.jsonl")},
                "security": {"type": "file", "path": str(state / "alarms.jsonl")},
            },
        }
    )
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    while daemon._tg is None:  # pool warm, state open: the sources start now
        await asyncio.sleep(0.001)
        if task.done():
            await task
    pool = daemon.evaluators
    pids = list(pool._pool._processes) if pool is not None else []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    workers0 = _proc_cpu(pids)
    started = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    done = {"source": "trail", "result": "ok"}
    while _sample(registry, "trailwatchd_objects_processed_total", done) < files:
        await asyncio.sleep(0.005)
    while not (daemon.pipeline is not None and daemon.pipeline.idle):  # acknowledged, alerts delivered
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    workers1 = _proc_cpu(pids)  # process start-up (imports, ~1 s each) is not counted
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(f"--- daemon process profile, workers={workers} (top 25 by own time) ---", file=sys.stderr)
        print(out.getvalue(), file=sys.stderr)
    events = _sample(registry, "trailwatchd_events_processed_total", {"source": "trail"})
    matches = _matches(registry)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 60) == 0
    alerts_path = state / "alerts.jsonl"
    alerts = sum(1 for _ in alerts_path.open()) if alerts_path.exists() else 0
    main_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    worker_cpu = workers1 - workers0
    return Run(workers, seconds, events, matches, alerts, main_cpu, worker_cpu)


def build_quiet_corpus(n_events: int) -> list[Path]:
    """The same generator with every record the CIS pack matches left out: the common production case
    (most CloudTrail events match no detection), where the daemon's cost is decode and evaluation."""
    base = DATA_DIR / f"quiet-v{VERSION}-n{n_events}-m{PER_FILE}"
    done = base / "DONE"
    if done.exists():
        return sorted(base.rglob("*.json.gz"))
    snap = Snapshot.of(RuleSet.load([CIS]))
    records = (encode_record(r) for r in generate_records(n_events * 2, seed=3))
    quiet = (raw for raw in records if not snap.ruleset.match(snap.decoder.project(raw)))
    paths = []
    for i in range(0, n_events, PER_FILE):
        acct, region = ACCOUNTS[i % len(ACCOUNTS)], REGIONS[i % len(REGIONS)]
        path = base / log_key(acct, region, EPOCH + timedelta(minutes=i // PER_FILE), f"quiet{i:011d}")
        write_log_file(path, (next(quiet) for _ in range(min(PER_FILE, n_events - i))))
        paths.append(path)
    done.touch()
    return paths


def measure(n_events: int, *, profile: bool = False, repeats: int = 1, quiet: bool = False) -> list[Run]:
    """Best of ``repeats`` runs per worker count, interleaved so machine noise hits both alike."""
    paths = build_quiet_corpus(n_events) if quiet else build_corpus(n_events, PER_FILE)
    corpus = paths[0].parents[7]  # <base>/AWSLogs/<acct>/CloudTrail/<region>/Y/M/D/file
    assert all(p.is_relative_to(corpus) for p in paths)
    configure_logging(fmt="json", level="warning")
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    best: dict[int, Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        for _ in range(repeats):
            for workers in (1, 2):
                run = asyncio.run(_run_daemon(workers, corpus, len(paths), Path(tmp), profile))
                if workers not in best or run.seconds < best[workers].seconds:
                    best[workers] = run
    return [best[1], best[2]]


def figures(runs: list[Run], label: str = "corpus") -> list[Figure]:
    one, two = runs
    same = (one.events, one.matches, one.alerts) == (two.events, two.matches, two.alerts)
    out = [
        Figure(label, one.events, "events", f"{one.matches:.0f} matches, {one.alerts} alerts"),
        Figure("daemon, workers = 1", one.rate, "events/s", "1.00x"),
        Figure("daemon, workers = 2", two.rate, "events/s", f"{two.rate / one.rate:.2f}x (target 1.7x)"),
        Figure("  target for workers = 2", 220_000, "events/s", f"reached: {two.rate >= 220_000}"),
        Figure("  same events, matches and alerts", float(same), "bool"),
    ]
    for run in runs:
        main_us = run.main_cpu / run.events * 1e6
        worker_us = run.worker_cpu / run.events * 1e6
        cores = os.cpu_count() or 1
        ceiling = cores / ((run.main_cpu + run.worker_cpu) / run.events)
        out += [
            Figure(f"  workers={run.workers}: daemon process CPU", main_us, "us/event"),
            Figure(f"  workers={run.workers}: worker processes CPU", worker_us, "us/event"),
            Figure(f"  workers={run.workers}: ceiling on {cores} cores", ceiling, "events/s"),
        ]
    if any(r.events != one.events for r in runs):
        raise SystemExit("the runs disagree on the number of events: the figures are not comparable")
    return out


SCENARIOS = (
    ("synthetic mix (5.8% of events alert)", False),
    ("quiet stream (no event matches)", True),
)


def run(quick: bool) -> list[Figure]:
    """``python -m bench daemon_throughput``: 200,000 events per scenario (40,000 with --quick)."""
    n = 40_000 if quick else 200_000
    out: list[Figure] = []
    for label, quiet in SCENARIOS:
        out += figures(measure(n, repeats=1 if quick else 2, quiet=quiet), label)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=0, help="corpus size (default 200,000)")
    parser.add_argument("--profile", action="store_true", help="cProfile the daemon process (stderr)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    n = args.events or (40_000 if args.quick else 200_000)
    print(f"daemon throughput, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for label, quiet in SCENARIOS:
        runs = measure(n, profile=args.profile, repeats=1 if args.quick else args.repeats, quiet=quiet)
        for fig in figures(runs, label):
            print(fig.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
