"""AST of a CloudWatch Logs JSON filter pattern: frozen, hashable nodes shared by both evaluators."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


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


Step = Prop | Index | AnyIndex | AnyProp
Selector = tuple[Step, ...]

_PLAIN = __import__("re").compile(r"[A-Za-z0-9_-]+")


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


@dataclass(frozen=True, slots=True)
class StrLit:
    """A string value (quoted, or a bare word that is not a number); ``*`` is a wildcard."""

    text: str

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


Literal = StrLit | NumLit | RegexLit


@dataclass(frozen=True, slots=True)
class Compare:
    """``selector op value``; op is one of = != < > <= >=."""

    selector: Selector
    op: str
    value: Literal
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsCheck:
    """``selector IS NULL|TRUE|FALSE``."""

    selector: Selector
    kind: str  # "NULL" | "TRUE" | "FALSE"
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class NotExists:
    """``selector NOT EXISTS``."""

    selector: Selector
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty pattern: matches every event."""


Node = Compare | IsCheck | NotExists | And | Or | MatchAll
Condition = Compare | IsCheck | NotExists


def conditions(node: Node) -> list[Condition]:
    """Every leaf condition of a tree, left to right."""
    if isinstance(node, And | Or):
        return [c for child in node.children for c in conditions(child)]
    if isinstance(node, MatchAll):
        return []
    return [node]


def is_value_node(value: Any) -> bool:
    """Strings and numbers are value nodes; bool is excluded although it subclasses int."""
    return isinstance(value, str) or (
        isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    )
