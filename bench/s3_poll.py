"""S3 poller listing cost against moto's server mode: ``python -m bench.s3_poll`` (``make bench-s3``).

A bucket holds ``DAYS`` days of 5-minute deliveries for ``ACCOUNTS`` x ``REGIONS`` folders. Printed: LIST
requests and seconds for the first (backfill) poll, a steady poll, a poll just after midnight, and the
baseline a naive poller pays (re-listing the whole ``AWSLogs/`` tree every poll), all from the same run.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import os
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer
from prometheus_client import CollectorRegistry

from trailwatchd.aws import AwsClients
from trailwatchd.config import AwsConfig, S3SourceConfig
from trailwatchd.metrics import Metrics
from trailwatchd.sources.base import WorkItem
from trailwatchd.sources.s3 import S3Source
from trailwatchd.state import AsyncStateStore

ACCOUNTS = 2
REGIONS = 6
DAYS = 2
BUCKET = "bench-trail"
BODY = gzip.compress(b'{"Records":[]}')
END = datetime(2024, 5, 3, 0, 5, tzinfo=UTC)  # 5 minutes after midnight


def keys() -> list[str]:
    out = []
    start = END - timedelta(days=DAYS)
    for a in range(ACCOUNTS):
        acct = f"{111122223333 + a:012d}"
        for r in range(REGIONS):
            region = f"bench-region-{r}"
            t = start
            while t < END:
                name = f"{acct}_CloudTrail_{region}_{t:%Y%m%dT%H%M}Z_{'x' * 16}.json.gz"
                out.append(f"AWSLogs/{acct}/CloudTrail/{region}/{t:%Y/%m/%d}/{name}")
                t += timedelta(minutes=5)
    return out


async def fill(endpoint: str, all_keys: list[str]) -> None:
    session = get_session()
    async with session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=BUCKET)
        for i in range(0, len(all_keys), 64):
            await asyncio.gather(
                *(s3.put_object(Bucket=BUCKET, Key=k, Body=BODY) for k in all_keys[i : i + 64])
            )


async def measure(endpoint: str, total_keys: int) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    now = [END - timedelta(minutes=10)]
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            AwsClients(AwsConfig(region="us-east-1", endpoint_url=endpoint)) as clients,
            AsyncStateStore(Path(tmp) / "state.db") as state,
        ):
            config = S3SourceConfig(
                bucket=BUCKET, start_time=(END - timedelta(days=DAYS)).isoformat(), lookback_secs=900
            )
            src = S3Source("bench", config, clients, state, metrics=metrics, clock=lambda: now[0])

            def requests() -> float:
                return (
                    registry.get_sample_value("trailwatchd_s3_list_requests_total", {"source": "bench"}) or 0
                )

            async def poll(label: str) -> None:
                items: list[WorkItem] = []

                async def emit(item: WorkItem) -> None:
                    items.append(item)

                before, started = requests(), time.perf_counter()
                await src.poll(emit)
                secs = time.perf_counter() - started
                for item in items:
                    await item.ack.commit()
                n = requests() - before
                print(f"{label:<44} {n:>6.0f} LIST  {secs:>7.3f} s  {len(items):>6} files emitted")

            folders = ACCOUNTS * REGIONS
            print(f"bucket: {total_keys} log files, {folders} account/region folders, {DAYS} days + 5 min")
            await poll("first poll (discovery + backfill from start)")
            await poll("second poll (closes the backfilled days)")
            now[0] = END - timedelta(minutes=6)
            await poll("steady poll (window inside one day)")
            now[0] = END
            await poll("poll 5 min after midnight (two day prefixes)")
            session = get_session()
            async with session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint) as s3:
                pages = 0
                async for _ in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="AWSLogs/"):
                    pages += 1
            print(f"baseline: re-listing the whole bucket once costs {pages} LIST here ({total_keys} files);")
            per_year = math.ceil(folders * 288 * 365 / 1000)
            print(
                f"  after a year of retention it costs ~{per_year} LIST per poll, while the steady poll "
                f"above stays at {folders} ({per_year / folders:.0f}x fewer)"
            )


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        all_keys = keys()
        asyncio.run(fill(endpoint, all_keys))
        asyncio.run(measure(endpoint, len(all_keys)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
