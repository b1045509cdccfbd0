"""Helpers shared by the migration tests: load a draft set as a real pack, compare rules field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trailwatchd.migrate.importer import Drafts
from trailwatchd.migrate.writer import write_pack
from trailwatchd.rules import Rule, RuleSet


def load_drafts(drafts: Drafts, directory: Path, name: str = "imported") -> list[Rule]:
    """Write the pack and load it with the ordinary loader (so it is valid exactly when a user's would be)."""
    write_pack(drafts, directory, name=name, source="test")
    return list(RuleSet.load([str(directory)]).rules)


def signature(rule: Rule) -> dict[str, Any]:
    """Everything a migration must keep: every rule field but golden examples and source file."""
    return {
        "id": rule.id,
        "pattern": rule.pattern.text,
        "title": rule.title,
        "description": rule.description,
        "severity": rule.severity,
        "sinks": rule.sinks,
        "tags": rule.tags,
        "enabled": rule.enabled,
        "metric": rule.metric,
        "alarm": rule.alarm,
    }
