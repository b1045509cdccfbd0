"""Command line: ``trailwatchd run | check-config | test-rules | test-pattern | lint | scan``.

Offline commands share the daemon's engine (same pattern compiler, same decoder, same rule set), so
what ``scan`` counts over local files is what the daemon would count over the same files.
Exit statuses: 0 success (for ``test-pattern``: something matched), 1 nothing matched / checks failed,
2 usage, pattern or input errors.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from trailwatchd import __version__
from trailwatchd.config import load_config
from trailwatchd.decode import RecordDecoder, iter_records
from trailwatchd.errors import ConfigError, DecodeError, PatternSyntaxError
from trailwatchd.patterns import compile_pattern, lint_pattern
from trailwatchd.scan import default_rule_paths, dumps, iter_input_files


def get_field(event: Any, dotted: str) -> Any:
    """``userIdentity.arn`` -> the value, or None when any step is missing."""
    node = event
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value)


def cmd_test_pattern(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """grep for CloudTrail: print matching events, a count, or selected fields."""
    try:
        pattern = compile_pattern(args.pattern)
    except PatternSyntaxError as exc:
        print(f"trailwatchd: invalid pattern: {exc}", file=err)
        return 2
    for warning in lint_pattern(pattern):
        print(f"trailwatchd: warning [{warning.code}]: {warning.message}", file=err)
    decoder = RecordDecoder(pattern.selectors)
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else []
    rows: list[list[str]] = []
    count = 0
    failed = False
    sources: list[tuple[str, bytes]] = []
    if args.files:
        for path in iter_input_files(args.files):
            try:
                sources.append((str(path), path.read_bytes()))
            except OSError as exc:
                print(f"trailwatchd: {path}: {exc.strerror}", file=err)
                failed = True
    else:
        sources.append(("<stdin>", sys.stdin.buffer.read()))
    for name, data in sources:
        try:
            for event, raw in iter_records(data, name=name, decoder=decoder):
                if not pattern.matches(event):
                    continue
                count += 1
                if args.count:
                    continue
                full = decoder.full(raw)
                if fields:
                    rows.append([_cell(get_field(full, f)) for f in fields])
                else:
                    print(dumps(full), file=out)
        except DecodeError as exc:
            print(f"trailwatchd: {exc}", file=err)
            failed = True
    if args.count:
        print(count, file=out)
    elif fields:
        write_rows(fields, rows, out, fmt=args.format)
    if failed:
        return 2
    return 0 if count else 1


def write_rows(header: list[str], rows: list[list[str]], out: TextIO, *, fmt: str) -> None:
    """CSV (for spreadsheets and Athena-style reports) or an aligned text table."""
    if fmt == "csv" or (fmt == "auto" and not out.isatty()):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(), file=out)


def cmd_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Report known pitfalls in a pattern."""
    try:
        warnings = lint_pattern(compile_pattern(args.pattern))
    except PatternSyntaxError as exc:
        print(f"trailwatchd: invalid pattern: {exc}", file=err)
        return 2
    for w in warnings:
        print(f"[{w.code}] column {w.position + 1}: {w.message}", file=out)
    if not warnings:
        print("no known pitfalls", file=out)
    return 1 if warnings else 0


