"""Bytes to CloudTrail records: gzip by magic, streaming, bounded memory, typed errors.

CloudTrail writes gzip files of ``{"Records":[{...},{...}]}`` in compact JSON, each record starting
with ``{"eventVersion"``; a file is at most 50 MB compressed (several hundred MB inflated). The fast
path never holds the inflated file: it inflates in 1 MiB steps (ISA-L), cuts the stream at candidate
record boundaries ``},{"eventVersion"`` and lets the record decoder confirm each cut (a slice that does
not decode as one JSON object is merged with the next, so a nested ``eventVersion`` key cannot split a
record). Anything else (pretty-printed arrays, JSON Lines, a single event, records in another key
order) takes the general path, which decodes the whole document under ``max_document_bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

import msgspec
from isal import isal_zlib

from trailwatchd.errors import DecodeError
from trailwatchd.projection import RecordDecoder

__all__ = [
    "DecodeLimits",
    "DecodeStats",
    "KeyInfo",
    "KeyKind",
    "RecordDecoder",
    "classify_key",
    "iter_event_file",
    "iter_records",
    "load_events",
]

GZIP_MAGIC = b"\x1f\x8b"
READ_BYTES = 256 * 1024
INFLATE_STEP = 1024 * 1024
_START_RE = re.compile(rb'\A\s*\{\s*"Records"\s*:\s*\[\s*')
_BOUNDARY_RE = re.compile(rb'\}\s*,\s*(?=\{\s*"eventVersion"\s*:)')
_TAIL_RE = re.compile(rb"\s*\]\s*\}\s*\Z")


class KeyKind(Enum):
    """What an S3 key (or file name) holds, from CloudTrail's key layout alone."""

    LOG = "log"
    DIGEST = "digest"
    INSIGHT = "insight"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kind: KeyKind
    account: str | None = None
    region: str | None = None
    org_id: str | None = None
    delivered_at: datetime | None = None
    backfill: bool = False


# aws-formats.md 1.1: [prefix/]AWSLogs/[o-id/]<acct>/CloudTrail[-Digest|-Insight]/<region>/Y/M/D/<file>
_KEY_RE = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<acct>\d{12})/"
    r"(?P<kind>CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P<file>[^/]+)$"
)
_STAMP_RE = re.compile(r"_(\d{8}T\d{4,6}Z)(?:_|\.)")
_KINDS = {
    "CloudTrail": KeyKind.LOG,
    "CloudTrail-Digest": KeyKind.DIGEST,
    "CloudTrail-Insight": KeyKind.INSIGHT,
}


