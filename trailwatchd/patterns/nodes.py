"""AST of a CloudWatch Logs JSON filter pattern: frozen, hashable nodes shared by both evaluators.

Frozen dataclasses so a parsed pattern can be shared across reloads and threads, used as a dict key and
compared in tests. Source positions serve error messages and lint warnings but are excluded from
equality: two patterns that differ only in spacing have equal trees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal as TypingLiteral
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Prop:
    """``.name`` or ``.['dotted.name']``: one object key, case sensitive."""

    name: str


@dataclass(frozen=True, slots=True)
class Index:
    """``[n]``: one array element, zero based."""

    i: int


@dataclass(frozen=True, slots=True)
class AnyIndex:
    """``[*]``: every element of an array (existential)."""


@dataclass(frozen=True, slots=True)
class AnyProp:
    """``.*``: every direct property value of an object (existential)."""


Step: TypeAlias = Prop | Index | AnyIndex | AnyProp
Selector: TypeAlias = tuple[Step, ...]

# Names that need no bracket notation ([D-2018]: alphanumerics, '-' and '_').
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")


def selector_text(sel: Selector) -> str:
    """Canonical text of a selector: ``$.a.b[0]``, ``$.['k.x']``, ``$.*``, ``$.a[*]``."""
    out = ["$"]
    for step in sel:
        if isinstance(step, Prop):
            out.append(f".{step.name}" if _PLAIN.fullmatch(step.name) else f".['{step.name}']")
        elif isinstance(step, Index):
            out.append(f"[{step.i}]")
        elif isinstance(step, AnyIndex):
            out.append("[*]")
        else:
            out.append(".*")
    return "".join(out)


def has_wildcard(sel: Selector) -> bool:
    """Whether a selector can select many nodes (contains ``[*]`` or ``.*``)."""
    return any(isinstance(step, AnyIndex | AnyProp) for step in sel)


@dataclass(frozen=True, slots=True)
class StrLit:
    """A string value (quoted, or a bare word that is not a number); ``*`` is a wildcard."""

    text: str
    quoted: bool = field(default=True, compare=False)

    @property
    def wildcard(self) -> bool:
        return "*" in self.text


@dataclass(frozen=True, slots=True)
class NumLit:
    """A number literal, compared as an exact Decimal."""

    value: Decimal
    text: str


@dataclass(frozen=True, slots=True)
class RegexLit:
    """``%regex%`` in AWS's restricted dialect; ``source`` is the body between the percent signs."""

    source: str
    translated: str


Literal: TypeAlias = StrLit | NumLit | RegexLit
Op: TypeAlias = TypingLiteral["=", "!=", "<", ">", "<=", ">="]
IsKind: TypeAlias = TypingLiteral["NULL", "TRUE", "FALSE"]


@dataclass(frozen=True, slots=True)
class Compare:
    """``selector op value``; op is one of = != < > <= >=."""

    selector: Selector
    op: Op
    value: Literal
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsCheck:
    """``selector IS NULL|TRUE|FALSE``."""

    selector: Selector
    kind: IsKind
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class NotExists:
    """``selector NOT EXISTS``."""

    selector: Selector
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """``a && b && ...``: at least two children; ``position`` is the first child's."""

    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    """``a || b || ...``: at least two children; ``position`` is the first child's."""

    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty pattern: matches every event."""


Node: TypeAlias = Compare | IsCheck | NotExists | And | Or | MatchAll
Condition: TypeAlias = Compare | IsCheck | NotExists


def conditions(node: Node) -> list[Condition]:
    """Every leaf condition of a tree, left to right."""
    if isinstance(node, And | Or):
        return [c for child in node.children for c in conditions(child)]
    if isinstance(node, MatchAll):
        return []
    return [node]
