"""Integrity findings and the built-in rule ids and severities they are alerted under.

A finding becomes an alert like any rule match: ``finding_event`` gives it an event-shaped body with a
deterministic ``eventID`` (rule + subject), so the spool's dedupe key (``rule_id|event_id``) raises each
finding once however often a digest is re-verified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

RULES: dict[str, tuple[str, str]] = {
    # rule id: (severity, title)
    "trailwatchd.integrity.digest_invalid": ("high", "CloudTrail digest failed validation"),
    "trailwatchd.integrity.digest_missing": ("high", "CloudTrail digest deleted or moved (chain break)"),
    "trailwatchd.integrity.chain_restarted": (
        "warning",
        "CloudTrail digest chain restarted (validation or logging was turned off)",
    ),
    "trailwatchd.integrity.log_file_modified": ("high", "CloudTrail log file modified after delivery"),
    "trailwatchd.integrity.log_file_missing": ("high", "CloudTrail log file deleted or moved"),
    "trailwatchd.integrity.log_file_unlisted": (
        "high",
        "CloudTrail log file present but listed by no digest (injected or out-of-band)",
    ),
    "trailwatchd.integrity.digest_overdue": (
        "high",
        "CloudTrail digests overdue (logging or validation stopped, or digests deleted)",
    ),
    "trailwatchd.integrity.digests_resumed": ("notice", "CloudTrail digests resumed after being overdue"),
    "trailwatchd.integrity.log_file_not_ingested": (
        "notice",
        "CloudTrail log file listed by a digest was never processed (ingested now)",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    subject: str
    """``s3://bucket/key`` of the digest or log file concerned."""
    reason: str
    account: str = ""
    region: str = ""
    when: str = ""
    """ISO time the finding is about (the digest end time), for the alert's event time."""

    @property
    def severity(self) -> str:
        return RULES[self.rule_id][0]

    @property
    def title(self) -> str:
        return RULES[self.rule_id][1]

    @property
    def event_id(self) -> str:
        return hashlib.sha256(f"{self.rule_id}|{self.subject}".encode()).hexdigest()[:32]


def finding_event(finding: Finding) -> dict[str, Any]:
    """An event-shaped mapping for ``build_alert`` (the finding is not a CloudTrail event)."""
    return {
        "eventVersion": "1.0",
        "eventID": finding.event_id,
        "eventTime": finding.when,
        "eventSource": "integrity.trailwatchd",
        "eventName": finding.rule_id.rsplit(".", 1)[-1],
        "eventCategory": "Integrity",
        "awsRegion": finding.region,
        "recipientAccountId": finding.account,
        "errorMessage": finding.reason,
        "resources": [{"ARN": finding.subject, "type": "AWS::S3::Object"}],
    }
