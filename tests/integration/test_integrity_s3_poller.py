"""End to end, the whole daemon against moto: an S3-polled trail bucket with ``[integrity]`` on. The poller
lists ``CloudTrail-Digest/`` too, and a log file tampered after ingestion is alerted when the next digest
arrives (within one digest period); unchanged ingested files are checked against their recorded hash.
The wall clocks (the poller's and the daemon's) are injected."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integrity.trail import ACCOUNT, BUCKET, REGION, T0, Trail, new_key, public_key_list
from trailwatchd import config as config_mod
from trailwatchd.daemon import Daemon
from trailwatchd.sources import s3 as s3_mod

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
id = "list-users"
severity = "info"
pattern = '{ $.eventName = "ListUsers" }'
"""


@pytest.mark.parametrize("workers", [1, 2])  # 2: hashes come back from the decode worker processes
async def test_polled_bucket_tamper_alerted_within_one_digest_period(
    aws_clients: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    s3 = aws_clients["s3"]
    now = [T0 - timedelta(minutes=10)]
    monkeypatch.setattr(s3_mod, "utcnow", lambda: now[0])
    await s3.create_bucket(Bucket=BUCKET)
    key = new_key()
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps(public_key_list(key)))
    (tmp_path / "rules.toml").write_text(RULES)
    trail = Trail(key)
    a = trail.add_log(T0 - timedelta(minutes=40))
    b = trail.add_log(T0 - timedelta(minutes=20))
    for k, _ in (a, b):
        await s3.put_object(Bucket=BUCKET, Key=k, Body=trail.objects[k][0])
    alerts_path = tmp_path / "alerts.jsonl"
    config = config_mod.parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
                "workers": workers,
            },
            "aws": {"region": aws_clients["region"], "endpoint_url": aws_clients["endpoint"]},
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["out"]},
            "sources": {
                "trail": {
                    "type": "s3",
                    "bucket": BUCKET,
                    "start_time": (T0 - timedelta(hours=2)).isoformat(),
                    "poll_interval_secs": 0.1,
                }
            },
            "sinks": {"out": {"type": "file", "path": str(alerts_path)}},
            "integrity": {"enabled": True, "public_key_files": [str(keyfile)], "sources": ["trail"]},
        }
    )

    def alerts() -> list[dict[str, Any]]:
        return [json.loads(x) for x in alerts_path.read_text().splitlines()] if alerts_path.exists() else []

    def rule_ids() -> list[str]:
        return sorted(al["rule_id"] for al in alerts())

    async def run_until(predicate: Any) -> CollectorRegistry:
        registry = CollectorRegistry()
        clock = lambda: now[0].timestamp()  # noqa: E731, PLW0108 - now[0] moves: read it on every call
        daemon = Daemon(config, registry=registry, handle_signals=False, clock=clock)
        task = asyncio.create_task(daemon.run())
        try:
            for _ in range(300):
                if predicate(registry):
                    break
                await asyncio.sleep(0.05)
            assert predicate(registry), rule_ids()
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
        return registry

    def sample(reg: CollectorRegistry, name: str, **labels: str) -> float:
        return reg.get_sample_value(name, labels) or 0.0

    # 1. Both files are ingested (each has a ListUsers event alerted by the rule).
    await run_until(lambda r: rule_ids().count("list-users") == 4)
    # 2. File A is rewritten after ingestion; then the hour's digest (listing A and B) is delivered.
    tampered_at: datetime = now[0]
    doc = json.loads(a[1])
    doc["Records"][0]["eventName"] = "Innocent"
    await s3.put_object(Bucket=BUCKET, Key=a[0], Body=gzip.compress(json.dumps(doc).encode()))
    d0 = trail.add_digest(T0, [a, b])
    data, meta = trail.objects[d0]
    await s3.put_object(Bucket=BUCKET, Key=d0, Body=data, Metadata=meta)
    now[0] = T0 + timedelta(minutes=5)  # CloudTrail delivers the digest a few minutes after its end

    def verified(reg: CollectorRegistry) -> bool:
        return (
            sample(reg, "trailwatchd_integrity_digests_total", outcome="verified") == 1
            and "trailwatchd.integrity.log_file_modified" in rule_ids()
        )

    reg = await run_until(verified)
    integrity = [al for al in alerts() if al["rule_id"].startswith("trailwatchd.integrity.")]
    assert [(al["rule_id"], al["source"]["object"]) for al in integrity] == [
        ("trailwatchd.integrity.log_file_modified", f"s3://{BUCKET}/{a[0]}")
    ]
    assert integrity[0]["severity"] == "high"
    assert now[0] - tampered_at <= timedelta(hours=1)  # within one digest period of the tamper
    # the poller found the digest; B was checked against the hash recorded at ingestion (no download)
    assert sample(reg, "trailwatchd_s3_objects_discovered_total", source="trail", kind="digest") == 1
    assert sample(reg, "trailwatchd_integrity_log_file_reads_total", how="recorded") == 1
    assert sample(reg, "trailwatchd_integrity_log_file_reads_total", how="downloaded") == 1
    assert sample(
        reg, "trailwatchd_integrity_last_verified_digest_timestamp_seconds", account=ACCOUNT, region=REGION
    ) == pytest.approx(T0.replace(microsecond=0).timestamp())
    assert sample(reg, "trailwatchd_objects_processed_total", source="trail", result="verified") == 1
    # 3. A restart: the digest is in the seen-set, not verified (or alerted) again.
    now[0] += timedelta(minutes=2)
    reg = await run_until(lambda r: sample(r, "trailwatchd_s3_list_requests_total", source="trail") >= 8)
    assert sample(reg, "trailwatchd_integrity_digests_total", outcome="verified") == 0
    assert len([al for al in alerts() if al["rule_id"].startswith("trailwatchd.integrity.")]) == 1
