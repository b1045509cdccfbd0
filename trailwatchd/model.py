"""Small frozen types passed between pipeline stages.

They are deliberately plain (dataclasses with slots, no behaviour beyond derived properties) so every
stage, test and tool can build them without the machinery around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "high", "warning", "notice", "info")
"""Rule severities, most severe first."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One unit of input: an S3 object, a local file, or events delivered inline (EventBridge).

    ``key`` is the S3 key or the local path; with ``bucket`` it identifies the object in the ledger.
    ``inline`` carries the raw JSON of each event when there is nothing to fetch.
    """

    source_id: str
    key: str
    bucket: str | None = None
    size: int | None = None
    etag: str | None = None
    last_modified: float | None = None
    """Epoch seconds of the object's creation, for the put-to-alert delay histogram."""
    expected_bucket_owner: str | None = None
    inline: tuple[bytes, ...] | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for S3 objects, the path for local files, ``inline:<key>`` otherwise."""
        if self.inline is not None:
            return f"inline:{self.key}"
        if self.bucket is not None:
            return f"s3://{self.bucket}/{self.key}"
        return self.key


@dataclass(frozen=True, slots=True)
class MetricDatapoint:
    """One metric-filter datapoint: what CloudWatch would receive for one matching event."""

    namespace: str
    name: str
    value: float
    dimensions: tuple[tuple[str, str], ...] = ()
    timestamp: float | None = None
    """The event's ``eventTime`` in epoch seconds (CloudWatch buckets metric-filter data by event time)."""


@dataclass(frozen=True, slots=True)
class Match:
    """A rule matched an event. ``event`` is the fully decoded record, for alerts."""

    rule_id: str
    event: Mapping[str, Any]
    object: ObjectRef | None = None
    datapoint: MetricDatapoint | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A detection alert ready for the sinks: the rule, the event summary and where it came from."""

    rule_id: str
    event_id: str
    severity: str
    title: str
    body: Mapping[str, Any]
    """The JSON document sinks publish (schema in docs/alerts.md)."""
    sinks: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "alert"
    """``"alert"`` (per-event, schema v1) or ``"alarm"`` (a CloudWatch alarm state-change message whose
    ``body`` is CloudWatch's SNS payload, docs/alarms.md)."""
    subject: str | None = None
    """The SNS Subject to use verbatim (alarm notifications); None lets the sink build its own."""
