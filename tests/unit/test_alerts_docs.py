"""docs/alerts.md stays true: its example is what the code builds, its field table is the real schema."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trailwatchd.alerts import build_alert
from trailwatchd.sinks.sns import fifo_ids, message_attributes, subject_for
from trailwatchd.timeutil import parse_iso_time

CONSOLE = "stratus-red-team/aws.initial-access.console-login-without-mfa.json"


def doc_text(repo_root: Path) -> str:
    """The alerts documentation page."""
    return (repo_root / "docs" / "alerts.md").read_text()


def example(repo_root: Path) -> dict[str, Any]:
    """The JSON block following the ``<!-- example-alert -->`` marker."""
    text = doc_text(repo_root)
    block = re.search(r"<!-- example-alert -->\s*```json\n(.*?)\n```", text, re.S)
    assert block is not None
    doc: dict[str, Any] = json.loads(block.group(1), parse_float=Decimal)
    return doc


def test_example_is_what_build_alert_makes_from_the_corpus_event(repo_root: Path, corpus_dir: Path) -> None:
    """Rebuilding the documented alert from the real Stratus event gives the documented JSON exactly."""
    doc = example(repo_root)
    event = json.loads((corpus_dir / CONSOLE).read_text(), parse_float=Decimal)[0]
    assert doc["event"] == event
    matched_at = datetime.fromisoformat(doc["when"]["matched_at"].replace("Z", "+00:00")).timestamp()
    alert = build_alert(
        rule_id=doc["rule_id"],
        title=doc["title"],
        severity=doc["severity"],
        description=doc["description"],
        tags=doc["tags"],
        event=event,
        object_uri=doc["source"]["object"],
        matched_at=matched_at,
        object_created_at=parse_iso_time(doc["source"]["object_created"]),
    )
    assert alert.body == doc
    assert list(alert.body) == list(doc)  # same field order as documented


def test_example_sns_details_match_the_sink(repo_root: Path, corpus_dir: Path) -> None:
    """The Subject, attributes and FIFO dedupe id quoted beside the example are what the sink sends."""
    text = doc_text(repo_root)
    doc = example(repo_root)
    event = json.loads((corpus_dir / CONSOLE).read_text())[0]
    alert = build_alert(
        rule_id=doc["rule_id"], title=doc["title"], severity=doc["severity"],
        event=event, object_uri=None, matched_at=0.0,
    )  # fmt: skip
    assert f"SNS Subject: `{subject_for('trailwatchd', alert.severity, alert.title)}`" in text
    for name, attr in message_attributes(alert).items():
        assert f"`{name}={attr['StringValue']}`" in text
    group, dedupe = fifo_ids(alert.rule_id, alert.event_id)
    assert f"`MessageDeduplicationId` is `{dedupe}`" in text and group == alert.rule_id


def _paths(body: dict[str, Any]) -> set[str]:
    paths = set()
    for key, value in body.items():
        paths.add(key)
        if isinstance(value, dict) and key != "event":
            paths |= {f"{key}.{sub}" for sub in value}
    return paths


def test_field_table_lists_exactly_the_fields_built(repo_root: Path) -> None:
    """Every field the code emits is documented, and every documented field is emitted (or SNS-only)."""
    text = doc_text(repo_root)
    schema = text[text.index("## Schema v1") : text.index("### Summary")]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", schema, re.M))
    alert = build_alert(rule_id="r", title="t", severity="info", event={}, object_uri=None, matched_at=0.0)
    body = alert.body
    assert documented == _paths(dict(body)) | {"event_truncated"}
