"""Real AWS APIs over HTTP: one moto server (server mode) per test session on a loopback port.

aiobotocore cannot use moto's in-process decorators, so integration tests talk to
``moto.server.ThreadedMotoServer`` exactly as the daemon talks to AWS. Each test gets a fresh account
state (``/moto-api/reset``) so queues stay small (moto's SQS slows as a queue grows).
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto in server mode on 127.0.0.1 and yield its endpoint URL."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A reset moto endpoint with dummy credentials in the environment."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
async def aws_clients(moto_endpoint: str) -> AsyncIterator[dict[str, Any]]:
    """aiobotocore s3, sqs and sns clients bound to the moto endpoint, for test setup and checks."""
    session = get_session()
    kwargs = {"region_name": REGION, "endpoint_url": moto_endpoint}
    async with (
        session.create_client("s3", **kwargs) as s3,
        session.create_client("sqs", **kwargs) as sqs,
        session.create_client("sns", **kwargs) as sns,
    ):
        yield {"s3": s3, "sqs": sqs, "sns": sns, "endpoint": moto_endpoint, "region": REGION}


async def topic_with_inbox(sqs: Any, sns: Any, name: str) -> tuple[str, str]:
    """An SNS topic ``name`` whose messages land raw in SQS queue ``<name>-inbox``: (topic ARN, inbox URL).

    Tests read what the daemon published from the inbox, as a subscriber would.
    """
    topic = (await sns.create_topic(Name=name))["TopicArn"]
    inbox = (await sqs.create_queue(QueueName=f"{name}-inbox"))["QueueUrl"]
    attrs = await sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    await sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=attrs["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return topic, inbox
