"""``type = "log"``: one structured log line per alert (the console sink of the embedded demo).

The line carries the summary fields (who, what, where, when), never the whole event: CloudTrail records
reach 256 KB and log pipelines truncate or drop lines long before that. Use the file or SNS sink when
the evidence itself must be kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from trailwatchd.config import LogSinkConfig
from trailwatchd.errors import DeliveryError
from trailwatchd.model import Alert

log = structlog.get_logger()


def _section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    return value if isinstance(value, Mapping) else {}


def log_fields(alert: Alert) -> dict[str, Any]:
    """The key/value pairs of one ``alert_logged`` line (already neutralised by ``build_alert``)."""
    body = alert.body
    who, what, where, when = (_section(body, n) for n in ("who", "what", "where", "when"))
    return {
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "event_id": alert.event_id,
        "title": alert.title,
        "summary": body.get("summary"),
        "principal": who.get("arn") or who.get("user_name"),
        "principal_type": who.get("type"),
        "mfa": who.get("mfa"),
        "event_source": what.get("event_source"),
        "event_name": what.get("event_name"),
        "error_code": what.get("error_code"),
        "account": where.get("account"),
        "region": where.get("region"),
        "source_ip": where.get("source_ip"),
        "user_agent": where.get("user_agent"),
        "event_time": when.get("event_time"),
    }


def alarm_log_fields(alert: Alert) -> dict[str, Any]:
    """The key/value pairs of one ``alarm_logged`` line: the alarm, its transition and why."""
    body = alert.body
    return {
        "rule_id": alert.rule_id,
        "alarm_name": body.get("AlarmName"),
        "old_state": body.get("OldStateValue"),
        "new_state": body.get("NewStateValue"),
        "reason": body.get("NewStateReason"),
        "state_change_time": body.get("StateChangeTime"),
        "subject": alert.subject,
    }


class LogSink:
    """Writes ``alert_logged`` lines at the configured level; it cannot fail to deliver."""

    def __init__(self, sink_id: str, config: LogSinkConfig) -> None:
        self.id = sink_id
        self.batch_limit = 100
        self.level = config.level

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        """Log every alert; always reports delivered."""
        emit = getattr(log, self.level)
        for alert in alerts:
            if alert.kind == "alarm":  # body is CloudWatch's alarm message (docs/alarms.md)
                emit("alarm_logged", sink_id=self.id, **alarm_log_fields(alert))
                continue
            emit("alert_logged", sink_id=self.id, **log_fields(alert))
        return [None] * len(alerts)

    async def close(self) -> None:
        """Nothing buffered: structlog writes each line as it is logged."""
