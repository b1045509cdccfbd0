"""Scan throughput (CIS pack, 60-rule pack) against a naive scanner and the decode floor, plus peak memory.

One process, pinned to one CPU where the OS allows it, measures over the seeded corpus
(:func:`bench.corpus.build_corpus`, 60,000 events in files of 2,000, cached under ``bench/.data/``):

1. naive: stdlib ``gzip`` + ``json.load`` of the whole file, then the reference interpreter
   (:func:`trailwatchd.patterns.reference.reference_matches`, a tree walk) for every rule on every event;
2. decode floor: :func:`trailwatchd.decode.iter_records` with the CIS pack's projection, no rules;
3. scan, CIS pack: :func:`trailwatchd.engine.evaluate_object` per file, exactly what ``trailwatchd scan``
   runs (the file read included);
4. scan, 60 rules: the same with the CIS pack plus 46 synthetic rules (:mod:`bench.scan_rules`).

Each figure is events/s with MB/s of gzip and of inflated JSON, its ratio to the naive scanner with the
same rules (measured in the same run) and the verdict against the issue's single-core targets. Timings
are the best of a few repeats; the naive scanner runs once (it is slow, and its noise hardly moves a
ratio), the 60-rule one over every third file. Before timing, scan's per-rule match counts must equal
the naive scanner's (a correctness guard: a mismatch prints both columns and fails the run).

A stage breakdown then prices each stage of both scans per event (inflate, UTF-8 check, split,
projection decode, rule evaluation, full decode of matched records, and the rest: generators, checks and
bookkeeping) by running a stripped copy of the scan's inner loop to each depth in turn. Last, in fresh
interpreters, the peak resident set above the interpreter's own baseline (imports done, CIS pack loaded)
while scanning one ~50 MB-compressed file with the CIS pack: streamed from the file with
``iter_event_file`` + ``RuleSet.match`` and no event kept (the figure held to the target), then
``evaluate_object`` over the open file and over the bytes (as ``scan`` calls it), both of which keep
every matched event in full in their result.

    python -m bench scan_bench          # via the bench runner
    python -m bench.scan_bench [--quick]
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from isal import igzip_lib

from bench import Figure
from bench.corpus import build_big_file, build_corpus
from bench.scan_rules import packs
from trailwatchd.decode import DecodeStats, RecordDecoder, iter_event_file, iter_records
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.patterns.reference import reference_matches
from trailwatchd.rules import RuleSet

TARGETS = {"cis": 150_000, "60": 80_000}
"""events/s, single core (issue "Detection core", section 6)."""
MEMORY_LIMIT_MB = 40
"""Peak MiB above the interpreter's baseline while scanning one 50 MB-compressed file."""
SEP = b'},{"eventVersion"'
"""The record boundary CloudTrail's compact files have (what the decoder's splitter looks for)."""
STEP = 256 * 1024
"""The decoder's inflate step (trailwatchd.decode.INFLATE_STEP)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Corpus:
    paths: list[Path]
    events: int
    gzip_bytes: int
    text_bytes: int


class MatchCountMismatch(RuntimeError):
    """scan and the naive scanner disagree: a correctness bug, not a performance figure."""


@contextlib.contextmanager
def one_cpu() -> Iterator[str]:
    """Pin this process (and the subprocesses it starts) to one CPU, the targets being single-core;
    the previous affinity is restored afterwards (the bench runner goes on with other modules)."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity here)"
        return
    cpus = os.sched_getaffinity(0)
    chosen = max(cpus)
    os.sched_setaffinity(0, {chosen})
    try:
        yield f"pinned to CPU {chosen} of {len(cpus)}"
    finally:
        os.sched_setaffinity(0, cpus)


def interleaved(repeats: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The shortest wall time of each function over ``repeats`` rounds that call each once in turn: on a
    shared machine a burst of other work then hits every function alike instead of one of them."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for key, fn in fns.items():
            started = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - started)
    return best


