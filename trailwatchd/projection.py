"""Decode only what the rules read: msgspec types generated from the rule set's selectors.

JSON decoding dominates the cost of evaluating CloudTrail (a record is 1-3 KB; rules read a handful of
fields). msgspec skips unknown keys of a ``TypedDict`` in C without building Python objects for them,
so decoding into a type that declares only the selected paths costs a fraction of a full decode. The
result is still a plain dict with exactly the value types a full decode gives at those paths, so the
pattern evaluators cannot tell the difference (a property test checks this).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from typing import Any, TypedDict, Union

import msgspec

from trailwatchd.patterns import AnyIndex, AnyProp, Index, Prop, Selector

ALWAYS: tuple[Selector, ...] = (
    (Prop("eventName"),),
    (Prop("eventSource"),),
    (Prop("eventTime"),),
    (Prop("eventID"),),
)
"""Fields every projection carries: the rule index, alert dedupe and lag metrics need them."""

_WHOLE = "__whole__"
_ELEM = "__elem__"


def _trie(selectors: Iterable[Selector]) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    for sel in selectors:
        node = root
        for step in sel:
            if isinstance(step, AnyProp):
                node[_WHOLE] = True
                break
            key = step.name if isinstance(step, Prop) else _ELEM
            assert isinstance(step, Prop | Index | AnyIndex)
            node = node.setdefault(key, {})
        else:
            node[_WHOLE] = True
    return root


_counter = 0


def _type_for(node: dict[Any, Any]) -> Any:
    """The msgspec type decoding exactly what ``node`` (a trie level) needs."""
    global _counter  # noqa: PLW0603 - unique TypedDict names only aid debugging
    if node.get(_WHOLE) or not node:
        return Any
    options: list[Any] = []
    props = {k: v for k, v in node.items() if k not in (_WHOLE, _ELEM)}
    if props:
        _counter += 1
        fields = {name: _type_for(child) for name, child in props.items()}
        options.append(TypedDict(f"Projection{_counter}", fields, total=False))  # type: ignore[operator]
    if _ELEM in node:
        options.append(list[_type_for(node[_ELEM])])  # type: ignore[misc]
    # Any JSON scalar may sit where the rules expected an object or array; keep it (a selector that
    # reaches through it simply finds nothing), so the projection never rejects a valid record.
    options += [str, int, float, bool, None]
    return Union[tuple(options)]  # noqa: UP007 - built dynamically


def build_projection_type(selectors: Iterable[Selector] | None) -> Any:
    """The root type: a TypedDict of the selected top-level keys, or Any (decode everything)."""
    if selectors is None:
        return Any
    trie = _trie([*selectors, *ALWAYS])
    if trie.get(_WHOLE):
        return Any
    global _counter  # noqa: PLW0603
    _counter += 1
    fields = {name: _type_for(child) for name, child in trie.items() if name not in (_WHOLE, _ELEM)}
    if _ELEM in trie:  # `$[0]`-style selectors do not exist in the grammar; decode everything to be safe
        return Any
    return TypedDict(f"Projection{_counter}", fields, total=False)  # type: ignore[operator]


class RecordDecoder:
    """Decodes one record's JSON bytes, projected to what the rules read or in full.

    Numbers that are not integers become :class:`decimal.Decimal` (exact comparisons, lexeme kept for
    ``1.50``); ``NaN``/``Infinity`` are not JSON and are rejected.
    """

    def __init__(self, selectors: Iterable[Selector] | None = None) -> None:
        self.projection_type = build_projection_type(selectors)
        self._full = msgspec.json.Decoder(float_hook=decimal.Decimal)
        self._project = (
            self._full
            if self.projection_type is Any
            else msgspec.json.Decoder(self.projection_type, float_hook=decimal.Decimal)
        )

    def project(self, raw: bytes) -> dict[str, Any]:
        """Only the selected fields (plus eventName, eventSource, eventTime, eventID)."""
        try:
            value = self._project.decode(raw)
        except msgspec.ValidationError:
            # A shape the generated type did not foresee (e.g. an integer beyond 64 bits where an
            # object was expected): correctness first, decode everything.
            value = self._full.decode(raw)
        if not isinstance(value, dict):
            raise msgspec.ValidationError("a CloudTrail record must be a JSON object")
        return value

    def full(self, raw: bytes) -> dict[str, Any]:
        """The whole record."""
        value = self._full.decode(raw)
        if not isinstance(value, dict):
            raise msgspec.ValidationError("a CloudTrail record must be a JSON object")
        return value
