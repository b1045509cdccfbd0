"""Value semantics shared by both evaluators: value nodes, number text, numeric value, globs.

These encode the AWS rules of filter-patterns spec 4.3-4.5: only strings and numbers are value nodes;
a number's text is its JSON lexeme (as far as the decoder kept it: ``str(int)``, ``str(Decimal)``,
``repr(float)``); plain-decimal strings have a numeric value, scientific-notation strings do not; ``*``
matches any run of characters in a whole-value match.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# ASCII digits only: `\d` would also accept Arabic-Indic and other Unicode digits, which Decimal()
# happily parses but CloudWatch does not treat as numbers.
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def is_number(v: Any) -> bool:
    """JSON numbers: int, Decimal or float, never bool (a Python bool is an int)."""
    return isinstance(v, int | Decimal | float) and not isinstance(v, bool)


def is_value_node(v: Any) -> bool:
    """Strings and numbers are value nodes ([D-SYNTAX]); objects, arrays, null and booleans are not."""
    return isinstance(v, str) or is_number(v)


def number_text(v: Any) -> str:
    """The text of a number node (its JSON lexeme as well as the decoder kept it)."""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def node_text(v: Any) -> str | None:
    """text(n) of spec 4.5: a string's value or a number's lexeme; None for non-value nodes."""
    if isinstance(v, str):
        return v
    if is_number(v):
        return number_text(v)
    return None


def numeric_value(v: Any) -> Decimal | None:
    """num(n): the exact value of a number node or of a plain-decimal string; None otherwise.

    NaN (only reachable through a hand-built Decimal or float; JSON has no NaN) counts as "not a number",
    because Decimal raises on ordering comparisons with NaN.
    """
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, Decimal):
        return None if v.is_nan() else v
    if isinstance(v, float):
        d = Decimal(repr(v))
        return None if d.is_nan() else d
    if isinstance(v, str) and _PLAIN_DECIMAL.fullmatch(v):
        return Decimal(v)
    return None


def could_be_number_text(lit: str) -> bool:
    """Whether some number node's text could equal ``lit`` (every such text is a valid Decimal string).

    Lets the compiler skip the number path for ordinary words like ``ConsoleLogin``.
    """
    try:
        Decimal(lit)
    except ArithmeticError:  # decimal.InvalidOperation
        return False
    return True


def glob_match(parts: tuple[str, ...], text: str) -> bool:
    """Whole-value glob: ``parts`` is the literal split on ``*`` (at least two parts).

    Greedy leftmost placement of the middle parts is exact for a glob whose only metacharacter is
    ``*``, so this runs in linear time whatever the input, with no regex engine.
    """
    first, last = parts[0], parts[-1]
    if len(text) < len(first) + len(last):
        return False
    if not (text.startswith(first) and text.endswith(last)):
        return False
    pos, end = len(first), len(text) - len(last)
    for middle in parts[1:-1]:
        if middle:
            found = text.find(middle, pos, end)
            if found < 0:
                return False
            pos = found + len(middle)
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_event(data: str | bytes) -> Any:
    """Parse JSON the way the decoder does: non-integers as Decimal, NaN/Infinity rejected.

    One CloudTrail record gives a dict; other documents (a ``Records`` file, an array) are returned as
    parsed, because the golden-example loader reads whole files with it.
    """
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
