"""A storm end to end over real HTTP (moto server): S3 -> SQS -> daemon -> SNS -> SQS subscriber.

10,000 matching events in four CloudTrail files reach the subscriber as max_alerts_per_minute alerts plus
one roll-up counting the rest, and every SQS notification is still deleted only after delivery.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.conftest import topic_with_inbox
from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon

from .test_daemon_sqs import BUCKET, key_for, log_body, queue_count, receive_all, record, s3_notification

pytestmark = pytest.mark.integration

LIMIT = 5
RULES = f"""
[[rule]]
id = "stop-logging"
severity = "critical"
pattern = '{{ $.eventSource = "cloudtrail.amazonaws.com" && $.eventName = "StopLogging" }}'
max_alerts_per_minute = {LIMIT}
except = ['{{ $.sourceIPAddress = "10.*" }}']
"""


async def test_storm_of_10000_events_is_summarised(aws_clients: dict[str, Any], tmp_path: Path) -> None:
    s3, sqs, sns = aws_clients["s3"], aws_clients["sqs"], aws_clients["sns"]
    await s3.create_bucket(Bucket=BUCKET)
    queue = (await sqs.create_queue(QueueName="storm", Attributes={"VisibilityTimeout": "30"}))["QueueUrl"]
    topic, inbox = await topic_with_inbox(sqs, sns, "storm-alerts")
    (tmp_path / "rules.toml").write_text(RULES)
    config = parse_config(
        {
            "daemon": {"metrics_listen": "127.0.0.1:0", "state_path": str(tmp_path / "state.db")},
            "aws": {"region": aws_clients["region"], "endpoint_url": aws_clients["endpoint"]},
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["security"]},
            "sources": {"trail": {"type": "sqs", "queue_url": queue, "wait_time_secs": 1}},
            "sinks": {"security": {"type": "sns", "topic_arn": topic}},
        },
        env={},
    )
    for n in range(4):
        records = [record(f"storm-{n}-{i}") for i in range(2500)]
        records += [{**record(f"vpn-{n}-{i}"), "sourceIPAddress": "10.0.0.9"} for i in range(10)]
        await s3.put_object(Bucket=BUCKET, Key=key_for(n), Body=log_body(*records))
        await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(n))))
    now = [1_800_000_000.0 + 5]  # a controlled processing clock: the whole storm is inside one minute
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False, clock=lambda: now[0])
    task = asyncio.create_task(daemon.run())
    try:
        first = await receive_all(sqs, inbox, want=LIMIT)
        for _ in range(200):
            if await queue_count(sqs, queue) == 0:
                break
            await asyncio.sleep(0.1)
        assert await queue_count(sqs, queue) == 0  # all four files processed and acknowledged
        assert not await receive_all(sqs, inbox, want=1, timeout=1.5)  # nothing beyond the limit yet
        # The next minute: one more file; its object flushes the pending roll-up in its own transaction.
        now[0] += 60
        await s3.put_object(Bucket=BUCKET, Key=key_for(9), Body=log_body(record("after-storm")))
        await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_notification(key_for(9))))
        second = await receive_all(sqs, inbox, want=2)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    alerts = [json.loads(m["Body"]) for m in first + second]
    assert len(alerts) == LIMIT + 2
    rollups = [a for a in alerts if a.get("kind") == "rollup"]
    singles = [a for a in alerts if a.get("kind") != "rollup"]
    assert len(rollups) == 1 and len(singles) == LIMIT + 1
    rollup = rollups[0]
    assert rollup["rollup"]["count"] == 10_000 - LIMIT
    assert rollup["rollup"]["top_principals"] == [
        {"value": "arn:aws:iam::111122223333:user/mallory", "count": 10_000 - LIMIT}
    ]
    assert rollup["summary"].startswith(f"{10_000 - LIMIT} more matches of stop-logging from arn:aws:iam::")
    assert "after-storm" in {a["event_id"] for a in singles}
    assert registry.get_sample_value("trailwatchd_rule_exceptions_total", {"rule": "stop-logging"}) == 40
    assert registry.get_sample_value("trailwatchd_rule_matches_total", {"rule": "stop-logging"}) == 10_041
    assert not await receive_all(sqs, inbox, want=1, timeout=1.5)
