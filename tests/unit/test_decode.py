"""Decoding objects into records: input shapes, limits, malformed input and key classification."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trailwatchd import decode
from trailwatchd.decode import (
    DecodeLimits,
    DecodeStats,
    KeyInfo,
    KeyKind,
    RecordDecoder,
    classify_key,
    iter_event_file,
    iter_records,
    load_events,
)
from trailwatchd.errors import DecodeError
from trailwatchd.patterns import Prop


def record(i: int, **extra: Any) -> dict[str, Any]:
    """A small CloudTrail-shaped record, ``eventVersion`` first as AWS writes it."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "userName": f"user{i}"},
        "eventTime": f"2024-05-01T00:00:{i % 60:02d}Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser" if i % 2 else "ListUsers",
        "eventID": f"id-{i}",
        **extra,
    }


def compact(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()


def aws_file(records: list[dict[str, Any]], *, gz: bool = True) -> bytes:
    """A log file as CloudTrail writes it: compact ``{"Records":[...]}``, gzip."""
    text = b'{"Records":[' + b",".join(compact(r) for r in records) + b"]}"
    return gzip.compress(text) if gz else text


def decode_all(data: bytes | io.BytesIO, **kwargs: Any) -> list[tuple[dict[str, Any], bytes]]:
    kwargs.setdefault("decoder", RecordDecoder(None))
    return list(iter_records(data, name="obj", **kwargs))


RECORDS = [record(i) for i in range(5)]


# -- input shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("aws gzip", aws_file(RECORDS)),
        ("aws plain", aws_file(RECORDS, gz=False)),
        ("pretty Records", json.dumps({"Records": RECORDS}, indent=2).encode()),
        ("compact array", b"[" + b",".join(compact(r) for r in RECORDS) + b"]"),
        ("pretty array", gzip.compress(json.dumps(RECORDS, indent=4).encode())),
        ("JSON Lines", b"\n".join(compact(r) for r in RECORDS) + b"\n"),
        ("JSON Lines CRLF", b"\r\n".join(compact(r) for r in RECORDS)),
        ("BOM", b"\xef\xbb\xbf" + aws_file(RECORDS, gz=False)),
        ("keys reordered", json.dumps({"Records": [dict(reversed(r.items())) for r in RECORDS]}).encode()),
        ("spaced separators", b'{"Records": [' + b", ".join(compact(r) for r in RECORDS) + b"]}"),
        ("one record per line", b'{"Records":[\n' + b",\n".join(compact(r) for r in RECORDS) + b"\n]}\n"),
    ],
)
def test_every_input_shape_yields_the_same_records(label: str, data: bytes) -> None:
    """CloudTrail files, arrays, JSON Lines, gzip or not, pretty or compact all give the same records."""
    events = [event for event, _ in decode_all(data)]
    assert events == RECORDS, label


@pytest.mark.parametrize("pretty", [False, True])
def test_single_event_object(pretty: bool) -> None:
    """One event object (compact or pretty) is one record."""
    text = json.dumps(RECORDS[0], indent=2 if pretty else None).encode()
    assert [e for e, _ in decode_all(text)] == [RECORDS[0]]


def test_raw_bytes_are_the_records_as_stored() -> None:
    """The raw half of each pair is exactly the record's JSON as it sits in the file."""
    raws = [raw for _, raw in decode_all(aws_file(RECORDS))]
    assert raws == [compact(r) for r in RECORDS]


def test_gzip_is_detected_by_magic_not_by_name(tmp_path: Path) -> None:
    """A gzip file named .json and a plain file named .json.gz both decode."""
    (tmp_path / "a.json").write_bytes(aws_file(RECORDS))
    (tmp_path / "b.json.gz").write_bytes(aws_file(RECORDS, gz=False))
    dec = RecordDecoder(None)
    for name in ("a.json", "b.json.gz"):
        assert [e for e, _ in iter_event_file(tmp_path / name, decoder=dec)] == RECORDS


