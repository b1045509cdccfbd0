"""Rule files (TOML) to validated :class:`Rule` objects, with every problem reported at once.

Paths may be files, directories (every ``*.toml`` below, recursively) or globs; files are read in
sorted order so the load order (which is the match order and feeds the digest) never depends on the
file system. Nothing is raised until every file has been read: then one :class:`RuleLoadError` lists
all problems.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from glob import glob
from pathlib import Path
from typing import Any

from trailwatchd.metrics import mirror_metric_name
from trailwatchd.rules.model import Rule
from trailwatchd.rules.problems import Problem, RuleLoadError
from trailwatchd.rules.reader import RuleReader

PACK_KEYS = frozenset({"name", "description", "version", "source"})
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_GLOB_CHARS = frozenset("*?[")


def _toml_files(directory: Path) -> list[Path]:
    # Dot files are editor droppings (.#rules.toml, .rules.toml.swp) or hidden on purpose.
    return sorted(
        p
        for p in directory.rglob("*.toml")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def expand_paths(paths: Iterable[str | Path], problems: list[Problem]) -> list[Path]:
    """Files, directories (recursive ``*.toml``) and globs, each file once, in a stable order.

    A path that does not exist, a glob that matches nothing and a directory without rule files are
    problems: each is almost always a typo that would otherwise load fewer rules than intended.
    """
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if _GLOB_CHARS & set(str(item)):
            found = [Path(m) for m in sorted(glob(str(item), recursive=True))]
            files = [f for m in found for f in (_toml_files(m) if m.is_dir() else [m]) if f.is_file()]
            if not files:
                problems.append(Problem(str(item), None, "paths", "the glob matches no rule file"))
            out.extend(files)
        elif path.is_dir():
            files = _toml_files(path)
            if not files:
                problems.append(Problem(str(item), None, "paths", "the directory holds no *.toml rule file"))
            out.extend(files)
        elif path.is_file():
            out.append(path)
        else:
            problems.append(Problem(str(item), None, "paths", "no such file or directory"))
    seen: set[Path] = set()
    unique = []
    for file in out:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique


def _toml_problem(file: Path, text: str, err: tomllib.TOMLDecodeError) -> Problem:
    """A TOML syntax error with its line and column (parsed from the message: 3.11 has no attributes)."""
    message = str(err)
    at = _TOML_AT.search(message)
    if at is None:
        return Problem(str(file), None, "(file)", f"not valid TOML: {message}")
    line, column = int(at.group(1)), int(at.group(2))
    lines = text.split("\n")
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    picture = f"\n    {shown}\n    {' ' * (column - 1)}^"
    return Problem(str(file), None, "(file)", f"not valid TOML: {message}{picture}", line, column)


def _read_file(file: Path, problems: list[Problem]) -> list[tuple[int, Rule]]:
    """The valid rules of one file with their ``[[rule]]`` positions (for key paths)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(Problem(str(file), None, "(file)", f"cannot read: {err}"))
        return []
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        problems.append(_toml_problem(file, text, err))
        return []
    reader = RuleReader(file, problems)
    reader.unknown(doc, frozenset({"rule", "pack"}), "(top level)")
    _check_pack(doc.get("pack", {}), reader)
    tables: Any = doc.get("rule", [])
    if not isinstance(tables, list):
        reader.problem("rule", "use [[rule]] (an array of tables), not [rule]")
        return []
    rules = []
    for i, table in enumerate(tables):
        rule = reader.rule(table, i)
        if rule is not None:
            rules.append((i, rule))
    return rules


def _check_pack(pack: Any, reader: RuleReader) -> None:
    if not isinstance(pack, dict):
        reader.problem("pack", "must be a table ([pack])")
        return
    reader.unknown(pack, PACK_KEYS, "pack")
    for key in sorted(PACK_KEYS & set(pack)):
        if not isinstance(pack[key], str):
            reader.problem(f"pack.{key}", f"must be a string, not {type(pack[key]).__name__}")


def _check_across(rules: Sequence[tuple[int, Rule]], problems: list[Problem]) -> list[Rule]:
    """Checks that need every rule: unique ids, and metrics the Prometheus mirror can register.

    CloudWatch happily keeps ``LogMetrics/Foo`` with and without dimensions as separate metrics, but
    one Prometheus family has exactly one label set, and different names may map to the same family.
    """
    first: dict[str, Rule] = {}
    families: dict[str, Rule] = {}
    kept = []
    for index, rule in rules:
        where = f"rule[{index}]"
        if rule.id in first:
            problems.append(
                Problem(
                    str(rule.source_file),
                    rule.id,
                    f"{where}.id",
                    f"duplicate id: already defined in {first[rule.id].source_file}",
                )
            )
            continue
        first[rule.id] = rule
        kept.append(rule)
        if rule.metric is None:
            continue
        family = mirror_metric_name(rule.metric.namespace, rule.metric.name)
        other = families.setdefault(family, rule)
        mine = tuple(name for name, _ in rule.metric.dimensions)
        assert other.metric is not None
        theirs = tuple(name for name, _ in other.metric.dimensions)
        same_name = (other.metric.namespace, other.metric.name) == (rule.metric.namespace, rule.metric.name)
        if other is not rule and (not same_name or mine != theirs):
            problems.append(
                Problem(
                    str(rule.source_file),
                    rule.id,
                    f"{where}.metric",
                    f"{_describe(rule)} clashes with {_describe(other)} of rule {other.id!r} "
                    f"({other.source_file}): both become Prometheus counter {family}_total, "
                    "which has exactly one label set",
                )
            )
    return kept


def _describe(rule: Rule) -> str:
    assert rule.metric is not None
    dims = ", ".join(name for name, _ in rule.metric.dimensions) or "none"
    return f"metric {rule.metric.namespace}/{rule.metric.name} (dimensions: {dims})"


def load_rule_files(paths: Sequence[str | Path]) -> list[Rule]:
    """Load and validate every rule in load order; raise :class:`RuleLoadError` listing all problems."""
    if isinstance(paths, str | Path):  # one path, not a sequence of one-character paths
        paths = [paths]
    problems: list[Problem] = []
    loaded: list[tuple[int, Rule]] = []
    for file in expand_paths(paths, problems):
        loaded.extend(_read_file(file, problems))
    rules = _check_across(loaded, problems)
    if problems:
        raise RuleLoadError(problems)
    return rules
