"""``trailwatchd verify s3://bucket/prefix --since ... --until ...``: the daemon's verdicts, offline.

Output follows ``aws cloudtrail validate-logs --verbose``: one ``Digest file``/``Log file`` line per
object with ``valid`` or ``INVALID: <reason>`` (only invalid lines without ``--verbose``), then a summary.
Exit status 1 when anything is invalid (like validate-logs), 2 on usage or access errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from trailwatchd.config import AwsConfig


def add_verify_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="verify CloudTrail digests and log files under an S3 prefix")
    p.add_argument("location", help="s3://bucket/prefix (the trail's bucket and S3 key prefix)")
    p.add_argument("--since", required=True, help="UTC start, e.g. 2026-11-01T00:00:00Z")
    p.add_argument("--until", help="UTC end (default: now)")
    p.add_argument(
        "--public-keys",
        action="append",
        default=[],
        help="`aws cloudtrail list-public-keys` JSON file (repeatable; default: ListPublicKeys per region)",
    )
    p.add_argument("--endpoint-url", help="S3/CloudTrail endpoint (tests, S3-compatible stores)")
    p.add_argument("--region", help="region of the S3 client")
    p.add_argument("--profile", help="AWS profile")
    p.add_argument("--unlisted-grace-secs", type=float, default=7200.0)
    p.add_argument("--verbose", action="store_true", help="print valid objects too")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_verify)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.location.startswith("s3://"):
        print(f"verify: {args.location!r} is not an s3://bucket/prefix location", file=err)
        return 2
    bucket, _, prefix = args.location[5:].partition("/")
    try:
        since = _time(args.since)
        until = _time(args.until) if args.until else datetime.now(UTC)
    except ValueError as exc:
        print(f"verify: bad time: {exc}", file=err)
        return 2
    return asyncio.run(_run(args, bucket, prefix, since, until, out, err))


async def _run(  # noqa: PLR0917
    args: argparse.Namespace,
    bucket: str,
    prefix: str,
    since: datetime,
    until: datetime,
    out: TextIO,
    err: TextIO,
) -> int:
    from trailwatchd.aws import AwsClients
    from trailwatchd.errors import FetchError
    from trailwatchd.integrity.keys import AwsKeyProvider, FileKeyProvider, KeyProvider
    from trailwatchd.integrity.store import S3Store
    from trailwatchd.integrity.verify import Verifier, summary

    config = AwsConfig(region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
    async with AsyncExitStack() as stack:
        clients = await stack.enter_async_context(AwsClients(config))
        keys: KeyProvider
        if args.public_keys:
            keys = FileKeyProvider(tuple(Path(p) for p in args.public_keys))
        else:
            keys = AwsKeyProvider(regional_cloudtrail(stack, config))
        verifier = Verifier(
            S3Store(await clients.get("s3")), keys, unlisted_grace=_grace(args.unlisted_grace_secs)
        )
        try:
            report = await verifier.verify(bucket, prefix, since, until)
        except FetchError as exc:
            print(f"verify: {exc}", file=err)
            return 2
    if args.format == "json":
        doc = {
            "lines": [{"kind": ln.kind, "uri": ln.uri, "verdict": ln.verdict} for ln in report.lines],
            "findings": [
                {"rule_id": f.rule_id, "severity": f.severity, "subject": f.subject, "reason": f.reason}
                for f in report.findings
            ],
            "ok": report.ok,
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        for line in report.lines:
            if args.verbose or line.verdict != "valid":
                print(line, file=out)
        print(summary(report, since, until), file=out)
    return 0 if report.ok else 1


def _grace(secs: float) -> timedelta:
    return timedelta(seconds=secs)


def regional_cloudtrail(stack: AsyncExitStack, config: AwsConfig) -> Callable[[str], Awaitable[Any]]:
    """CloudTrail client per region (keys are per region), created on first use, closed with ``stack``."""
    from trailwatchd.aws import AwsClients

    cache: dict[str, Any] = {}

    async def client_for(region: str) -> Any:
        if region not in cache:
            regional = AwsClients(
                AwsConfig(region=region, endpoint_url=config.endpoint_url, profile=config.profile)
            )
            await stack.enter_async_context(regional)
            cache[region] = await regional.get("cloudtrail")
        return cache[region]

    return client_for
