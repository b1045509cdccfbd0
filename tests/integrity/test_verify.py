"""The verifier over an in-memory store: every tamper scenario of issue 7 against a signed trail."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integrity.trail import BUCKET, T0, Trail, new_key, public_key_list, standard_trail
from trailwatchd.integrity.digest import parse_digest, string_to_sign
from trailwatchd.integrity.keys import FileKeyProvider
from trailwatchd.integrity.store import MemoryStore, StoredObject
from trailwatchd.integrity.verify import Report, Verifier, summary

SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(hours=5)
KEY = new_key()


def store_of(trail: Trail) -> MemoryStore:
    return MemoryStore({(BUCKET, k): StoredObject(d, m) for k, (d, m) in trail.objects.items()})


def keyfile(tmp_path: Path, key=KEY) -> FileKeyProvider:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(public_key_list(key)))
    return FileKeyProvider((path,))


async def run(trail: Trail, tmp_path: Path, **kw) -> Report:
    verifier = Verifier(store_of(trail), keyfile(tmp_path), **kw)
    return await verifier.verify(BUCKET, "", SINCE, UNTIL)


def rules(report: Report) -> list[str]:
    return sorted(f.rule_id.rsplit(".", 1)[-1] for f in report.findings)


async def test_all_valid(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    report = await run(trail, tmp_path)
    assert report.findings == [] and report.gaps == []
    assert report.digests_valid == 5 and report.digests_invalid == 0
    assert report.logs_valid == 5  # every log file incl. the one only the backfill digest lists
    assert all(line.verdict == "valid" for line in report.lines)
    assert report.ok
    assert "5/5 digest files valid" in summary(report, SINCE, UNTIL)


async def test_log_file_modified(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    victim = trail.logs[1]
    raw = json.loads(gzip.decompress(trail.objects[victim][0]))
    raw["Records"].pop()
    trail.objects[victim] = (gzip.compress(json.dumps(raw).encode()), {})
    report = await run(trail, tmp_path)
    assert rules(report) == ["log_file_modified"]
    assert report.findings[0].subject == f"s3://{BUCKET}/{victim}"
    assert report.logs_modified == 1 and not report.ok


async def test_log_file_deleted(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    del trail.objects[trail.logs[0]]
    report = await run(trail, tmp_path)
    assert rules(report) == ["log_file_missing"] and report.logs_missing == 1


async def test_digest_modified(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    victim = trail.digests[1]
    data, meta = trail.objects[victim]
    doc = json.loads(gzip.decompress(data))
    doc["logFiles"].pop()  # hide a file from the digest
    trail.objects[victim] = (gzip.compress(json.dumps(doc, indent=2).encode()), meta)
    report = await run(trail, tmp_path)
    assert "digest_invalid" in rules(report)
    assert any("signature verification failed" in line.verdict for line in report.lines)
    # the next digest's link no longer matches the tampered predecessor's hash
    assert "digest_missing" in rules(report)
    assert report.digests_invalid == 1


async def test_digest_deleted_breaks_chain(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    gone = trail.digests[2]  # the empty digest
    del trail.objects[gone]
    report = await run(trail, tmp_path)
    assert rules(report) == ["digest_missing"]
    assert gone in report.findings[0].reason
    assert report.gaps


async def test_chain_restart_is_reported(tmp_path: Path) -> None:
    trail = Trail(KEY)
    trail.add_digest(T0, [trail.add_log(T0 - timedelta(minutes=20))])
    # validation off for two hours, then a fresh starting digest
    h3 = T0 + timedelta(hours=3)
    trail.add_digest(h3, [trail.add_log(h3 - timedelta(minutes=20))], start_chain=True)
    report = await run(trail, tmp_path)
    assert rules(report) == ["chain_restarted"]


async def test_log_file_present_but_never_listed(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    injected, _ = trail.add_log(T0 + timedelta(minutes=20))
    report = await run(trail, tmp_path)
    assert rules(report) == ["log_file_unlisted"]
    assert report.findings[0].subject.endswith(injected)


async def test_recent_unlisted_file_waits_for_grace(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    trail.add_log(T0 + timedelta(hours=2, minutes=30))  # the next digest is not due yet
    report = await run(trail, tmp_path)
    assert report.findings == []


async def test_listed_but_never_ingested_is_repaired(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    done = set(trail.logs[1:])
    repaired: list[str] = []

    async def processed(bucket: str, key: str, etag: str | None) -> bool:
        return key in done

    async def repair(bucket: str, key: str) -> None:
        repaired.append(key)

    report = await run(trail, tmp_path, processed=processed, repair=repair)
    assert repaired == [trail.logs[0]]
    assert rules(report) == ["log_file_not_ingested"] and report.logs_repaired == 1
    assert report.ok  # repaired, not tampered


async def test_wrong_key(tmp_path: Path) -> None:
    trail = standard_trail(new_key())  # signed by a key the provider does not know
    report = await run(trail, tmp_path)
    assert report.digests_valid == 0 and report.digests_invalid == 5
    assert all("public key not found" in f.reason for f in report.findings)


async def test_same_fingerprint_wrong_signature(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    data, meta = trail.objects[trail.digests[0]]
    trail.objects[trail.digests[0]] = (data, {**meta, "signature": "00" * 256})
    report = await run(trail, tmp_path)
    assert "digest_invalid" in rules(report)


async def test_missing_signature_metadata_and_moved_digest(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    data, _ = trail.objects[trail.digests[0]]
    trail.objects[trail.digests[0]] = (data, {})
    moved = trail.digests[3].replace("main-trail", "other-trail")
    trail.objects[moved] = trail.objects.pop(trail.digests[3])
    report = await run(trail, tmp_path)
    verdicts = {line.uri.rsplit("/", 1)[-1]: line.verdict for line in report.lines}
    assert verdicts[trail.digests[0].rsplit("/", 1)[-1]] == "INVALID: signature metadata missing"
    assert verdicts[moved.rsplit("/", 1)[-1]] == "INVALID: has been moved from its original location"


@pytest.mark.parametrize("name", ["cloudtrail-digest_example.json", "cloudtrail-digest_example_empty.json"])
async def test_documented_digest_examples(name: str, tmp_path: Path) -> None:
    """The documented examples parse; their signatures cannot verify (no key), and say so precisely."""
    body = (Path(__file__).parent / "data" / name).read_bytes()
    digest = parse_digest(gzip.compress(body))
    assert digest.account == "111122223333"
    assert string_to_sign(digest).split(b"\n")[0] == digest.end_text.encode()
    store = MemoryStore({(digest.bucket, digest.key): StoredObject(body, {"signature": "ab" * 256})})
    report = await Verifier(store, keyfile(tmp_path)).verify(
        digest.bucket, "", digest.start - timedelta(hours=1), digest.end + timedelta(hours=1)
    )
    assert [line.verdict for line in report.lines] == [
        "INVALID: public key not found in region us-east-2 for fingerprint " + digest.fingerprint
    ]


async def test_verified_digests_are_not_read_again_until_repairs_land(tmp_path: Path) -> None:
    trail = standard_trail(KEY)
    store = store_of(trail)
    reads: list[str] = []
    inner_get = store.get

    async def counting_get(bucket: str, key: str) -> StoredObject | None:
        reads.append(key)
        return await inner_get(bucket, key)

    store.get = counting_get  # type: ignore[method-assign]
    done = set(trail.logs[1:])

    async def processed(bucket: str, key: str, etag: str | None) -> bool:
        return key in done

    verifier = Verifier(store, keyfile(tmp_path), processed=processed)
    first = await verifier.verify(BUCKET, "", SINCE, UNTIL)
    assert first.logs_repaired == 1 and len(reads) == 10  # 5 digests + 5 log files
    reads.clear()
    second = await verifier.verify(BUCKET, "", SINCE, UNTIL)
    # only the digest with the unprocessed file is read again (its file too), until the repair lands
    assert second.logs_repaired == 1 and reads == [trail.digests[0], trail.logs[0]]
    done.add(trail.logs[0])
    reads.clear()
    third = await verifier.verify(BUCKET, "", SINCE, UNTIL)
    assert third.findings == [] and reads == [trail.digests[0], trail.logs[0]]
    reads.clear()
    assert (await verifier.verify(BUCKET, "", SINCE, UNTIL)).findings == [] and reads == []
