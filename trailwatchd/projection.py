"""Decode only what the rules read: msgspec types generated from the rule set's selectors.

JSON decoding dominates the cost of evaluating CloudTrail (a record is 1-3 KB; a rule set reads a
handful of fields). msgspec skips the unknown keys of a ``TypedDict`` in C without building Python
objects for them (it still checks their syntax), so decoding into a type that declares only the
selected paths costs about a third of a full decode.

The projection contract, which ``tests/unit/test_projection.py`` checks against a full decode on the
corpus and on generated records:

* every selector resolves to the same nodes, with the same values and types, in the projection as in
  the full record (so the pattern evaluators cannot tell the difference), and ``eventName``,
  ``eventSource``, ``eventTime`` and ``eventID`` are always present when the record has them;
* a node that a selector ends at is decoded whole (``Any``);
* a node the selectors only pass through keeps its JSON kind: an object keeps only the selected keys
  (all of them under ``.*`` or when a selected name is not ASCII), an array keeps its elements
  (projected alike under ``[n]``/``[*]``, whole otherwise), a scalar stays a scalar (a non-integer
  number there may come back as ``float``: no selector can observe it, since selectors cannot step
  into a scalar).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class _Node:
    """One level of the selector trie."""

    whole: bool = False
    props: dict[str, _Node] = field(default_factory=dict)
    any_prop: _Node | None = None
    elem: _Node | None = None
    """Children of ``[n]`` and ``[*]`` steps, merged: msgspec decodes every element with one type."""

    def merged(self, other: _Node | None) -> _Node:
        """A node needing what both need (used where one type must serve several paths)."""
        if other is None:
            return self
        out = _Node(whole=self.whole or other.whole)
        for src in (self, other):
            for name, child in src.props.items():
                out.props[name] = child.merged(out.props.get(name))
            if src.any_prop is not None:
                out.any_prop = src.any_prop.merged(out.any_prop)
            if src.elem is not None:
                out.elem = src.elem.merged(out.elem)
        return out


def _trie(selectors: Iterable[Selector]) -> _Node:
    root = _Node()
    for sel in selectors:
        node = root
        for step in sel:
            if isinstance(step, Prop):
                node = node.props.setdefault(step.name, _Node())
            elif isinstance(step, AnyProp):
                node.any_prop = node.any_prop or _Node()
                node = node.any_prop
            else:
                assert isinstance(step, Index | AnyIndex), step
                node.elem = node.elem or _Node()
                node = node.elem
        node.whole = True
    return root


class _EMPTY(TypedDict, total=False):
    """No keys: msgspec skips the whole object in C."""


_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_BYTE = re.compile(r"\(byte (\d+)\)")
_NOT_NAME = re.compile(r"\W")
_SCALARS: tuple[Any, ...] = (str, int, float, bool, None)


class _TypeBuilder:
    """Builds the msgspec type for a trie; names TypedDicts after their path (debuggable)."""

    def __init__(self) -> None:
        self.count = 0

    def object_type(self, node: _Node, path: str) -> Any:
        """The object member of a node's union (or the root type)."""
        # msgspec 0.22 mis-matches non-ASCII TypedDict keys (a key "ü" never matches and an empty JSON
        # key matches it instead); a dict of the merged type is exact for those (tests pin both).
        if node.any_prop is not None or not all(name.isascii() for name in node.props):
            every = node.any_prop or _Node()
            for child in node.props.values():
                every = every.merged(child)
            return dict[str, self.node_type(every, f"{path}.*")]  # type: ignore[misc]
        if not node.props:
            return _EMPTY
        self.count += 1
        fields = {name: self.node_type(child, f"{path}.{name}") for name, child in node.props.items()}
        label = _NOT_NAME.sub("_", path)[:60]  # a class name: no NULs, readable in reprs
        return TypedDict(f"Projection{self.count}_{label}", fields, total=False)  # type: ignore[operator]

    def node_type(self, node: _Node, path: str) -> Any:
        if node.whole:
            return Any
        array = list[Any] if node.elem is None else list[self.node_type(node.elem, f"{path}[]")]  # type: ignore[misc]
        # Any JSON kind may sit where the rules expected an object: the union accepts them all, so the
        # projection never rejects a valid record (a selector that reaches through a scalar finds nothing).
        return Union[(self.object_type(node, path), array, *_SCALARS)]


def build_projection_type(selectors: Iterable[Selector] | None) -> Any:
    """The root type for ``selectors`` plus :data:`ALWAYS`; ``Any`` means decode everything."""
    if selectors is None:
        return Any
    trie = _trie([*selectors, *ALWAYS])
    if trie.whole:  # an empty selector: the whole record
        return Any
    return _TypeBuilder().object_type(trie, "$")  # a record is an object: index steps at $ select nothing


