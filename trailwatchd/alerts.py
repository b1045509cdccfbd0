"""Detection alerts: who did what, where, from which IP, as a versioned JSON document.

CloudWatch alarms say "count >= 1"; responders need the principal, the call, the account and region,
the source IP and the event itself (user asks 6 and 8). This module turns one matching CloudTrail record
into that document (schema v1, docs/alerts.md) and serialises alerts for the durable spool.

Two properties matter more than prettiness:

* **Never raise on odd input.** CloudTrail's schema drifts (``readOnly`` as the string ``"True"``,
  ``null`` requestParameters, Insight records with no ``eventName`` or ``userIdentity``); an alert that
  cannot be built is a detection silently lost, so every field lookup tolerates absence and wrong types.
* **Safe to paste.** User agents, session names and error messages are attacker-controlled. Short fields
  and the summary lose control, format and bidi characters (each becomes U+FFFD, so tampering stays
  visible) and are capped in length. The embedded ``event`` stays verbatim: it is evidence.

alerts and sinks are sibling layers: this module builds ``model.Alert``; sinks only consume it.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from trailwatchd.model import Alert

SCHEMA_VERSION = 1
REPLACEMENT = "\ufffd"
UNKNOWN_PRINCIPAL = "an unknown principal"

# Unicode categories that can hide or reorder text, break lines or smuggle invisible payloads:
# controls (Cc: NUL, ESC, CR/LF, NEL), format characters (Cf: bidi overrides such as U+202E, zero-width
# spaces, the U+E0000 "tag" block used for ASCII smuggling), lone surrogates (Cs: not encodable as
# UTF-8, and SNS rejects them in attribute values) and the line/paragraph separators (Zl, Zp).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ASCII_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 64  # CloudTrail records nest a handful of levels; deeper input is hostile or broken

_encoder = msgspec.json.Encoder(decimal_format="number")
_sorted_encoder = msgspec.json.Encoder(decimal_format="number", order="sorted")


class RuleLike(Protocol):
    """What :func:`alert_for_rule` reads from a rule (``trailwatchd.rules.Rule`` satisfies it)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def sinks(self) -> tuple[str, ...]: ...
    @property
    def tags(self) -> tuple[str, ...]: ...


# Characters that start markup in the places a summary is pasted: Slack mrkdwn (``<!channel>`` mentions,
# ``<url|text>`` links, ``&`` entities), Markdown (``[text](url)`` links, code spans) and HTML tags. In
# rendered sentences they become look-alikes, so the text stays readable but can never ping a channel,
# hide a link or open a tag; the structured fields and the embedded event keep the original characters.
MARKUP_LOOKALIKES = str.maketrans({"<": "‹", ">": "›", "&": "＆", "[": "［", "]": "］", "`": "ˋ"})


def neutralise_markup(text: str) -> str:
    """``text`` with Slack/Markdown/HTML-significant characters replaced by look-alikes (see above)."""
    return text.translate(MARKUP_LOOKALIKES)


def neutralise(text: str) -> str:
    """Replace every control, format, surrogate and line-separator character with U+FFFD."""
    if text.isascii():
        return _ASCII_UNSAFE.sub(REPLACEMENT, text)
    return "".join(REPLACEMENT if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in text)


