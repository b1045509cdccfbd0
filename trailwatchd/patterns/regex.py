"""AWS's restricted regex dialect for ``%...%`` values: validation, translation to RE2, matching.

CloudWatch accepts only alphanumerics, the symbols ``: _ # = @ / ; , -`` and the operators
``^ $ ? [ ] { } | \\ * + .`` ([D-REGEX]); parentheses and multi-byte characters are rejected. The space is
accepted because AWS's own examples contain it. Escapes are the documented ones: ``\\d \\D \\s \\S \\w \\W``,
``\\xhh`` and a backslash before a symbol; RE2-only escapes (``\\b``, ``\\pL``, ``\\Q``...) are refused so a
pattern never means something AWS would not.

RE2 runs in linear time, so a user-supplied pattern cannot stall the daemon with catastrophic
backtracking (the dialect has no groups, but ``a?a?a?...aaa`` is exponential for a backtracking engine).
RE2 without the multi-line flag already has AWS's meanings: ``$`` only at the end of the text, ``.``
not matching a newline, ``\\s`` covering tab, space and newline, ``\\d``/``\\w`` ASCII only.
"""

from __future__ import annotations

import re
from typing import Any

import re2
from re2 import _re2  # the pybind11 core: the pure-Python wrapper costs ~10 us per search

_SYMBOLS = frozenset(":_#=@/;,- ^$?[]{}|\\*+.")
_LITERAL_SYMBOLS = frozenset(":_#=@/;,- ")  # symbols with no regex meaning
_CLASS_ESCAPES = frozenset("dDsSwW")
_HEX = frozenset("0123456789abcdefABCDEF")
_REPEAT = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")
_UNANCHORED = re2._Anchor.UNANCHORED


class RegexSyntaxError(ValueError):
    """A regex body CloudWatch would reject; ``offset`` is relative to the body."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _check_char(ch: str, offset: int) -> None:
    if ord(ch) > 127:
        raise RegexSyntaxError(offset, "multi-byte characters are not supported in regular expressions")
    if ch in "()":
        raise RegexSyntaxError(
            offset,
            "parentheses are not supported in regular expressions (no subpatterns); "
            "match a literal parenthesis with \\x28 or \\x29",
        )
    if not (ch.isalnum() or ch in _SYMBOLS):
        raise RegexSyntaxError(offset, f"character {ch!r} is not supported in regular expressions")


def translate(body: str) -> str:
    """Validate an AWS regex body and return the equivalent RE2 syntax; raise RegexSyntaxError."""
    if not body:
        raise RegexSyntaxError(0, "empty regular expression")
    out: list[str] = []
    i, n = 0, len(body)
    class_start = -1  # offset of the '[' of the open character class, or -1
    while i < n:
        ch = body[i]
        _check_char(ch, i)
        if ch == "\\":
            if i + 1 >= n:
                raise RegexSyntaxError(i, "a regular expression cannot end with a lone backslash")
            nxt = body[i + 1]
            _check_char(nxt, i + 1)
            if nxt in _CLASS_ESCAPES:
                out.append("\\" + nxt)
                i += 2
            elif nxt == "x":
                digits = body[i + 2 : i + 4]
                if len(digits) != 2 or not set(digits) <= _HEX:
                    raise RegexSyntaxError(i, "\\x must be followed by two hex digits, as in \\x28")
                out.append("\\x" + digits)
                i += 4
            elif nxt.isalnum():
                raise RegexSyntaxError(
                    i,
                    f"unsupported escape \\{nxt}: CloudWatch supports \\d \\D \\s \\S \\w \\W \\xhh "
                    "and a backslash before a symbol",
                )
            else:
                out.append("\\" + nxt)
                i += 2
            continue
        if class_start >= 0:
            first = i == class_start + 1 or (i == class_start + 2 and body[class_start + 1] == "^")
            if ch == "]" and not first:
                class_start = -1
                out.append("]")
            elif ch in "[]":
                out.append("\\" + ch)  # literal; keeps RE2 from reading [:alpha:] as a POSIX class
            else:
                out.append(ch)
            i += 1
            continue
        if ch == "[":
            class_start = i
            out.append("[")
        elif ch == "{":
            m = _REPEAT.match(body, i)
            if not m or not (m.group(1) or m.group(3)) or (not m.group(2) and not m.group(1)):
                raise RegexSyntaxError(
                    i, "malformed repetition: write {m}, {m,}, {m,n} or {,n}; escape a literal brace as \\{"
                )
            lo, comma, hi = m.groups()
            # AWS documents {,n}; RE2 would read it as literal text, so spell out the zero.
            out.append("{" + (lo or "0") + comma + hi + "}")
            i = m.end()
            continue
        elif ch == "}":
            raise RegexSyntaxError(i, "unmatched '}': escape a literal brace as \\}")
        elif ch == "]":
            out.append("\\]")
        else:
            out.append(ch)
        i += 1
    if class_start >= 0:
        raise RegexSyntaxError(class_start, "unterminated character class: missing ']'")
    translated = "".join(out)
    compile_regex(translated)  # raises RegexSyntaxError with RE2's reason
    return translated


class Regex:
    """A compiled RE2 program with AWS's search semantics (unanchored, ``$`` = end of text)."""

    __slots__ = ("_match", "translated")

    def __init__(self, translated: str) -> None:
        options = re2.Options()
        options.log_errors = False  # RE2 would print every rejected pattern to stderr
        options.never_capture = True
        program = _re2.RE2(translated.encode("ascii"), options)
        if not program.ok():
            reason = program.error()
            reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            raise RegexSyntaxError(0, f"invalid regular expression: {reason}")
        self.translated = translated
        self._match: Any = program.Match

    def search(self, text: str) -> bool:
        """Whether the expression matches anywhere in ``text``."""
        # surrogatepass: a JSON string may hold a lone surrogate ("\ud800"), which strict UTF-8 refuses.
        data = text.encode("utf-8", "surrogatepass")
        return bool(self._match(_UNANCHORED, data, 0, len(data))[0][0] >= 0)

    def __repr__(self) -> str:
        return f"Regex({self.translated!r})"


def compile_regex(translated: str) -> Regex:
    """Compile translated RE2 syntax; raises RegexSyntaxError if RE2 refuses it."""
    return Regex(translated)


def literal_form(body: str) -> tuple[bool, str, bool] | None:
    """``(anchored_start, text, anchored_end)`` when the regex is a plain string, else None.

    ``%Trail%``, ``%^Create%``, ``%\\.amazonaws\\.com$%`` need no regex engine at all: the compiler turns
    them into ``in`` / ``startswith`` / ``endswith`` / ``==``.
    """
    start = body.startswith("^")
    i = 1 if start else 0
    chars: list[str] = []
    end = False
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and not body[i + 1].isalnum() and ord(body[i + 1]) < 128:
            chars.append(body[i + 1])
            i += 2
            continue
        if ch == "$" and i == len(body) - 1:
            end = True
            break
        if not ((ch.isalnum() and ord(ch) < 128) or ch in _LITERAL_SYMBOLS):
            return None
        chars.append(ch)
        i += 1
    return start, "".join(chars), end
