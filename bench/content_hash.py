"""Cost of hashing at ingestion ([integrity]): evaluate_object with the SHA-256 of the decompressed bytes
against without it, over the same corpus (CIS-like rules). The hash is what lets the digest check skip a
second download of every log file, so the ratio is the price of that saving on the CPU side."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import Figure, best_of
from bench.corpus import build_corpus
from trailwatchd.engine import Snapshot, evaluate_object
from trailwatchd.rules import RuleSet

RULES = """
[[rule]]
id = "root"
severity = "high"
pattern = '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }'

[[rule]]
id = "unauthorized"
severity = "info"
pattern = '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'
"""


def run(quick: bool) -> list[Figure]:
    n = 20_000 if quick else 100_000
    datas = [p.read_bytes() for p in build_corpus(n, 5_000)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.toml"
        path.write_text(RULES)
        snap = Snapshot.of(RuleSet.load([path]))

    def once(hash_content: bool) -> None:
        for i, data in enumerate(datas):
            result = evaluate_object(snap, name=str(i), data=data, hash_content=hash_content)
            assert (result.content_sha256 is not None) == hash_content

    rounds = 1 if quick else 3
    plain = best_of(rounds, lambda: once(False))
    hashed = best_of(rounds, lambda: once(True))
    return [
        Figure("evaluate, no hash", n / plain, "events/s", f"{len(datas)} files"),
        Figure("evaluate + sha256 of inflated bytes", n / hashed, "events/s", "[integrity] on"),
        Figure("hashing cost (time with / without)", hashed / plain, "x", "1.00x = free"),
    ]
