"""Alert documents (schema v1): who/what/where from real corpus events, drift tolerance, neutralising."""

from __future__ import annotations

import json
import sys
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trailwatchd.alerts import (
    REPLACEMENT,
    alert_dedupe_key,
    alert_for_rule,
    alert_from_bytes,
    alert_to_bytes,
    build_alert,
    clean,
    event_id_of,
    neutralise,
)
from trailwatchd.model import Alert

MATCHED_AT = 1722588900.5  # 2024-08-02T08:55:00.500Z
DOCS = "aws-docs-examples/cloudtrail_events_from_aws_docs.jsonl"
INSIGHTS = "envelopes/cloudtrail-insight-file_example.json"


def docs_event(corpus: Path, line: int) -> dict[str, Any]:
    """Record ``line`` (1-based, as in the corpus manifest) of the AWS documentation examples."""
    lines = (corpus / DOCS).read_text().splitlines()
    event: dict[str, Any] = json.loads(lines[line - 1], parse_float=Decimal)
    return event


def alert(event: Any, **kw: Any) -> Alert:
    """Build an alert with fixed rule values, overridable per test."""
    args: dict[str, Any] = {
        "rule_id": "r1",
        "title": "Test rule",
        "severity": "high",
        "event": event,
        "object_uri": "s3://trail/AWSLogs/o.json.gz",
        "matched_at": MATCHED_AT,
    }
    args.update(kw)
    return build_alert(**args)


def test_console_login_without_mfa(corpus_dir: Path) -> None:
    """A real Stratus Red Team console sign-in without MFA yields who/what/where/when for a responder."""
    path = corpus_dir / "stratus-red-team/aws.initial-access.console-login-without-mfa.json"
    event = json.loads(path.read_text())[0]
    a = alert(event, tags=("cis", "3.2"), sinks=("sns",), description="Why it matters.")
    body = a.body
    user = "arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl"
    assert body["summary"] == (
        f"{user} called signin.amazonaws.com:ConsoleLogin in 562283505220/eu-west-2r from 225.01.00.16"
    )
    assert body["who"] == {
        "arn": user,
        "type": "IAMUser",
        "principal_id": "AIDA1ERT0661IN5R239V",
        "user_name": "stratus-red-team-nmfalu-jfzdtsvchl",
        "session_issuer": None,
        "account_id": "562283505220",
        "access_key_id": None,
        "mfa": "No",
        "invoked_by": None,
    }
    assert body["what"]["event_name"] == "ConsoleLogin" and body["what"]["read_only"] is False
    assert body["what"]["event_type"] == "AwsConsoleSignIn" and body["what"]["error_code"] is None
    assert body["where"] == {
        "account": "562283505220",
        "region": "eu-west-2r",
        "source_ip": "225.01.00.16",
        "user_agent": "stratus-red-team_fccf7123-0651-41f5-b06c-460da5ee1c94",
        "vpc_endpoint_id": None,
        "account_name": None,
    }
    assert body["when"] == {"event_time": "2024-08-02T08:53:24Z", "matched_at": "2024-08-02T08:55:00.500Z"}
    assert body["source"] == {"object": "s3://trail/AWSLogs/o.json.gz", "object_created": None}
    assert body["event"] == event and body["schema_version"] == 1
    assert body["tags"] == ["cis", "3.2"] and body["description"] == "Why it matters."
    assert (a.rule_id, a.event_id, a.severity, a.sinks) == (
        "r1",
        "865d9377-9c6b-4fd7-8aad-725e95f6a140",
        "high",
        ("sns",),
    )
    assert body["event_id"] == a.event_id and body["title"] == a.title == "Test rule"


def test_root_sign_in_normalises_mfa_spelling(corpus_dir: Path) -> None:
    """AWS's root sign-in example says MFAUsed "YES"; the alert says "Yes" and names the root ARN."""
    body = alert(docs_event(corpus_dir, 7)).body
    assert body["who"]["type"] == "Root" and body["who"]["mfa"] == "Yes"
    assert body["who"]["access_key_id"] is None  # "" in the record: empty means absent
    assert body["summary"].startswith("arn:aws:iam::111122223333:root called signin.amazonaws.com:")


def test_failed_sign_in_without_arn_names_user_and_failure(corpus_dir: Path) -> None:
    """A failed console sign-in has no errorCode and no ARN: the summary still says who and that it failed."""
    body = alert(docs_event(corpus_dir, 3)).body
    assert body["summary"] == (
        "IAMUser anaya called signin.amazonaws.com:ConsoleLogin in 111122223333/us-east-1 "
        "from 192.0.2.0 and got Failed authentication"
    )
    assert body["what"]["error_code"] is None
    assert body["what"]["error_message"] == "Failed authentication"
    assert body["who"]["mfa"] == "Yes"


