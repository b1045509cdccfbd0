"""The digest check reuses the bytes the pipeline read: no second S3 GetObject for an ingested log file.

Every GetObject HTTP request the (real, aiobotocore) S3 client sends to moto is counted per key through
botocore's ``before-send`` event. Files the pipeline processed (ledger row ``uri#etag`` with the SHA-256 of
their decompressed bytes) are checked with a HEAD; a file rewritten after ingestion (new ETag), a file
never ingested (gap) and the digest itself are downloaded.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.test_integrity_moto import S3Source
from tests.integrity.trail import BUCKET, T0, Trail, new_key, public_key_list
from tests.unit.test_pipeline import FakeSink, RecordingAck
from trailwatchd.engine import Snapshot
from trailwatchd.integrity.keys import FileKeyProvider
from trailwatchd.integrity.metrics import IntegrityMetrics
from trailwatchd.integrity.service import IntegrityService
from trailwatchd.integrity.store import S3Store
from trailwatchd.metrics import Metrics, MirrorCounters
from trailwatchd.model import ObjectRef
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sources.base import WorkItem
from trailwatchd.state import AsyncStateStore

pytestmark = pytest.mark.integration
SRC = "notices"


async def test_ingested_files_are_not_downloaded_again(aws_clients: dict[str, Any], tmp_path: Path) -> None:
    s3 = aws_clients["s3"]
    await s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    gets: Counter[str] = Counter()

    def count(request: Any, **_: Any) -> None:
        if request.method == "GET" and "list-type" not in (request.url or ""):
            path = unquote(urlparse(request.url).path)
            gets[path.split(f"/{BUCKET}/", 1)[-1]] += 1

    s3.meta.events.register("before-send.s3.GetObject", count)
    key = new_key()
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps(public_key_list(key)))
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "any"\nseverity = "info"\npattern = \'{ $.eventName = "Nothing" }\'\n')
    snap = Snapshot.of(RuleSet.load([rules]))
    state = AsyncStateStore(tmp_path / "state.db")
    await state.__aenter__()
    metrics = Metrics(CollectorRegistry())
    sink = FakeSink("out")
    now = [T0.timestamp() - 1800]
    pipe = Pipeline(
        snapshot=lambda: snap,
        sources={SRC: S3Source(s3)},
        sinks={"out": sink},
        state=state,
        metrics=metrics,
        mirrors=MirrorCounters(metrics.registry),
        settings=PipelineSettings(default_sinks=("out",)),
        clock=lambda: now[0],
    )
    service = IntegrityService(
        store=S3Store(s3),
        keys=FileKeyProvider((keyfile,)),
        state=state,
        metrics=IntegrityMetrics(metrics.registry),
        sinks=("out",),
        emit=pipe.emit,
        sources=(SRC,),
        clock=lambda: now[0],
        delivery_wait_secs=0,  # no sink loop here: the findings stay spooled
    )

    async def hook(ref: ObjectRef) -> bool:
        await service.on_digest(ref)
        return True

    pipe.digest_hook = hook

    async def put_notify(k: str, body: bytes | None = None) -> None:
        data, meta = trail.objects[k]
        resp = await s3.put_object(Bucket=BUCKET, Key=k, Body=data if body is None else body, Metadata=meta)
        etag = str(resp["ETag"]).strip('"')  # as S3 event notifications and the poller carry it
        ack = RecordingAck()
        work = WorkItem(SRC, (ObjectRef(SRC, k, bucket=BUCKET, etag=etag),), ack, label=k)
        await asyncio.wait_for(pipe.process(work), timeout=20)
        assert ack.events == [("commit", None)]

    worker = asyncio.create_task(pipe.worker())
    try:
        trail = Trail(key)
        a = trail.add_log(T0 - timedelta(minutes=40))
        b = trail.add_log(T0 - timedelta(minutes=30))
        c = trail.add_log(T0 - timedelta(minutes=20))
        await put_notify(a[0])
        await put_notify(b[0])
        # C's notification is lost (gap); B is rewritten after the pipeline read it (new ETag)
        await s3.put_object(Bucket=BUCKET, Key=c[0], Body=trail.objects[c[0]][0])
        doc = json.loads(b[1])
        doc["Records"][0]["eventName"] = "Innocent"
        await s3.put_object(Bucket=BUCKET, Key=b[0], Body=gzip.compress(json.dumps(doc).encode()))
        d0 = trail.add_digest(T0, [a, b, c])
        assert gets == Counter({a[0]: 1, b[0]: 1})  # the pipeline's own reads
        now[0] = T0.timestamp()
        await put_notify(d0)
        for _ in range(200):  # the repair item goes through the queue
            if pipe.idle and gets[c[0]] >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    # A: ingested, unchanged -> checked against the recorded hash, never downloaded a second time.
    # B: rewritten after ingestion -> downloaded to hash it (and found modified).
    # C: never ingested -> downloaded to hash it, then again by the pipeline's gap repair.
    assert gets == Counter({a[0]: 1, b[0]: 2, c[0]: 2, d0: 1})
    reg = metrics.registry
    assert reg.get_sample_value("trailwatchd_integrity_log_file_reads_total", {"how": "recorded"}) == 1
    assert reg.get_sample_value("trailwatchd_integrity_log_file_reads_total", {"how": "downloaded"}) == 2
    for outcome, n in (("verified", 2), ("modified", 1), ("repaired", 1)):
        assert reg.get_sample_value("trailwatchd_integrity_log_files_total", {"outcome": outcome}) == n
    assert await state.object_sha256(SRC, f"s3://{BUCKET}/{a[0]}#{_etag(trail, a[0])}") is not None
    await state.close()


def _etag(trail: Trail, key: str) -> str:
    return hashlib.md5(trail.objects[key][0]).hexdigest()  # S3's ETag of a single-part upload
