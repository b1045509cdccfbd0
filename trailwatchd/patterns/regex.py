"""AWS's restricted regex dialect for ``%...%`` values, validated and compiled with RE2.

CloudWatch accepts only alphanumerics, the symbols ``: _ # = @ / ; , -`` and the operators
``^ $ ? [ ] { } | \\ * + .`` (AWS, *Supported regular expressions syntax*); parentheses and multi-byte
characters are rejected. The space is accepted because AWS's own examples contain it. RE2 runs in
linear time, so a user-supplied pattern cannot stall the daemon with catastrophic backtracking.
"""

from __future__ import annotations

import re
from typing import Any

import re2

_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :_#=@/;,-^$?[]{}|\\*+.")
_OPEN_QUANT = re.compile(r"\{,(\d+)\}")


def check_regex(body: str) -> tuple[int, str] | None:
    """Return (offset, reason) for the first character AWS would reject, or None."""
    escaped = False
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            if ord(ch) > 127:
                return i, "multi-byte characters are not supported in regular expressions"
            continue
        if ch == "\\":
            escaped = True
            continue
        if ch in "()":
            return (
                i,
                "parentheses are not supported in regular expressions (use \\x28 and \\x29 to match them)",
            )
        if ord(ch) > 127:
            return i, "multi-byte characters are not supported in regular expressions"
        if ch not in _ALLOWED:
            return i, f"character {ch!r} is not supported in regular expressions"
    if escaped:
        return len(body) - 1, "a regular expression cannot end with a lone backslash"
    return None


def translate(body: str) -> str:
    """AWS dialect -> RE2 syntax. ``{,n}`` means ``{0,n}`` in AWS; RE2 would read it literally."""
    return _OPEN_QUANT.sub(r"{0,\1}", body)


def compile_regex(translated: str) -> Any:
    """Compile with RE2; raises ``re2.error`` for an invalid body."""
    return re2.compile(translated)