def test_assume_role_by_assumed_role(corpus_dir: Path) -> None:
    """AssumeRole by a role session: issuer role, role name, key id and MFA from the session attributes."""
    body = alert(docs_event(corpus_dir, 24)).body
    who = body["who"]
    assert who["arn"] == "arn:aws:sts::111111111111:assumed-role/JohnDoe/JohnRole1"
    assert who["session_issuer"] == "arn:aws:iam::111111111111:role/JohnRole1"
    assert who["user_name"] == "JohnDoe"  # sessionIssuer.userName: the record has no userName
    assert who["access_key_id"] == "AKIAI44QH8DHBEXAMPLE"
    assert who["mfa"] == "No"  # sessionContext.attributes.mfaAuthenticated "false"
    assert body["what"]["event_source"] == "sts.amazonaws.com"
    assert body["where"]["user_agent"].startswith("aws-cli/1.16.248")
    assert body["event"]["requestParameters"]["durationSeconds"] == 3600


def test_insight_record_without_event_name(corpus_dir: Path) -> None:
    """An Insight record (no eventName, no userIdentity) gets an Insight summary and its numbers intact."""
    doc = json.loads((corpus_dir / INSIGHTS).read_text(), parse_float=Decimal)
    event = doc["Records"][0]
    body = alert(event).body
    assert body["summary"] == (
        "CloudTrail Insight ApiCallRateInsight Start on ssm.amazonaws.com:UpdateInstanceInformation "
        "in 123456789012/us-east-1"
    )
    assert body["what"]["event_name"] == "UpdateInstanceInformation"
    assert body["what"]["event_category"] == "Insight"
    assert set(body["who"].values()) == {None}
    stats = body["event"]["insightDetails"]["insightContext"]["statistics"]
    assert stats["baseline"]["average"] == Decimal("85.4202380952")


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"userIdentity": None, "requestParameters": None, "responseElements": None},
        {"userIdentity": "root", "additionalEventData": "MFAUsed=Yes", "insightDetails": 3},
        {"eventName": 5, "eventSource": ["s3"], "readOnly": "True", "awsRegion": {"r": 1}},
        {"userIdentity": {"sessionContext": {"attributes": None, "sessionIssuer": []}}},
        {"eventType": "AwsCloudTrailInsight"},
        {"eventTime": None, "sourceIPAddress": 17, "errorCode": Decimal("1.5"), "eventID": ""},
    ],
    ids=["empty", "nulls", "wrong-containers", "wrong-scalars", "broken-session", "bare-insight", "numbers"],
)
def test_schema_drift_never_raises(event: dict[str, Any]) -> None:
    """Missing or wrongly typed fields give a complete alert with placeholders, never an exception."""
    a = alert(event)
    body = a.body
    assert set(body) >= {"summary", "who", "what", "where", "when", "source", "event", "event_id"}
    assert a.event_id.startswith("sha256:")
    assert "?" in body["summary"]
    assert json.loads(alert_to_bytes(a))["body"]["summary"] == body["summary"]


def test_wrong_scalar_types_are_rendered_not_dropped() -> None:
    """A number where a name belongs is shown as text, and readOnly "True" becomes a boolean."""
    body = alert({"eventName": 5, "readOnly": "True", "sourceIPAddress": 17}).body
    assert body["what"]["event_name"] == "5" and body["what"]["read_only"] is True
    assert body["where"]["source_ip"] == "17"


HOSTILE = [
    "\r\n",
    "\x1b[31m",
    "\x00",
    "\x85",  # NEL
    "\u2028",  # line separator
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "\U000e0041",  # tag character (ASCII smuggling)
    "\ud800",  # lone surrogate
]


@pytest.mark.parametrize("bad", HOSTILE, ids=[f"U+{ord(c[-1]):04X}" for c in HOSTILE])
def test_attacker_text_is_neutralised(bad: str) -> None:
    """Control, format, bidi and separator characters never reach the summary or the short fields."""
    event = {
        "eventSource": "iam.amazonaws.com",
        "eventName": f"Create{bad}User",
        "userAgent": f"curl{bad}Injected: yes",
        "sourceIPAddress": f"10.0.0.1{bad}",
        "errorMessage": f"denied{bad}",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::1:user/x{bad}"},
    }
    body = alert(event).body
    shown = [
        body["summary"],
        body["what"]["event_name"],
        body["where"]["user_agent"],
        body["where"]["source_ip"],
        body["what"]["error_message"],
        body["who"]["arn"],
    ]
    for text in shown:
        assert bad not in text and REPLACEMENT in text
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in text)
    assert body["event"]["eventName"].startswith("Create")  # the evidence itself stays


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="exhaustive over Python 3.11's Unicode 14")
def test_neutralise_covers_every_unsafe_code_point() -> None:
    """Every Cc/Cf/Cs/Zl/Zp code point is replaced, and nothing else is.

    Planes 0-1 and the tag block hold every such code point; the other planes are letters or private use.
    """
    unsafe = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    text = "".join(map(chr, [*range(0x20000), *range(0xE0000, 0xE1000)]))
    expected = "".join(REPLACEMENT if unicodedata.category(c) in unsafe else c for c in text)
    assert neutralise(text) == expected
    assert neutralise(text[:128]) == expected[:128]  # the ASCII fast path agrees