def restrict(value: Any, node: _Node) -> Any:
    """The projection of an already decoded value: the slow path for shapes msgspec's types refuse."""
    if node.whole:
        return value
    if isinstance(value, dict):
        if node.any_prop is not None or not all(name.isascii() for name in node.props):
            every = node.any_prop or _Node()
            for child in node.props.values():
                every = every.merged(child)
            return {k: restrict(v, every) for k, v in value.items()}
        return {k: restrict(value[k], child) for k, child in node.props.items() if k in value}
    if isinstance(value, list) and node.elem is not None:
        return [restrict(v, node.elem) for v in value]
    return value


class RecordDecoder:
    """Decodes one record's JSON bytes, projected to what the rules read or in full.

    Integers become ``int``, other numbers :class:`decimal.Decimal` (exact comparisons; ``1.50`` keeps
    its lexeme), as in :func:`trailwatchd.patterns.loads_event`. ``NaN``/``Infinity`` are not JSON and
    are rejected. Both methods raise ``ValueError`` (``msgspec.DecodeError`` for malformed JSON or a
    record that is not an object, ``UnicodeDecodeError`` for invalid UTF-8 in a decoded string); the
    file-level functions in :mod:`trailwatchd.decode` turn these into ``DecodeError`` with a name.
    """

    def __init__(self, selectors: Iterable[Selector] | None = None) -> None:
        self.selectors: frozenset[Selector] | None = None if selectors is None else frozenset(selectors)
        self.projection_type: Any = build_projection_type(self.selectors)
        self._trie = _trie([*(self.selectors or ()), *ALWAYS])
        self._full = msgspec.json.Decoder(float_hook=decimal.Decimal)
        self.decode_projection: Callable[[bytes], Any] = (
            self._full.decode
            if self.projection_type is Any
            else msgspec.json.Decoder(self.projection_type, float_hook=decimal.Decimal).decode
        )
        """The raw msgspec decode of the projection (no fallback); the streaming splitter calls it
        directly because its failure is what tells a true record boundary from a false one."""

    def project(self, raw: bytes) -> dict[str, Any]:
        """Only the selected fields (plus eventName, eventSource, eventTime, eventID)."""
        try:
            value = self.decode_projection(raw)
        except msgspec.ValidationError:
            return self.project_slowly(raw)
        if not isinstance(value, dict):
            raise msgspec.ValidationError("a CloudTrail record must be a JSON object")
        return value

    def project_slowly(self, raw: bytes) -> dict[str, Any]:
        """Full decode, then restrict: for valid JSON the generated type refused (an integer beyond 64
        bits or a number beyond float range where the rules pass through, a record that is no object)."""
        value = self.full(raw)
        return value if self.projection_type is Any else restrict(value, self._trie)

    def full(self, raw: bytes) -> dict[str, Any]:
        """The whole record."""
        value = self._full.decode(raw)
        if not isinstance(value, dict):
            raise msgspec.ValidationError("a CloudTrail record must be a JSON object")
        return value

    def settle(self, raw: bytes, exc: msgspec.DecodeError) -> dict[str, Any] | bool | None:
        """Why a slice cut from a stream of records failed :attr:`decode_projection` with ``exc``.

        Returns None when the slice is a prefix of valid JSON (cut too early: merge it with the next
        slice), True when it holds several JSON values (split it with :func:`split_values`), or the
        projected record when only the generated type refused it. A prefix of valid JSON can only fail
        as truncated input, so any other syntax error is real and is raised (``msgspec.DecodeError``).
        """
        if isinstance(exc, msgspec.ValidationError):  # valid JSON the generated type refused, or a cut
            try:
                return self.project_slowly(raw)
            except msgspec.ValidationError:
                return True  # a value that is not an object: the caller's split reports it
            except msgspec.DecodeError as again:
                exc = again
        text = str(exc)  # msgspec's messages are the only signal; tests pin them
        if "truncated" in text:
            return None
        if "trailing characters" not in text:
            raise exc
        try:
            split_values(raw)
        except msgspec.DecodeError as inner:
            if "truncated" in str(inner):
                return None
            raise
        return True


def split_values(raw: bytes) -> list[bytes]:
    """The JSON values of ``v1,v2,...`` (exact boundaries); raises ``msgspec.DecodeError``."""
    return [bytes(item) for item in _raw_list.decode(b"[" + raw + b"]")]


def is_json_object(raw: bytes) -> bool:
    """Whether ``raw`` is exactly one JSON object (checked without building its values)."""
    try:
        _raw_object.decode(raw)
    except msgspec.DecodeError:
        return False
    return True


def describe_error(exc: Exception, offset: int) -> str:
    """msgspec's message for a slice starting at ``offset``, its ``(byte N)`` made absolute."""
    text = str(exc).removeprefix("JSON is malformed: ")
    m = _BYTE.search(text)
    if m is None:
        return f"invalid JSON in the record at byte {offset}: {text}"
    return f"invalid JSON near byte {offset + int(m.group(1))}: {text[: m.start()].rstrip()}"
