"""Rule files (TOML) to validated :class:`Rule` objects, with every problem reported at once.

An operator editing rules wants the whole list of mistakes in one go, each with the file, the rule id,
the key path and, for patterns, the line/column with a caret; not a fix-one-rerun loop.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from glob import glob
from pathlib import Path
from typing import Any

from trailwatchd.errors import ConfigError, PatternSyntaxError
from trailwatchd.model import SEVERITIES
from trailwatchd.patterns import Prop, compile_pattern, loads_event, parse_selector, required_values
from trailwatchd.rules.model import (
    HIGH_CARDINALITY,
    MISSING_DATA,
    OPERATORS,
    RULE_ID_RE,
    STATISTICS,
    UNITS,
    AlarmSpec,
    Example,
    MetricSpec,
    Rule,
    numeric,
)

RULE_KEYS = {
    "id",
    "title",
    "description",
    "severity",
    "pattern",
    "sinks",
    "tags",
    "enabled",
    "metric",
    "alarm",
    "examples",
}
METRIC_KEYS = {"namespace", "name", "value", "default_value", "unit", "dimensions"}
ALARM_KEYS = {
    "name",
    "description",
    "statistic",
    "period_secs",
    "evaluation_periods",
    "datapoints_to_alarm",
    "threshold",
    "comparison_operator",
    "treat_missing_data",
    "alarm_actions",
    "ok_actions",
    "insufficient_data_actions",
}
EXAMPLE_KEYS = {"match", "event", "event_json", "file", "index", "note"}
PACK_KEYS = {"name", "description", "version", "source"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a rule file."""

    file: str
    rule_id: str | None
    key: str
    message: str

    def __str__(self) -> str:
        rule = f" rule {self.rule_id!r}" if self.rule_id else ""
        return f"{self.file}:{rule} {self.key}: {self.message}"


class RuleLoadError(ConfigError):
    """Rule files are invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in rule files:\n{lines}")

    def __str__(self) -> str:
        return self.message


def expand_paths(paths: Iterable[str | Path], problems: list[Problem]) -> list[Path]:
    """Files, directories (recursive ``*.toml``) and globs, sorted, each file once."""
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if any(ch in str(item) for ch in "*?["):
            matches = [Path(m) for m in sorted(glob(str(item), recursive=True))]
            if not matches:
                problems.append(Problem(str(item), None, "paths", "glob matches no file"))
            out.extend(m for m in matches if m.is_file())
        elif p.is_dir():
            out.extend(sorted(p.rglob("*.toml")))
        elif p.is_file():
            out.append(p)
        else:
            problems.append(Problem(str(item), None, "paths", "no such file or directory"))
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def read_events(path: Path) -> list[Any]:
    """Events of an example file: gzip or not; Records file, JSON array, JSON Lines or one object."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8").strip()
    try:
        doc = loads_event(text)
    except json.JSONDecodeError:
        return [loads_event(line) for line in text.splitlines() if line.strip()]
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        return list(doc["Records"])
    if isinstance(doc, list):
        return doc
    return [doc]


