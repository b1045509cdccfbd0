"""``type = "sns"``: one JSON alert per SNS message, published with PublishBatch.

The sink never retries: it reports one result per alert and the pipeline's durable spool retries the
temporary failures with backoff, so a throttled entry does not resend the nine delivered beside it.

AWS facts this module is built around (docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html,
API_Publish.html, dg/sns-message-attributes.html, dg/fifo-message-dedup.html; shared/aws-formats.md §6):

* A message is at most the topic's MaximumMessageSize, 262,144 bytes by default (up to 1 MiB), counted in
  UTF-8 bytes, and message attributes count toward it. A PublishBatch request carries at most 10 entries
  whose combined size (bodies and attributes) is within the same limit.
* Batch entry ids: unique in the request, at most 80 characters of ``[A-Za-z0-9_-]``.
* Subject: "UTF-8 text with no line breaks or control characters, and less than 100 characters"; older
  SDK text asks for ASCII starting with a letter, number or punctuation mark. We satisfy both.
* String attribute values must not be empty and must not contain surrogates (InvalidParameter).
* FIFO topics (``.fifo``) need MessageGroupId (<= 128 characters) and, without content-based dedupe, a
  MessageDeduplicationId (<= 128 characters); SNS drops a repeat id within 5 minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from trailwatchd.aws import THROTTLING, classify_client_error
from trailwatchd.config import SnsSinkConfig
from trailwatchd.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from trailwatchd.model import Alert

log = structlog.get_logger()

MAX_BATCH_ENTRIES = 10
SUBJECT_MAX_CHARS = 99  # "less than 100 characters"
ATTRIBUTE_VALUE_MAX_CHARS = 256  # ours, not AWS's: filter-policy values are short identifiers
BULKY_EVENT_FIELDS = ("requestParameters", "responseElements")
# Per-entry Failed[] codes worth retrying even when SNS marks them SenderFault (KMS throttling included).
TEMPORARY_ENTRY_CODES = THROTTLING | {"Throttled", "KMSThrottling", "KMSThrottlingException"}

ClientFactory = Callable[[], Awaitable[Any]]

_encoder = msgspec.json.Encoder(decimal_format="number")
# XML 1.0 characters (what SNS and SQS accept in attribute values): no C0 controls but tab/CR/LF, no
# surrogates, no U+FFFE/U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GROUP_ID = re.compile(r"[\x21-\x7e]{1,128}")  # alphanumerics and punctuation


@dataclass(frozen=True, slots=True)
class Prepared:
    """One alert rendered as a PublishBatch entry (without its batch-local Id) and its counted size."""

    message: bytes
    subject: str | None
    attributes: dict[str, dict[str, str]]
    size: int
    truncated: bool
    group_id: str | None = None
    dedupe_id: str | None = None


def subject_for(prefix: str, severity: str, title: str) -> str | None:
    """``<prefix>: <severity> <title>`` as printable ASCII on one line, < 100 characters; None if empty.

    Accents are folded (NFKD), anything else outside printable ASCII becomes a space, whitespace runs
    collapse, and an over-long subject ends in ``...``.
    """
    return clean_subject(f"{prefix}: {severity} {title}" if prefix else f"{severity} {title}")


def clean_subject(text: str) -> str | None:
    """``text`` as an SNS Subject: printable ASCII on one line, < 100 characters; None if empty."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^\x21-\x7e]+", " ", folded).strip()
    if len(folded) > SUBJECT_MAX_CHARS:
        folded = folded[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return folded or None


def _attribute_value(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = _NOT_XML_CHAR.sub("\ufffd", value[:ATTRIBUTE_VALUE_MAX_CHARS]).strip()
    return text or None


def message_attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """The String attributes subscribers filter on; empty or absent values are omitted (SNS rejects them)."""
    body = alert.body
    where = body.get("where") if isinstance(body.get("where"), Mapping) else {}
    what = body.get("what") if isinstance(body.get("what"), Mapping) else {}
    assert isinstance(where, Mapping) and isinstance(what, Mapping)
    values = {
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "account": where.get("account"),
        "region": where.get("region"),
        "event_name": what.get("event_name"),
    }
    attributes: dict[str, dict[str, str]] = {}
    for name, raw in values.items():
        value = _attribute_value(raw)
        if value is not None:
            attributes[name] = {"DataType": "String", "StringValue": value}
    return attributes


def attributes_size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    """Bytes the attributes add to a message: name, data type and value, in UTF-8."""
    return sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in attributes.items()
    )


def fit_message(body: Mapping[str, Any], budget: int) -> tuple[bytes, bool] | None:
    """The alert JSON within ``budget`` bytes, and whether the embedded event had to be cut.

    First the whole body; then without the event's requestParameters/responseElements (usually the bulk
    of an oversized record); then with ``event`` replaced by the longest prefix of its JSON text that
    fits, as a string. Both cut forms carry ``"event_truncated": true``. None when even the body without
    its event is over budget.
    """
    data = _encoder.encode(body)
    if len(data) <= budget:
        return data, False
    if "event" not in body:  # include_event = false: nothing to cut
        return None
    event = body["event"]
    if isinstance(event, Mapping):
        slim = {k: v for k, v in event.items() if k not in BULKY_EVENT_FIELDS}
        if len(slim) < len(event):
            data = _encoder.encode({**body, "event": slim, "event_truncated": True})
            if len(data) <= budget:
                return data, True
    text = event if isinstance(event, str) else _encoder.encode(event).decode()
    room = budget - len(_encoder.encode({**body, "event": "", "event_truncated": True}))
    if room < 0:
        return None

    def fits(n: int) -> bool:
        return len(_encoder.encode(text[:n])) - 2 <= room  # minus the quotes already counted

    lo, hi = 0, min(len(text), room)  # each character is at least one byte: n <= room
    while lo < hi:  # the longest fitting prefix; escaping makes a closed form inexact
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return _encoder.encode({**body, "event": text[:lo], "event_truncated": True}), True


def split_batches(
    sizes: Sequence[int], *, max_bytes: int, max_entries: int = MAX_BATCH_ENTRIES
) -> list[list[int]]:
    """Consecutive index groups of at most ``max_entries`` whose sizes sum to at most ``max_bytes``.

    Each size must itself be within ``max_bytes`` (``fit_message`` guarantees it); order is kept so a
    FIFO topic sees alerts in spool order.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if current and (len(current) == max_entries or total + size > max_bytes):
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        batches.append(current)
    return batches


def fifo_ids(rule_id: str, event_id: str) -> tuple[str, str]:
    """MessageGroupId (the rule, so one rule's alerts stay ordered) and a 64-hex MessageDeduplicationId.

    The dedupe id depends only on (rule, event), so a spool retry after a lost response, or the same
    event arriving in two files, is dropped by SNS within its 5-minute window.
    """
    group = rule_id
    if not _GROUP_ID.fullmatch(rule_id):
        group = "rule-" + hashlib.sha256(rule_id.encode()).hexdigest()
    dedupe = hashlib.sha256(f"{rule_id}\x00{event_id}".encode()).hexdigest()
    return group, dedupe


class SnsSink:
    """Publishes alerts to one topic; see the module docstring for the limits it respects."""

    def __init__(self, sink_id: str, config: SnsSinkConfig, client_factory: Any) -> None:
        """``client_factory`` is an aiobotocore SNS client or a zero-argument coroutine returning one."""
        self.id = sink_id
        self.config = config
        self.fifo = config.topic_arn.endswith(".fifo")
        # A FIFO topic must see one batch at a time or its order within a group would race.
        self.concurrency = 1 if self.fifo else config.max_concurrent_batches
        self.batch_limit = 10 * self.concurrency
        if callable(getattr(client_factory, "publish_batch", None)):
            client = client_factory

            async def fixed() -> Any:
                return client

            self._client_factory: ClientFactory = fixed
        else:
            self._client_factory = client_factory

    def prepare(self, alert: Alert) -> Prepared | PermanentDeliveryError:
        """Render one alert as an entry within ``max_message_bytes``, or say why it cannot be sent."""
        body = alert.body
        if not self.config.include_event:
            body = {k: v for k, v in body.items() if k != "event"}
        if alert.subject is not None:  # alarm notifications carry CloudWatch's own Subject
            subject = clean_subject(alert.subject)
        else:
            subject = subject_for(self.config.subject_prefix, alert.severity, alert.title)
        attributes = message_attributes(alert)
        # Subject is not documented to count toward the limit; counting it anyway keeps us safe.
        overhead = attributes_size(attributes) + len((subject or "").encode())
        try:
            fitted = fit_message(body, self.config.max_message_bytes - overhead)
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            return PermanentDeliveryError(self.id, f"alert is not JSON-encodable: {exc}", code="unencodable")
        if fitted is None:
            return PermanentDeliveryError(
                self.id,
                f"alert exceeds max_message_bytes={self.config.max_message_bytes} even without its event",
                code="message_too_large",
            )
        message, truncated = fitted
        group_id, dedupe_id = fifo_ids(alert.rule_id, alert.event_id) if self.fifo else (None, None)
        return Prepared(
            message=message,
            subject=subject,
            attributes=attributes,
            size=len(message) + overhead,
            truncated=truncated,
            group_id=group_id,
            dedupe_id=dedupe_id,
        )

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        """Publish in batches; one result per alert (None = accepted by SNS)."""
        results: list[DeliveryError | None] = [None] * len(alerts)
        ready: list[tuple[int, Prepared]] = []
        for index, alert in enumerate(alerts):
            prepared = self.prepare(alert)
            if isinstance(prepared, DeliveryError):
                results[index] = prepared
                continue
            if prepared.truncated:
                log.info(
                    "alert_event_truncated",
                    sink_id=self.id,
                    rule_id=alert.rule_id,
                    event_id=alert.event_id,
                    max_message_bytes=self.config.max_message_bytes,
                )
            ready.append((index, prepared))
        groups = split_batches([p.size for _, p in ready], max_bytes=self.config.max_message_bytes)
        if self.concurrency == 1:
            for group in groups:
                await self._publish([ready[i] for i in group], results)
            return results
        # Round trips dominate PublishBatch (about 20-40 ms each); overlapping a few of them multiplies
        # throughput without reordering anything a standard topic promises to keep in order.
        limit = asyncio.Semaphore(self.concurrency)

        async def one(group: list[int]) -> None:
            async with limit:
                await self._publish([ready[i] for i in group], results)

        await asyncio.gather(*(one(group) for group in groups))
        return results

    def _entry(self, index: int, prepared: Prepared) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": f"m{index}", "Message": prepared.message.decode()}
        if prepared.subject:
            entry["Subject"] = prepared.subject
        if prepared.attributes:
            entry["MessageAttributes"] = prepared.attributes
        if prepared.group_id is not None:
            entry["MessageGroupId"] = prepared.group_id
            entry["MessageDeduplicationId"] = prepared.dedupe_id
        return entry

    async def _publish(self, batch: list[tuple[int, Prepared]], results: list[DeliveryError | None]) -> None:
        # Only AWS trouble becomes a delivery error (aiobotocore wraps aiohttp's errors in BotoCoreError);
        # anything else is a bug and propagates.
        try:
            client = await self._client_factory()
            response = await client.publish_batch(
                TopicArn=self.config.topic_arn,
                PublishBatchRequestEntries=[self._entry(i, p) for i, p in batch],
            )
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            temporary, code = classify_client_error(exc)
            kind = TemporaryDeliveryError if temporary else PermanentDeliveryError
            error = kind(self.id, f"PublishBatch to {self.config.topic_arn} failed: {exc}", code=code)
            for index, _ in batch:
                results[index] = error
            return
        published = {e.get("Id") for e in response.get("Successful") or ()}
        failed = {e.get("Id"): e for e in response.get("Failed") or ()}
        for index, _ in batch:
            entry_id = f"m{index}"
            if entry_id in failed:
                results[index] = self._entry_error(failed[entry_id])
            elif entry_id not in published:
                results[index] = TemporaryDeliveryError(
                    self.id, "PublishBatch response did not mention this entry", code="no_result"
                )
        log.debug("alert_batch_published", sink_id=self.id, entries=len(batch), failed=len(failed))

    def _entry_error(self, failure: Mapping[str, Any]) -> DeliveryError:
        """A Failed[] entry: SenderFault means the request was wrong (permanent) unless it is throttling."""
        code = str(failure.get("Code") or "error")
        reason = f"SNS rejected the message: {code}: {failure.get('Message') or ''}".rstrip(": ")
        if failure.get("SenderFault") and code not in TEMPORARY_ENTRY_CODES:
            return PermanentDeliveryError(self.id, reason, code=code)
        return TemporaryDeliveryError(self.id, reason, code=code)

    async def close(self) -> None:
        """Nothing to flush: the client belongs to ``AwsClients`` and is closed there."""