def classify_key(key: str) -> KeyInfo:
    """Recognise CloudTrail's key layout; digest and Insight files are routed by key, never by content."""
    m = _KEY_RE.search(key)
    if m is None:
        name = key.rsplit("/", 1)[-1]
        if "_CloudTrail-Digest_" in name:
            return KeyInfo(KeyKind.DIGEST, backfill=name.endswith("_backfill.json.gz"))
        if "_CloudTrail-Insight_" in name:
            return KeyInfo(KeyKind.INSIGHT)
        return KeyInfo(KeyKind.LOG if "_CloudTrail_" in name else KeyKind.OTHER)
    delivered: datetime | None = None
    stamp = _STAMP_RE.search(m.group("file"))
    if stamp:
        text = stamp.group(1)
        fmt = "%Y%m%dT%H%M%SZ" if len(text) == 16 else "%Y%m%dT%H%MZ"
        try:
            delivered = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            delivered = None
    return KeyInfo(
        _KINDS[m.group("kind")],
        account=m.group("acct"),
        region=m.group("region"),
        org_id=m.group("org"),
        delivered_at=delivered,
        backfill=m.group("file").endswith("_backfill.json.gz"),
    )


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Caps that keep one hostile or broken object from exhausting the process."""

    max_event_bytes: int = 262_144
    """Records larger than this are skipped and counted: CloudTrail does not send >256 KB events to
    CloudWatch Logs, so a metric filter never sees them."""
    max_decompressed_bytes: int = 2**31
    """gzip-bomb guard for the streaming path."""
    max_document_bytes: int = 256 * 1024 * 1024
    """Largest input the general (non-streaming) path decodes at once."""


@dataclass(slots=True)
class DecodeStats:
    """Counters of one or more decoded objects."""

    objects: int = 0
    records: int = 0
    bytes_compressed: int = 0
    bytes_decompressed: int = 0
    skipped_oversize: int = 0

    def add(self, other: DecodeStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _chunks(data: bytes | IO[bytes]) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    while piece := data.read(READ_BYTES):
        yield piece


def _inflate(name: str, source: Iterator[bytes], limits: DecodeLimits, stats: DecodeStats) -> Iterator[bytes]:
    """Raw chunks -> inflated chunks (gzip detected by magic bytes), with the size cap."""
    first = next(source, b"")
    stats.bytes_compressed += len(first)
    if not first.startswith(GZIP_MAGIC):
        total = len(first)
        if first:
            yield first
        for piece in source:
            stats.bytes_compressed += len(piece)
            total += len(piece)
            if total > limits.max_decompressed_bytes:
                raise DecodeError(
                    name, f"larger than max_decompressed_bytes ({limits.max_decompressed_bytes})"
                )
            yield piece
        stats.bytes_decompressed += total
        return
    inflater = isal_zlib.decompressobj(wbits=31)
    total = 0
    pending = first
    while True:
        while pending:
            try:
                out = inflater.decompress(pending, INFLATE_STEP)
            except Exception as exc:
                raise DecodeError(name, f"corrupt gzip data ({exc})") from None
            pending = inflater.unconsumed_tail
            if out:
                total += len(out)
                if total > limits.max_decompressed_bytes:
                    raise DecodeError(
                        name,
                        f"inflates beyond max_decompressed_bytes ({limits.max_decompressed_bytes}): "
                        "refusing a possible gzip bomb",
                    )
                yield out
            if inflater.eof:
                break
        if inflater.eof:
            rest = inflater.unused_data
            if rest.strip(b"\x00"):
                if rest.startswith(GZIP_MAGIC):  # concatenated gzip members are legal gzip
                    inflater = isal_zlib.decompressobj(wbits=31)
                    pending = rest
                    continue
                raise DecodeError(name, "trailing bytes after the gzip stream")
            for piece in source:  # drain (counted) so the caller sees the whole object was read
                stats.bytes_compressed += len(piece)
            break
        nxt = next(source, None)
        if nxt is None:
            raise DecodeError(name, "truncated gzip file (the stream ends before its end marker)")
        stats.bytes_compressed += len(nxt)
        pending = nxt
    stats.bytes_decompressed += total


def iter_records(
    data: bytes | IO[bytes],
    *,
    name: str,
    decoder: RecordDecoder,
    limits: DecodeLimits | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[dict[str, Any], bytes]]:
    """Yield ``(projected record, raw record JSON)`` for every record of one object.

    Raises :class:`DecodeError` naming the object and the reason when it is not readable as CloudTrail
    records (truncated gzip, invalid JSON, wrong shape, not UTF-8, empty).
    """
    lim = limits or DecodeLimits()
    st = stats if stats is not None else DecodeStats()
    st.objects += 1
    stream = _inflate(name, _chunks(data), lim, st)
    head = b""
    for piece in stream:
        head += piece
        if len(head) >= 4096:
            break
    if not head.strip():
        raise DecodeError(name, "empty file: no CloudTrail records")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    start = _START_RE.match(head)
    if start is not None and re.match(rb'\s*(\{\s*"eventVersion"|\])', head[start.end() :]):
        yield from _stream_records(name, head, start.end(), stream, decoder, lim, st)
        return
    yield from _general(name, head, stream, decoder, lim, st)


def _decode_one(name: str, raw: bytes, decoder: RecordDecoder) -> dict[str, Any]:
    try:
        return decoder.project(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise DecodeError(name, f"invalid JSON record: {exc}") from None


def _stream_records(  # noqa: PLR0917 - internal helper called from one place
    name: str,
    head: bytes,
    pos: int,
    stream: Iterator[bytes],
    decoder: RecordDecoder,
    lim: DecodeLimits,
    st: DecodeStats,
) -> Iterator[tuple[dict[str, Any], bytes]]:
    buf = head
    start = pos  # start of the current (unconfirmed) record
    search = pos
    merge_cap = max(lim.max_event_bytes * 4, 4 * 1024 * 1024)
    eof = False
    while True:
        m = _BOUNDARY_RE.search(buf, search)
        if m is None:
            if eof:
                break
            nxt = next(stream, None)
            if nxt is None:
                eof = True
                continue
            buf = buf[start:] + nxt
            search = max(0, search - start)
            start = 0
            continue
        end = m.start() + 1
        raw = buf[start:end]
        search = m.end()
        if len(raw) > lim.max_event_bytes:
            if _valid(raw):
                st.skipped_oversize += 1
                start = m.end()
            elif len(raw) > merge_cap:
                raise DecodeError(name, "a record does not end where one should: the file is not valid JSON")
            continue
        try:
            event = decoder.project(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            if len(raw) > merge_cap:
                raise DecodeError(
                    name, "a record does not end where one should: the file is not valid JSON"
                ) from None
            continue  # a nested '},{"eventVersion"' - merge with the next slice
        st.records += 1
        start = m.end()
        yield event, raw
    tail = _TAIL_RE.search(buf, start)
    if tail is None:
        raise DecodeError(name, "truncated or malformed: the Records array is not closed with ']}'")
    raw = buf[start : tail.start()]
    if not raw.strip():
        return
    if len(raw) > lim.max_event_bytes and _valid(raw):
        st.skipped_oversize += 1
        return
    st.records += 1
    yield _decode_one(name, raw, decoder), raw


def _valid(raw: bytes) -> bool:
    try:
        msgspec.json.decode(raw, type=msgspec.Raw)
        msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True


_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_raw_records = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _general(  # noqa: PLR0917 - internal helper called from one place
    name: str,
    head: bytes,
    stream: Iterator[bytes],
    decoder: RecordDecoder,
    lim: DecodeLimits,
    st: DecodeStats,
) -> Iterator[tuple[dict[str, Any], bytes]]:
    parts = [head]
    size = len(head)
    for piece in stream:
        size += len(piece)
        if size > lim.max_document_bytes:
            raise DecodeError(
                name,
                f"not in CloudTrail's compact file layout and larger than "
                f"max_document_bytes ({lim.max_document_bytes}); cannot decode it in memory",
            )
        parts.append(piece)
    doc = b"".join(parts).lstrip(b"\xef\xbb\xbf")
    text = doc.lstrip()
    raws: list[bytes]
    try:
        if text.startswith(b"["):
            raws = [bytes(r) for r in _raw_list.decode(text)]
        elif text.startswith(b"{"):
            try:
                top = _raw_records.decode(text)
            except msgspec.DecodeError:
                top = None  # maybe JSON Lines whose first line is an object
            if top is not None:
                if "Records" in top:
                    raws = [bytes(r) for r in _raw_list.decode(bytes(top["Records"]))]
                elif "logFiles" in top and "digestStartTime" in top:
                    raise DecodeError(name, "this is a CloudTrail digest file, not a log file")
                else:
                    raws = [text.strip()]
            else:
                raws = [line.strip() for line in text.splitlines() if line.strip()]
        else:
            raise DecodeError(
                name,
                'not CloudTrail JSON (expected {"Records": [...]}, a JSON array, '
                "JSON Lines or one event object)",
            )
    except msgspec.ValidationError:
        raise DecodeError(name, "wrong shape: Records must be an array of event objects") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(name, f"invalid JSON: {exc}") from None
    for raw in raws:
        if len(raw) > lim.max_event_bytes:
            st.skipped_oversize += 1
            continue
        event = _decode_one(name, raw, decoder)
        st.records += 1
        yield event, raw


def iter_event_file(
    path: str | Path,
    *,
    decoder: RecordDecoder,
    limits: DecodeLimits | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[dict[str, Any], bytes]]:
    """Like :func:`iter_records` over a local file, read in 256 KiB steps (bounded memory)."""
    with open(path, "rb") as fh:
        yield from iter_records(fh, name=str(path), decoder=decoder, limits=limits, stats=stats)


def load_events(data: bytes, name: str) -> list[dict[str, Any]]:
    """Every record, fully decoded (tools, tests, golden examples)."""
    return [event for event, _ in iter_records(data, name=name, decoder=RecordDecoder(None))]