def clean(value: Any, limit: int = 256) -> str | None:
    """A short, single-line, neutralised rendering of an event field; None when absent or empty.

    Non-strings (a number where a name was expected) are rendered as compact JSON rather than dropped,
    so drifted data still shows up. Text longer than ``limit`` characters ends in an ellipsis.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _encoder.encode(_jsonable(value)).decode()
        except (TypeError, ValueError):  # pragma: no cover - _jsonable output always encodes
            text = repr(value)
    if not text:
        return None
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return neutralise(text)


def _get(node: Any, *path: str) -> Any:
    """``node[path[0]][path[1]]...``, or None as soon as a level is missing or not a mapping."""
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that msgspec encodes to valid JSON whatever the decoder handed us.

    Events decoded by msgspec are already fine; events from elsewhere (hand-built, EventBridge inline,
    tests) may carry lone surrogates, NaN or non-JSON types, which would make the spool write or the
    SNS publish raise long after the match. Non-finite numbers and unknown types become strings.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if value.isascii():
            return value
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    return str(value)


def event_id_of(event: Mapping[str, Any]) -> str:
    """CloudTrail's eventID, or ``sha256:<hex>`` of the event (keys sorted) when it has none.

    The hash is stable across re-serialisations, so a redelivered event without an ID still dedupes.
    """
    value = event.get("eventID")
    if isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable():
        return value
    digest = hashlib.sha256(_sorted_encoder.encode(_jsonable(event))).hexdigest()
    return f"sha256:{digest[:32]}"


def alert_dedupe_key(rule_id: str, event_id: str) -> str:
    """One alert per rule and event, however often the event is delivered."""
    return f"{rule_id}|{event_id}"


def _mfa(event: Mapping[str, Any]) -> str | None:
    """``Yes``/``No`` from additionalEventData.MFAUsed (console sign-in) or the session's attributes.

    AWS's own examples spell MFAUsed ``"Yes"``, ``"No"`` and ``"YES"`` (root sign-in), and
    mfaAuthenticated is the *string* ``"true"``/``"false"``; both are normalised.
    """
    used = _get(event, "additionalEventData", "MFAUsed")
    if isinstance(used, str) and used:
        folded = used.strip().lower()
        return {"yes": "Yes", "no": "No"}.get(folded) or clean(used, 16)
    authed = _get(event, "userIdentity", "sessionContext", "attributes", "mfaAuthenticated")
    if isinstance(authed, bool):
        return "Yes" if authed else "No"
    if isinstance(authed, str) and authed.strip().lower() in ("true", "false"):
        return "Yes" if authed.strip().lower() == "true" else "No"
    return None


def _read_only(value: Any) -> bool | None:
    """``readOnly`` is a JSON boolean, but one real fixture has the string ``"True"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def principal(event: Mapping[str, Any]) -> str:
    """The best one-line name for who acted: the ARN, else ``<type> <name>``, else a placeholder."""
    ident = event.get("userIdentity")
    if not isinstance(ident, Mapping):
        return UNKNOWN_PRINCIPAL
    arn = clean(ident.get("arn"))
    if arn:
        return arn
    kind = clean(ident.get("type"), 64)
    for candidate in (
        ident.get("userName"),
        _get(ident, "sessionContext", "sessionIssuer", "arn"),
        ident.get("invokedBy"),
        ident.get("principalId"),
    ):
        name = clean(candidate)
        if name:
            return f"{kind} {name}" if kind else name
    return kind or UNKNOWN_PRINCIPAL


def _is_insight(event: Mapping[str, Any]) -> bool:
    return event.get("eventType") == "AwsCloudTrailInsight" or isinstance(
        event.get("insightDetails"), Mapping
    )


def _outcome_error(event: Mapping[str, Any]) -> str | None:
    """errorCode; failed console sign-ins have none, only ``ConsoleLogin: Failure`` and a message."""
    code = clean(event.get("errorCode"), 96)
    if code:
        return code
    if _get(event, "responseElements", "ConsoleLogin") == "Failure":
        return clean(event.get("errorMessage"), 96) or "Failure"
    return None


def account_of(event: Mapping[str, Any]) -> str | None:
    """``recipientAccountId``, else ``userIdentity.accountId`` (as ``where.account``); neutralised."""
    return clean(event.get("recipientAccountId"), 32) or clean(_get(event, "userIdentity", "accountId"), 32)


def summary(event: Mapping[str, Any], account_name: str | None = None) -> str:
    """One neutralised sentence: ``<principal> called <source>:<name> in <account>/<region> from <ip>``.

    `` and got <errorCode>`` is appended for failed calls. Insight records, which have no caller, read
    ``CloudTrail Insight <type> <state> on <source>:<name> in <account>/<region>``.
    """
    account = account_of(event) or "?"
    if account_name:
        account = f"{account} ({account_name})"
    where = f"{account}/{clean(event.get('awsRegion'), 32) or '?'}"
    if _is_insight(event):
        details = event.get("insightDetails")
        source = clean(_get(details, "eventSource"), 96) or "?"
        name = clean(_get(details, "eventName"), 96) or "?"
        kind = clean(_get(details, "insightType"), 64) or "event"
        state = clean(_get(details, "state"), 16)
        head = f"CloudTrail Insight {kind}{' ' + state if state else ''}"
        return f"{head} on {source}:{name} in {where}"
    source = clean(event.get("eventSource"), 96) or "?"
    name = clean(event.get("eventName"), 96) or "?"
    ip = clean(event.get("sourceIPAddress"), 96) or "?"
    text = f"{principal(event)} called {source}:{name} in {where} from {ip}"
    error = _outcome_error(event)
    return f"{text} and got {error}" if error else text


