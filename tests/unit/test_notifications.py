"""SQS message bodies from AWS's documented examples (shared corpus envelopes) classified into objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailwatchd.sources.notifications import NotificationError, parse_sqs_body
from trailwatchd.timeutil import parse_iso_time


def envelope(corpus_dir: Path, name: str) -> str:
    return (corpus_dir / "envelopes" / name).read_text()


def test_s3_event_names_the_object_and_when_it_was_written(corpus_dir: Path) -> None:
    note = parse_sqs_body(envelope(corpus_dir, "s3-notification_ObjectCreated-Put.json"))
    assert note.kind == "s3"
    [obj] = note.objects
    assert (obj.bucket, obj.key, obj.size) == ("mybucket", "HappyFace.jpg", 1024)
    assert obj.created_at == 0.0  # AWS's example says 1970-01-01T00:00:00.000Z


def test_eventbridge_object_created_takes_the_event_time(corpus_dir: Path) -> None:
    note = parse_sqs_body(envelope(corpus_dir, "eventbridge_s3-Object-Created.json"))
    [obj] = note.objects
    assert (obj.bucket, obj.key) == ("DOC-EXAMPLE-BUCKET1", "example-key")
    assert obj.etag == "b1946ac92492d2347c6235b4d2611184"
    assert obj.created_at == parse_iso_time("2021-11-12T00:00:00Z")


def test_cloudtrail_notice_through_sns_takes_the_envelope_timestamp(corpus_dir: Path) -> None:
    """CloudTrail's notice has no time of its own; the SNS envelope's Timestamp stands in for it."""
    outer = json.loads(envelope(corpus_dir, "sns-to-sqs_body_raw-delivery-disabled.json"))
    outer["Message"] = envelope(corpus_dir, "cloudtrail-sns-notification_Message_1.json")
    note = parse_sqs_body(json.dumps(outer))
    assert note.kind == "cloudtrail"
    [obj] = note.objects
    assert obj.bucket == "your-bucket-name" and obj.key.endswith("_LnPgDQnpkSKEsppV.json.gz")
    assert obj.created_at == pytest.approx(parse_iso_time("2021-02-16T21:41:19.978Z"))


def test_raw_cloudtrail_notice_has_no_time(corpus_dir: Path) -> None:
    """Raw delivery loses the envelope: the SQS source then falls back to the message's SentTimestamp."""
    [obj] = parse_sqs_body(envelope(corpus_dir, "cloudtrail-sns-notification_Message_1.json")).objects
    assert obj.created_at is None


def test_s3_event_inside_sns_keeps_its_own_time(corpus_dir: Path) -> None:
    outer = json.loads(envelope(corpus_dir, "sns-to-sqs_body_raw-delivery-disabled.json"))
    outer["Message"] = envelope(corpus_dir, "s3-notification_ObjectCreated-Put.json")
    [obj] = parse_sqs_body(json.dumps(outer)).objects
    assert obj.created_at == 0.0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "not JSON"),
        ("[1]", "not an object"),
        ('{"hello": 1}', "not an S3, SNS, CloudTrail or EventBridge notification"),
    ],
)
def test_unknown_bodies_are_errors_that_say_why(body: str, fragment: str) -> None:
    with pytest.raises(NotificationError, match=fragment):
        parse_sqs_body(body)
