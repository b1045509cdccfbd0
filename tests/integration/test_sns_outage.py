"""SNS goes down for longer than the SQS visibility timeout, then recovers: nothing lost, nothing twice.

moto cannot make SNS fail for a while, so the daemon talks to moto through a small HTTP proxy on loopback
that answers SNS's PublishBatch with 503 ServiceUnavailable (SNS's query-protocol XML error) while the
outage lasts and forwards everything else. The daemon, botocore's own retries, the spool's backoff and the
SQS visibility heartbeat all run for real over HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.integration.conftest import topic_with_inbox
from tests.integration.test_daemon_sqs import (
    BUCKET,
    RULES,
    key_for,
    log_body,
    queue_count,
    receive_all,
    record,
)
from trailwatchd.config import parse_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

SNS_DOWN = (
    b'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type>'
    b"<Code>ServiceUnavailable</Code><Message>injected outage</Message></Error>"
    b"<RequestId>outage</RequestId></ErrorResponse>"
)


class FlakyProxy:
    """Forwards every request to moto, except SNS publishes while ``down`` is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.down = False
        self.refused = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.down and b"Action=Publish" in body:
            self.refused += 1
            return web.Response(status=503, body=SNS_DOWN, content_type="text/xml")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            payload = await upstream.read()
            skip = ("content-length", "transfer-encoding", "connection", "content-encoding")
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in skip}
            if "content-encoding" in upstream.headers:
                out["Content-Encoding"] = upstream.headers["content-encoding"]
            return web.Response(status=upstream.status, body=payload, headers=out)


@pytest.fixture
async def proxy(moto_endpoint: str) -> AsyncIterator[FlakyProxy]:
    flaky = FlakyProxy(moto_endpoint)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", flaky.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    flaky.url = f"http://127.0.0.1:{port}"
    try:
        yield flaky
    finally:
        await runner.cleanup()


async def test_sns_outage_longer_than_visibility_keeps_the_message_and_alerts_once(
    aws_clients: dict[str, Any], proxy: FlakyProxy, tmp_path: Path
) -> None:
    s3, sqs, sns = aws_clients["s3"], aws_clients["sqs"], aws_clients["sns"]
    await s3.create_bucket(Bucket=BUCKET)
    queue = (await sqs.create_queue(QueueName="trail", Attributes={"VisibilityTimeout": "10"}))["QueueUrl"]
    topic, inbox = await topic_with_inbox(sqs, sns, "alerts")
    (tmp_path / "rules.toml").write_text(RULES)
    config = parse_config(
        {
            "daemon": {
                "metrics_listen": "127.0.0.1:0",
                "state_path": str(tmp_path / "state.db"),
                "graceful_shutdown_secs": 5,
            },
            "aws": {"region": aws_clients["region"], "endpoint_url": proxy.url},
            "rules": {"paths": [str(tmp_path / "rules.toml")], "default_sinks": ["security"]},
            "sources": {
                "trail": {
                    "type": "sqs",
                    "queue_url": queue,
                    "wait_time_secs": 1,
                    "visibility_timeout_secs": 10,
                }
            },
            "sinks": {"security": {"type": "sns", "topic_arn": topic}},
        },
        env={},
    )
    await s3.put_object(Bucket=BUCKET, Key=key_for(0), Body=log_body(record("evt-outage")))
    body = {"s3Bucket": BUCKET, "s3ObjectKey": [key_for(0)]}
    await sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))

    proxy.down = True
    registry = CollectorRegistry()
    daemon = Daemon(config, registry=registry, handle_signals=False)
    task = asyncio.create_task(daemon.run())

    def sample(name: str, labels: dict[str, str]) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    try:
        # 14 s of outage is longer than the 10 s visibility timeout: only the heartbeat keeps the message
        # from being handed out again. Every second, it must be in flight, never visible.
        for _ in range(14):
            await asyncio.sleep(1)
            attrs = (
                await sqs.get_queue_attributes(
                    QueueUrl=queue,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )
            )["Attributes"]
            if sample("trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "received"}) >= 1:
                in_flight = {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}
                assert attrs == in_flight
        assert proxy.refused >= 1
        assert sample("trailwatchd_alerts_total", {"sink": "security", "outcome": "retried"}) >= 1
        assert sample("trailwatchd_alerts_total", {"sink": "security", "outcome": "published"}) == 0
        assert not await receive_all(sqs, inbox, want=1, timeout=1)

        proxy.down = False  # SNS recovers: the spooled alert goes out on its next retry
        got = await receive_all(sqs, inbox, want=1, timeout=40)
        assert [json.loads(m["Body"])["event_id"] for m in got] == ["evt-outage"]
        for _ in range(100):
            if await queue_count(sqs, queue) == 0:
                break
            await asyncio.sleep(0.1)
        assert await queue_count(sqs, queue) == 0
        assert sample("trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "received"}) == 1
        assert sample("trailwatchd_sqs_messages_total", {"source": "trail", "outcome": "deleted"}) == 1
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
    assert not await receive_all(sqs, inbox, want=1, timeout=1.5)  # and nothing twice
