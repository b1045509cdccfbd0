"""Decode throughput: the streaming decoder against stdlib gzip + json.loads of the whole file.

Figures (events/s, and inflated MB/s for the decoder), each with its ratio to the naive baseline:

* naive: ``json.loads(gzip.decompress(data))["Records"]``, what most CloudTrail tools do;
* decode floor: :func:`trailwatchd.decode.iter_records` with the minimal projection (only the four
  always-included fields), i.e. the ceiling for any rule set;
* CIS projection: the fields the 14 CIS CloudWatch rules read;
* full decode: every field of every record (what a rule set reading ``$.*`` costs).

Files are read into memory first, so disk speed is not measured; each figure is the best of 3 runs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bench import Figure, best_of
from bench.corpus import build_corpus
from trailwatchd.decode import DecodeStats, RecordDecoder, iter_records
from trailwatchd.patterns import parse_selector

CIS_FIELDS = (  # every selector of the CIS AWS Foundations CloudWatch filters (seeds/001_*.txt)
    "$.errorCode",
    "$.eventName",
    "$.eventSource",
    "$.eventType",
    "$.errorMessage",
    "$.additionalEventData.MFAUsed",
    "$.userIdentity.type",
    "$.userIdentity.invokedBy",
)


def _decode(datas: list[bytes], decoder: RecordDecoder) -> DecodeStats:
    stats = DecodeStats()
    for i, data in enumerate(datas):
        for _ in iter_records(data, name=str(i), decoder=decoder, stats=stats):
            pass
    return stats


def _naive(datas: list[bytes]) -> int:
    return sum(len(json.loads(gzip.decompress(data))["Records"]) for data in datas)


def run(quick: bool) -> list[Figure]:
    """Measure; the corpus is 100,000 events in files of 5,000 (20,000 with --quick)."""
    n = 20_000 if quick else 100_000
    paths: list[Path] = build_corpus(n, 5_000)
    datas = [p.read_bytes() for p in paths]
    stored = sum(map(len, datas))
    events = _naive(datas)
    assert events == n
    naive = events / best_of(3 if not quick else 1, lambda: _naive(datas))
    figures = [
        Figure("corpus", n, "events", f"{len(paths)} files, {stored / 1e6:.1f} MB gzip"),
        Figure("naive gzip + json.loads", naive, "events/s", "1.00x"),
    ]
    variants = (
        ("decode floor (minimal projection)", RecordDecoder([])),
        ("decode, CIS projection", RecordDecoder([parse_selector(f) for f in CIS_FIELDS])),
        ("decode, full records", RecordDecoder(None)),
    )
    for label, decoder in variants:
        stats = _decode(datas, decoder)
        assert stats.records == n, (label, stats)
        seconds = best_of(3 if not quick else 1, lambda d=decoder: _decode(datas, d))  # type: ignore[misc]
        rate = n / seconds
        figures.append(Figure(label, rate, "events/s", f"{rate / naive:.2f}x"))
        if decoder.selectors == frozenset():
            inflated = stats.bytes_decompressed / seconds / 1e6
            gzip_rate = f"{stats.bytes_compressed / seconds / 1e6:.1f} MB/s gzip"
            figures.append(Figure("  inflated text through the floor", inflated, "MB/s", gzip_rate))
    return figures
