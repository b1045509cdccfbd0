"""``type = "log"``: one structured log line per alert (the console sink of the embedded demo)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from trailwatchd.config import LogSinkConfig
from trailwatchd.errors import DeliveryError
from trailwatchd.model import Alert

log = structlog.get_logger()


class LogSink:
    """Writes ``alert_logged`` lines with the who/what/where fields, not the whole event."""

    def __init__(self, sink_id: str, config: LogSinkConfig) -> None:
        self.id = sink_id
        self.level = config.level

    async def deliver(self, alerts: Sequence[Alert]) -> list[DeliveryError | None]:
        emit = getattr(log, self.level)
        for alert in alerts:
            body = alert.body
            where = body.get("where") or {}
            who = body.get("who") or {}
            emit(
                "alert_logged",
                sink_id=self.id,
                rule_id=alert.rule_id,
                severity=alert.severity,
                event_id=alert.event_id,
                summary=body.get("summary"),
                principal=who.get("arn"),
                source_ip=where.get("source_ip"),
                account=where.get("account"),
                region=where.get("region"),
            )
        return [None] * len(alerts)

    async def close(self) -> None:
        return None