class _RuleReader:
    def __init__(self, file: Path, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.rule_id: str | None = None

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(str(self.file), self.rule_id, key, message))

    def unknown(self, table: dict[str, Any], allowed: set[str], prefix: str) -> None:
        for key in sorted(set(table) - allowed):
            self.problem(f"{prefix}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def string(self, table: dict[str, Any], key: str, prefix: str, default: str | None = None) -> str | None:
        value = table.get(key, default)
        if value is not None and not isinstance(value, str):
            self.problem(f"{prefix}.{key}", f"must be a string, not {type(value).__name__}")
            return default
        return value

    def strings(self, table: dict[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{prefix}.{key}", "must be a list of strings")
            return ()
        return tuple(value)

    def integer(self, table: dict[str, Any], key: str, prefix: str, default: int, low: int = 1) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.problem(f"{prefix}.{key}", f"must be an integer >= {low}")
            return default
        return value

    # -- one rule -----------------------------------------------------------------------------------
    def rule(self, table: Any, index: int) -> Rule | None:
        prefix = f"rule[{index}]"
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table ([[rule]])")
            return None
        rid = table.get("id")
        self.rule_id = rid if isinstance(rid, str) else None
        if not isinstance(rid, str) or not RULE_ID_RE.match(rid):
            self.problem(
                f"{prefix}.id",
                "required: 1-128 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            )
        self.unknown(table, RULE_KEYS, prefix)
        text = table.get("pattern")
        pattern = None
        if not isinstance(text, str):
            self.problem(f"{prefix}.pattern", "required: a CloudWatch Logs filter pattern string")
        else:
            try:
                pattern = compile_pattern(text)
            except PatternSyntaxError as err:
                self.problem(f"{prefix}.pattern", str(err))
        severity = self.string(table, "severity", prefix, "warning") or "warning"
        if severity not in SEVERITIES:
            self.problem(f"{prefix}.severity", f"must be one of {', '.join(SEVERITIES)}")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem(f"{prefix}.enabled", "must be true or false")
            enabled = True
        metric = self.metric(table.get("metric"), f"{prefix}.metric") if "metric" in table else None
        alarm = None
        if "alarm" in table:
            if "metric" not in table:
                self.problem(
                    f"{prefix}.alarm", "an alarm needs [rule.metric]: alarms evaluate the rule's metric"
                )
            alarm = self.alarm(table["alarm"], f"{prefix}.alarm", rid if isinstance(rid, str) else "")
        examples = self.examples(table.get("examples", []), f"{prefix}.examples")
        if pattern is None or not isinstance(rid, str) or not RULE_ID_RE.match(rid):
            return None
        return Rule(
            id=rid,
            pattern=pattern,
            title=self.string(table, "title", prefix, rid) or rid,
            description=self.string(table, "description", prefix, "") or "",
            severity=severity,
            sinks=self.strings(table, "sinks", prefix),
            tags=self.strings(table, "tags", prefix),
            enabled=enabled,
            metric=metric,
            alarm=alarm,
            examples=examples,
            source_file=self.file,
            event_names=required_values(pattern.ast, (Prop("eventName"),)),
        )

    def metric(self, table: Any, prefix: str) -> MetricSpec | None:
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table")
            return None
        self.unknown(table, METRIC_KEYS, prefix)
        names: dict[str, str] = {}
        for key in ("namespace", "name"):
            value = table.get(key)
            if not isinstance(value, str) or not value or len(value) > 255 or any(c in value for c in ":*$"):
                self.problem(
                    f"{prefix}.{key}", "required: 1-255 characters without ':', '*' or '$' (PutMetricFilter)"
                )
            else:
                names[key] = value
        raw = table.get("value")
        number: float | None = None
        selector = None
        text = ""
        if isinstance(raw, str) and raw.strip().startswith("$"):
            text = raw.strip()
            try:
                selector = parse_selector(text)
            except PatternSyntaxError as err:
                self.problem(f"{prefix}.value", str(err))
        else:
            num = numeric(raw)
            if num is None:
                self.problem(f"{prefix}.value", 'required: a number such as "1" or a field such as "$.bytes"')
            elif num < 0:
                self.problem(
                    f"{prefix}.value",
                    "negative values cannot be mirrored: Prometheus counters never decrease",
                )
            else:
                number = float(num)
                text = str(raw)
        default = table.get("default_value")
        if default is not None:
            dnum = numeric(default) if not isinstance(default, str) else None
            if dnum is None:
                self.problem(f"{prefix}.default_value", "must be a number")
            elif dnum != Decimal(0):
                self.problem(
                    f"{prefix}.default_value",
                    "only 0 is supported: whether CloudWatch emits the default "
                    "per non-matching event or per minute is ambiguous, and 0 is a no-op for a counter",
                )
        unit = table.get("unit", "None")
        if unit not in UNITS:
            self.problem(
                f"{prefix}.unit", "must be a CloudWatch StandardUnit such as Count, Bytes, Seconds or None"
            )
        dims: list[tuple[str, str]] = []
        dim_sels = []
        raw_dims = table.get("dimensions", {})
        if not isinstance(raw_dims, dict):
            self.problem(f"{prefix}.dimensions", 'must be a table of Name = "$.field"')
            raw_dims = {}
        if len(raw_dims) > 3:
            self.problem(f"{prefix}.dimensions", "at most 3 dimensions (PutMetricFilter)")
        if raw_dims and default is not None:
            self.problem(
                f"{prefix}.default_value",
                "default_value and dimensions are mutually exclusive "
                "(CloudWatch: a metric with dimensions cannot have a default)",
            )
        for dname, dvalue in raw_dims.items():
            key = f"{prefix}.dimensions.{dname}"
            if (
                not dname
                or not dname.isascii()
                or dname.startswith(":")
                or len(dname) > 255
                or not dname.strip()
            ):
                self.problem(key, "dimension names are 1-255 ASCII characters, not starting with ':'")
            if not isinstance(dvalue, str) or not dvalue.startswith("$"):
                self.problem(key, 'must be a field reference such as "$.eventName"')
                continue
            try:
                sel = parse_selector(dvalue)
            except PatternSyntaxError as err:
                self.problem(key, str(err))
                continue
            last = sel[-1]
            if isinstance(last, Prop) and last.name in HIGH_CARDINALITY:
                self.problem(
                    key,
                    f"{last.name} is unique per event or nearly so: one series per event would "
                    "exhaust Prometheus (and CloudWatch disables such filters)",
                )
                continue
            dims.append((dname, dvalue))
            dim_sels.append(sel)
        if len(names) < 2 or (number is None and selector is None):
            return None
        return MetricSpec(
            namespace=names["namespace"],
            name=names["name"],
            value=text,
            value_number=number,
            value_selector=selector,
            default_value=float(default) if isinstance(default, int | float) else None,
            unit=str(unit),
            dimensions=tuple(dims),
            dimension_selectors=tuple(dim_sels),
        )

    def alarm(self, table: Any, prefix: str, rule_id: str) -> AlarmSpec | None:
        if not isinstance(table, dict):
            self.problem(prefix, "must be a table")
            return None
        self.unknown(table, ALARM_KEYS, prefix)
        threshold = table.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            self.problem(f"{prefix}.threshold", "required: a number")
            threshold = 0.0
        period = self.integer(table, "period_secs", prefix, 300)
        if period not in (10, 30) and period % 60:
            self.problem(f"{prefix}.period_secs", "must be 10, 30 or a multiple of 60 (PutMetricAlarm)")
        periods = self.integer(table, "evaluation_periods", prefix, 1)
        m = self.integer(table, "datapoints_to_alarm", prefix, periods)
        if m > periods:
            self.problem(f"{prefix}.datapoints_to_alarm", f"must be <= evaluation_periods ({periods})")
        if periods * period > 86400:
            self.problem(
                f"{prefix}.evaluation_periods",
                "evaluation_periods x period_secs must be <= 86400 (one day, PutMetricAlarm)",
            )
        choices = {
            "statistic": (STATISTICS, "Sum"),
            "comparison_operator": (OPERATORS, OPERATORS[0]),
            "treat_missing_data": (MISSING_DATA, "missing"),
        }
        picked: dict[str, str] = {}
        for key, (allowed, default) in choices.items():
            value = table.get(key, default)
            if value not in allowed:
                self.problem(f"{prefix}.{key}", f"must be one of {', '.join(allowed)}")
                value = default
            picked[key] = value
        return AlarmSpec(
            name=self.string(table, "name", prefix, rule_id) or rule_id,
            description=self.string(table, "description", prefix, "") or "",
            threshold=float(threshold),
            period_secs=period,
            evaluation_periods=periods,
            datapoints_to_alarm=m,
            statistic=picked["statistic"],
            comparison_operator=picked["comparison_operator"],
            treat_missing_data=picked["treat_missing_data"],
            alarm_actions=self.strings(table, "alarm_actions", prefix),
            ok_actions=self.strings(table, "ok_actions", prefix),
            insufficient_data_actions=self.strings(table, "insufficient_data_actions", prefix),
        )

    def examples(self, items: Any, prefix: str) -> tuple[Example, ...]:
        if not isinstance(items, list):
            self.problem(prefix, "must be an array of tables ([[rule.examples]])")
            return ()
        out = []
        for i, table in enumerate(items):
            key = f"{prefix}[{i}]"
            if not isinstance(table, dict):
                self.problem(key, "must be a table")
                continue
            self.unknown(table, EXAMPLE_KEYS, key)
            match = table.get("match")
            if not isinstance(match, bool):
                self.problem(f"{key}.match", "required: true or false")
                continue
            given = [k for k in ("event", "event_json", "file") if k in table]
            if len(given) != 1:
                self.problem(key, "give exactly one of event, event_json or file")
                continue
            note = str(table.get("note", ""))
            try:
                event, origin = self._example_event(table, given[0], key)
            except ValueError as err:
                self.problem(f"{key}.{given[0]}", str(err))
                continue
            out.append(Example(match=match, event=event, note=note, origin=origin))
        return tuple(out)

    def _example_event(self, table: dict[str, Any], kind: str, key: str) -> tuple[Any, str]:
        if kind == "event":
            if not isinstance(table["event"], dict):
                raise ValueError("must be a table")
            # Round-trip through JSON so TOML floats become Decimal like decoded events.
            return loads_event(json.dumps(table["event"], default=str)), "inline"
        if kind == "event_json":
            try:
                return loads_event(str(table["event_json"])), "inline"
            except (json.JSONDecodeError, ValueError) as err:
                raise ValueError(f"invalid JSON: {err}") from None
        path = (self.file.parent / str(table["file"])).resolve()
        try:
            events = read_events(path)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read {table['file']}: {err}") from None
        index = table.get("index")
        if index is None:
            if len(events) != 1:
                raise ValueError(f"{table['file']} holds {len(events)} records: say which with index = N")
            index = 0
        if not isinstance(index, int) or not 0 <= index < len(events):
            raise ValueError(f"index must be 0..{len(events) - 1}")
        return events[index], f"file:{table['file']}#{index}"


def load_rule_files(paths: Sequence[str | Path]) -> list[Rule]:
    """Load and validate every rule; raise :class:`RuleLoadError` listing all problems."""
    problems: list[Problem] = []
    rules: list[Rule] = []
    first_seen: dict[str, Path] = {}
    for file in expand_paths(paths, problems):
        try:
            doc = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            problems.append(Problem(str(file), None, "(file)", f"not valid TOML: {err}"))
            continue
        except (OSError, UnicodeDecodeError) as err:
            problems.append(Problem(str(file), None, "(file)", f"cannot read: {err}"))
            continue
        reader = _RuleReader(file, problems)
        reader.unknown(doc, {"rule", "pack"}, "(top level)")
        pack = doc.get("pack", {})
        if isinstance(pack, dict):
            reader.unknown(pack, PACK_KEYS, "pack")
        tables = doc.get("rule", [])
        if not isinstance(tables, list):
            problems.append(Problem(str(file), None, "rule", "use [[rule]] (an array of tables)"))
            continue
        for i, table in enumerate(tables):
            rule = reader.rule(table, i)
            if rule is None:
                continue
            if rule.id in first_seen:
                problems.append(
                    Problem(
                        str(file),
                        rule.id,
                        f"rule[{i}].id",
                        f"duplicate id: already defined in {first_seen[rule.id]}",
                    )
                )
                continue
            first_seen[rule.id] = file
            rules.append(rule)
    if problems:
        raise RuleLoadError(problems)
    return rules
