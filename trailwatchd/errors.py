"""The error tree.

Every failure trailwatchd reports is one of these, so callers decide by type, never by message text::

    TrailwatchdError
    ├── ConfigError                 bad configuration or rule file; carries file and key path
    │   └── PatternSyntaxError      a filter pattern AWS would reject; carries line and column
    ├── DecodeError                 an object that is not a readable CloudTrail log file
    ├── FetchError                  reading an object failed
    │   ├── TemporaryFetchError     retry later (throttling, 5xx, network)
    │   └── PermanentFetchError     retrying cannot help (NoSuchKey, AccessDenied, KMS denied)
    └── DeliveryError               a sink could not deliver
        ├── TemporaryDeliveryError  retry with backoff; the alert stays spooled
        └── PermanentDeliveryError  the sink rejected it (bad topic, too large); park it

Temporary failures keep the originating object unacknowledged so it is retried; permanent ones are
counted and parked (SQS redrive to the DLQ), never silently dropped.
"""

from __future__ import annotations


class TrailwatchdError(Exception):
    """Base of every error trailwatchd raises on purpose."""


class ConfigError(TrailwatchdError):
    """A configuration or rule file is invalid.

    ``file`` and ``key`` (a dotted key path such as ``rule[3].alarm.period_secs``) say where, so the
    message can point an operator at the exact line to fix.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.key = key
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


class PatternSyntaxError(ConfigError):
    """A filter pattern that CloudWatch Logs would reject.

    ``position`` is the 0-based offset into ``pattern``; ``line`` and ``column`` are 1-based. The string
    form shows the pattern line with a caret under the offending character.
    """

    def __init__(
        self,
        message: str,
        pattern: str,
        position: int,
        *,
        file: str | None = None,
        key: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.position = max(0, min(position, len(pattern)))
        before = pattern[: self.position]
        self.line = before.count("\n") + 1
        self.column = self.position - (before.rfind("\n") + 1) + 1
        self.reason = message
        super().__init__(message, file=file, key=key)

    def __str__(self) -> str:
        lines = self.pattern.split("\n") or [""]
        text = lines[self.line - 1] if self.line - 1 < len(lines) else ""
        where = ": ".join(part for part in (self.file, self.key) if part)
        loc = f"line {self.line}, column {self.column}" if len(lines) > 1 else f"column {self.column}"
        head = f"{where}: " if where else ""
        return f"{head}{self.reason} (at {loc})\n    {text}\n    {' ' * (self.column - 1)}^"


class DecodeError(TrailwatchdError):
    """An object could not be decoded as CloudTrail records; names the object and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class FetchError(TrailwatchdError):
    """Reading an object (S3 GetObject, a local file) failed."""

    def __init__(self, name: str, reason: str, *, code: str = "error") -> None:
        self.name = name
        self.reason = reason
        self.code = code  # a bounded error code, safe as a metric label
        super().__init__(f"{name}: {reason}")


class TemporaryFetchError(FetchError):
    """Throttling, 5xx or a network error: retry later."""


class PermanentFetchError(FetchError):
    """NoSuchKey, AccessDenied, a KMS denial: retrying the same read cannot succeed."""


class DeliveryError(TrailwatchdError):
    """A sink could not deliver an alert or notification."""

    def __init__(self, sink_id: str, reason: str, *, code: str = "error") -> None:
        self.sink_id = sink_id
        self.reason = reason
        self.code = code
        super().__init__(f"sink {sink_id}: {reason}")


class TemporaryDeliveryError(DeliveryError):
    """Throttling, 5xx, network: the alert stays in the spool and is retried with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The sink rejected the alert (no such topic, invalid parameter): retrying cannot help."""
