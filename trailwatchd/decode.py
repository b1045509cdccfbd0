"""Bytes to CloudTrail records: gzip by magic, streaming, bounded memory, typed errors.

CloudTrail writes gzip files of ``{"Records":[{...},{...}]}`` in compact JSON, each record starting with
``{"eventVersion"``; a file is at most 50 MB compressed, several hundred MB inflated (aws-formats.md
1.3). The streaming path never holds the inflated file: it inflates 256 KiB at a time (ISA-L), finds
candidate record boundaries ``},{"eventVersion"`` with ``bytes.find`` and lets the projection decode of
each slice confirm the cut. A slice that ends inside a string or a nested object is a prefix of valid
JSON, which msgspec reports as truncated input: it is merged with the next slice, so a true record is
the first valid prefix from a true boundary. Records not starting with ``eventVersion`` in the middle of
such a file show up as "trailing characters" and are split exactly by a ``list[Raw]`` decode.

Other shapes take the general paths: JSON Lines stream line by line; pretty-printed or reordered
``{"Records": [...]}`` files, JSON arrays and single events are decoded whole under
``max_document_bytes``. The UTF-8 check runs on the inflated stream (msgspec does not validate the
strings it skips), so every yielded record can later be decoded in full.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any, cast

import msgspec
from isal import igzip_lib

from trailwatchd.errors import DecodeError
from trailwatchd.projection import RecordDecoder, describe_error, is_json_object, split_values

__all__ = [  # noqa: RUF022 - grouped by topic: keys, limits and counters, record decoding
    "KeyInfo",
    "KeyKind",
    "classify_key",
    "DecodeLimits",
    "DecodeStats",
    "RecordDecoder",
    "iter_event_file",
    "iter_records",
    "load_events",
]

Records = Iterator[tuple[dict[str, Any], bytes]]

GZIP_MAGIC = b"\x1f\x8b"
READ_BYTES = 256 * 1024
"""Input read (or sliced) per step."""
INFLATE_STEP = 256 * 1024
"""Inflated bytes per step: small enough to stay in cache while it is split and decoded (measured
fastest of 64 KiB..1 MiB with ``python -m bench``)."""
SNIFF_BYTES = 64 * 1024
SEP = b'},{"eventVersion"'
_LOOSE_SEP = re.compile(rb'\}\s*,\s*(?=\{\s*"eventVersion"\s*:)')
_RECORDS_HEAD = re.compile(rb'\{\s*"Records"\s*:\s*\[\s*')
_ARRAY_HEAD = re.compile(rb"\[\s*")
_EVENT_START = re.compile(rb'\{\s*"eventVersion"\s*:|\]')
_SPACE = re.compile(rb"[ \t\r\n]*")
_CLOSE = {True: re.compile(rb"\]\s*\}\s*\Z"), False: re.compile(rb"\]\s*\Z")}
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_DIGEST_KEYS = ("digestStartTime", "digestPublicKeyFingerprint", "logFiles")
_IsalError = cast("type[Exception]", igzip_lib.IsalError)  # isal's stub calls it an instance


class KeyKind(Enum):
    """What an S3 key (or a file name) holds, from CloudTrail's key layout alone."""

    LOG = "log"
    DIGEST = "digest"
    INSIGHT = "insight"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a key says about its object. ``region`` is the delivering region (the folder; the file name
    may disagree, aws-formats.md 1.1); ``delivered_at`` is the delivery minute (digests: second) in UTC."""

    kind: KeyKind
    account: str | None = None
    region: str | None = None
    org_id: str | None = None
    delivered_at: datetime | None = None
    backfill: bool = False
    """A backfill digest (``..._backfill.json.gz``), delivered late for files an earlier digest missed."""
    trail_name: str | None = None
    home_region: str | None = None


# aws-formats.md 1.1: [prefix/]AWSLogs/[o-id/]<acct>/CloudTrail[-Digest|-Insight]/<region>/Y/M/D/<file>
_LAYOUT = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<acct>\d{12})/"
    r"(?P<kind>CloudTrail|CloudTrail-Digest|CloudTrail-Insight)/(?P<region>[a-z0-9-]+)/"
    r"\d{4}/\d{2}/\d{2}/(?P<file>[^/]+)\Z"
)
_FOLDERS = {
    "CloudTrail": KeyKind.LOG,
    "CloudTrail-Digest": KeyKind.DIGEST,
    "CloudTrail-Insight": KeyKind.INSIGHT,
}
_GZ = r"\.json(?:\.gz)?\Z"
_NAMES = {  # digests first: a trail name may contain anything, the other two patterns are stricter
    KeyKind.DIGEST: re.compile(
        r"(?P<acct>\d{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>.+)_(?P<home>[a-z0-9-]+)_"
        r"(?P<stamp>\d{8}T\d{6}Z)(?P<backfill>_backfill)?" + _GZ
    ),
    KeyKind.INSIGHT: re.compile(
        r"(?P<acct>\d{12})_CloudTrail-Insight_(?P<region>[a-z0-9-]+)_"
        r"(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]+" + _GZ
    ),
    KeyKind.LOG: re.compile(
        r"(?P<acct>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]+" + _GZ
    ),
}


def classify_key(key: str) -> KeyInfo:
    """Recognise CloudTrail's key layout, so digest and Insight files are routed by key, not content.

    The ``AWSLogs/`` folder layout (with or without an organization id) decides, unless the file name
    says digest or Insight; a bare file name in CloudTrail's naming (a downloaded copy) is recognised
    too. Anything else is ``OTHER``.
    """
    layout = _LAYOUT.search(key)
    file = layout.group("file") if layout else key.rsplit("/", 1)[-1]
    named = next((m for m in (p.match(file) for p in _NAMES.values()) if m is not None), None)
    kind = next(k for k, p in _NAMES.items() if p is named.re) if named else KeyKind.OTHER
    if layout is not None and kind in (KeyKind.LOG, KeyKind.OTHER):
        kind = _FOLDERS[layout.group("kind")]
    if kind is KeyKind.OTHER:
        return KeyInfo(kind)
    delivered = None
    if named is not None:
        stamp = named.group("stamp")
        try:
            delivered = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ" if len(stamp) == 16 else "%Y%m%dT%H%MZ")
        except ValueError:  # 20241341T9999Z has the shape but is no time
            delivered = None
    digest = named.groupdict() if named is not None and named.re is _NAMES[KeyKind.DIGEST] else {}
    source = layout or named
    assert source is not None
    return KeyInfo(
        kind,
        account=source.group("acct"),
        region=source.group("region"),
        org_id=layout.group("org") if layout else None,
        delivered_at=delivered.replace(tzinfo=UTC) if delivered else None,
        backfill=digest.get("backfill") is not None,
        trail_name=digest.get("trail"),
        home_region=digest.get("home"),
    )


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Caps that keep one hostile or broken object from exhausting the process."""

    max_event_bytes: int = 262_144
    """Records larger than this (measured on their JSON bytes as stored) are skipped and counted:
    CloudTrail does not send events over 256 KB to CloudWatch Logs, so a metric filter never sees them
    (aws-formats.md 1.3)."""
    max_decompressed_bytes: int = 2**31
    """gzip-bomb guard: refuse objects that inflate beyond this."""
    max_document_bytes: int = 256 * 1024 * 1024
    """Largest input the general path (a file not in CloudTrail's layout) decodes in one piece."""
    max_record_scan_bytes: int = 8 * 1024 * 1024
    """Largest record (or JSON Lines line) the streaming paths will buffer to find its end."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"DecodeLimits.{f.name} must be a positive integer, got {value!r}")


@dataclass(slots=True)
class DecodeStats:
    """Counters of one or more decoded objects (mutable; merge with :meth:`add`)."""

    objects: int = 0
    """Objects decoded to the end without error."""
    records: int = 0
    """Records yielded."""
    bytes_compressed: int = 0
    """Bytes read from the objects as stored (gzip or not)."""
    bytes_decompressed: int = 0
    skipped_oversize: int = 0
    """Records over ``max_event_bytes``, skipped as CloudWatch Logs would."""
    sha256: Any = None
    """A ``hashlib.sha256()`` fed the decompressed bytes as they stream by (set it to enable): the
    integrity check compares it with the digest's ``hashValue`` instead of downloading the file again."""

    def add(self, other: DecodeStats) -> None:
        """Add ``other``'s counters to these."""
        for f in fields(self):
            if f.name != "sha256":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


