"""Integrity verification cost: one day of a signed trail (24 digests, N log files per hour) verified from
memory, against the floor of just gunzip + SHA-256 of the same log files (what any verifier must do)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from datetime import timedelta

from bench import Figure, best_of
from tests.integrity.trail import BUCKET, T0, Trail, new_key, public_key_list
from trailwatchd.integrity.keys import keys_from_list
from trailwatchd.integrity.store import MemoryStore, StoredObject
from trailwatchd.integrity.verify import Verifier


class _Keys:
    def __init__(self, trail: Trail) -> None:
        self._keys = keys_from_list(public_key_list(trail.key)["PublicKeyList"], base64_values=True)

    async def get(self, region: str, fingerprint: str, when: object) -> object:
        return self._keys.get(fingerprint)


def run(quick: bool) -> list[Figure]:
    per_hour = 5 if quick else 20
    trail = Trail(new_key())
    for h in range(24):
        end = T0 + timedelta(hours=h)
        trail.add_digest(
            end, [trail.add_log(end - timedelta(minutes=m + 1), events=200) for m in range(per_hour)]
        )
    store = MemoryStore({(BUCKET, k): StoredObject(d, m) for k, (d, m) in trail.objects.items()})
    logs = [trail.objects[k][0] for k in trail.logs]
    size = sum(len(gzip.decompress(d)) for d in logs)

    def verify() -> None:
        report = asyncio.run(
            Verifier(store, _Keys(trail)).verify(BUCKET, "", T0 - timedelta(hours=1), T0 + timedelta(days=1))
        )
        assert report.ok and report.digests_valid == 24

    def floor() -> None:
        for d in logs:
            hashlib.sha256(gzip.decompress(d)).hexdigest()

    t_verify = best_of(3, verify)
    t_floor = best_of(3, floor)
    return [
        Figure(
            "integrity: verify 1 day (24 digests)",
            t_verify * 1000,
            "ms",
            f"{len(logs)} log files, {size / 1e6:.1f} MB",
        ),
        Figure("integrity: floor gunzip+sha256", t_floor * 1000, "ms", "same log files"),
        Figure("integrity: verify / floor", t_verify / t_floor, "x", "signatures, chain, listing overhead"),
    ]


if __name__ == "__main__":
    print(json.dumps([f.line() for f in run(quick=True)], indent=1))
