"""The pipeline's content hash: SHA-256 of the decompressed bytes, as a digest's ``hashValue`` is."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from trailwatchd.decode import DecodeLimits, DecodeStats
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.rules import RuleSet
from trailwatchd.workers import EvaluatorPool


def _snap(tmp_path: Path) -> Snapshot:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "any"\nseverity = "info"\npattern = \'{ $.eventName = "X" }\'\n')
    return Snapshot.of(RuleSet.load([rules]))


def test_hash_of_decompressed_bytes_gzip_multi_member_and_plain(tmp_path: Path) -> None:
    snap = _snap(tmp_path)
    raw = json.dumps({"Records": [{"eventName": "X", "eventID": str(i)} for i in range(5000)]}).encode()
    half = len(raw) // 2
    for stored in (gzip.compress(raw), gzip.compress(raw[:half]) + gzip.compress(raw[half:]), raw):
        result = evaluate_object(snap, name="x", data=stored, hash_content=True)
        assert result.content_sha256 == hashlib.sha256(raw).hexdigest()
        assert result.events == 5000
    assert evaluate_object(snap, name="x", data=gzip.compress(raw)).content_sha256 is None  # off by default


def test_stats_add_ignores_the_hasher() -> None:
    a, b = DecodeStats(records=1), DecodeStats(records=2, sha256=hashlib.sha256(b"x"))
    a.add(b)
    assert a.records == 3 and a.sha256 is None


async def test_hash_crosses_the_worker_process_boundary(tmp_path: Path) -> None:
    """daemon.workers > 1: the hash comes back from the process as a plain string (results are pickled)."""
    snap = _snap(tmp_path)
    raw = json.dumps({"Records": [{"eventName": "X", "eventID": "1"}]}).encode()
    pool = EvaluatorPool(1, registry=CollectorRegistry())
    try:
        result = await pool.evaluate(
            snap, name="x", data=gzip.compress(raw), inline=None, limits=DecodeLimits(), hash_content=True
        )
        plain = await pool.evaluate(snap, name="y", data=raw, inline=None, limits=DecodeLimits())
    finally:
        await asyncio.to_thread(pool.close)
    assert result.content_sha256 == hashlib.sha256(raw).hexdigest() and result.events == 1
    assert plain.content_sha256 is None