def test_file_and_stream_inputs_match_bytes(tmp_path: Path) -> None:
    """Bytes, a binary stream and a path give the same records and the same statistics."""
    data = aws_file(RECORDS)
    path = tmp_path / "x.json.gz"
    path.write_bytes(data)
    dec = RecordDecoder([(Prop("eventName"),)])
    results = []
    for source in (data, io.BytesIO(data), path):
        stats = DecodeStats()
        if isinstance(source, Path):
            out = list(iter_event_file(source, decoder=dec, stats=stats))
        else:
            out = list(iter_records(source, name="x", decoder=dec, stats=stats))
        results.append((out, stats))
    assert results[0] == results[1] == results[2]
    assert results[0][1] == DecodeStats(1, 5, len(data), len(gzip.decompress(data)), 0)


@pytest.mark.parametrize("read", [1, 3, 64, 256 * 1024])
def test_concatenated_gzip_members_are_one_file(monkeypatch: pytest.MonkeyPatch, read: int) -> None:
    """gzip allows several members back to back; their contents are concatenated, however it is read."""
    monkeypatch.setattr(decode, "READ_BYTES", read)
    text = aws_file(RECORDS, gz=False)
    data = gzip.compress(text[:40]) + gzip.compress(text[40:]) + b"\0" * 8  # zero padding is tolerated
    assert [e for e, _ in decode_all(data)] == RECORDS


def test_empty_records_array() -> None:
    """``{"Records":[]}`` is a valid file with no records."""
    stats = DecodeStats()
    assert decode_all(gzip.compress(b'{"Records":[]}'), stats=stats) == []
    assert (stats.objects, stats.records) == (1, 0)


def test_full_decode_value_types() -> None:
    """Integers stay int, other numbers become Decimal with their lexeme, literals map to Python."""
    text = (
        b'{"Records":[{"eventVersion":"1.08","a":1,"b":1.50,"c":-2e3,"d":true,"e":null,'
        b'"f":12345678901234567890123}]}'
    )
    (event,) = load_events(text, "x")
    assert event == {
        "eventVersion": "1.08",
        "a": 1,
        "b": Decimal("1.50"),
        "c": Decimal("-2e3"),
        "d": True,
        "e": None,
        "f": 12345678901234567890123,
    }
    assert str(event["b"]) == "1.50" and isinstance(event["a"], int)


# -- records that try to fool the splitter ----------------------------------------------------------


TRICKY = [
    record(0, errorMessage='x"},{"eventVersion":"1.0"} and \\ more'),
    record(1, requestParameters={"items": [{"eventVersion": "nested"}, {"eventVersion": "again"}]}),
    record(2, note='},{"eventVersion"', uni="ümlaut \u2603 \\u00e9"),
    {"eventTime": "2024-05-01T00:00:00Z", "eventName": "NoVersionFirst", "eventVersion": "1.0"},
    {"eventName": "NoVersionAtAll"},
    record(5, deep=[[{"eventVersion": {"eventVersion": [{}]}}]]),
]


@pytest.mark.parametrize("gz", [True, False])
def test_tricky_records_split_exactly(gz: bool) -> None:
    """Nested eventVersion keys, separators inside strings and records in other key orders split exactly."""
    out = decode_all(aws_file(TRICKY, gz=gz))
    assert [e for e, _ in out] == TRICKY
    assert [raw for _, raw in out] == [compact(r) for r in TRICKY]