def cmd_test_rules(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Validate rule files and run every golden example."""
    from trailwatchd.rules import RuleLoadError, RuleSet

    paths = args.paths or default_rule_paths()
    try:
        ruleset = RuleSet.load(paths)
    except RuleLoadError as exc:
        print(str(exc), file=err)
        return 1
    failures = ruleset.run_examples()
    for failure in failures:
        print(f"FAIL {failure}", file=out)
    for rule_id, warning in ruleset.lint():
        print(f"warning {rule_id} [{warning.code}]: {warning.message}", file=out)
    examples = sum(len(r.examples) for r in ruleset.rules)
    print(f"{len(ruleset.rules)} rules, {examples} examples, {len(failures)} failed", file=out)
    return 1 if failures else 0


def cmd_check_config(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Validate a daemon config and everything it references."""
    from trailwatchd.daemon import load_rules

    try:
        config = load_config(args.config)
        ruleset = load_rules(config)
    except ConfigError as exc:
        print(str(exc), file=err)
        return 1
    for rule_id, warning in ruleset.lint():
        print(f"warning {rule_id} [{warning.code}]: {warning.message}", file=out)
    print(
        f"{args.config}: OK ({len(config.sources)} sources, {len(config.sinks)} sinks, "
        f"{len(ruleset.rules)} rules)",
        file=out,
    )
    return 0


def cmd_scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a rule set over local files and report per-rule counts and metric sums."""
    from trailwatchd.scan import run_scan

    if any(p.startswith("s3://") for p in args.paths):
        from trailwatchd.backfill import run_backfill

        return run_backfill(args, out, err)
    return run_scan(args, out, err)


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from trailwatchd.daemon import run_daemon
    from trailwatchd.logs import configure_logging

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=err)
        return 2
    configure_logging(fmt=config.daemon.log_format, level=config.daemon.log_level)
    loop = asyncio.new_event_loop()
    try:
        status = loop.run_until_complete(run_daemon(config))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except ConfigError as exc:
        print(str(exc), file=err)
        return 2
    finally:
        loop.close()  # unlike asyncio.run, does not wait for worker threads
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # A sink stuck in a thread (hung mount, unread FIFO) must not keep a drained daemon alive:
        # everything unacknowledged is safe in the spool or comes back from the source.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trailwatchd", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--version", action="version", version=f"trailwatchd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the daemon")
    p.add_argument("--config", default="config/trailwatchd.toml")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a config file, its rules and their golden examples")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("test-rules", help="validate rule files and run their golden examples")
    p.add_argument("paths", nargs="*", help="rule files or directories (default: the shipped packs)")
    p.set_defaults(func=cmd_test_rules)

    p = sub.add_parser("test-pattern", help="print the CloudTrail events a filter pattern matches")
    p.add_argument("pattern")
    p.add_argument("files", nargs="*", help="files or directories (default: stdin)")
    p.add_argument("--count", action="store_true", help="print only the number of matching events")
    p.add_argument("--fields", help="comma-separated fields to print, e.g. eventTime,userIdentity.arn")
    p.add_argument(
        "--format",
        choices=("auto", "table", "csv"),
        default="auto",
        help="with --fields: table on a terminal, CSV otherwise (default auto)",
    )
    p.set_defaults(func=cmd_test_pattern)

    p = sub.add_parser("lint", help="warn about known pitfalls in a filter pattern")
    p.add_argument("pattern")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("scan", help="count what each rule matches over CloudTrail files (local or S3)")
    p.add_argument("paths", nargs="+", help="files or directories, or one s3://BUCKET[/PREFIX]")
    p.add_argument(
        "--rules", action="append", help="rule file or directory (repeatable; default: shipped packs)"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--matches", action="store_true", help="also print every match as a JSON line")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    s3 = p.add_argument_group("S3 backfill (a path of the form s3://BUCKET[/PREFIX])")
    s3.add_argument("--since", help="ISO time: first delivery minute to read (required with s3://)")
    s3.add_argument("--until", help="ISO time: last delivery minute to read (default: now)")
    s3.add_argument("--region", help="AWS region of the bucket")
    s3.add_argument("--endpoint-url", help="S3 endpoint (S3-compatible stores, tests)")
    s3.add_argument("--profile", help="AWS credentials profile")
    s3.add_argument("--expected-bucket-owner", help="refuse a bucket owned by another account")
    p.set_defaults(func=cmd_scan)

    from trailwatchd.integrity.cli import add_verify_parser  # light: imports nothing heavy at load

    add_verify_parser(sub)
    from trailwatchd.migrate.cli import register as register_migration

    register_migration(sub)  # `import ...` / `export ...` (issue 5, migration)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Console entry point; ``out``/``err`` are injectable for tests."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args, out or sys.stdout, err or sys.stderr)
    except BrokenPipeError:  # `trailwatchd scan ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