def _iso(epoch: float) -> str | None:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``; None for a clock value datetime cannot hold."""
    try:
        stamp = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


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
    object_created_at: float | None = None,
    schema_version: int = SCHEMA_VERSION,
    account_name: str | None = None,
) -> Alert:
    """The alert for one matching event (schema v1, docs/alerts.md). Never raises on odd events.

    ``account_name`` comes from the operator's ``[enrichment.accounts]`` (shown in ``where`` and the
    summary); it is cleaned like event text anyway, since it ends up in the same rendered sentence.
    """
    account_name = clean(account_name, 128)
    ident = event.get("userIdentity")
    ident = ident if isinstance(ident, Mapping) else {}
    insight = event.get("insightDetails") if _is_insight(event) else None
    eid = event_id_of(event)
    safe_title = clean(title, 200) or rule_id
    body: dict[str, Any] = {
        "schema_version": schema_version,
        "rule_id": rule_id,
        "event_id": eid,
        "severity": severity,
        "title": safe_title,
        "description": description,
        "tags": [str(t) for t in tags],
        "summary": neutralise_markup(summary(event, account_name)),
        "who": {
            "arn": clean(ident.get("arn")),
            "type": clean(ident.get("type"), 64),
            "principal_id": clean(ident.get("principalId"), 128),
            "user_name": clean(ident.get("userName"))
            or clean(_get(ident, "sessionContext", "sessionIssuer", "userName")),
            "session_issuer": clean(_get(ident, "sessionContext", "sessionIssuer", "arn")),
            "account_id": clean(ident.get("accountId"), 32),
            "access_key_id": clean(ident.get("accessKeyId"), 128),
            "mfa": _mfa(event),
            "invoked_by": clean(ident.get("invokedBy")),
        },
        "what": {
            "event_source": clean(event.get("eventSource"), 128) or clean(_get(insight, "eventSource"), 128),
            "event_name": clean(event.get("eventName"), 128) or clean(_get(insight, "eventName"), 128),
            "event_type": clean(event.get("eventType"), 64),
            "event_category": clean(event.get("eventCategory"), 64),
            "read_only": _read_only(event.get("readOnly")),
            "error_code": clean(event.get("errorCode"), 128),
            "error_message": clean(event.get("errorMessage"), 512),
        },
        "where": {
            "account": clean(event.get("recipientAccountId"), 32) or clean(ident.get("accountId"), 32),
            "region": clean(event.get("awsRegion"), 32),
            "source_ip": clean(event.get("sourceIPAddress"), 128),
            "user_agent": clean(event.get("userAgent"), 256),
            "vpc_endpoint_id": clean(event.get("vpcEndpointId"), 64),
            "account_name": account_name,
        },
        "when": {
            "event_time": clean(event.get("eventTime"), 40),
            "matched_at": _iso(matched_at),
        },
        "source": {
            "object": object_uri,
            "object_created": None if object_created_at is None else _iso(object_created_at),
        },
        "event": _jsonable(event),
    }
    return Alert(
        rule_id=rule_id,
        event_id=eid,
        severity=severity,
        title=safe_title,
        body=body,
        sinks=tuple(sinks),
    )


def alert_for_rule(
    rule: RuleLike,
    *,
    event: Mapping[str, Any],
    object_uri: str | None,
    matched_at: float,
    default_sinks: Sequence[str] = (),
    object_created_at: float | None = None,
) -> Alert:
    """:func:`build_alert` from a rule object; a rule naming no sinks goes to ``default_sinks``."""
    return build_alert(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        description=rule.description,
        tags=tuple(rule.tags),
        sinks=tuple(rule.sinks) or tuple(default_sinks),
        event=event,
        object_uri=object_uri,
        matched_at=matched_at,
        object_created_at=object_created_at,
    )


class _SpooledAlert(msgspec.Struct, frozen=True, omit_defaults=True):
    """The spool's on-disk shape of an :class:`Alert` (field names are the format; keep them).

    ``kind`` and ``subject`` were added for alarm notifications; with ``omit_defaults`` a per-event
    alert is stored byte for byte as before, and rows written before they existed decode unchanged.
    """

    rule_id: str
    event_id: str
    severity: str
    title: str
    sinks: list[str]
    body: dict[str, Any]
    kind: str = "alert"
    subject: str | None = None


def alert_to_bytes(alert: Alert) -> bytes:
    """Serialise for the durable spool as JSON; Decimal numbers stay JSON numbers (not strings)."""
    return _encoder.encode(
        _SpooledAlert(
            rule_id=alert.rule_id,
            event_id=alert.event_id,
            severity=alert.severity,
            title=alert.title,
            sinks=list(alert.sinks),
            body=dict(alert.body),
            kind=alert.kind,
            subject=alert.subject,
        )
    )


_spool_decoder = msgspec.json.Decoder(_SpooledAlert, float_hook=Decimal)


def alert_from_bytes(data: bytes) -> Alert:
    """Inverse of :func:`alert_to_bytes`; non-integer numbers come back as exact Decimals."""
    doc = _spool_decoder.decode(data)
    return Alert(
        rule_id=doc.rule_id,
        event_id=doc.event_id,
        severity=doc.severity,
        title=doc.title,
        body=doc.body,
        sinks=tuple(doc.sinks),
        kind=doc.kind,
        subject=doc.subject,
    )
