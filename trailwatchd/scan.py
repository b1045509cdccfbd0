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


def progress_bar(total: int, mode: str, err: TextIO) -> Any:
    show = mode == "always" or (mode == "auto" and err.isatty() and total > 1)
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=err, leave=False)


class Scanner:
    """Accumulates what the rules match over a stream of objects (local files or S3 keys).

    Shared by ``scan PATH...`` and ``scan s3://...`` (``trailwatchd.backfill``) so both count alike.
    """

    def __init__(self, args: argparse.Namespace, ruleset: RuleSet, out: TextIO) -> None:
        self.args = args
        self.ruleset = ruleset
        self.out = out
        self.snap = Snapshot.of(ruleset)
        self.limits = DecodeLimits()
        self.counts: Counter[str] = Counter({r.id: 0 for r in ruleset.rules if r.enabled})
        self.metric_sums: dict[str, float] = {}
        self.skipped: Counter[str] = Counter()
        self.errors: list[dict[str, str]] = []
        self.scanned = self.events = 0
        self.started = time.perf_counter()

    def wanted(self, key: str) -> bool:
        """False (and counted) for digest and Insight files: they hold no events to match."""
        if classify_key(key).kind in (KeyKind.DIGEST, KeyKind.INSIGHT):
            self.skipped["digest_or_insight_files"] += 1
            return False
        return True

    def error(self, name: str, reason: str) -> None:
        self.errors.append({"file": name, "error": reason})

    def feed(self, name: str, data: bytes) -> None:
        """Evaluate one object's bytes; a decode error is recorded, never raised."""
        try:
            result = evaluate_object(self.snap, name=name, data=data, limits=self.limits)
        except DecodeError as exc:
            self.error(name, exc.reason)
            return
        self.scanned += 1
        self.events += result.events
        if result.stats.skipped_oversize:
            self.skipped["oversize_events"] += result.stats.skipped_oversize
        for rule_id, event in result.matches:
            self.counts[rule_id] += 1
            if self.args.matches:
                print(dumps({"rule_id": rule_id, "file": name, "event": event}), file=self.out)
        for _, point in result.datapoints:
            key = f"{point.namespace}/{point.name}"
            self.metric_sums[key] = self.metric_sums.get(key, 0.0) + point.value

    def finish(self, err: TextIO) -> int:
        """Print the report (text or JSON) and the skipped files; the exit status."""
        elapsed = time.perf_counter() - self.started
        report = {
            "files": self.scanned,
            "events": self.events,
            "skipped": dict(self.skipped),
            "errors": self.errors,
            "rules": dict(self.counts),
            "metrics": self.metric_sums,
        }
        if self.args.format == "json":
            print(dumps(report), file=self.out)
        else:
            _print_text(report, self.ruleset, self.out, elapsed)
        for e in self.errors:
            print(f"trailwatchd: skipped {e['file']}: {e['error']}", file=err)
        return 0


def load_ruleset(args: argparse.Namespace, err: TextIO) -> RuleSet | None:
    try:
        return RuleSet.load(args.rules or default_rule_paths())
    except RuleLoadError as exc:
        print(str(exc), file=err)
        return None


def run_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Evaluate every file; print per-rule counts and metric sums (text or JSON)."""
    ruleset = load_ruleset(args, err)
    if ruleset is None:
        return 2
    scanner = Scanner(args, ruleset, out)
    files = list(iter_input_files(args.paths))
    bar = progress_bar(len(files), args.progress, err)
    for path in files:
        if bar is not None:
            bar.update(1)
        if not scanner.wanted(path.as_posix()):
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            scanner.error(str(path), exc.strerror or str(exc))
            continue
        scanner.feed(str(path), data)
    if bar is not None:
        bar.close()
    return scanner.finish(err)


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
