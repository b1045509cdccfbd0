"""``type = "sqs"``: CloudTrail files announced on an SQS queue, deleted only after delivery.

Lifecycle of one message (aws-formats.md 4; user-asks.md 2, 3, 5): receive (long poll, at most
``max_in_flight`` unacknowledged) -> classify the body -> emit one work item -> while it is processed a
heartbeat keeps it invisible -> ``commit`` deletes it (batched, per-entry failures retried) or
``release`` makes it visible again after a backoff (temporary) or leaves it invisible until it times out
so the queue's redrive policy moves it to the DLQ (permanent). A message is never deleted before every
alert from it is delivered, and never deleted because it could not be parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import structlog

from trailwatchd.aws import AwsClients, Backoff, classify_client_error, get_object_bytes
from trailwatchd.config import SqsSourceConfig
from trailwatchd.decode import classify_key
from trailwatchd.errors import PermanentFetchError
from trailwatchd.metrics import Metrics
from trailwatchd.model import ObjectRef
from trailwatchd.sources.base import Emit, WorkItem
from trailwatchd.sources.notifications import NotificationError, parse_sqs_body

log = structlog.get_logger()

MAX_VISIBILITY_SECS = 43_200  # SQS: 12 h from the first receive, extensions included
BATCH = 10  # SQS batch APIs take at most 10 entries


@dataclass
class _Message:
    message_id: str
    receipt: str
    received_at: float
    receive_count: int


class _SqsAck:
    def __init__(self, source: SqsSource, msg: _Message) -> None:
        self.source = source
        self.msg = msg
        self.done = False

    async def commit(self) -> None:
        if not self.done:
            self.done = True
            await self.source.delete(self.msg)

    async def release(self, reason: str, *, permanent: bool) -> None:
        if not self.done:
            self.done = True
            await self.source.release(self.msg, reason, permanent=permanent)


class SqsSource:
    """Consumes one queue; see the module docstring for the acknowledgement rules."""

    def __init__(
        self,
        source_id: str,
        config: SqsSourceConfig,
        clients: AwsClients,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self.id = source_id
        self.config = config
        self.clients = clients
        self.metrics = metrics
        self.clock = clock
        self.backoff = backoff or Backoff(1.0, 60.0)
        self.in_flight: dict[str, _Message] = {}
        self._room = asyncio.Condition()
        self._ready = False
        self._unquote_retry: set[tuple[str, str]] = set()
        self.log = log.bind(source_id=source_id)

    @property
    def ready(self) -> bool:
        return self._ready

    def _count(self, outcome: str, n: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.sqs_messages.labels(self.id, outcome).inc(n)

    # -- receiving ----------------------------------------------------------------------------------
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(stop), name=f"sqs-heartbeat-{self.id}")
        try:
            while not stop.is_set():
                async with self._room:
                    await self._room.wait_for(lambda: len(self.in_flight) < self.config.max_in_flight)
                want = min(self.config.max_messages, self.config.max_in_flight - len(self.in_flight))
                receive = asyncio.create_task(self._receive(want))
                stopping = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receive
                    break
                try:
                    messages = receive.result()
                except Exception as exc:
                    temporary, code = classify_client_error(exc)
                    self.log.error("sqs_receive_failed", error=str(exc), code=code, temporary=temporary)
                    if self.metrics is not None:
                        self.metrics.errors.labels("source", code).inc()
                    await self.backoff.wait()
                    continue
                self.backoff.reset()
                self._ready = True
                for raw in messages:
                    await self._handle(raw, emit)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _receive(self, want: int) -> list[dict[str, Any]]:
        sqs = await self.clients.get("sqs")
        resp = await sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=max(1, want),
            WaitTimeSeconds=self.config.wait_time_secs,
            VisibilityTimeout=self.config.visibility_timeout_secs,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return list(resp.get("Messages", []))

    async def _handle(self, raw: dict[str, Any], emit: Emit) -> None:
        attrs = raw.get("Attributes") or {}
        msg = _Message(
            raw["MessageId"],
            raw["ReceiptHandle"],
            self.clock(),
            int(attrs.get("ApproximateReceiveCount", "1")),
        )
        sent_ms = attrs.get("SentTimestamp")
        sent_at = int(sent_ms) / 1000 if isinstance(sent_ms, str) and sent_ms.isdigit() else None
        self._count("received")
        bound = self.log.bind(message_id=msg.message_id)
        try:
            note = parse_sqs_body(raw.get("Body", ""))
        except NotificationError as err:
            await self._park(msg, err.reason)
            return
        objects: list[ObjectRef] = []
        for obj in note.objects:
            account = classify_key(obj.key).account
            if (self.config.allowed_buckets and obj.bucket not in self.config.allowed_buckets) or (
                self.config.allowed_accounts and account not in self.config.allowed_accounts
            ):
                # A forged notification must not make us read another bucket: leave it for the DLQ.
                self._count("rejected")
                await self._park(msg, f"bucket {obj.bucket!r} / account {account!r} not allowed")
                return
            if obj.try_unquoted:
                self._unquote_retry.add((obj.bucket, obj.key))
            objects.append(
                ObjectRef(
                    self.id,
                    obj.key,
                    bucket=obj.bucket,
                    size=obj.size,
                    etag=obj.etag,
                    last_modified=obj.created_at if obj.created_at is not None else sent_at,
                    expected_bucket_owner=self.config.expected_bucket_owner,
                )
            )
        for i, event in enumerate(note.inline):
            objects.append(ObjectRef(self.id, f"eventbridge/{msg.message_id}/{i}", inline=(event,)))
        if note.skipped_keys:
            bound.info("sqs_keys_skipped", keys=len(note.skipped_keys), reason="digest files")
        self.in_flight[msg.message_id] = msg
        ack = _SqsAck(self, msg)
        if not objects:
            self._count("ignored")
            await ack.commit()  # a test event, or only digest keys: nothing to do
            return
        bound.debug("sqs_message_received", kind=note.kind, objects=len(objects))
        await emit(WorkItem(self.id, tuple(objects), ack, label=msg.message_id))

    # -- acknowledgement ----------------------------------------------------------------------------
    async def _forget(self, msg: _Message) -> None:
        async with self._room:
            self.in_flight.pop(msg.message_id, None)
            self._room.notify_all()

    async def delete(self, msg: _Message) -> None:
        """Delete after success; a failure is retried once and then logged (the message comes back)."""
        sqs = await self.clients.get("sqs")
        try:
            resp = await sqs.delete_message_batch(
                QueueUrl=self.config.queue_url, Entries=[{"Id": "m0", "ReceiptHandle": msg.receipt}]
            )
            if resp.get("Failed"):
                await sqs.delete_message(QueueUrl=self.config.queue_url, ReceiptHandle=msg.receipt)
            self._count("deleted")
            self.log.debug("sqs_message_deleted", message_id=msg.message_id)
        except Exception as exc:
            self.log.error("sqs_message_delete_failed", message_id=msg.message_id, error=str(exc))
            if self.metrics is not None:
                self.metrics.errors.labels("acknowledge", classify_client_error(exc)[1]).inc()
        finally:
            await self._forget(msg)

    async def release(self, msg: _Message, reason: str, *, permanent: bool) -> None:
        """Temporary: visible again after a backoff. Permanent: left to time out into the DLQ."""
        await self._forget(msg)
        if permanent:
            await self._park(msg, reason)
            return
        self._count("released")
        delay = min(900, 10 * 2 ** min(msg.receive_count, 6))
        try:
            sqs = await self.clients.get("sqs")
            await sqs.change_message_visibility(
                QueueUrl=self.config.queue_url, ReceiptHandle=msg.receipt, VisibilityTimeout=delay
            )
        except Exception as exc:
            self.log.warning("sqs_visibility_change_failed", message_id=msg.message_id, error=str(exc))

    async def _park(self, msg: _Message, reason: str) -> None:
        """Never delete: let the message come back soon (growing with its receive count) so the queue's
        redrive policy moves it to the DLQ after maxReceiveCount receives, without a hot loop when no DLQ
        is configured."""
        self._count("left_for_dlq")
        self.log.error(
            "sqs_message_left_for_dlq",
            message_id=msg.message_id,
            reason=reason,
            receive_count=msg.receive_count,
        )
        delay = min(self.config.visibility_timeout_secs, 2 * msg.receive_count)
        try:
            sqs = await self.clients.get("sqs")
            await sqs.change_message_visibility(
                QueueUrl=self.config.queue_url, ReceiptHandle=msg.receipt, VisibilityTimeout=delay
            )
        except Exception as exc:
            self.log.warning("sqs_visibility_change_failed", message_id=msg.message_id, error=str(exc))

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Keep in-flight messages invisible while they are processed (AWS: extend, then extend again)."""
        interval = max(1.0, self.config.visibility_timeout_secs / 2)
        while True:
            await asyncio.sleep(interval)
            msgs = list(self.in_flight.values())
            if not msgs:
                continue
            sqs = await self.clients.get("sqs")
            now = self.clock()
            for start in range(0, len(msgs), BATCH):
                chunk = msgs[start : start + BATCH]
                entries = []
                for i, m in enumerate(chunk):
                    left = MAX_VISIBILITY_SECS - (now - m.received_at) - 5
                    entries.append(
                        {
                            "Id": f"m{i}",
                            "ReceiptHandle": m.receipt,
                            "VisibilityTimeout": int(max(0, min(self.config.visibility_timeout_secs, left))),
                        }
                    )
                try:
                    await sqs.change_message_visibility_batch(QueueUrl=self.config.queue_url, Entries=entries)
                except Exception as exc:
                    self.log.warning("sqs_heartbeat_failed", error=str(exc))

    # -- reading ------------------------------------------------------------------------------------
    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        assert ref.bucket is not None
        s3 = await self.clients.get("s3")
        try:
            return await get_object_bytes(
                s3, ref.bucket, ref.key, max_bytes=max_bytes, expected_bucket_owner=ref.expected_bucket_owner
            )
        except PermanentFetchError as err:
            if (
                err.code == "not_found"
                and (ref.bucket, ref.key) in self._unquote_retry
                and ("%" in ref.key or "+" in ref.key)
            ):
                return await get_object_bytes(
                    s3,
                    ref.bucket,
                    unquote_plus(ref.key),
                    max_bytes=max_bytes,
                    expected_bucket_owner=ref.expected_bucket_owner,
                )
            raise