# -- bytes in --------------------------------------------------------------------------------------


def _pieces(data: bytes | bytearray | memoryview | IO[bytes], st: DecodeStats) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for i in range(0, len(view), READ_BYTES):
            piece = bytes(view[i : i + READ_BYTES])
            st.bytes_compressed += len(piece)
            yield piece
        return
    while piece := data.read(READ_BYTES):
        st.bytes_compressed += len(piece)
        yield piece


def _inflate(name: str, pieces: Iterator[bytes], lim: DecodeLimits, st: DecodeStats) -> Iterator[bytes]:
    """Stored bytes -> text chunks: gunzip when the magic says gzip, cap the size, check UTF-8."""
    first = b""
    for piece in pieces:  # the magic needs two bytes, whatever the reader returns
        first += piece
        if len(first) >= len(GZIP_MAGIC):
            break
    if not first:
        raise DecodeError(name, "empty object (0 bytes)")
    gz = first.startswith(GZIP_MAGIC)
    chunks = _gunzip(name, first, pieces, lim) if gz else itertools.chain((first,), pieces)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    pending = False
    total = 0
    for chunk in chunks:
        if pending or not chunk.isascii():
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                where = total + exc.start
                raise DecodeError(name, f"not UTF-8 text (invalid byte near offset {where})") from None
            pending = bool(utf8.getstate()[0])
        total += len(chunk)
        st.bytes_decompressed += len(chunk)
        if st.sha256 is not None:
            st.sha256.update(chunk)
        if total > lim.max_decompressed_bytes:
            raise DecodeError(
                name,
                f"inflates to more than max_decompressed_bytes ({lim.max_decompressed_bytes}); refusing a "
                "possible gzip bomb (raise the limit if the object is genuine)",
            )
        yield chunk
    if pending:
        raise DecodeError(name, "not UTF-8 text (the data ends inside a multi-byte character)")


