"""The streaming splitter: exact records for any content and chunking, with bounded memory."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from decimal import Decimal
from typing import Any
from unittest import mock

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailwatchd import decode
from trailwatchd.decode import DecodeLimits, DecodeStats, RecordDecoder, iter_records
from trailwatchd.patterns import parse_selector

ENCODE = msgspec.json.Encoder(decimal_format="number").encode

NASTY = st.sampled_from(
    [
        '},{"eventVersion"',
        '},{"eventVersion":"1.08"}',
        "}, {",
        '"',
        "\\",
        "\n",
        "é",
        "\u2603",
        "]}",
        '{"Records":[',
    ]
)
TEXT = st.lists(NASTY | st.text(max_size=5), max_size=4).map("".join)
KEYS = st.sampled_from(["eventVersion", "eventName", "a", "b", "Records", ""]) | st.text(max_size=3)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False) | TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3),
    max_leaves=15,
)
BODY = st.dictionaries(KEYS, VALUES, max_size=5)
AWS_RECORD = st.builds(lambda version, body: {"eventVersion": version, **body}, TEXT, BODY)
RECORD = AWS_RECORD | AWS_RECORD | AWS_RECORD | BODY  # mostly CloudTrail's key order, some not
SELECTORS = [parse_selector(s) for s in ("$.eventVersion", "$.a.b", "$.b[0]", "$.a.*", "$.Records[*].a")]


def aws_text(records: list[dict[str, Any]]) -> bytes:
    return b'{"Records":[' + b",".join(ENCODE(r) for r in records) + b"]}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(RECORD, max_size=8),
    gz=st.booleans(),
    step=st.integers(min_value=1, max_value=300),
    read=st.integers(min_value=1, max_value=64),
    sniff=st.integers(min_value=1, max_value=200),
)
def test_any_records_any_chunking_split_exactly(
    records: list[dict[str, Any]], gz: bool, step: int, read: int, sniff: int
) -> None:
    """Generated records (nested eventVersion keys, separators in strings, other key orders) split exactly
    into the bytes they were written as, however the stream is chunked."""
    text = aws_text(records)
    data = gzip.compress(text) if gz else text
    decoder = RecordDecoder(SELECTORS)
    with (
        mock.patch.object(decode, "INFLATE_STEP", step),
        mock.patch.object(decode, "READ_BYTES", read),
        mock.patch.object(decode, "SNIFF_BYTES", sniff),
    ):
        out = list(iter_records(data, name="gen", decoder=decoder))
    assert [raw for _, raw in out] == [ENCODE(r) for r in records]
    assert [event for event, _ in out] == [decoder.project(ENCODE(r)) for r in records]


@settings(max_examples=100, deadline=None)
@given(records=st.lists(AWS_RECORD, min_size=1, max_size=6), indent=st.sampled_from([None, 1, 4]))
def test_pretty_and_array_layouts_match_the_records(
    records: list[dict[str, Any]], indent: int | None
) -> None:
    """Pretty-printed CloudTrail files and JSON arrays give every record, each raw slice decoding to it."""
    decoder = RecordDecoder(None)
    for doc in ({"Records": records}, records):
        text = json.dumps(doc, indent=indent, default=str, ensure_ascii=False).encode()
        want = json.loads(text, parse_float=Decimal)
        want = want["Records"] if isinstance(want, dict) else want
        out = list(iter_records(text, name="pretty", decoder=decoder))
        assert [event for event, _ in out] == want
        assert [json.loads(raw, parse_float=Decimal) for _, raw in out] == want


def _big_stream(records: int) -> bytes:
    """A gzip CloudTrail file of ``records`` distinct ~1.5 KB records, built fast by templating."""
    template = ENCODE(
        {
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/s"},
            "eventTime": "2024-05-01T00:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "requestParameters": {
                "filterSet": {"items": [{"name": "tag:Name", "valueSet": {"items": [{"value": "x" * 900}]}}]}
            },
            "eventID": "EVENTID",
        }
    )
    body = b",".join(template.replace(b"EVENTID", b"%012d" % i) for i in range(records))
    return gzip.compress(b'{"Records":[' + body + b"]}", 1)


def test_memory_stays_bounded_while_streaming() -> None:
    """Decoding a ~25 MB inflated file never holds more than a few MiB (the 50 MB figure is in bench/)."""
    data = _big_stream(20_000)
    decoder = RecordDecoder([parse_selector("$.userIdentity.type")])
    stats = DecodeStats()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        count = sum(1 for _ in iter_records(data, name="big", decoder=decoder, stats=stats))
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert count == stats.records == 20_000
    assert stats.bytes_decompressed > 20 * 2**20
    assert peak < 3 * 2**20, f"peak {peak} bytes above baseline"


def test_consumer_may_stop_early() -> None:
    """Abandoning the iterator half way leaves consistent counters (what was yielded is counted)."""
    stats = DecodeStats()
    iterator = iter_records(_big_stream(500), name="x", decoder=RecordDecoder([]), stats=stats)
    taken = [next(iterator) for _ in range(10)]
    iterator.close()  # type: ignore[attr-defined]
    assert len(taken) == 10 and stats.objects == 0
    assert 10 <= stats.records <= 500


def test_limits_apply_on_the_streaming_path() -> None:
    """max_event_bytes counts skipped records while streaming, and the counters add up."""
    data = _big_stream(100)
    stats = DecodeStats()
    out = list(
        iter_records(
            data, name="x", decoder=RecordDecoder([]), limits=DecodeLimits(max_event_bytes=100), stats=stats
        )
    )
    assert out == [] and (stats.records, stats.skipped_oversize, stats.objects) == (0, 100, 1)
