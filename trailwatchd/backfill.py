"""``trailwatchd scan s3://bucket/prefix --since T [--until T]``: a dry run over a trail bucket's history.

It lists with the S3 poller's own code (partition discovery, one full listing per day prefix, keys
filtered by the delivery minute in their names) and evaluates with the same ``Scanner`` as a local
``scan``, so the counts equal a ``scan`` of the same files downloaded. Nothing is alerted, nothing is
written to a state store. Objects are fetched a few at a time, in key order, and evaluated as they
arrive, so memory stays bounded by the look-ahead, not by the history.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from trailwatchd.aws import AwsClients, classify_client_error, get_object_bytes
from trailwatchd.config import AwsConfig
from trailwatchd.errors import FetchError
from trailwatchd.scan import Scanner, load_ruleset, progress_bar
from trailwatchd.sources.s3_listing import (
    Listed,
    Lister,
    day_prefix,
    days_between,
    discover,
    parse_time,
)

LOOKAHEAD = 8
"""Objects fetched ahead of the one being evaluated."""
MAX_OBJECT_BYTES = 256 * 1024 * 1024


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket (expected s3://BUCKET[/PREFIX])")
    return bucket, prefix


def split_prefix(prefix: str) -> str:
    """The part before ``AWSLogs/`` (the trail's own prefix), where partition discovery starts."""
    if "AWSLogs/" in prefix:
        return prefix[: prefix.index("AWSLogs/")]
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


async def list_history(
    s3: Any, bucket: str, prefix: str, since: datetime, until: datetime, *, owner: str | None = None
) -> tuple[list[Listed], int]:
    """Every object under ``prefix`` whose delivery minute is in ``[since, until]``; and the LIST count."""
    lister = Lister(s3, bucket, expected_bucket_owner=owner)
    root = split_prefix(prefix)
    partitions = await discover(lister, root) or []
    found: list[Listed] = []
    for part in partitions:
        if not (part.base.startswith(prefix) or prefix.startswith(part.base)):
            continue
        for day in days_between(since, until):
            listed = await lister.objects(part.base + day_prefix(day)) or []
            found += [o for o in listed if o.key.startswith(prefix) and since <= o.delivered_at <= until]
    return sorted(found, key=lambda o: o.key), lister.requests


async def _run(args: argparse.Namespace, scanner: Scanner, err: TextIO) -> int:
    bucket, prefix = parse_s3_url(args.paths[0])
    since = parse_time(args.since)
    until = parse_time(args.until) if args.until else datetime.now(UTC)
    aws = AwsConfig(region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
    async with AwsClients(aws) as clients:
        s3 = await clients.get("s3")
        try:
            objects, requests = await list_history(
                s3, bucket, prefix, since, until, owner=args.expected_bucket_owner
            )
        except Exception as exc:
            _, code = classify_client_error(exc)
            print(f"trailwatchd: cannot list s3://{bucket}/{prefix}: {code}: {exc}", file=err)
            return 2
        print(
            f"trailwatchd: {len(objects)} objects delivered {since:%Y-%m-%dT%H:%MZ}..{until:%Y-%m-%dT%H:%MZ} "
            f"under s3://{bucket}/{prefix} ({requests} list requests)",
            file=err,
        )
        wanted = [o for o in objects if scanner.wanted(o.key)]
        bar = progress_bar(len(wanted), args.progress, err)
        gate = asyncio.Semaphore(LOOKAHEAD)

        async def fetch(obj: Listed) -> bytes | FetchError:
            async with gate:
                try:
                    return await get_object_bytes(
                        s3,
                        bucket,
                        obj.key,
                        max_bytes=MAX_OBJECT_BYTES,
                        expected_bucket_owner=args.expected_bucket_owner,
                    )
                except FetchError as exc:
                    return exc

        pending: list[asyncio.Task[bytes | FetchError]] = []
        for i, obj in enumerate(wanted):
            while len(pending) < LOOKAHEAD and i + len(pending) < len(wanted):
                pending.append(asyncio.create_task(fetch(wanted[i + len(pending)])))
            result = await pending.pop(0)
            name = f"s3://{bucket}/{obj.key}"
            if isinstance(result, FetchError):
                scanner.error(name, str(result))
            else:
                scanner.feed(name, result)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    return scanner.finish(err)


def run_backfill(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Entry point for ``scan`` when its path is an ``s3://`` URL."""
    paths: Sequence[str] = args.paths
    if len(paths) != 1 or not args.since:
        print("trailwatchd: scan s3://BUCKET[/PREFIX] takes exactly one URL and --since", file=err)
        return 2
    try:
        parse_s3_url(paths[0])
        parse_time(args.since)
        if args.until:
            parse_time(args.until)
    except ValueError as exc:
        print(f"trailwatchd: {exc}", file=err)
        return 2
    ruleset = load_ruleset(args, err)
    if ruleset is None:
        return 2
    return asyncio.run(_run(args, Scanner(args, ruleset, out), err))
