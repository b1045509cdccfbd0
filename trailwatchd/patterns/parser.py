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
from decimal import Decimal, InvalidOperation

import re2

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns.nodes import (
    And,
    AnyIndex,
    AnyProp,
    Compare,
    Index,
    IsCheck,
    MatchAll,
    Node,
    NotExists,
    NumLit,
    Or,
    Prop,
    RegexLit,
    Selector,
    StrLit,
)
from trailwatchd.patterns.regex import check_regex, compile_regex, translate

MAX_PATTERN_CHARS = 1024  # PutMetricFilter filterPattern: 0-1024 characters
MAX_REGEXES = 2  # regexes per JSON pattern (AWS regex syntax page)
MAX_WILDCARD_SELECTORS = 3  # wildcard selectors per compound pattern
NUMBER_RE = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_BARE_RE = re.compile(r"[A-Za-z0-9_.*+-]+")
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
        m = re.compile(r"[A-Za-z]+").match(self.text, self.pos)
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
        if ch != "{":
            raise self.error(
                "only JSON patterns ({ ... }) are supported; term and standalone %regex% patterns "
                "match raw text, which CloudTrail's undocumented serialization makes unreliable"
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
        children = [self.and_expr()]
        while True:
            self.ws()
            if not self.peek("||"):
                break
            self.pos += 2
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self) -> Node:
        children = [self.primary()]
        while True:
            self.ws()
            if not self.peek("&&"):
                break
            self.pos += 2
            children.append(self.primary())
        return children[0] if len(children) == 1 else And(tuple(children))

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
        for op in ("!=", "<=", ">=", "==", "=", "<", ">"):
            if self.peek(op):
                if op == "==":
                    raise self.error("'==' is not an operator in filter patterns; use '='")
                self.pos += len(op)
                return self.comparison(sel, op, at)
        w = self.word()
        if w == "IS":
            self.pos += 2
            self.ws()
            kw_at = self.pos
            kw = self.word()
            if kw in ("NULL", "TRUE", "FALSE"):
                self.pos += len(kw)
                return IsCheck(sel, kw, at)
            if kw == "NOT":
                raise self.error("IS NOT is not supported by CloudWatch; use != or NOT EXISTS", kw_at)
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
        if self.peek("%") or self.peek('"'):
            raise self.error("expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS) after the selector")
        raise self.error("expected an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS) after the selector")

    def comparison(self, sel: Selector, op: str, at: int) -> Node:
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
        while not self.at_end():
            if self.peek(".['"):
                end = self.text.find("']", self.pos + 3)
                if end < 0:
                    raise self.error("unterminated bracket key: expected ']' after the quoted name")
                steps.append(Prop(self.text[self.pos + 3 : end]))
                self.pos = end + 2
            elif self.peek(".*"):
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
                steps.append(AnyIndex())
                self.pos += 3
            elif self.peek("["):
                m = re.compile(r"\[(\d+)\]").match(self.text, self.pos)
                if not m:
                    raise self.error("array index must be a non-negative integer or *, as in [0] or [*]")
                steps.append(Index(int(m.group(1))))
                self.pos = m.end()
            else:
                break
        if not steps:
            raise self.error("a selector needs at least one property after '$', as in $.eventName", start)
        wild = sum(isinstance(s, AnyIndex | AnyProp) for s in steps)
        if wild > 1:
            raise self.error("only one wildcard ([*] or .*) is allowed per selector", start)
        if wild:
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
            try:
                return NumLit(Decimal(word), word)
            except InvalidOperation:  # pragma: no cover - NUMBER_RE only admits valid decimals
                raise self.error("invalid number", m.start()) from None
        return StrLit(word)

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
                return StrLit("".join(out))
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
        if not body:
            raise self.error("empty regular expression", start)
        problem = check_regex(body)
        if problem is not None:
            raise self.error(problem[1], start + 1 + problem[0])
        translated = translate(body)
        try:
            compile_regex(translated)
        except re2.error as exc:
            raise self.error(f"invalid regular expression: {exc}", start + 1) from None
        self.regexes += 1
        if self.regexes > MAX_REGEXES:
            raise self.error(f"at most {MAX_REGEXES} regular expressions are allowed per pattern", start)
        self.pos = i + 1
        return RegexLit(body, translated)


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