def _gunzip(name: str, piece: bytes, pieces: Iterator[bytes], lim: DecodeLimits) -> Iterator[bytes]:
    step = min(INFLATE_STEP, lim.max_decompressed_bytes + 1)
    while True:  # one gzip member per turn: concatenated members are valid gzip (RFC 1952 2.2)
        inflater = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
        while True:
            try:
                out = inflater.decompress(piece, step)
            except (_IsalError, EOFError) as exc:
                raise DecodeError(name, f"corrupt gzip data ({exc})") from None
            piece = b""
            if out:
                yield out
            if inflater.eof:
                break
            if inflater.needs_input:
                nxt = next(pieces, None)
                if nxt is None:
                    raise DecodeError(name, "truncated gzip data (the object ends before the gzip trailer)")
                piece = nxt
        rest = inflater.unused_data
        while len(rest) < len(GZIP_MAGIC) and (nxt := next(pieces, None)) is not None:
            rest += nxt
        if not rest:
            return
        if rest.startswith(GZIP_MAGIC):
            piece = rest
            continue
        if rest.strip(b"\0") or any(p.strip(b"\0") for p in pieces):
            raise DecodeError(name, "unexpected bytes after the end of the gzip data")
        return  # zero padding after the last member is tolerated, as gzip(1) does


# -- records out -----------------------------------------------------------------------------------


