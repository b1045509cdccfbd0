"""Prometheus families for integrity verification (bounded labels: outcome, account, region)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from trailwatchd.integrity.verify import Report


class IntegrityMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.digests = Counter(
            "trailwatchd_integrity_digests_total",
            "CloudTrail digest files checked, by outcome (verified, failed).",
            ["outcome"],
            registry=registry,
        )
        self.log_files = Counter(
            "trailwatchd_integrity_log_files_total",
            "Log files checked against digests: verifications that passed (verified), and distinct files "
            "found missing, modified, unlisted or repaired.",
            ["outcome"],
            registry=registry,
        )
        self.last_verified = Gauge(
            "trailwatchd_integrity_last_verified_digest_timestamp_seconds",
            "digestEndTime of the newest verified digest, per account and region.",
            ["account", "region"],
            registry=registry,
        )
        self.log_file_reads = Counter(
            "trailwatchd_integrity_log_file_reads_total",
            "How listed log files were hashed: the SHA-256 recorded at ingestion (recorded), or a download.",
            ["how"],
            registry=registry,
        )
        self.since_last = Gauge(
            "trailwatchd_integrity_seconds_since_last_verified_digest",
            "Seconds from the newest verified digest's end time to now, per account and region (a digest "
            "is due every hour; see digest_overdue_secs).",
            ["account", "region"],
            registry=registry,
        )
        self.overdue = Gauge(
            "trailwatchd_integrity_digests_overdue",
            "1 while no digest has arrived within an hour plus digest_overdue_secs, per account and region.",
            ["account", "region"],
            registry=registry,
        )
        self.errors = Counter(
            "trailwatchd_integrity_errors_total",
            "Verification runs that could not complete (S3 or key lookup error), retried later.",
            ["code"],
            registry=registry,
        )
        for outcome in ("verified", "failed"):
            self.digests.labels(outcome)
        for outcome in ("verified", "missing", "modified", "unlisted", "repaired"):
            self.log_files.labels(outcome)
        for how in ("recorded", "downloaded"):
            self.log_file_reads.labels(how)

    def observe(self, report: Report) -> None:
        self.digests.labels("verified").inc(report.digests_valid)
        self.digests.labels("failed").inc(report.digests_invalid)
        self.log_files.labels("verified").inc(report.logs_valid)
        self.log_files.labels("missing").inc(report.logs_missing)
        self.log_files.labels("modified").inc(report.logs_modified)
        self.log_files.labels("unlisted").inc(report.logs_unlisted)
        self.log_files.labels("repaired").inc(report.logs_repaired)
        self.log_file_reads.labels("recorded").inc(report.logs_hash_reused)
        self.log_file_reads.labels("downloaded").inc(report.logs_downloaded)
        for (account, region), end in report.newest_valid.items():
            self.last_verified.labels(account, region).set(end.timestamp())