def test_lengths_are_capped() -> None:
    """A 10,000-character user agent is cut to 256 characters ending in an ellipsis; the event keeps it."""
    body = alert({"userAgent": "A" * 10_000, "userIdentity": {"arn": "B" * 5000}}).body
    assert len(body["where"]["user_agent"]) == 256 and body["where"]["user_agent"].endswith("…")
    assert len(body["who"]["arn"]) == 256
    assert len(body["summary"]) < 600
    assert len(body["event"]["userAgent"]) == 10_000
    assert clean("x" * 10, 5) == "xxxx…" and clean("") is None and clean(None) is None


def test_event_id_fallback_is_stable_and_distinct() -> None:
    """Without an eventID the id is a sha256 that ignores key order but not content."""
    a = {"eventName": "X", "eventTime": "2024-01-01T00:00:00Z", "n": Decimal("1.5")}
    b = dict(reversed(list(a.items())))
    assert event_id_of(a) == event_id_of(b)
    assert event_id_of(a) != event_id_of({**a, "eventName": "Y"})
    assert event_id_of({"eventID": "abc-1"}) == "abc-1"
    assert event_id_of({"eventID": "bad\nid"}).startswith("sha256:")


def test_dedupe_key_separates_rules_and_events() -> None:
    """The same event under two rules, or two events under one rule, give different keys."""
    assert alert_dedupe_key("r1", "e1") != alert_dedupe_key("r2", "e1")
    assert alert_dedupe_key("r1", "e1") != alert_dedupe_key("r1", "e2")
    assert alert_dedupe_key("r1", "e1") == alert_dedupe_key("r1", "e1")


def test_spool_round_trip_keeps_decimals_as_numbers(corpus_dir: Path) -> None:
    """alert_to_bytes/alert_from_bytes round-trip exactly; Decimals are JSON numbers, not strings."""
    doc = json.loads((corpus_dir / INSIGHTS).read_text(), parse_float=Decimal)
    event = {**doc["Records"][0], "big": 12345678901234567890123, "tiny": Decimal("1E-30")}
    a = alert(event, sinks=("sns", "log"), tags=("t",))
    data = alert_to_bytes(a)
    assert b'"average":85.4202380952' in data and b'"tiny":1E-30' in data
    back = alert_from_bytes(data)
    assert back == a
    assert back.body["event"]["tiny"] == Decimal("1E-30") and back.sinks == ("sns", "log")
    assert json.loads(data)["body"]["event"]["big"] == 12345678901234567890123


def test_unencodable_values_are_made_json_safe() -> None:
    """Lone surrogates, NaN and foreign types in a hand-built event still spool as valid JSON."""
    event = {"eventName": "X", "s": "a\ud800b", "f": float("nan"), "d": Decimal("Infinity"), "o": object()}
    data = alert_to_bytes(alert(event))
    doc = json.loads(data)["body"]["event"]
    assert doc["s"] == "a\ufffdb" and doc["f"] == "nan" and doc["d"] == "Infinity"
    assert doc["o"].startswith("<object")


def test_matched_at_out_of_range_is_null() -> None:
    """A clock value datetime cannot represent gives matched_at null instead of an exception."""
    assert alert({}, matched_at=1e20).body["when"]["matched_at"] is None


@dataclass(frozen=True)
class _Rule:
    id: str = "cis-3.3"
    title: str = "Root used"
    description: str = "Root should not be used."
    severity: str = "critical"
    sinks: tuple[str, ...] = ()
    tags: tuple[str, ...] = ("cis",)


def test_alert_for_rule_uses_default_sinks_when_rule_names_none(corpus_dir: Path) -> None:
    """The rule adapter copies the rule's fields and falls back to the default sinks."""
    event = docs_event(corpus_dir, 7)
    a = alert_for_rule(
        _Rule(), event=event, object_uri=None, matched_at=MATCHED_AT, default_sinks=("console",)
    )
    assert (a.rule_id, a.severity, a.title, a.sinks) == ("cis-3.3", "critical", "Root used", ("console",))
    assert a.body["description"] == "Root should not be used." and a.body["tags"] == ["cis"]
    named = alert_for_rule(_Rule(sinks=("pager",)), event=event, object_uri=None, matched_at=0.0)
    assert named.sinks == ("pager",) and named.body["source"] == {"object": None, "object_created": None}
