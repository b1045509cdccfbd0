"""Recursive-descent parser for CloudWatch Logs JSON filter patterns.

Grammar (filter-patterns spec section 2)::

    pattern   = "" | "{" or "}"
    or        = and { "||" and }          precedence: () > && > ||
    and       = primary { "&&" primary }
    primary   = "(" or ")" | condition
    condition = selector ( "=" | "!=" ) value | selector ( "<" | ">" | "<=" | ">=" ) number
              | selector "IS" ( "NULL" | "TRUE" | "FALSE" ) | selector "NOT" "EXISTS"

Tokens are scanned by :class:`trailwatchd.patterns.lexer.Scanner`, which this parser extends. Every
rejection carries the 0-based position of the offending token so the error can point at it. Forms AWS
rejects (``==``, single quotes, ``IN``, ``IS NOT``, ``EXISTS``, space-delimited ``[...]``, term
patterns) get a message that says what to write instead.
"""

from __future__ import annotations

from trailwatchd.patterns.lexer import Scanner
from trailwatchd.patterns.nodes import (
    And,
    Compare,
    IsCheck,
    IsKind,
    MatchAll,
    Node,
    NotExists,
    NumLit,
    Op,
    Or,
    Selector,
)

MAX_PATTERN_CHARS = 1024  # PutMetricFilter filterPattern: 0-1024 characters
# trailwatchd's own limit (AWS documents none): keeps the recursive descent far from Python's recursion
# limit, which ~500 nested parentheses (possible within 1024 characters) would hit.
MAX_NESTING = 100
_IS_KINDS: dict[str, IsKind] = {"NULL": "NULL", "TRUE": "TRUE", "FALSE": "FALSE"}
# Longest first, so "<=" is not read as "<" followed by "=".
_OPERATORS: tuple[tuple[str, Op], ...] = (
    ("!=", "!="),
    ("<=", "<="),
    (">=", ">="),
    ("=", "="),
    ("<", "<"),
    (">", ">"),
)


