"""Value semantics shared by both evaluators: value nodes, number text, numeric value, globs.

These encode the AWS rules of filter-patterns spec 4.3-4.5: only strings and numbers are value nodes;
a number's text is its JSON lexeme; plain-decimal strings have a numeric value, scientific-notation
strings do not; ``*`` matches any run of characters in a whole-value match.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import re2

_PLAIN_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")


def is_number(v: Any) -> bool:
    """JSON numbers: int, Decimal or float, never bool (a Python bool is an int)."""
    return isinstance(v, int | Decimal | float) and not isinstance(v, bool)


def number_text(v: Any) -> str:
    """The text of a number node (its JSON lexeme as well as the decoder kept it)."""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def numeric_value(v: Any) -> Decimal | None:
    """num(n): the exact value of a number node or of a plain-decimal string; None otherwise."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | Decimal):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str) and _PLAIN_DECIMAL.fullmatch(v):
        try:
            return Decimal(v)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            return None
    return None


def glob_regex(lit: str) -> Any:
    """RE2 program for a whole-value glob where ``*`` matches any run, including none."""
    parts = [re2.escape(p) for p in lit.split("*")]
    return re2.compile("(?s)" + ".*".join(parts) + r"\z")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_event(data: str | bytes) -> Any:
    """Parse one event the way the decoder does: floats as Decimal, NaN/Infinity rejected."""
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
