"""Rule drafts -> a pack directory: ``<name>.toml``, ``README.md`` (what to fill in) and ``events/``.

The TOML is written by hand rather than by a TOML library so the file reads like the shipped packs
(comments, key order, patterns as literal strings when they can be) and so golden-example stubs can be
left commented out: a pack must load before its examples exist, yet nobody may mistake it for a tested one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from trailwatchd.migrate.importer import Drafts

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    """A TOML literal string when possible (patterns stay readable), else a basic string.

    JSON string escapes are a subset of TOML basic-string escapes, so json.dumps is a correct encoder,
    except that TOML also forbids a raw DEL (U+007F), which JSON leaves as it is.
    """
    if "'" not in text and not any(ord(c) < 32 or ord(c) == 127 for c in text):
        return f"'{text}'"
    return _basic(text)


def _basic(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _basic(key)


def _table(lines: list[str], header: str, table: dict[str, Any]) -> None:
    lines.append("")
    lines.append(header)
    for key, value in table.items():
        lines.append(f"{toml_key(key)} = {toml_value(value)}")


def render_pack(drafts: Drafts, *, name: str, source: str) -> str:
    """The pack's TOML text."""
    lines = [
        f"# Imported by `trailwatchd import` from {source}.",
        "# TODO before relying on this pack: add golden examples to every rule (see README.md), then run",
        "# `trailwatchd test-rules <this directory>`.",
        "",
        "[pack]",
        f"name = {toml_string(name)}",
        f"source = {toml_string(source)}",
    ]
    for draft in drafts.rules:
        rule = {k: v for k, v in draft.items() if k not in ("metric", "alarm") and not k.startswith("_")}
        lines += ["", "# " + "-" * 106]
        if draft.get("_source"):
            lines.append(f"# from {draft['_source']}")
        _table(lines, "[[rule]]", rule)
        _table(lines, "[rule.metric]", draft["metric"])
        if "alarm" in draft:
            _table(lines, "[rule.alarm]", draft["alarm"])
        rid = draft["id"]
        lines += [
            "",
            "# TODO golden examples: put a real CloudTrail record this rule must match in",
            f"# events/{rid}.match.json and a near miss it must not match in events/{rid}.miss.json,",
            "# then uncomment:",
            "# [[rule.examples]]",
            "# match = true",
            f'# file = "events/{rid}.match.json"',
            "#",
            "# [[rule.examples]]",
            "# match = false",
            f'# file = "events/{rid}.miss.json"',
        ]
    return "\n".join(lines) + "\n"


def render_readme(drafts: Drafts, *, name: str, source: str) -> str:
    """What the user must fill in or check, item by item."""
    out = [
        f"# {name}",
        "",
        f"Imported by `trailwatchd import` from `{source}`. The patterns, metrics and alarm settings are the",
        "source's, unchanged. Before relying on the pack:",
        "",
        "## TODO: golden examples",
        "",
        "No rule has golden examples yet, so nothing proves they fire. For each rule, save a real CloudTrail",
        "record it must match and a near miss it must not match under `events/`, and uncomment the",
        "`[[rule.examples]]` stubs below the rule in the TOML file:",
        "",
    ]
    out += [
        f"- [ ] `{r['id']}`: `events/{r['id']}.match.json`, `events/{r['id']}.miss.json`"
        for r in drafts.rules
    ]
    out += ["", "## TODO: sinks", ""]
    if drafts.placeholders:
        out.append(
            "These alarm actions referred to something only CloudFormation can resolve; they became sink"
        )
        out.append(
            'ids. Define each as a sink (e.g. `type = "sns"` with the topic ARN) in the daemon config:'
        )
        out.append("")
        out += [f"- [ ] `{sink}`: {why}" for sink, why in sorted(drafts.placeholders.items())]
    else:
        out.append("None: every action is an SNS topic ARN or a sink id you named.")
    out += ["", "## Notes from the import", ""]
    out += [f"- {note}" for note in drafts.notes] or ["None: everything was carried over."]
    return "\n".join(out) + "\n"


def write_pack(drafts: Drafts, directory: Path, *, name: str, source: str) -> Path:
    """Create the pack directory (refusing to overwrite an existing pack file); returns the TOML path."""
    directory.mkdir(parents=True, exist_ok=True)
    toml_path = directory / f"{name}.toml"
    if toml_path.exists():
        raise FileExistsError(f"{toml_path} exists: choose another -o directory")
    (directory / "events").mkdir(exist_ok=True)
    (directory / "events" / "README.md").write_text(
        "TODO: golden example events for this pack (one CloudTrail record per file); see ../README.md.\n",
        encoding="utf-8",
    )
    toml_path.write_text(render_pack(drafts, name=name, source=source), encoding="utf-8")
    (directory / "README.md").write_text(render_readme(drafts, name=name, source=source), encoding="utf-8")
    return toml_path
