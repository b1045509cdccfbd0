"""What can be wrong with rule files, collected rather than raised one at a time.

An operator editing rules wants the whole list of mistakes in one go, each with the file, the rule id,
the key path and, for patterns and TOML syntax, the line/column with a caret; not a fix-one-rerun loop.
So validators append :class:`Problem` records and the loader raises one :class:`RuleLoadError` at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trailwatchd.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a rule file.

    ``key`` is a dotted key path (``rule[2].alarm.period_secs``), or ``(file)`` / ``paths`` for problems
    with the file itself. ``line``/``column`` (1-based) locate a TOML syntax error in the file or a
    pattern error in the pattern text; ``message`` then already carries the caret picture.
    """

    file: str
    rule_id: str | None
    key: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        rule = f" rule {self.rule_id!r}" if self.rule_id else ""
        return f"{self.file}:{rule} {self.key}: {self.message}"


class RuleLoadError(ConfigError):
    """Rule files are invalid; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        files = sorted({p.file for p in self.problems})
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in rule files:\n{lines}",
            file=files[0] if len(files) == 1 else None,
        )

    def __str__(self) -> str:
        # The file is already in every listed problem; ConfigError would prefix it once more.
        return self.message