def iter_records(
    data: bytes | bytearray | memoryview | IO[bytes],
    *,
    name: str,
    decoder: RecordDecoder,
    limits: DecodeLimits | None = None,
    stats: DecodeStats | None = None,
) -> Records:
    """Yield ``(projected record, raw record JSON)`` for every record of one object.

    ``data`` is the object as stored (gzip or plain JSON, told apart by magic bytes): a CloudTrail log
    file, a JSON array of records, JSON Lines, or one event. Raises :class:`DecodeError` naming the
    object and the reason (truncated gzip, invalid JSON, wrong shape, not UTF-8, empty, too large).
    """
    job = _Job(name, decoder, limits or DecodeLimits(), stats if stats is not None else DecodeStats())
    chunks = _inflate(name, _pieces(data, job.st), job.lim, job.st)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    j = _SPACE.match(head, 3 if head.startswith(codecs.BOM_UTF8) else 0).end()  # type: ignore[union-attr]
    if j == len(head):
        raise DecodeError(name, "no JSON in the object (empty or only whitespace)")
    m = _RECORDS_HEAD.match(head, j) or _ARRAY_HEAD.match(head, j)
    if m is not None and _EVENT_START.match(head, m.end()):
        sep = _LOOSE_SEP.search(head, m.end())
        loose = sep is not None and not head.startswith(SEP, sep.start())
        yield from job.split(head, m.end(), chunks, loose=loose, wrapped=head[j] == ord("{"))
    elif m is None and head[j] == ord("{") and _json_lines(head, j):
        yield from job.lines(head, chunks)
    elif head[j] in b"{[":
        yield from job.document(head, chunks)
    else:
        raise DecodeError(name, f"not JSON: the object starts with {head[j : j + 16]!r}")
    job.st.objects += 1


def iter_event_file(
    path: str | Path,
    *,
    name: str | None = None,
    decoder: RecordDecoder,
    limits: DecodeLimits | None = None,
    stats: DecodeStats | None = None,
) -> Records:
    """:func:`iter_records` over a local file, read in 256 KiB steps (bounded memory)."""
    with open(path, "rb") as fh:
        yield from iter_records(fh, name=name or str(path), decoder=decoder, limits=limits, stats=stats)


def load_events(data: bytes, name: str) -> list[dict[str, Any]]:
    """Every record, fully decoded (tools, tests, golden examples)."""
    return [event for event, _ in iter_records(data, name=name, decoder=RecordDecoder(None))]


def _json_lines(head: bytes, j: int) -> bool:
    """JSON Lines: the first line is a whole JSON object and something follows it."""
    nl = head.find(b"\n", j)
    return nl >= 0 and bool(head[nl:].strip()) and is_json_object(head[j:nl])