def test_tricky_records_survive_tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Separators straddling every possible chunk edge still split exactly."""
    monkeypatch.setattr(decode, "INFLATE_STEP", 7)
    monkeypatch.setattr(decode, "READ_BYTES", 5)
    monkeypatch.setattr(decode, "SNIFF_BYTES", 16)
    data = aws_file(TRICKY * 3)
    assert [raw for _, raw in decode_all(data)] == [compact(r) for r in TRICKY * 3]
    assert [raw for _, raw in decode_all(aws_file(TRICKY * 3, gz=False))] == [compact(r) for r in TRICKY * 3]


def test_loose_layout_after_compact_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose separators gain whitespace after the first records is still split."""
    monkeypatch.setattr(decode, "SNIFF_BYTES", 64)
    head = b",".join(compact(r) for r in RECORDS)
    tail = b" ,\n ".join(compact(record(i, pad="p" * 300)) for i in range(5, 10))
    out = decode_all(b'{"Records":[' + head + b" , " + tail + b"]}")
    assert [e["eventID"] for e, _ in out] == [f"id-{i}" for i in range(10)]


# -- limits -----------------------------------------------------------------------------------------


def test_oversize_records_are_skipped_and_counted() -> None:
    """A record over max_event_bytes (measured as stored) is skipped and counted; one at the limit is kept."""
    small = record(1)
    base = len(compact(record(0, pad="")))
    at_limit = record(0, pad="a" * (1000 - base))
    over = record(2, pad="b" * (1001 - base))
    assert len(compact(at_limit)) == 1000 and len(compact(over)) == 1001
    limits = DecodeLimits(max_event_bytes=1000)
    for data in (
        aws_file([at_limit, over, small]),
        b"\n".join(compact(r) for r in [at_limit, over, small]),
        json.dumps([at_limit, over, small], separators=(",", ":")).encode(),
    ):
        stats = DecodeStats()
        out = decode_all(data, limits=limits, stats=stats)
        assert [e["eventID"] for e, _ in out] == ["id-0", "id-1"]
        assert (stats.records, stats.skipped_oversize) == (2, 1)


def test_gzip_bomb_is_refused_early() -> None:
    """Inflating past max_decompressed_bytes stops with a clear error instead of inflating on."""
    bomb = gzip.compress(b'{"Records":[' + b" " * (20 * 1024 * 1024) + b"]}", 9)
    stats = DecodeStats()
    with pytest.raises(DecodeError, match="max_decompressed_bytes") as info:
        decode_all(bomb, limits=DecodeLimits(max_decompressed_bytes=1024 * 1024), stats=stats)
    assert info.value.name == "obj"
    assert stats.bytes_decompressed <= 1024 * 1024 + decode.INFLATE_STEP


def test_general_path_is_capped() -> None:
    """A file outside CloudTrail's layout larger than max_document_bytes is refused, not loaded."""
    data = json.dumps(
        RECORDS * 50, indent=2, sort_keys=True
    ).encode()  # eventID first: not CloudTrail's layout
    with pytest.raises(DecodeError, match="max_document_bytes"):
        decode_all(data, limits=DecodeLimits(max_document_bytes=10_000))


def test_unterminated_record_buffering_is_capped() -> None:
    """A record whose end never comes is not buffered beyond max_record_scan_bytes."""
    data = b'{"Records":[{"eventVersion":"1","x":"' + b"a" * 200_000
    with pytest.raises(DecodeError, match="max_record_scan_bytes"):
        decode_all(data, limits=DecodeLimits(max_record_scan_bytes=50_000))