class _Parser(Scanner):
    """The grammar over the scanner's tokens."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    # -- grammar ------------------------------------------------------------------------------------
    def parse(self) -> Node:
        text = self.text
        if len(text) > MAX_PATTERN_CHARS:
            raise self.error(
                f"pattern is {len(text)} characters; CloudWatch allows at most {MAX_PATTERN_CHARS}",
                MAX_PATTERN_CHARS,
            )
        self.ws()
        if self.at_end():
            return MatchAll()
        start = self.pos
        ch = text[start]
        if ch == "[":
            raise self.error(
                "space-delimited patterns ([...]) are not supported: CloudTrail records are JSON, "
                'write a JSON pattern such as { $.eventName = "..." }'
            )
        if ch == "%":
            raise self.error(
                "standalone %regex% patterns over the raw message are not supported (JSON patterns only "
                "in trailwatchd v1); apply the regex to a field: { $.eventName = %^Delete% }"
            )
        if ch != "{":
            raise self.error(
                "unstructured term patterns are not supported (JSON patterns only in trailwatchd v1): "
                "they match the raw text, which depends on CloudTrail's undocumented serialization; "
                'write a JSON pattern such as { $.eventName = "ConsoleLogin" }'
            )
        self.pos += 1
        self.ws()
        if self.peek("}"):
            raise self.error('empty JSON pattern: write a condition such as { $.eventName = "ConsoleLogin" }')
        node = self.or_expr()
        self.ws()
        if not self.peek("}"):
            if self.peek(")"):
                raise self.error("unbalanced ')': no matching '('")
            if self.at_end():
                raise self.error("missing closing '}'")
            raise self.error("expected '&&', '||' or '}' here")
        self.pos += 1
        self.ws()
        if not self.at_end():
            raise self.error("unexpected text after the closing '}'")
        return node

    def or_expr(self) -> Node:
        self.ws()
        at = self.pos
        children = [self.and_expr()]
        while True:
            self.ws()
            if not self.peek("||"):
                break
            self.pos += 2
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(_flatten(children, Or), at)

    def and_expr(self) -> Node:
        self.ws()
        at = self.pos
        children = [self.primary()]
        while True:
            self.ws()
            if not self.peek("&&"):
                break
            self.pos += 2
            children.append(self.primary())
        return children[0] if len(children) == 1 else And(_flatten(children, And), at)

    def primary(self) -> Node:
        self.ws()
        if self.peek("("):
            open_at = self.pos
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep")
            self.pos += 1
            node = self.or_expr()
            self.depth -= 1
            self.ws()
            if not self.peek(")"):
                raise self.error("missing ')' to close the '(' opened here", open_at)
            self.pos += 1
            return node
        if self.peek("!") and not self.peek("!="):
            raise self.error("there is no unary negation: use != on a condition, or NOT EXISTS")
        if self.at_end() or self.peek("}"):
            raise self.error('expected a condition such as $.eventName = "ConsoleLogin"')
        if self.peek("&") or self.peek("|"):
            raise self.error("use '&&' and '||' between conditions")
        return self.condition()

    def condition(self) -> Node:
        at = self.pos
        sel = self.selector()
        self.ws()
        op_at = self.pos
        if self.peek("=="):
            raise self.error("'==' is not an operator in filter patterns; use '='")
        for text, op in _OPERATORS:
            if self.peek(text):
                self.pos += len(text)
                return self.comparison(sel, op, at)
        w = self.word()
        if w == "IS":
            self.pos += 2
            self.ws()
            kw_at = self.pos
            kw = self.word()
            if kw in _IS_KINDS:
                self.pos += len(kw)
                return IsCheck(sel, _IS_KINDS[kw], at)
            if kw == "NOT":
                raise self.error("IS NOT is not supported by CloudWatch; use != or NOT EXISTS", kw_at)
            if kw.upper() in ("NULL", "TRUE", "FALSE"):
                raise self.error(f"keywords are upper case: write IS {kw.upper()}", kw_at)
            raise self.error("expected NULL, TRUE or FALSE after IS", kw_at)
        if w == "NOT":
            self.pos += 3
            self.ws()
            kw_at = self.pos
            kw = self.word()
            if kw == "EXISTS":
                self.pos += len(kw)
                return NotExists(sel, at)
            if kw == "IN":
                raise self.error(
                    "NOT IN is not part of the filter-pattern language; combine conditions with ||", op_at
                )
            if kw.upper() == "EXISTS":
                raise self.error("keywords are upper case: write NOT EXISTS", kw_at)
            raise self.error("expected EXISTS after NOT", kw_at)
        if w == "EXISTS":
            raise self.error(
                'EXISTS is not supported by CloudWatch; use $.field = "*" (string or number) or NOT EXISTS',
                op_at,
            )
        if w == "IN":
            raise self.error(
                "IN is not part of the filter-pattern language; combine conditions with ||", op_at
            )
        if w.upper() in ("IS", "NOT", "EXISTS", "IN") and w:
            raise self.error(f"keywords are upper case: write {w.upper()}", op_at)
        raise self.error("expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS) after the selector")

    def comparison(self, sel: Selector, op: Op, at: int) -> Node:
        self.ws()
        value_at = self.pos
        value = self.value()
        if op in ("<", ">", "<=", ">=") and not isinstance(value, NumLit):
            raise self.error(
                f"'{op}' compares numbers; {self.text[value_at : self.pos]!s} is not a number", value_at
            )
        return Compare(sel, op, value, at)

    # -- selectors ----------------------------------------------------------------------------------


def _flatten(children: list[Node], kind: type[And] | type[Or]) -> tuple[Node, ...]:
    """Merge parenthesised groups of the same operator: ``(a && b) && c`` is ``a && b && c``."""
    out: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            out.extend(child.children)
        else:
            out.append(child)
    return tuple(out)


def parse_pattern(text: str) -> Node:
    """Parse a filter pattern; raise :class:`PatternSyntaxError` (with position) when AWS would reject it."""
    return _Parser(text).parse()


def parse_selector(text: str) -> Selector:
    """Parse a lone selector such as ``$.requestParameters.bytes`` (metric values, dimensions)."""
    p = _Parser(text)
    p.ws()
    sel = p.selector()
    p.ws()
    if not p.at_end():
        raise p.error("unexpected text after the selector")
    return sel
