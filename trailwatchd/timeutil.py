"""ISO-8601 timestamps as AWS writes them, to epoch seconds: one parser for every layer.

CloudTrail's ``eventTime`` (``2024-01-02T03:04:05Z``), S3 notification ``eventTime`` (with milliseconds),
EventBridge ``time`` and SNS ``Timestamp`` all arrive as strings; a time without a zone is taken as UTC,
which is what AWS always means. Anything else is ``None``, never an exception: these values come from
input we do not control.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_iso_time(value: object) -> float | None:
    """Epoch seconds for an ISO-8601 string (``Z`` or an offset; naive means UTC); None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