@pytest.mark.parametrize("field", ["max_event_bytes", "max_decompressed_bytes", "max_document_bytes"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_limits_must_be_positive_integers(field: str, value: Any) -> None:
    """Nonsensical limits are rejected when built, not discovered mid-file."""
    with pytest.raises(ValueError, match=field):
        DecodeLimits(**{field: value})


def test_stats_add() -> None:
    """Merging statistics adds every counter."""
    total = DecodeStats(1, 2, 3, 4, 5)
    total.add(DecodeStats(10, 20, 30, 40, 50))
    assert total == DecodeStats(11, 22, 33, 44, 55)


# -- malformed input --------------------------------------------------------------------------------


GOOD = aws_file(RECORDS, gz=False)
BAD_CRC = bytearray(gzip.compress(GOOD))
BAD_CRC[-6] ^= 0xFF

MALFORMED = [
    ("empty", b"", "empty object"),
    ("whitespace", b" \n\t ", "no JSON"),
    ("empty gzip", gzip.compress(b""), "no JSON"),
    ("truncated gzip", gzip.compress(GOOD)[:-12], "truncated gzip"),
    ("gzip cut in the header", gzip.compress(GOOD)[:5], "truncated gzip"),
    ("bad crc", bytes(BAD_CRC), "corrupt gzip"),
    ("garbage after gzip", gzip.compress(GOOD) + b"garbage", "after the end of the gzip"),
    ("not JSON", b"hello world", "not JSON"),
    ("binary", b"\x00\x01\x02\x03", "not JSON"),
    ("truncated plain", GOOD[:-30], "not closed"),
    ("unclosed Records", GOOD[:-2], "not closed"),
    ("invalid literal mid-file", GOOD.replace(b'"ListUsers"', b"tru", 1), "invalid JSON near byte"),
    ("trailing comma", GOOD[:-2] + b",]}", "invalid JSON"),
    ("Records not a list", b'{"Records": {"a": 1}}', '"Records" is not an array'),
    ("record not an object", b'{"Records": [1, 2]}', "record 1 is not a JSON object"),
    ("array of strings", b'["a"]', "not a JSON object"),
    ("not UTF-8 in a skipped field", GOOD.replace(b"user3", b"us\xffr3"), "not UTF-8"),
    ("not UTF-8 at the end", GOOD[:-2] + b"\xc3", "not UTF-8"),
    ("UTF-16", json.dumps({"Records": RECORDS}).encode("utf-16"), "not UTF-8"),
    ("NaN", b'{"Records":[{"eventVersion":"1","x":NaN}]}', "invalid JSON"),
    (
        "digest file",
        json.dumps(
            {
                "awsAccountId": "1",
                "digestStartTime": "t",
                "digestEndTime": "t",
                "digestPublicKeyFingerprint": "f",
                "logFiles": [],
            }
        ).encode(),
        "digest file",
    ),
    ("bad JSON line", b'{"a": 1}\n{"a": 2\n{"a": 3}\n', "line 2"),
    ("single object truncated", b'{\n  "eventName": "x",\n', "invalid JSON"),
]


@pytest.mark.parametrize(("label", "data", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_raises_decode_error(label: str, data: bytes, reason: str) -> None:
    """Every kind of broken object raises DecodeError naming the object and an actionable reason."""
    with pytest.raises(DecodeError) as info:
        decode_all(data)
    assert info.value.name == "obj"
    assert reason in info.value.reason, (label, info.value.reason)


@pytest.mark.parametrize("gz", [False, True])
def test_syntax_error_offset_points_at_the_error(gz: bool) -> None:
    """The reported offset is in the inflated object, near the bad byte, so an operator can find it."""
    text = GOOD.replace(b'"ListUsers"', b"tru", 1)
    with pytest.raises(DecodeError, match=r"near byte (\d+)") as info:
        decode_all(gzip.compress(text) if gz else text)
    where = int(info.value.reason.split("near byte ")[1].split(":")[0])
    assert 0 <= where - text.index(b"tru") <= 4


def test_failed_object_is_not_counted_as_decoded() -> None:
    """An object that fails half way does not count in ``objects`` (records before the error do)."""
    stats = DecodeStats()
    with pytest.raises(DecodeError):
        decode_all(GOOD[:-2], stats=stats)
    assert (stats.objects, stats.records) == (0, 4)


# -- key classification -----------------------------------------------------------------------------

LOG = (
    "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/"
    "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz"
)
ORG = (
    "o-fxozgwu6rc/AWSLogs/o-fxozgwu6rc/123456789016/CloudTrail/ca-central-1/2020/08/30/"
    "123456789016_CloudTrail_ca-central-1_20200830T0115Z_3YQJxwt5qUaOzMtL.json.gz"
)
INSIGHT = (
    "AWSLogs/o-fxozgwu6rc/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/"
    "123456789015_CloudTrail-Insight_ca-central-1_20200923T0516Z_KL5e9VCV2SS7IqzB.json.gz"
)
DIGEST = (
    "logs/AWSLogs/123456789016/CloudTrail-Digest/ca-central-1/2020/08/30/"
    "123456789016_CloudTrail-Digest_ca-central-1_PBMMAccel-Org-Trail_ca-central-1_20200830T190938Z.json.gz"
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (LOG, KeyInfo(KeyKind.LOG, "111122223333", "us-east-2", None, at(2015, 8, 1, 2, 10))),
        ("my/prefix/" + LOG, KeyInfo(KeyKind.LOG, "111122223333", "us-east-2", None, at(2015, 8, 1, 2, 10))),
        (ORG, KeyInfo(KeyKind.LOG, "123456789016", "ca-central-1", "o-fxozgwu6rc", at(2020, 8, 30, 1, 15))),
        (
            INSIGHT,
            KeyInfo(KeyKind.INSIGHT, "123456789015", "ca-central-1", "o-fxozgwu6rc", at(2020, 9, 23, 5, 16)),
        ),
        (
            DIGEST,
            KeyInfo(
                KeyKind.DIGEST,
                "123456789016",
                "ca-central-1",
                None,
                at(2020, 8, 30, 19, 9, 38),
                trail_name="PBMMAccel-Org-Trail",
                home_region="ca-central-1",
            ),
        ),
        (
            DIGEST.replace("Z.json.gz", "Z_backfill.json.gz").replace(
                "PBMMAccel-Org-Trail", "my_trail_us-east-1"
            ),
            KeyInfo(
                KeyKind.DIGEST,
                "123456789016",
                "ca-central-1",
                None,
                at(2020, 8, 30, 19, 9, 38),
                True,
                trail_name="my_trail_us-east-1",
                home_region="ca-central-1",
            ),
        ),
        # The docs' SNS example: folder region and file-name region disagree; the folder (delivery) wins.
        (
            "AWSLogs/123456789012/CloudTrail/us-east-2/2016/05/04/"
            "123456789012_CloudTrail_us-west-2_20160504T2015Z_XYZ0123456789abc.json.gz",
            KeyInfo(KeyKind.LOG, "123456789012", "us-east-2", None, at(2016, 5, 4, 20, 15)),
        ),
        (
            "/tmp/download/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json",
            KeyInfo(KeyKind.LOG, "111122223333", "us-east-2", None, at(2015, 8, 1, 2, 10)),
        ),
        (
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/renamed.json.gz",
            KeyInfo(KeyKind.LOG, "111122223333", "us-east-1"),
        ),
        (LOG.replace("20150801T0210Z", "20151301T0210Z"), KeyInfo(KeyKind.LOG, "111122223333", "us-east-2")),
        # Folder and name disagree: digest/Insight win either way (never decode those as events).
        (
            DIGEST.replace("CloudTrail-Digest/", "CloudTrail/"),
            KeyInfo(
                KeyKind.DIGEST,
                "123456789016",
                "ca-central-1",
                None,
                at(2020, 8, 30, 19, 9, 38),
                trail_name="PBMMAccel-Org-Trail",
                home_region="ca-central-1",
            ),
        ),
        (
            LOG.replace("/CloudTrail/", "/CloudTrail-Digest/"),
            KeyInfo(KeyKind.DIGEST, "111122223333", "us-east-2", None, at(2015, 8, 1, 2, 10)),
        ),
        ("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/", KeyInfo(KeyKind.OTHER)),
        ("AWSLogs/111122223333/elasticloadbalancing/us-east-1/2024/01/01/x.log.gz", KeyInfo(KeyKind.OTHER)),
        ("events/today.jsonl", KeyInfo(KeyKind.OTHER)),
    ],
)
def test_classify_key(key: str, expected: KeyInfo) -> None:
    """CloudTrail's key layouts (prefix, organization id, Insight, digest, backfill) are recognised."""
    assert classify_key(key) == expected