def timed(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The shortest wall time of ``repeats`` calls and the last call's result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    assert out is not None
    return best, out


# -- the measured scanners ------------------------------------------------------------------------
def naive_scan(paths: Sequence[Path], ruleset: RuleSet) -> tuple[int, Counter[str]]:
    """stdlib gzip + json, every rule's tree walk on every event: what a first script does."""
    rules = [(r.id, r.pattern.ast) for r in ruleset.rules if r.enabled]
    counts: Counter[str] = Counter({rid: 0 for rid, _ in rules})
    events = 0
    for path in paths:
        with gzip.open(path, "rb") as fh:  # numbers as the decoder reads them: non-integers as Decimal
            records = json.load(fh, parse_float=Decimal)["Records"]
        events += len(records)
        for event in records:
            for rid, ast in rules:
                if reference_matches(ast, event):
                    counts[rid] += 1
    return events, counts


def naive_decode(paths: Sequence[Path]) -> int:
    """stdlib gzip + json only: how much of the naive scanner is decoding."""
    events = 0
    for path in paths:
        with gzip.open(path, "rb") as fh:
            events += len(json.load(fh, parse_float=Decimal)["Records"])
    return events


def decode_floor(paths: Sequence[Path], decoder: RecordDecoder) -> DecodeStats:
    """The fast decoder with a rule set's projection and no rules: the ceiling for that rule set."""
    stats = DecodeStats()
    for path in paths:
        for _ in iter_records(path.read_bytes(), name=str(path), decoder=decoder, stats=stats):
            pass
    return stats


def scan(paths: Sequence[Path], snap: Snapshot) -> tuple[int, Counter[str]]:
    """What ``trailwatchd scan`` does per file: read it, ``evaluate_object``, count matches per rule."""
    counts: Counter[str] = Counter({r.id: 0 for r in snap.ruleset.rules if r.enabled})
    events = 0
    for path in paths:
        result = evaluate_object(snap, name=str(path), data=path.read_bytes())
        events += result.events
        for rule_id, _ in result.matches:
            counts[rule_id] += 1
    return events, counts


def check_counts(label: str, naive: Counter[str], fast: Counter[str]) -> Figure:
    """The correctness guard: identical per-rule match counts, or a loud failure listing them."""
    if naive != fast:
        rows = [f"  {'rule':<48} {'naive':>8} {'scan':>8}"]
        for rid in sorted(set(naive) | set(fast)):
            mark = "" if naive[rid] == fast[rid] else "   <-- differs"
            rows.append(f"  {rid:<48} {naive[rid]:>8} {fast[rid]:>8}{mark}")
        table = "\n".join(rows)
        print(f"MATCH COUNTS DIFFER ({label}): scan disagrees with the reference interpreter", flush=True)
        print(table, flush=True)
        raise MatchCountMismatch(f"{label}: per-rule match counts differ from the naive scanner")
    return Count(f"match counts = naive ({label})", sum(fast.values()), "matches", f"{len(fast)} rules agree")


# -- stage breakdown -------------------------------------------------------------------------------
STAGES = (
    "inflate (ISA-L, 256 KiB steps)",
    "UTF-8 check of the inflated text",
    "split at boundaries (find + slice)",
    "projection decode (msgspec)",
    "rule evaluation (RuleSet.match)",
    "full decode of matched records",
)


def pipeline(datas: Sequence[bytes], snap: Snapshot, depth: int) -> int:
    """The scan's first ``depth`` stages (see :data:`STAGES`), streamed like the decoder streams them.

    A stripped copy of the decoder's compact-file path (same step sizes and buffer handling) without its
    checks, generators, limits and its search skip (which needs the decode's confirmation to recover
    from an overshoot); running it at each depth and taking differences prices each stage with the
    cache behaviour of the real scan. Returns the records seen.
    """
    decode, full, match = snap.decoder.decode_projection, snap.decoder.full, snap.ruleset.match
    records = 0
    for data in datas:
        inflater = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
        utf8 = codecs.getincrementaldecoder("utf-8")()
        piece, buf, pos, scan_from = data, b"", -1, 0
        while not inflater.eof:
            chunk = inflater.decompress(piece, STEP)
            piece = b""
            if depth < 2:
                continue
            if not chunk.isascii():
                utf8.decode(chunk)
            if depth < 3:
                continue
            last = buf.rfind(b"}", scan_from) if buf else -1
            scan_from = (last if last >= 0 else len(buf)) - max(pos, 0)
            buf = buf[max(pos, 0) :] + chunk
            if pos < 0:  # the first chunk: skip {"Records":[
                scan_from = pos = buf.index(b"[") + 1
            else:
                pos = 0
            while (i := buf.find(SEP, scan_from)) >= 0:
                raw = buf[pos : i + 1]
                pos = scan_from = i + 2
                records += 1
                if depth >= 4:
                    event = decode(raw)
                    if depth >= 5 and match(event) and depth >= 6:
                        full(raw)
        if depth >= 3:  # the last record
            raw = buf[pos : buf.rindex(b"]")]
            records += 1
            if depth >= 4:
                event = decode(raw)
                if depth >= 5 and match(event) and depth >= 6:
                    full(raw)
    return records


def stages(
    datas: list[bytes], events: int, snap: Snapshot, repeats: int, scan_seconds: float
) -> list[tuple[str, float]]:
    """Seconds per stage over the corpus: the pipeline at each depth, minus the depth before."""
    depths = range(1, len(STAGES) + 1)
    assert pipeline(datas, snap, len(STAGES)) == events
    best = interleaved(repeats, {str(d): lambda d=d: pipeline(datas, snap, d) for d in depths})  # type: ignore[misc]
    cumulative = [0.0, *(best[str(d)] for d in depths)]
    out = [(label, cumulative[i + 1] - cumulative[i]) for i, label in enumerate(STAGES)]
    out.append(("the rest (generators, checks, bookkeeping)", scan_seconds - cumulative[-1]))
    return out


# -- memory (runs in a fresh interpreter) ---------------------------------------------------------
def _peak_rss_bytes() -> int:
    """This process's peak resident set. On Linux ``VmHWM`` is per address space, whereas
    ``ru_maxrss`` keeps the parent's peak across fork+exec and would hide a smaller child peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def memory_child(mode: str, path: Path) -> dict[str, Any]:
    """Scan ``path`` with the CIS pack; peak RSS before (after imports and setup) and after."""
    ruleset = packs()["cis"][0]
    snap = Snapshot.of(ruleset)
    data = path.read_bytes() if mode == "object" else b""
    baseline = _peak_rss_bytes()
    started = time.perf_counter()
    matches = 0
    if mode == "stream":  # evaluate_object's per-record work over a file object, matches counted, not kept
        stats = DecodeStats()
        for event, raw in iter_event_file(path, decoder=snap.decoder, stats=stats):
            rules = ruleset.match(event)
            if rules:
                snap.decoder.full(raw)
                matches += len(rules)
        events = stats.records
    elif mode == "object-file":  # evaluate_object reading the open file: streamed input, matches kept
        with path.open("rb") as fh:
            result = evaluate_object(snap, name=str(path), data=fh)
        events, matches = result.events, len(result.matches)
    else:  # what scan and the daemon do: the object as bytes, every match kept with its full event
        result = evaluate_object(snap, name=str(path), data=data)
        events, matches = result.events, len(result.matches)
    seconds = time.perf_counter() - started
    return {
        "events": events,
        "matches": matches,
        "seconds": seconds,
        "baseline": baseline,
        "peak": _peak_rss_bytes(),
        "held": len(data),
    }


def memory_figures(quick: bool) -> list[Figure]:
    path = build_big_file(5 * 2**20 if quick else 50 * 2**20)
    figures = [Figure("big file (gzip)", path.stat().st_size / 1e6, "MB", str(path.name))]
    for mode in ("stream", "object-file", "object"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.scan_bench", "--memory-child", mode, str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        m = json.loads(out)
        above = (m["peak"] - m["baseline"]) / 2**20
        rate = m["events"] / m["seconds"]
        if mode == "stream":
            baseline = m["baseline"] / 2**20
            figures.append(Figure("interpreter baseline (peak RSS, CIS loaded)", baseline, "MiB"))
            verdict = "MET" if above < MEMORY_LIMIT_MB else "MISSED"
            note = f"target < {MEMORY_LIMIT_MB} MiB: {verdict}; {m['events']:,} events at {rate:,.0f}/s"
            figures.append(Figure("peak above baseline, streamed CIS scan", above, "MiB", note))
        elif mode == "object-file":
            note = f"{m['matches']:,} matches kept with their full events"
            figures.append(Figure("  evaluate_object over the open file", above, "MiB", note))
        else:
            note = f"as scan does it: + the {m['held'] / 2**20:.0f} MiB object, read before the baseline"
            figures.append(Figure("  evaluate_object over the bytes", above, "MiB", note))
    return figures


# -- the run ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Count(Figure):
    """A figure that is a whole number (``Figure.line`` prints small values with two decimals)."""

    def line(self) -> str:
        return f"  {self.name:<44} {self.value:>12,.0f} {self.unit:<10} {self.note}".rstrip()


def _rate(
    label: str,
    corpus: Corpus,
    seconds: float,
    naive: tuple[str, float] | None = None,
    target: int | None = None,
) -> Figure:
    """events/s with MB/s of gzip and of JSON, the ratio to a naive rate and the target verdict."""
    rate = corpus.events / seconds
    gz, text = corpus.gzip_bytes / seconds / 1e6, corpus.text_bytes / seconds / 1e6
    note = f"{gz:5.1f} MB/s gz {text:6.1f} MB/s JSON"
    if naive is not None:
        note += f" {rate / naive[1]:6.1f}x {naive[0]}"
    if target is not None:
        note += f"  target >= {target:,}: {'MET' if rate >= target else 'MISSED'} ({rate / target - 1:+.0%})"
    return Figure(label, rate, "events/s", note)


def run(quick: bool) -> list[Figure]:
    """Everything above; with ``quick``, 12,000 events, one repeat and a 5 MB big file."""
    with one_cpu() as pinned:
        return measure(quick, pinned)


def measure(quick: bool, pinned: str) -> list[Figure]:
    """The measurements of :func:`run` (pinned by it)."""
    n, per_file, repeats = (12_000, 2_000, 1) if quick else (60_000, 2_000, 5)
    paths = build_corpus(n, per_file)
    rule_packs = packs()
    cis, cis_origin = rule_packs["cis"]
    big, big_origin = rule_packs["60"]
    snaps = {"cis": Snapshot.of(cis), "60": Snapshot.of(big)}

    floor_stats = decode_floor(paths, snaps["cis"].decoder)
    corpus = Corpus(paths, floor_stats.records, floor_stats.bytes_compressed, floor_stats.bytes_decompressed)
    assert corpus.events == n, corpus
    size = f"{corpus.gzip_bytes / 1e6:.1f} MB gzip, {corpus.text_bytes / 1e6:.1f} MB JSON"
    figures: list[Figure] = [
        Count("corpus", n, "events", f"{len(paths)} files, {size}; {pinned}"),
        Count("CIS pack", len(cis.rules), "rules", f"{cis_origin}; reads {len(cis.selectors)} fields"),
        Count("60-rule pack", len(big.rules), "rules", f"{big_origin}; reads {len(big.selectors)} fields"),
    ]

    # Naive baselines (once each), then the correctness guard against scan's counts.
    naive_decode_seconds, _ = timed(1, lambda: naive_decode(paths))
    naive_seconds, (_, naive_cis) = timed(1, lambda: naive_scan(paths, cis))
    naive = ("naive", n / naive_seconds)
    subset = paths[::3]
    naive60_seconds, (subset_events, naive_60) = timed(1, lambda: naive_scan(subset, big))
    naive60 = ("naive 60", subset_events / naive60_seconds)
    figures.append(check_counts("CIS, all files", naive_cis, scan(paths, snaps["cis"])[1]))
    figures.append(check_counts("60 rules, 1/3 of files", naive_60, scan(subset, snaps["60"])[1]))

    best = interleaved(
        repeats,
        {
            "floor": lambda: decode_floor(paths, snaps["cis"].decoder),
            "cis": lambda: scan(paths, snaps["cis"]),
            "60": lambda: scan(paths, snaps["60"]),
        },
    )
    floor_seconds, cis_seconds, big_seconds = best["floor"], best["cis"], best["60"]
    figures += [
        _rate("naive decode only (gzip + json.load)", corpus, naive_decode_seconds, naive),
        _rate("naive scan, CIS (tree walk per rule)", corpus, naive_seconds, naive),
        Figure("naive scan, 60 rules (1/3 of the files)", naive60[1], "events/s",
               f"{naive60[1] / naive[1]:.2f}x naive (CIS)"),
        _rate("decode floor (CIS projection, no rules)", corpus, floor_seconds, naive),
        _rate("scan, CIS pack", corpus, cis_seconds, naive, TARGETS["cis"]),
        _rate("scan, 60-rule pack", corpus, big_seconds, naive60, TARGETS["60"]),
        Figure("  scan CIS / decode floor", floor_seconds / cis_seconds, "x", "of the floor's rate"),
        Figure("  scan 60 rules / scan CIS", cis_seconds / big_seconds, "x", "of the CIS rate"),
    ]  # fmt: skip

    datas = [p.read_bytes() for p in paths]
    for key, total in (("cis", cis_seconds), ("60", big_seconds)):
        name = "CIS" if key == "cis" else "60-rule"
        figures.append(Figure(f"{name} scan, per stage", total / n * 1e6, "us/event", "100%"))
        for label, seconds in stages(datas, n, snaps[key], min(repeats, 3), total):
            figures.append(Figure(f"  {label}", seconds / n * 1e6, "us/event", f"{seconds / total:4.0%}"))
    figures += memory_figures(quick)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scan_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less data and one repeat: a smoke test")
    parser.add_argument("--memory-child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child[0], Path(args.memory_child[1]))))
        return 0
    started = time.perf_counter()
    print(f"scan_bench: {__doc__.splitlines()[0]}", flush=True)
    try:
        figures = run(args.quick)
    except MatchCountMismatch as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    for figure in figures:
        print(figure.line(), flush=True)
    print(f"done in {time.perf_counter() - started:.0f} s (python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
