"""The token level of filter patterns: selectors, quoted strings, bare words, numbers, regexes.

:class:`Scanner` holds the text and a cursor; the parser (:mod:`trailwatchd.patterns.parser`) extends it
with the grammar. Each scanning method advances the cursor past one token or raises
:class:`~trailwatchd.errors.PatternSyntaxError` at the offending character, so the caret lands on it.
The quotas counted token by token (regexes, wildcard selectors) are enforced here as they are met.
"""

from __future__ import annotations

import re
from decimal import Decimal

from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns.nodes import AnyIndex, AnyProp, Index, NumLit, Prop, RegexLit, Selector, StrLit
from trailwatchd.patterns.regex import RegexSyntaxError, translate

MAX_REGEXES = 2  # regexes per JSON pattern ([D-REGEX]; PutMetricFilter)
MAX_WILDCARD_SELECTORS = 3  # wildcard selectors per compound pattern ([D-SYNTAX] quotas)
# NUMBER of [D-2018]: optional sign, digits, optional fraction, optional "e" exponent (lower case in
# every AWS example and in the grammar). ASCII digits only.
NUMBER_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")  # [D-2018]: alphanumerics, '-' and '_'
_BARE_RE = re.compile(r"[A-Za-z0-9_.*+-]+")  # spec 3.3: what may stand unquoted
_WORD_RE = re.compile(r"[A-Za-z]+")
_INDEX_RE = re.compile(r"\[([0-9]+)\]")
WS = " \t\r\n"


class Scanner:
    """A pattern's text, a cursor and the quota counters: the parser's base class."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.regexes = 0
        self.wild_selectors = 0

    # -- cursor -------------------------------------------------------------------------------------
    def error(self, message: str, position: int | None = None) -> PatternSyntaxError:
        """An error at ``position`` (default: the cursor)."""
        return PatternSyntaxError(message, self.text, self.pos if position is None else position)

    def ws(self) -> None:
        """Skip whitespace (space, tab, CR, LF: spec 2 allows it between any two tokens)."""
        while self.pos < len(self.text) and self.text[self.pos] in WS:
            self.pos += 1

    def peek(self, s: str) -> bool:
        """Whether the text at the cursor starts with ``s``."""
        return self.text.startswith(s, self.pos)

    def at_end(self) -> bool:
        """Whether the cursor is past the last character."""
        return self.pos >= len(self.text)

    def word(self) -> str:
        """The run of ASCII letters at the cursor (a keyword candidate), without consuming it."""
        m = _WORD_RE.match(self.text, self.pos)
        return m.group(0) if m else ""

    # -- selectors ----------------------------------------------------------------------------------
    def selector(self) -> Selector:
        """``$`` followed by steps; counts toward the wildcard-selector quota."""
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
                if not m and self.peek("['"):
                    raise self.error("bracket keys need a dot before them: write .['name']")
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
        if not self.at_end() and self.text[self.pos] not in WS + "=!<>)}&|":
            raise self.error(
                f"unexpected character {self.text[self.pos]!r} in selector; names with characters "
                "other than letters, digits, '_' and '-' need bracket notation: $.['a@b']"
            )
        return tuple(steps)

    # -- values -------------------------------------------------------------------------------------
    def value(self) -> StrLit | NumLit | RegexLit:
        """The right-hand side of ``=``/``!=``/``<``...: quoted string, regex, number or bare word."""
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
        if not self.at_end() and self.text[self.pos] not in WS + ")}&|":
            raise self.error(f'character {self.text[self.pos]!r} must be inside a double-quoted value: "..."')
        word = m.group(0)
        if NUMBER_RE.fullmatch(word):
            return NumLit(Decimal(word), word)
        return StrLit(word, quoted=False)

    def quoted(self) -> StrLit:
        """A double-quoted string; a backslash escapes the next character ([CDK] escaping)."""
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
        """``%body%``, validated and translated; counts toward the regex quota."""
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
