"""``trailwatchd scan``: what each rule would have matched over local CloudTrail files.

A dry run of the daemon's evaluation over history: same decoder, same rule set, same metric
extraction, no alerts. Bad files are reported and skipped, never fatal.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

from trailwatchd.decode import DecodeLimits, KeyKind, classify_key
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.errors import DecodeError
from trailwatchd.rules import RuleLoadError, RuleSet

REPO_RULES = Path(__file__).resolve().parent.parent / "config" / "rules"
DEFAULT_PACKS = ("cis-aws-foundations-1.2", "cloudtrail-essentials")
_json = msgspec.json.Encoder(decimal_format="number")


def dumps(value: Any) -> str:
    """Compact JSON with Decimal numbers kept as numbers."""
    return _json.encode(value).decode()


INPUT_SUFFIXES = (".json", ".json.gz", ".jsonl", ".ndjson", ".gz")


def iter_input_files(paths: Sequence[str]) -> Iterator[Path]:
    """Files named, and the JSON / gzip files below named directories (sorted, hidden ones skipped).

    Inside a directory only CloudTrail-looking names are read, so a LICENSE or README next to the logs
    is not reported as a broken log file; a file named explicitly is always read.
    """
    for name in paths:
        p = Path(name)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if (
                    child.is_file()
                    and child.name.lower().endswith(INPUT_SUFFIXES)
                    and not any(part.startswith(".") for part in child.relative_to(p).parts)
                ):
                    yield child
        else:
            yield p


def default_rule_paths() -> list[str]:
    return [str(REPO_RULES / pack) for pack in DEFAULT_PACKS if (REPO_RULES / pack).is_dir()]


def _progress(total: int, mode: str, err: TextIO) -> Any:
    show = mode == "always" or (mode == "auto" and err.isatty() and total > 1)
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=err, leave=False)


def run_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Evaluate every file; print per-rule counts and metric sums (text or JSON)."""
    try:
        ruleset = RuleSet.load(args.rules or default_rule_paths())
    except RuleLoadError as exc:
        print(str(exc), file=err)
        return 2
    snap = Snapshot.of(ruleset)
    limits = DecodeLimits()
    files = list(iter_input_files(args.paths))
    bar = _progress(len(files), args.progress, err)
    counts: Counter[str] = Counter({r.id: 0 for r in ruleset.rules if r.enabled})
    metric_sums: dict[str, float] = {}
    skipped: Counter[str] = Counter()
    errors: list[dict[str, str]] = []
    scanned = events = 0
    started = time.perf_counter()
    for path in files:
        if bar is not None:
            bar.update(1)
        kind = classify_key(path.as_posix()).kind
        if kind in (KeyKind.DIGEST, KeyKind.INSIGHT):
            skipped["digest_or_insight_files"] += 1
            continue
        try:
            data = path.read_bytes()
            result = evaluate_object(snap, name=str(path), data=data, limits=limits)
        except DecodeError as exc:
            errors.append({"file": str(path), "error": exc.reason})
            continue
        except OSError as exc:
            errors.append({"file": str(path), "error": exc.strerror or str(exc)})
            continue
        scanned += 1
        events += result.events
        if result.stats.skipped_oversize:
            skipped["oversize_events"] += result.stats.skipped_oversize
        for rule_id, event in result.matches:
            counts[rule_id] += 1
            if args.matches:
                print(dumps({"rule_id": rule_id, "file": str(path), "event": event}), file=out)
        for _, point in result.datapoints:
            key = f"{point.namespace}/{point.name}"
            metric_sums[key] = metric_sums.get(key, 0.0) + point.value
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - started
    report = {
        "files": scanned,
        "events": events,
        "skipped": dict(skipped),
        "errors": errors,
        "rules": dict(counts),
        "metrics": metric_sums,
    }
    if args.format == "json":
        print(dumps(report), file=out)
    else:
        _print_text(report, ruleset, out, elapsed)
    for e in errors:
        print(f"trailwatchd: skipped {e['file']}: {e['error']}", file=err)
    return 0


def _print_text(report: dict[str, Any], ruleset: RuleSet, out: TextIO, elapsed: float) -> None:
    rate = report["events"] / elapsed if elapsed > 0 else 0.0
    print(
        f"{report['files']} files, {report['events']} events in {elapsed:.2f}s ({rate:,.0f} events/s)",
        file=out,
    )
    if report["skipped"]:
        print("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(report["skipped"].items())), file=out)
    if report["errors"]:
        print(f"errors: {len(report['errors'])} file(s) could not be decoded (listed on stderr)", file=out)
    width = max((len(r) for r in report["rules"]), default=10)
    print(f"\n{'rule'.ljust(width)}  matches  severity", file=out)
    for rule_id, n in sorted(report["rules"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{rule_id.ljust(width)}  {n:7d}  {ruleset.get(rule_id).severity}", file=out)
    if report["metrics"]:
        print("\nmetric                                            sum", file=out)
        for name, total in sorted(report["metrics"].items()):
            print(f"{name:<46} {total:>6g}", file=out)
