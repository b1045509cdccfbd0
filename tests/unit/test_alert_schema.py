"""docs/alert.schema.json describes what the code really sends: real corpus alerts, roll-ups, SNS cuts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from trailwatchd.alerts import alert_to_bytes, build_alert
from trailwatchd.rules import RuleSet
from trailwatchd.sinks.sns import fit_message
from trailwatchd.throttle import Throttle


@pytest.fixture
def validator(repo_root: Path) -> jsonschema.Draft202012Validator:
    schema = json.loads((repo_root / "docs" / "alert.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def corpus_events(corpus_dir: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted((corpus_dir / "stratus-red-team").glob("*.json")):
        data = json.loads(path.read_text(), parse_float=Decimal)
        events.extend(data if isinstance(data, list) else data.get("Records", [data]))
    docs = corpus_dir / "aws-docs-examples" / "cloudtrail_events_from_aws_docs.jsonl"
    for line in docs.read_text().splitlines():
        if line.strip():
            events.append(json.loads(line, parse_float=Decimal))
    return [e for e in events if isinstance(e, dict)]


def test_every_corpus_alert_validates(validator: jsonschema.Draft202012Validator, corpus_dir: Path) -> None:
    events = corpus_events(corpus_dir)
    assert len(events) > 50
    for event in events:
        alert = build_alert(
            rule_id="r1", title="T", severity="high", event=event, object_uri="s3://b/k", matched_at=1.7e9
        )
        body = json.loads(alert_to_bytes(alert))["body"]
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], (event.get("eventID"), errors)


def test_hostile_and_empty_events_validate(validator: jsonschema.Draft202012Validator) -> None:
    hostile = {
        "eventID": "e1",
        "userAgent": "<!channel> [click](https://evil) `x` \u202e\x1b[31m" + "A" * 5000,
        "userIdentity": {"arn": "arn:aws:iam::1:user/<script>", "type": 7},
        "errorMessage": "\u2028" * 900,
        "sourceIPAddress": "&amp;",
    }
    for event in (hostile, {}, {"userIdentity": None, "readOnly": "True"}):
        alert = build_alert(
            rule_id="r1", title="T", severity="info", event=event, object_uri=None, matched_at=0
        )
        body = json.loads(alert_to_bytes(alert))["body"]
        assert [e.message for e in validator.iter_errors(body)] == []
    summary = json.loads(
        alert_to_bytes(
            build_alert(
                rule_id="r1", title="T", severity="info", event=hostile, object_uri=None, matched_at=0
            )
        )
    )["body"]["summary"]
    assert not set("<>&[]`") & set(summary)
    assert "‹script›" in summary and "＆amp;" in summary


def test_sns_truncated_body_validates(validator: jsonschema.Draft202012Validator) -> None:
    event = {"eventID": "e1", "eventName": "PutObject", "requestParameters": {"blob": "x" * 300_000}}
    alert = build_alert(rule_id="r1", title="T", severity="info", event=event, object_uri=None, matched_at=0)
    fitted = fit_message(alert.body, 262_144)
    assert fitted is not None
    data, truncated = fitted
    assert truncated and len(data) <= 262_144
    assert [e.message for e in validator.iter_errors(json.loads(data))] == []


def test_rollup_alert_validates(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[rule]]\nid = "r1"\npattern = \'{ $.eventName = "X" }\'\nmax_alerts_per_minute = 1\n')
    rule = RuleSet.load([path]).get("r1")
    throttle = Throttle()
    events = [
        {"eventID": f"e{i}", "eventName": "X", "userIdentity": {"arn": f"<u{i % 9}>"}} for i in range(50)
    ]
    throttle.commit(
        throttle.plan(
            [(rule, e) for e in events],
            rules={"r1": rule},
            object_uri=None,
            now=0.0,
            default_sinks=("out",),
            default_ttl_secs=60,
        )
    )
    (rollup,) = throttle.flush(
        rules={"r1": rule}, now=60.0, default_sinks=("out",), default_ttl_secs=60
    ).rollups
    body = json.loads(alert_to_bytes(rollup))["body"]
    assert [e.message for e in validator.iter_errors(body)] == []


def test_schema_rejects_what_the_code_must_never_send(validator: jsonschema.Draft202012Validator) -> None:
    """The schema has teeth: unsafe text, a missing section or a wrong version fails validation."""
    good = json.loads(
        alert_to_bytes(
            build_alert(
                rule_id="r1",
                title="T",
                severity="info",
                event={"eventID": "e"},
                object_uri=None,
                matched_at=0,
            )
        )
    )["body"]
    assert validator.is_valid(good)
    for bad in (
        {**good, "summary": "a\x1bb"},
        {**good, "summary": "<!channel>"},
        {**good, "schema_version": 2},
        {k: v for k, v in good.items() if k != "who"},
        {**good, "where": {**good["where"], "user_agent": "x" * 257}},
        {**good, "severity": "loud"},
    ):
        assert not validator.is_valid(bad)
