"""Golden examples: the events each rule must (or must not) match, inline or from files.

Example files may be anything a CloudTrail event is usually found in: a delivered log file
(``{"Records": [...]}``, gzip or not), a JSON array, JSON Lines or one pretty-printed record. The rules
layer cannot import :mod:`trailwatchd.decode` (a sibling layer), and examples are small and trusted, so
a few lines here read them with the same number semantics (:func:`loads_event`: floats as Decimal).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailwatchd.patterns import loads_event
from trailwatchd.rules.model import Example

EXAMPLE_KEYS = frozenset({"match", "event", "event_json", "file", "index", "note"})
_SOURCES = ("event", "event_json", "file")
Report = Callable[[str, str], None]
"""``report(key_path, message)``: how parsers record a problem."""


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    """A golden example that did not give the expected answer, with both evaluators' verdicts."""

    file: str
    rule_id: str
    index: int
    """Position in the rule's ``[[rule.examples]]``."""
    expected: bool
    compiled: bool
    reference: bool
    note: str = ""
    origin: str = ""

    def __str__(self) -> str:
        got = "match" if self.compiled else "no match"
        split = (
            "" if self.compiled == self.reference else f"; the reference interpreter says {self.reference}"
        )
        why = f" ({self.note})" if self.note else ""
        return (
            f"{self.file}: rule {self.rule_id!r} example {self.index} [{self.origin}]: expected "
            f"{'match' if self.expected else 'no match'}, got {got}{split}{why}"
        )


def read_events(path: Path) -> list[Any]:
    """Records of an example file: gzip (by magic bytes) or not; Records, array, JSON Lines or one object.

    Raises OSError, UnicodeDecodeError or ValueError (with the JSON Lines line number) when unreadable.
    """
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig").strip()
    try:
        doc = loads_event(text)
    except ValueError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise ValueError(f"not JSON: {whole_error}") from None
        records = []
        for n, line in lines:
            try:
                records.append(loads_event(line))
            except ValueError as err:
                raise ValueError(f"line {n} is not JSON (tried JSON Lines): {err}") from None
        return records
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        return list(doc["Records"])
    if isinstance(doc, list):
        return doc
    return [doc]


def parse_examples(items: Any, prefix: str, rule_file: Path, report: Report) -> tuple[Example, ...]:
    """The ``[[rule.examples]]`` array as Examples; each bad entry is reported and skipped."""
    if not isinstance(items, list):
        report(prefix, "must be an array of tables ([[rule.examples]])")
        return ()
    out = []
    for i, table in enumerate(items):
        key = f"{prefix}[{i}]"
        if not isinstance(table, dict):
            report(key, "must be a table")
            continue
        for unknown in sorted(set(table) - EXAMPLE_KEYS):
            report(f"{key}.{unknown}", f"unknown key (allowed: {', '.join(sorted(EXAMPLE_KEYS))})")
        match = table.get("match")
        ok = True
        if not isinstance(match, bool):
            report(f"{key}.match", "required: true or false")
            ok = False
        note = table.get("note", "")
        if not isinstance(note, str):
            report(f"{key}.note", "must be a string")
            note = ""
        given = [k for k in _SOURCES if k in table]
        if len(given) != 1:
            report(key, "give exactly one of event, event_json or file")
            continue
        if "index" in table and given[0] != "file":
            report(f"{key}.index", "only meaningful with file")
        try:
            event, origin = _event(table, given[0], rule_file)
        except ValueError as err:
            report(f"{key}.{given[0]}", str(err))
            continue
        if not isinstance(event, dict):
            report(f"{key}.{given[0]}", f"an example must be one JSON object, not {type(event).__name__}")
            continue
        if ok:
            out.append(Example(match=bool(match), event=event, note=note, origin=origin))
    return tuple(out)


def _event(table: dict[str, Any], kind: str, rule_file: Path) -> tuple[Any, str]:
    if kind == "event":
        if not isinstance(table["event"], dict):
            raise ValueError("must be a table (use event_json for JSON text)")
        # Round-trip through JSON so TOML floats become Decimal like decoded events; TOML dates (which
        # JSON lacks) become their ISO text.
        return loads_event(json.dumps(table["event"], default=str)), "inline"
    if kind == "event_json":
        if not isinstance(table["event_json"], str):
            raise ValueError("must be a string of JSON text")
        try:
            return loads_event(table["event_json"]), "inline"
        except ValueError as err:
            raise ValueError(f"invalid JSON: {err}") from None
    name = table["file"]
    if not isinstance(name, str) or not name:
        raise ValueError("must be a path relative to the rule file")
    try:
        events = read_events(rule_file.parent / name)
    except (OSError, UnicodeDecodeError, ValueError, EOFError, zlib.error) as err:
        raise ValueError(f"cannot read {name}: {err}") from None
    index = table.get("index")
    if index is None:
        if len(events) != 1:
            raise ValueError(f"{name} holds {len(events)} records: say which with index = N")
        index = 0
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(events):
        raise ValueError(f"index must be an integer 0..{len(events) - 1} ({name} holds {len(events)})")
    return events[index], f"file:{name}#{index}"
