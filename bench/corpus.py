"""Deterministic synthetic CloudTrail: realistic records written as AWS writes them.

The benchmarks need data with CloudTrail's real statistics, not a repeated sample: the decoder's cost
depends on record size, nesting, escapes and how well gzip compresses it, and the rule engine's cost on
the mix of event names. This generator is seeded (same seed, same bytes) and produces:

* a mix dominated by read-only calls (~70%, as in busy accounts: EC2/IAM ``Describe*``/``List*``, S3
  ``GetObject`` data events, KMS ``Decrypt``), STS ``AssumeRole``, console sign-ins with and without
  MFA (some failed), IAM/EC2/S3/CloudTrail changes the CIS rules watch, and errors
  (``AccessDenied``, ``Client.UnauthorizedOperation`` with an encoded message);
* CloudTrail's key order, compact JSON, UTF-8 written raw, nested ``requestParameters``/
  ``responseElements``/``resources``, escaped JSON policy documents, records of ~0.5-3 KB;
* gzip files named and laid out like ``AWSLogs/<acct>/CloudTrail/<region>/Y/M/D/<name>.json.gz``
  under ``bench/.data/`` (gitignored), cached by their parameters.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from isal import isal_zlib

from bench._cast import ACCOUNTS, EPOCH, REGIONS
from bench._families import FAMILIES, Families

DATA_DIR = Path(__file__).resolve().parent / ".data"
VERSION = 2
"""Bumped whenever the generator's output changes, so cached files are rebuilt."""


def generate_records(n: int, seed: int = 0, start: datetime = EPOCH) -> Iterator[dict[str, Any]]:
    """``n`` records, deterministic for a seed; event times advance ~20 ms per record."""
    gen = Families(seed)
    makers: list[Callable[[datetime, str, str], dict[str, Any]]] = [getattr(gen, f) for f, _ in FAMILIES]
    weights = [w for _, w in FAMILIES]
    for i in range(n):
        when = start + timedelta(milliseconds=20 * i + gen.rng.randrange(-60_000, 1))
        maker = gen.rng.choices(makers, weights)[0]
        yield maker(when, gen.rng.choice(ACCOUNTS), gen.rng.choice(REGIONS))


def encode_record(record: dict[str, Any]) -> bytes:
    """Compact JSON with raw UTF-8 and the dict's key order, as CloudTrail writes it."""
    return msgspec.json.encode(record)


def log_key(acct: str, region: str, delivered: datetime, unique: str) -> str:
    """The key CloudTrail gives a log file delivered at ``delivered`` (aws-formats.md 1.1)."""
    day = delivered.strftime("%Y/%m/%d")
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    return f"AWSLogs/{acct}/CloudTrail/{region}/{day}/{acct}_CloudTrail_{region}_{stamp}_{unique}.json.gz"


def write_log_file(path: Path, records: Iterator[bytes], *, level: int = 1) -> tuple[int, int]:
    """Stream ``{"Records":[...]}`` gzip-compressed into ``path``; returns (records, compressed bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deflate = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    count = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(deflate.compress(b'{"Records":['))
        for raw in records:
            fh.write(deflate.compress((b"," if count else b"") + raw))
            count += 1
        fh.write(deflate.compress(b"]}"))
        fh.write(deflate.flush())
    tmp.replace(path)
    return count, path.stat().st_size


def build_corpus(n_events: int, per_file: int, *, seed: int = 0, root: Path = DATA_DIR) -> list[Path]:
    """``n_events`` records in files of ``per_file`` records; reuses files already built."""
    base = root / f"corpus-v{VERSION}-s{seed}-n{n_events}-m{per_file}"
    done = base / "DONE"
    paths: list[Path] = []
    rng = random.Random(seed)
    records = generate_records(n_events, seed)
    for i, first in enumerate(range(0, n_events, per_file)):
        count = min(per_file, n_events - first)
        acct, region = ACCOUNTS[i % len(ACCOUNTS)], REGIONS[i % len(REGIONS)]
        unique = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)
        )
        path = base / log_key(acct, region, EPOCH + timedelta(minutes=5 * i), unique)
        paths.append(path)
        if not done.exists():
            write_log_file(path, (encode_record(next(records)) for _ in range(count)))
    done.touch()
    return paths


def build_big_file(target_bytes: int = 50 * 1024 * 1024, *, seed: int = 1, root: Path = DATA_DIR) -> Path:
    """One log file of about ``target_bytes`` compressed (CloudTrail's 50 MB maximum by default)."""
    path = (
        root
        / f"big-v{VERSION}-s{seed}-{target_bytes}"
        / log_key(ACCOUNTS[0], "us-east-1", EPOCH, "BigFileBenchmark")
    )
    if path.exists():
        return path
    # Sized by a probe: compress a sample, scale the record count to the target.
    sample = [encode_record(r) for r in generate_records(4000, seed)]
    probe = len(isal_zlib.compress(b",".join(sample), 1, 31))
    n = int(len(sample) * target_bytes / probe * 0.96)  # the whole file compresses a little worse
    write_log_file(path, (encode_record(r) for r in generate_records(n, seed)))
    return path