class _Job:
    """Decoding one object: the three record paths share its name, decoder, limits and counters."""

    def __init__(self, name: str, decoder: RecordDecoder, lim: DecodeLimits, st: DecodeStats) -> None:
        self.name, self.decoder, self.lim, self.st = name, decoder, lim, st

    def record(self, raw: bytes, where: str) -> Records:
        """One record decoded the careful way (general paths, leftovers of the streaming path)."""
        if len(raw) > self.lim.max_event_bytes:
            self.st.skipped_oversize += 1
            return
        try:
            event = self.decoder.project(raw)
        except msgspec.ValidationError:
            raise DecodeError(self.name, f"{where} is not a JSON object") from None
        except ValueError as exc:
            raise DecodeError(self.name, f"{where}: {describe_error(exc, 0)}") from None
        self.st.records += 1
        yield event, raw

    def group(self, raw: bytes, offset: int) -> Records:
        """A slice holding several records (some not starting with ``eventVersion``), split exactly."""
        try:
            items = split_values(raw)
        except msgspec.DecodeError as exc:
            raise DecodeError(self.name, describe_error(exc, offset)) from None
        for i, item in enumerate(items):
            yield from self.record(item, f"record {i + 1} from byte {offset}")

    def split(self, buf: bytes, pos: int, chunks: Iterator[bytes], *, loose: bool, wrapped: bool) -> Records:
        """The streaming path: cut at candidate boundaries, confirm each cut by decoding the slice."""
        decode, find, search = self.decoder.decode_projection, SEP, _LOOSE_SEP.search
        max_event, max_scan = self.lim.max_event_bytes, self.lim.max_record_scan_bytes
        base = 0  # offset of buf[0] in the inflated stream, for messages
        scan = pos
        count = skipped = 0
        try:
            while True:
                if loose:
                    m = search(buf, scan)
                    i, nxt = (m.start(), m.end()) if m is not None else (-1, -1)
                else:
                    i = buf.find(find, scan)
                    nxt = i + 2
                if i < 0:  # no candidate left in buf: read on
                    if len(buf) - pos > max_scan:
                        raise DecodeError(
                            self.name,
                            f"no record end within max_record_scan_bytes ({max_scan}) after byte "
                            f"{base + pos}: not a CloudTrail log file, or a record is that large",
                        )
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    if not loose and len(buf) - pos > 4 * SNIFF_BYTES and search(buf, pos):
                        loose = True  # the first records were compact, later ones are not
                    last = buf.rfind(b"}", scan)  # a separator may straddle the chunk edge
                    scan = (last if last >= 0 else len(buf)) - pos
                    base += pos
                    buf, pos = buf[pos:] + chunk, 0
                    continue
                end = i + 1
                raw = buf[pos:end]
                try:
                    event = decode(raw)
                except msgspec.DecodeError as exc:  # ValidationError included
                    try:
                        outcome = self.decoder.settle(raw, exc)
                    except msgspec.DecodeError as real:
                        raise DecodeError(self.name, describe_error(real, base + pos)) from None
                    if outcome is None:  # a false boundary: merge with the next slice
                        scan = end
                        continue
                    if outcome is True:
                        yield from self.group(raw, base + pos)
                        pos = scan = nxt
                        continue
                    event = outcome
                if end - pos > max_event:
                    skipped += 1
                else:
                    count += 1
                    yield event, raw
                pos = scan = nxt
        finally:
            self.st.records += count
            self.st.skipped_oversize += skipped
        close = _CLOSE[wrapped].search(buf, pos)
        if close is None:
            what = 'the "Records" array' if wrapped else "the array"
            reason = f"truncated or malformed: {what} is not closed after byte {base + pos}"
            raise DecodeError(self.name, reason)
        raw = buf[pos : close.start()].rstrip()
        if raw:
            yield from self.group(raw, base + pos)

    def lines(self, buf: bytes, chunks: Iterator[bytes]) -> Records:
        """JSON Lines, one record per line, streamed."""
        pos = lineno = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if len(buf) - pos > self.lim.max_record_scan_bytes:
                    raise DecodeError(self.name, f"line {lineno + 1} is longer than max_record_scan_bytes")
                chunk = next(chunks, None)
                if chunk is not None:
                    buf, pos = buf[pos:] + chunk, 0
                    continue
                nl = len(buf)
            lineno += 1
            line = buf[pos:nl].strip()
            pos = nl + 1
            if line:
                yield from self.record(line, f"line {lineno}")
            if nl >= len(buf):
                return

    def document(self, head: bytes, chunks: Iterator[bytes]) -> Records:
        """Anything not in CloudTrail's layout, decoded whole under ``max_document_bytes``."""
        parts, size = [head], len(head)
        for chunk in chunks:
            if size > self.lim.max_document_bytes:
                break
            parts.append(chunk)
            size += len(chunk)
        if size > self.lim.max_document_bytes:
            raise DecodeError(
                self.name,
                f"not in CloudTrail's file layout and larger than max_document_bytes "
                f"({self.lim.max_document_bytes}), so it cannot be decoded in one piece",
            )
        doc = b"".join(parts).removeprefix(codecs.BOM_UTF8).strip()
        del parts
        try:
            if doc.startswith(b"["):
                items = _raw_list.decode(doc)
            else:
                top = _raw_object.decode(doc)
                if "Records" in top:
                    items = _raw_list.decode(top["Records"])
                elif all(key in top for key in _DIGEST_KEYS):
                    raise DecodeError(self.name, "a CloudTrail digest file, not a log file")
                else:
                    items = [msgspec.Raw(doc)]
        except msgspec.ValidationError:
            raise DecodeError(self.name, 'wrong shape: "Records" is not an array') from None
        except msgspec.DecodeError as exc:
            if "trailing characters" in str(exc) and doc.startswith(b"{"):
                yield from self.lines(doc, iter(()))  # JSON Lines with a first line too long to sniff
                return
            raise DecodeError(self.name, describe_error(exc, 0)) from None
        for i, item in enumerate(items):
            yield from self.record(bytes(item), f"record {i + 1}")
