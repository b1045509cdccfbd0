"""Recursive-descent parser for CloudWatch Logs JSON filter patterns.

Grammar (filter-patterns spec section 2)::

    pattern   = "" | "{" or "}"
    or        = and { "||" and }          precedence: () > && > ||
    and       = primary { "&&" primary }
    primary   = "(" or ")" | condition
    condition = selector ( "=" | "!=" ) value | selector ( "<" | ">" | "<=" | ">=" ) number
              | selector "IS" ( "NULL" | "TRUE" | "FALSE" ) | selector "NOT" "EXISTS"

Every rejection carries the 0-based position of the offending token so the error can point at it.
Forms AWS rejects (``==``, single quotes, ``IN``, ``IS NOT``, ``EXISTS``, space-delimited ``[...]``,
term patterns) get a message that says what to write instead.
"""

from __future__ import annotations

import re
from decimal import Decimal

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns.nodes import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Index,
    IsCheck,
    IsKind,
    MatchAll,
    Node,
    NotExists,
    NumLit,
    Op,
    Or,
    Prop,
    RegexLit,
    Selector,
    StrLit,
)
from trailwatchd.patterns.regex import RegexSyntaxError, translate

MAX_PATTERN_CHARS = 1024  # PutMetricFilter filterPattern: 0-1024 characters
MAX_REGEXES = 2  # regexes per JSON pattern (AWS regex syntax page)
MAX_WILDCARD_SELECTORS = 3  # wildcard selectors per compound pattern
# NUMBER of [D-2018]: optional sign, digits, optional fraction, optional "e" exponent (lower case in
# every AWS example and in the grammar). ASCII digits only.
NUMBER_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_BARE_RE = re.compile(r"[A-Za-z0-9_.*+-]+")
_WORD_RE = re.compile(r"[A-Za-z]+")
_INDEX_RE = re.compile(r"\[([0-9]+)\]")
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
_WS = " \t\r\n"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.regexes = 0
        self.wild_selectors = 0

    # -- helpers ------------------------------------------------------------------------------------
    def error(self, message: str, position: int | None = None) -> PatternSyntaxError:
        return PatternSyntaxError(message, self.text, self.pos if position is None else position)

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def word(self) -> str:
        m = _WORD_RE.match(self.text, self.pos)
        return m.group(0) if m else ""

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
            self.pos += 1
            node = self.or_expr()
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
    def selector(self) -> Selector:
        start = self.pos
        if not self.peek("$"):
            m = _BARE_RE.match(self.text, self.pos)
            hint = f" (write $.{m.group(0)})" if m else ""
            raise self.error(f"property selectors start with '$.'{hint}")
        self.pos += 1
        steps: list[Prop | Index | AnyIndex | AnyProp] = []
        wild_at: list[int] = []  # offsets of the '*' of each wildcard step
        while not self.at_end():
            if self.peek(".['"):
                end = self.text.find("'", self.pos + 3)
                if end < 0 or not self.text.startswith("']", end):
                    raise self.error(
                        "unterminated bracket key: write $.['name'] (the name cannot contain a single quote)"
                    )
                steps.append(Prop(self.text[self.pos + 3 : end]))
                self.pos = end + 2
            elif self.peek(".*"):
                wild_at.append(self.pos + 1)
                steps.append(AnyProp())
                self.pos += 2
            elif self.peek("."):
                self.pos += 1
                m = _NAME_RE.match(self.text, self.pos)
                if not m:
                    raise self.error(
                        "expected a property name after '.'; names with other characters need "
                        "bracket notation: $.['name.with.dots']"
                    )
                steps.append(Prop(m.group(0)))
                self.pos = m.end()
            elif self.peek("[*]"):
                wild_at.append(self.pos + 1)
                steps.append(AnyIndex())
                self.pos += 3
            elif self.peek("["):
                m = _INDEX_RE.match(self.text, self.pos)
                if not m:
                    raise self.error("array index must be a non-negative integer or *, as in [0] or [*]")
                steps.append(Index(int(m.group(1))))
                self.pos = m.end()
            else:
                break
        if not steps:
            raise self.error("a selector needs at least one property after '$', as in $.eventName", start)
        if len(wild_at) > 1:
            raise self.error("only one wildcard ([*] or .*) is allowed per selector", wild_at[1])
        if wild_at:
            self.wild_selectors += 1
            if self.wild_selectors > MAX_WILDCARD_SELECTORS:
                raise self.error(
                    f"at most {MAX_WILDCARD_SELECTORS} wildcard selectors are allowed per pattern", start
                )
        if not self.at_end() and self.text[self.pos] not in _WS + "=!<>)}&|":
            raise self.error(
                f"unexpected character {self.text[self.pos]!r} in selector; names with characters "
                "other than letters, digits, '_' and '-' need bracket notation: $.['a@b']"
            )
        return tuple(steps)

    # -- values -------------------------------------------------------------------------------------
    def value(self) -> StrLit | NumLit | RegexLit:
        if self.at_end() or self.text[self.pos] in ")}&|":
            raise self.error("missing value after the operator")
        ch = self.text[self.pos]
        if ch == '"':
            return self.quoted()
        if ch == "'":
            raise self.error('single quotes are not string delimiters; use double quotes: "value"')
        if ch == "%":
            return self.regex()
        m = _BARE_RE.match(self.text, self.pos)
        if not m:
            raise self.error(f'character {ch!r} must be inside a double-quoted value: "..."')
        self.pos = m.end()
        if not self.at_end() and self.text[self.pos] not in _WS + ")}&|":
            raise self.error(f'character {self.text[self.pos]!r} must be inside a double-quoted value: "..."')
        word = m.group(0)
        if NUMBER_RE.fullmatch(word):
            return NumLit(Decimal(word), word)
        return StrLit(word, quoted=False)

    def quoted(self) -> StrLit:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.at_end():
                raise self.error("unterminated string: missing closing '\"'", start)
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.error("unterminated string: missing closing '\"'", start)
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return StrLit("".join(out), quoted=True)
            out.append(ch)
            self.pos += 1

    def regex(self) -> RegexLit:
        start = self.pos
        i = self.pos + 1
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == "%":
                break
            i += 1
        else:
            raise self.error("unterminated regular expression: missing closing '%'", start)
        body = self.text[start + 1 : i]
        try:
            translated = translate(body)
        except RegexSyntaxError as exc:
            raise self.error(exc.reason, start + 1 + exc.offset) from None
        self.regexes += 1
        if self.regexes > MAX_REGEXES:
            raise self.error(f"at most {MAX_REGEXES} regular expressions are allowed per pattern", start)
        self.pos = i + 1
        return RegexLit(body, translated)


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
