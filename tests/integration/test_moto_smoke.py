"""The moto fixture itself works over real HTTP."""

from __future__ import annotations

from typing import Any


async def test_moto_round_trip(aws_clients: dict[str, Any]) -> None:
    """A queue created through the fixture can send and receive a message over HTTP."""
    sqs = aws_clients["sqs"]
    url = (await sqs.create_queue(QueueName="smoke"))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="hello")
    got = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert [m["Body"] for m in got["Messages"]] == ["hello"]
