"""Classify an SQS message body: every shape CloudTrail files are announced in (aws-formats.md 3).

Pure functions, no I/O. Shapes: S3 event notifications (keys URL-encoded, ``unquote_plus``), the same
wrapped in an SNS envelope (raw delivery off: ``Message`` is a JSON *string*) or not (raw delivery on),
CloudTrail's own ``{"s3Bucket", "s3ObjectKey": [...]}`` notice, EventBridge "... via CloudTrail" events
(the record is ``detail``, evaluated inline, no S3 read), EventBridge S3 "Object Created", and the
``s3:TestEvent`` S3 sends when a notification is configured. Anything else is a typed error so the
message can be left for the DLQ and counted, never silently deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

import msgspec

from trailwatchd.decode import KeyKind, classify_key
from trailwatchd.errors import DecodeError
from trailwatchd.timeutil import parse_iso_time


class NotificationError(DecodeError):
    """The body is not a notification trailwatchd understands."""


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    account: str | None = None
    try_unquoted: bool = False
    """EventBridge does not document whether keys are URL-encoded: retry with unquote_plus on NoSuchKey."""
    created_at: float | None = None
    """When the object was written (S3 ``eventTime``, EventBridge ``time``, SNS ``Timestamp``), if said."""


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str  # "s3" | "cloudtrail" | "eventbridge_cloudtrail" | "eventbridge_s3" | "test"
    objects: tuple[S3Object, ...] = ()
    inline: tuple[bytes, ...] = ()
    skipped_keys: tuple[str, ...] = field(default=())
    """Keys named that are not log files (digests), counted and not read."""


_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return _decode.decode(text)
    except msgspec.DecodeError as exc:
        raise NotificationError("sqs message", f"{what} is not JSON: {exc}") from None


def _split(objects: list[S3Object]) -> tuple[tuple[S3Object, ...], tuple[str, ...]]:
    keep: list[S3Object] = []
    skipped: list[str] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        if (obj.bucket, obj.key) in seen:
            continue  # CloudTrail's SNS notice can list a key twice
        seen.add((obj.bucket, obj.key))
        if classify_key(obj.key).kind in (KeyKind.DIGEST,):
            skipped.append(obj.key)
        else:
            keep.append(obj)
    return tuple(keep), tuple(skipped)


def classify(doc: Any, *, depth: int = 0) -> Notification:
    """Classify an already-parsed body."""
    if not isinstance(doc, dict):
        raise NotificationError("sqs message", "body is JSON but not an object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        if depth > 0:
            raise NotificationError("sqs message", "nested SNS envelopes")
        inner = classify(_loads(doc["Message"], "SNS Message"), depth=depth + 1)
        # CloudTrail's own notice carries no time; the SNS envelope's publish time is the next best.
        published = parse_iso_time(doc.get("Timestamp"))
        dated = tuple(
            o if o.created_at is not None else replace(o, created_at=published) for o in inner.objects
        )
        return replace(inner, objects=dated)
    if "detail-type" in doc:
        detail = doc.get("detail")
        dtype = str(doc.get("detail-type"))
        if dtype.endswith("via CloudTrail") and isinstance(detail, dict):
            return Notification("eventbridge_cloudtrail", inline=(_encode.encode(detail),))
        if dtype == "Object Created" and isinstance(detail, dict):
            bucket = (detail.get("bucket") or {}).get("name")
            obj = detail.get("object") or {}
            if not isinstance(bucket, str) or not isinstance(obj.get("key"), str):
                raise NotificationError("sqs message", "EventBridge Object Created without bucket/key")
            objs, skipped = _split(
                [
                    S3Object(
                        bucket,
                        obj["key"],
                        obj.get("size"),
                        obj.get("etag"),
                        doc.get("account"),
                        try_unquoted=True,
                        created_at=parse_iso_time(doc.get("time")),
                    )
                ]
            )
            return Notification("eventbridge_s3", objs, skipped_keys=skipped)
        raise NotificationError("sqs message", f"unsupported EventBridge detail-type {dtype!r}")
    if doc.get("Event") == "s3:TestEvent":
        return Notification("test")
    records = doc.get("Records")
    if isinstance(records, list) and records and all(isinstance(r, dict) and "s3" in r for r in records):
        objects = []
        for rec in records:
            s3 = rec["s3"]
            bucket = (s3.get("bucket") or {}).get("name")
            obj = s3.get("object") or {}
            if not isinstance(bucket, str) or not isinstance(obj.get("key"), str):
                raise NotificationError("sqs message", "S3 notification without bucket/key")
            owner = ((s3.get("bucket") or {}).get("ownerIdentity") or {}).get("principalId")
            objects.append(
                S3Object(
                    bucket,
                    unquote_plus(obj["key"]),
                    obj.get("size"),
                    obj.get("eTag"),
                    owner if isinstance(owner, str) else None,
                    created_at=parse_iso_time(rec.get("eventTime")),
                )
            )
        objs, skipped = _split(objects)
        return Notification("s3", objs, skipped_keys=skipped)
    if isinstance(doc.get("s3Bucket"), str) and isinstance(doc.get("s3ObjectKey"), list):
        objs, skipped = _split(
            [S3Object(doc["s3Bucket"], k) for k in doc["s3ObjectKey"] if isinstance(k, str)]
        )
        return Notification("cloudtrail", objs, skipped_keys=skipped)
    raise NotificationError("sqs message", "not an S3, SNS, CloudTrail or EventBridge notification")


def parse_sqs_body(body: str) -> Notification:
    """Classify one SQS message body; raises :class:`NotificationError` for anything unknown."""
    return classify(_loads(body, "message body"))
