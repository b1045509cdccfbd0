"""Detection alerts: who did what, where, from which IP, as a versioned JSON document.

CloudWatch alarms say "count >= 1"; responders need the principal, the call, the account and region,
the source IP and the event itself. Attacker-controlled text (user agent, names, error messages) is
neutralised here: control characters removed and lengths capped, so an alert is safe to paste into
chat or email. The schema is documented in docs/alerts.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from trailwatchd.model import Alert

SCHEMA_VERSION = 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def clean(value: Any, limit: int = 256) -> str | None:
    """A short, single-line, control-free rendering of an event field (None when absent)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else _encoder.encode(value).decode()
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _get(event: Mapping[str, Any], *path: str) -> Any:
    node: Any = event
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def event_id_of(event: Mapping[str, Any]) -> str:
    """CloudTrail's eventID, or a stable hash of the event when it has none."""
    value = event.get("eventID")
    if isinstance(value, str) and value:
        return value
    return "sha256:" + hashlib.sha256(_encoder.encode(event)).hexdigest()[:32]


def alert_dedupe_key(rule_id: str, event_id: str) -> str:
    """One alert per rule and event, however often the event is delivered."""
    return f"{rule_id}|{event_id}"


def _mfa(event: Mapping[str, Any]) -> str | None:
    used = _get(event, "additionalEventData", "MFAUsed")
    if isinstance(used, str):
        return used
    authed = _get(event, "userIdentity", "sessionContext", "attributes", "mfaAuthenticated")
    if isinstance(authed, str):
        return "Yes" if authed == "true" else "No"
    return None


def _principal(event: Mapping[str, Any]) -> str:
    ident = event.get("userIdentity")
    if not isinstance(ident, Mapping):
        return "an unknown principal"
    for value in (
        ident.get("arn"),
        _get(ident, "sessionContext", "sessionIssuer", "arn"),
        ident.get("userName"),
        ident.get("invokedBy"),
        ident.get("principalId"),
        ident.get("type"),
    ):
        if isinstance(value, str) and value:
            return clean(value) or "an unknown principal"
    return "an unknown principal"


def summary(event: Mapping[str, Any]) -> str:
    """ "<principal> called <source>:<name> in <account>/<region> from <ip>[ and got <error>]"."""
    source = clean(event.get("eventSource"), 96) or "?"
    name = clean(event.get("eventName"), 96) or clean(_get(event, "insightDetails", "eventName"), 96) or "?"
    account = (
        clean(event.get("recipientAccountId"), 32)
        or clean(_get(event, "userIdentity", "accountId"), 32)
        or "?"
    )
    region = clean(event.get("awsRegion"), 32) or "?"
    ip = clean(event.get("sourceIPAddress"), 96) or "?"
    text = f"{_principal(event)} called {source}:{name} in {account}/{region} from {ip}"
    error = clean(event.get("errorCode"), 96)
    if error:
        text += f" and got {error}"
    return text


def build_alert(
    *,
    rule_id: str,
    title: str,
    severity: str,
    description: str = "",
    tags: Sequence[str] = (),
    sinks: Sequence[str] = (),
    event: Mapping[str, Any],
    object_uri: str | None,
    matched_at: float,
    schema_version: int = SCHEMA_VERSION,
) -> Alert:
    """The alert for one matching event (schema v1, docs/alerts.md). Never raises on odd events."""
    eid = event_id_of(event)
    ident = event.get("userIdentity") if isinstance(event.get("userIdentity"), Mapping) else {}
    assert isinstance(ident, Mapping)
    body: dict[str, Any] = {
        "schema_version": schema_version,
        "rule_id": rule_id,
        "event_id": eid,
        "severity": severity,
        "title": clean(title, 200),
        "description": description,
        "tags": list(tags),
        "summary": summary(event),
        "who": {
            "arn": clean(ident.get("arn")),
            "type": clean(ident.get("type"), 64),
            "user_name": clean(
                ident.get("userName") or _get(ident, "sessionContext", "sessionIssuer", "userName")
            ),
            "account_id": clean(ident.get("accountId"), 32),
            "access_key_id": clean(ident.get("accessKeyId"), 128),
            "invoked_by": clean(ident.get("invokedBy")),
            "mfa": _mfa(event),
        },
        "what": {
            "event_source": clean(event.get("eventSource"), 128),
            "event_name": clean(event.get("eventName"), 128),
            "event_type": clean(event.get("eventType"), 64),
            "read_only": event.get("readOnly") if isinstance(event.get("readOnly"), bool) else None,
            "error_code": clean(event.get("errorCode"), 128),
            "error_message": clean(event.get("errorMessage"), 512),
        },
        "where": {
            "account": clean(event.get("recipientAccountId"), 32) or clean(ident.get("accountId"), 32),
            "region": clean(event.get("awsRegion"), 32),
            "source_ip": clean(event.get("sourceIPAddress"), 128),
            "user_agent": clean(event.get("userAgent"), 256),
            "vpc_endpoint_id": clean(event.get("vpcEndpointId"), 64),
        },
        "when": {
            "event_time": clean(event.get("eventTime"), 40),
            "matched_at": datetime.fromtimestamp(matched_at, UTC).isoformat().replace("+00:00", "Z"),
        },
        "source": {"object": object_uri},
        "event": dict(event),
    }
    return Alert(
        rule_id=rule_id,
        event_id=eid,
        severity=severity,
        title=body["title"] or rule_id,
        body=body,
        sinks=tuple(sinks),
    )


def alert_to_bytes(alert: Alert) -> bytes:
    """Serialise for the durable spool (Decimal numbers stay JSON numbers)."""
    return _encoder.encode(
        {
            "rule_id": alert.rule_id,
            "event_id": alert.event_id,
            "severity": alert.severity,
            "title": alert.title,
            "sinks": list(alert.sinks),
            "body": alert.body,
        }
    )


def alert_from_bytes(data: bytes) -> Alert:
    """Inverse of :func:`alert_to_bytes`."""
    doc = _decoder.decode(data)
    return Alert(
        rule_id=doc["rule_id"],
        event_id=doc["event_id"],
        severity=doc["severity"],
        title=doc["title"],
        body=doc["body"],
        sinks=tuple(doc["sinks"]),
    )
