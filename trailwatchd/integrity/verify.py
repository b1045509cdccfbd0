"""The validate-logs algorithm over an ``ObjectStore``, shared by the daemon and ``trailwatchd verify``.

For each digest chain (account, region, trail) with digests delivered in ``[since, until]``:

1. every digest: decompress + parse ("invalid format"), delivered where it says ("moved"), public key
   known by fingerprint in its region ("public key not found"), ``signature`` metadata present and
   verifying over the string to sign ("signature verification failed");
2. the chain: a digest's ``previousDigestS3Object`` must exist (else "deleted or moved", a chain break),
   its decompressed bytes must hash to ``previousDigestHashValue`` and its ``signature`` metadata must
   equal ``previousDigestSignature``; a *starting* digest after an earlier one means validation or
   logging was off in between;
3. every log file a valid digest lists: exists ("not found"), SHA-256 of the decompressed bytes equals
   ``hashValue`` ("hash value doesn't match"), processed by the pipeline (else handed to ``repair``);
4. log files under the prefix, delivered at least ``grace`` before the newest digest end of their
   account/region, that no digest lists: unlisted (injected or written out of band).

The verdicts are plain data (``Report``); turning findings into alerts and metrics is the caller's job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trailwatchd.decode import KeyKind, classify_key
from trailwatchd.integrity.digest import (
    Digest,
    DigestFormatError,
    inflate,
    parse_digest,
    sha256_hex,
    signature_valid,
)
from trailwatchd.integrity.findings import Finding
from trailwatchd.integrity.keys import KeyProvider
from trailwatchd.integrity.store import ObjectStore

Processed = Callable[[str, str, str | None], Awaitable[bool]]
"""(bucket, key, etag) -> did the pipeline process this object?"""
Repair = Callable[[str, str], Awaitable[None]]
Recorded = Callable[[str, str, str], Awaitable[str | None]]
"""(bucket, key, etag) -> SHA-256 of the decompressed bytes the pipeline read for that version, if any."""


@dataclass(frozen=True, slots=True)
class Line:
    """One result line, as ``validate-logs --verbose`` prints them."""

    kind: str  # "Digest file" | "Log file"
    uri: str
    verdict: str  # "valid" or "INVALID: <reason>"

    def __str__(self) -> str:
        return f"{self.kind}\t{self.uri}\t{self.verdict}"


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    digests_valid: int = 0
    digests_invalid: int = 0
    logs_valid: int = 0
    logs_missing: int = 0
    logs_modified: int = 0
    logs_unlisted: int = 0
    logs_repaired: int = 0
    logs_downloaded: int = 0
    """Listed log files read from the store to hash them."""
    logs_hash_reused: int = 0
    """Listed log files checked against the hash the pipeline recorded while ingesting them (no download)."""
    newest_valid: dict[tuple[str, str], datetime] = field(default_factory=dict)
    """Newest verified digest end time per (account, region)."""

    @property
    def ok(self) -> bool:
        return not self.findings or all(f.rule_id.endswith("not_ingested") for f in self.findings)


def _uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


@dataclass
class Verifier:
    store: ObjectStore
    keys: KeyProvider
    processed: Processed | None = None
    repair: Repair | None = None
    recorded: Recorded | None = None
    """The daemon's ledger of hashes: a processed log file is checked without downloading it again."""
    unlisted_grace: timedelta = timedelta(hours=2)

    verified: dict[str, tuple[Digest, str]] = field(default_factory=dict)
    """Digests already verified valid (the daemon keeps this): not downloaded or re-checked again."""

    async def verify(
        self, bucket: str, prefix: str | Sequence[str], since: datetime, until: datetime
    ) -> Report:
        """Verify digests delivered in ``[since, until]`` under ``prefix`` (one or several prefixes)."""
        report = Report()
        listed: list[str] = []
        for one in [prefix] if isinstance(prefix, str) else prefix:
            listed.extend(await self.store.list_keys(bucket, one))
        chains: dict[tuple[str, str, str, str], list[tuple[datetime, str]]] = {}
        logs: list[tuple[str, str, str, datetime]] = []
        for key in listed:
            info = classify_key(key)
            if info.delivered_at is None or info.account is None or info.region is None:
                continue
            if info.kind is KeyKind.DIGEST and since <= info.delivered_at <= until:
                chain = (info.account, info.region, info.trail_name or "", info.home_region or "")
                chains.setdefault(chain, []).append((info.delivered_at, key))
            elif info.kind is KeyKind.LOG:
                logs.append((key, info.account, info.region, info.delivered_at))
        listed_files: set[tuple[str, str]] = set()
        for (account, region, _, _), entries in sorted(chains.items()):
            entries.sort()
            await self._chain(bucket, account, region, [k for _, k in entries], report, listed_files)
        for key, account, region, delivered in logs:
            newest = report.newest_valid.get((account, region))
            if (bucket, key) in listed_files or newest is None or delivered < since:
                continue
            if delivered + self.unlisted_grace <= newest:
                report.logs_unlisted += 1
                report.lines.append(Line("Log file", _uri(bucket, key), "INVALID: not listed by any digest"))
                report.findings.append(
                    Finding(
                        "trailwatchd.integrity.log_file_unlisted",
                        _uri(bucket, key),
                        f"delivered {delivered:%Y-%m-%dT%H:%MZ} but no digest up to "
                        f"{newest:%Y-%m-%dT%H:%M:%SZ} lists it",
                        account,
                        region,
                        newest.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    )
                )
        return report

    async def _chain(  # noqa: PLR0917
        self,
        bucket: str,
        account: str,
        region: str,
        keys: list[str],
        report: Report,
        listed_files: set[tuple[str, str]],
    ) -> None:
        """Verify one chain's digests oldest first, then their links and log files."""
        valid: dict[str, tuple[Digest, str]] = {}  # key -> (digest, signature hex)
        seen_main = False
        for key in keys:
            uri = _uri(bucket, key)
            backfill = classify_key(key).backfill
            cached = self.verified.get(key)
            if cached is not None:  # verified earlier: keep its files as listed, check nothing again
                seen_main = seen_main or not backfill
                valid[key] = cached
                listed_files.update((e.bucket, e.key) for e in cached[0].log_files)
                prev = report.newest_valid.get((account, region))
                if prev is None or cached[0].end > prev:
                    report.newest_valid[(account, region)] = cached[0].end
                continue
            result = await self._digest(bucket, key, region)
            if isinstance(result, str):
                report.digests_invalid += 1
                report.lines.append(Line("Digest file", uri, f"INVALID: {result}"))
                rule = "digest_missing" if result == "not found" else "digest_invalid"
                report.findings.append(Finding(f"trailwatchd.integrity.{rule}", uri, result, account, region))
                seen_main = seen_main or not backfill
                continue
            digest, signature = result
            when = digest.end_text
            link_problem = await self._link(digest, valid)
            if link_problem is not None:
                report.findings.append(
                    Finding("trailwatchd.integrity.digest_missing", uri, link_problem, account, region, when)
                )
                report.gaps.append(f"{uri}: {link_problem}")
            elif digest.starts_chain and seen_main and not backfill:
                report.gaps.append(
                    f"No log files were delivered by CloudTrail before {when} since the previous "
                    "digest (chain restarted)"
                )
                report.findings.append(
                    Finding(
                        "trailwatchd.integrity.chain_restarted",
                        uri,
                        "starting digest after earlier digests: validation or logging was off",
                        account,
                        region,
                        when,
                    )
                )
            seen_main = seen_main or not backfill
            valid[key] = (digest, signature)
            self.verified[key] = (digest, signature)
            report.digests_valid += 1
            report.lines.append(Line("Digest file", uri, "valid"))
            prev = report.newest_valid.get((account, region))
            if prev is None or digest.end > prev:
                report.newest_valid[(account, region)] = digest.end
            repaired_before = report.logs_repaired
            for entry in digest.log_files:
                listed_files.add((entry.bucket, entry.key))
                await self._log_file(entry.bucket, entry.key, entry.hash_value, digest, report, region)
            if report.logs_repaired > repaired_before:
                # Re-check next time until the pipeline has the repaired files: a failed repair retries.
                self.verified.pop(key, None)

    async def _digest(self, bucket: str, key: str, region: str) -> tuple[Digest, str] | str:
        """(digest, its signature) or the validate-logs reason it is invalid."""
        obj = await self.store.get(bucket, key)
        if obj is None:
            return "not found"
        try:
            digest = parse_digest(obj.data)
        except DigestFormatError as exc:
            return f"invalid format ({exc})"
        if (digest.bucket, digest.key) != (bucket, key):
            return "has been moved from its original location"
        signature = obj.metadata.get("signature")
        if not signature:
            return "signature metadata missing"
        key_obj = await self.keys.get(region, digest.fingerprint, digest.end)
        if key_obj is None:
            return f"public key not found in region {region} for fingerprint {digest.fingerprint}"
        if not signature_valid(digest, signature, key_obj):
            return "signature verification failed"
        return digest, signature

    async def _link(self, digest: Digest, valid: dict[str, tuple[Digest, str]]) -> str | None:
        """Check the link to the previous digest; ``None`` when intact (or a starting digest)."""
        if digest.starts_chain:
            return None
        assert digest.previous_bucket is not None and digest.previous_key is not None
        known = valid.get(digest.previous_key) if digest.previous_bucket == digest.bucket else None
        if known is not None:
            prev_raw, prev_sig = known[0].raw, known[1]
        else:
            obj = await self.store.get(digest.previous_bucket, digest.previous_key)
            if obj is None:
                return f"previous digest {_uri(digest.previous_bucket, digest.previous_key)} not found"
            try:
                prev_raw = inflate(obj.data)
            except DigestFormatError:
                return "previous digest is not valid gzip"
            prev_sig = obj.metadata.get("signature", "")
        if digest.previous_hash is not None and sha256_hex(prev_raw) != digest.previous_hash.lower():
            return "previous digest hash value doesn't match (previous digest modified)"
        if (digest.previous_signature or "").lower() != prev_sig.lower():
            return "previous digest signature doesn't match (previous digest replaced)"
        return None

    async def _log_file(  # noqa: PLR0917
        self, bucket: str, key: str, expected: str, digest: Digest, report: Report, region: str
    ) -> None:
        uri = _uri(bucket, key)
        when = digest.end_text
        reason: str | None = None
        rule = "log_file_modified"
        if self.recorded is not None:
            # The pipeline hashed the decompressed bytes of this version (same ETag) when it ingested
            # them: a HEAD proves the file is still there unchanged, the recorded hash is compared.
            etag = await self.store.head(bucket, key)
            recorded = None if etag is None else await self.recorded(bucket, key, etag)
            if etag is None:
                reason, rule = "not found", "log_file_missing"
                report.logs_missing += 1
            elif recorded is not None:
                report.logs_hash_reused += 1
                if recorded != expected.lower():
                    reason = "hash value doesn't match (as ingested)"
                    report.logs_modified += 1
            if reason is not None or recorded is not None:
                self._log_verdict(report, uri, reason, rule, digest, region, when)
                return
        obj = await self.store.get(bucket, key)
        report.logs_downloaded += obj is not None
        if obj is None:
            reason, rule = "not found", "log_file_missing"
            report.logs_missing += 1
        else:
            try:
                actual = sha256_hex(inflate(obj.data))
            except DigestFormatError:
                reason = "invalid format"
            else:
                if actual != expected:
                    reason = "hash value doesn't match"
            if reason is not None:
                report.logs_modified += 1
        if reason is not None:
            self._log_verdict(report, uri, reason, rule, digest, region, when)
            return
        report.logs_valid += 1
        report.lines.append(Line("Log file", uri, "valid"))
        assert obj is not None
        if self.processed is not None and not await self.processed(bucket, key, obj.etag):
            report.logs_repaired += 1
            report.findings.append(
                Finding(
                    "trailwatchd.integrity.log_file_not_ingested",
                    uri,
                    "listed by a digest but never processed; ingested now",
                    digest.account,
                    region,
                    when,
                )
            )
            if self.repair is not None:
                await self.repair(bucket, key)

    @staticmethod
    def _log_verdict(  # noqa: PLR0917
        report: Report, uri: str, reason: str | None, rule: str, digest: Digest, region: str, when: str
    ) -> None:
        if reason is None:
            report.logs_valid += 1
            report.lines.append(Line("Log file", uri, "valid"))
            return
        report.lines.append(Line("Log file", uri, f"INVALID: {reason}"))
        report.findings.append(
            Finding(f"trailwatchd.integrity.{rule}", uri, reason, digest.account, region, when)
        )


def summary(report: Report, since: datetime, until: datetime) -> str:
    """The closing block, shaped like validate-logs' summary."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    total_d = report.digests_valid + report.digests_invalid
    total_l = report.logs_valid + report.logs_missing + report.logs_modified
    out = [
        f"Results requested for {since.strftime(fmt)} to {until.strftime(fmt)}",
        f"{report.digests_valid}/{total_d} digest files valid"
        + (f", {report.digests_invalid}/{total_d} digest files INVALID" if report.digests_invalid else ""),
        f"{report.logs_valid}/{total_l} log files valid"
        + (
            f", {report.logs_missing + report.logs_modified}/{total_l} log files INVALID"
            if report.logs_missing + report.logs_modified
            else ""
        ),
    ]
    if report.logs_unlisted:
        out.append(f"{report.logs_unlisted} log files not listed by any digest")
    out.extend(report.gaps)
    return "\n".join(out)
