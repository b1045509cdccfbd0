"""End to end against moto S3: a signed trail, the pipeline with the integrity hook, a tamper alerted
within one digest period (injected clock), gap repair, and ``trailwatchd verify`` giving the same verdicts.

moto 5.2.5 does not implement ``cloudtrail:ListPublicKeys``, so the public key is served through the
file key provider (the same seam the AWS provider fills; that one is tested with a fake client)."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integrity.trail import BUCKET, T0, Trail, new_key, public_key_list
from tests.unit.test_pipeline import FakeSink, RecordingAck
from trailwatchd.aws import get_object_bytes
from trailwatchd.cli import main
from trailwatchd.engine import Snapshot
from trailwatchd.integrity.keys import FileKeyProvider
from trailwatchd.integrity.metrics import IntegrityMetrics
from trailwatchd.integrity.service import IntegrityService
from trailwatchd.integrity.store import S3Store
from trailwatchd.metrics import Metrics, MirrorCounters
from trailwatchd.model import ObjectRef
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sources.base import Emit, WorkItem
from trailwatchd.state import AsyncStateStore

pytestmark = pytest.mark.integration
SRC = "notices"


class S3Source:
    """Reads objects from (moto) S3 like the SQS source does; the test plays the notifications."""

    id = SRC
    ready = True

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        await stop.wait()

    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        assert ref.bucket is not None
        return await get_object_bytes(self.s3, ref.bucket, ref.key, max_bytes=max_bytes)


async def put(s3: Any, trail: Trail, key: str) -> None:
    data, meta = trail.objects[key]
    await s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=meta)


async def notify(pipe: Pipeline, key: str) -> RecordingAck:
    ack = RecordingAck()
    work = WorkItem(SRC, (ObjectRef(SRC, key, bucket=BUCKET),), ack, label=key)
    await asyncio.wait_for(pipe.process(work), timeout=20)
    return ack


async def test_tamper_alerted_within_one_digest_period_and_verify_agrees(
    aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    s3 = aws_clients["s3"]
    await s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
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
    imetrics = IntegrityMetrics(metrics.registry)
    service = IntegrityService(
        store=S3Store(s3),
        keys=FileKeyProvider((keyfile,)),
        state=state,
        metrics=imetrics,
        sinks=("out",),
        emit=pipe.emit,
        unlisted_grace_secs=1800,
        clock=lambda: now[0],
    )

    async def hook(ref: ObjectRef) -> bool:
        if not service.wants(ref):
            return False
        await service.on_digest(ref)
        return True

    pipe.digest_hook = hook
    tasks = [
        asyncio.create_task(pipe.worker()),
        asyncio.create_task(pipe.deliver_loop("out", idle_secs=0.01)),
    ]
    try:
        trail = Trail(key)
        # hour 0: one file, processed; its digest verifies clean
        a = trail.add_log(T0 - timedelta(minutes=30))
        await put(s3, trail, a[0])
        await notify(pipe, a[0])
        d0 = trail.add_digest(T0, [a])
        await put(s3, trail, d0)
        now[0] = T0.timestamp()
        assert (await notify(pipe, d0)).events == [("commit", None)]
        assert sink.delivered == []

        # hour 1: B processed then modified; C's notification lost; E injected out of band
        h1 = T0 + timedelta(hours=1)
        b, c = trail.add_log(h1 - timedelta(minutes=40)), trail.add_log(h1 - timedelta(minutes=10))
        for k in (b[0], c[0]):
            await put(s3, trail, k)
        await notify(pipe, b[0])
        tampered_at = h1 - timedelta(minutes=30)
        doc = json.loads(b[1])
        doc["Records"][0]["eventName"] = "Innocent"
        await s3.put_object(Bucket=BUCKET, Key=b[0], Body=gzip.compress(json.dumps(doc).encode()))
        injected = trail.add_log(T0 + timedelta(minutes=10))
        await put(s3, trail, injected[0])
        d1 = trail.add_digest(h1, [b, c])
        await put(s3, trail, d1)
        now[0] = h1.timestamp()  # the digest arrives on schedule
        await notify(pipe, d1)
        for _ in range(200):  # the repair item and the alerts go through the queue and the spool
            if pipe.idle and await state.spool_depth() == 0 and len(sink.delivered) >= 3:
                break
            await asyncio.sleep(0.02)
        await notify(pipe, d1)  # the notification is delivered again: no new alert, nothing counted twice
        for _ in range(50):
            await asyncio.sleep(0.02)
            if pipe.idle and await state.spool_depth() == 0:
                break
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    daemon = {(al.rule_id, al.body["source"]["object"]) for al in sink.delivered}
    assert daemon == {
        ("trailwatchd.integrity.log_file_modified", f"s3://{BUCKET}/{b[0]}"),
        ("trailwatchd.integrity.log_file_not_ingested", f"s3://{BUCKET}/{c[0]}"),
        ("trailwatchd.integrity.log_file_unlisted", f"s3://{BUCKET}/{injected[0]}"),
    }
    # alerted within one digest period of the tamper (injected clock)
    modified = next(al for al in sink.delivered if al.rule_id.endswith("log_file_modified"))
    assert now[0] - tampered_at.timestamp() <= 3600
    assert modified.severity == "high"
    # the gap was repaired: C is now in the ledger as processed
    assert await state.object_status(SRC, f"s3://{BUCKET}/{c[0]}") == "done"
    reg = metrics.registry
    for outcome in ("modified", "unlisted", "repaired"):
        assert reg.get_sample_value("trailwatchd_integrity_log_files_total", {"outcome": outcome}) == 1
    # d0, d1, and d1 again: a digest whose files needed repair is re-checked until the repair has landed
    assert reg.get_sample_value("trailwatchd_integrity_digests_total", {"outcome": "verified"}) == 3
    assert (
        reg.get_sample_value(
            "trailwatchd_integrity_last_verified_digest_timestamp_seconds",
            {"account": "111122223333", "region": "us-east-2"},
        )
        == h1.timestamp()
    )
    await state.close()

    # `trailwatchd verify` offline over the same bucket: same verdicts (minus the repair, which only the
    # daemon with its ledger can know about)
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "verify", f"s3://{BUCKET}/", "--since", (T0 - timedelta(hours=1)).isoformat(),
        "--until", h1.isoformat(), "--public-keys", str(keyfile), "--endpoint-url", aws_clients["endpoint"],
        "--region", "us-east-1", "--unlisted-grace-secs", "1800", "--format", "json",
    ]  # fmt: skip
    status = await asyncio.to_thread(main, argv, out=out, err=err)
    assert status == 1, err.getvalue()
    cli = {(f["rule_id"], f["subject"]) for f in json.loads(out.getvalue())["findings"]}
    assert cli == {d for d in daemon if not d[0].endswith("not_ingested")}
    text = io.StringIO()
    argv = [a for a in argv if a not in ("--format", "json")]
    assert await asyncio.to_thread(main, argv, out=text, err=err) == 1
    assert f"Log file\ts3://{BUCKET}/{b[0]}\tINVALID: hash value doesn't match" in text.getvalue()
    assert "2/2 digest files valid" in text.getvalue()
