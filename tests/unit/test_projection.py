"""The projection decode equals a full decode wherever the rules can look (corpus and generated records)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailwatchd.patterns import AnyIndex, AnyProp, Index, Prop, Selector, parse_selector
from trailwatchd.projection import ALWAYS, RecordDecoder

ENCODE = msgspec.json.Encoder(decimal_format="number").encode

CIS = [
    "$.errorCode",
    "$.eventName",
    "$.additionalEventData.MFAUsed",
    "$.userIdentity.type",
    "$.userIdentity.invokedBy",
    "$.eventType",
    "$.errorMessage",
    "$.eventSource",
]
WIDER = [
    *CIS,
    "$.resources[0].ARN",
    "$.resources[*].type",
    "$.requestParameters.*",
    "$.responseElements.ConsoleLogin",
    "$.userIdentity.sessionContext.attributes.mfaAuthenticated",
    "$.readOnly",
    "$.tlsDetails.tlsVersion",
    "$.requestParameters.ipPermissions.items[0].ipRanges.items[*].cidrIp",
    "$.additionalEventData.*",
    "$.['cluster.name']",
    "$.resources.ARN",
    "$.eventTime[0]",
    "$.requestParameters.filterSet.items[1]",
]


def resolve(value: Any, selector: Selector) -> list[Any]:
    """Spec 4.2 selector resolution (written here independently of the patterns package)."""
    nodes = [value]
    for step in selector:
        out: list[Any] = []
        for node in nodes:
            if isinstance(step, Prop) and isinstance(node, dict) and step.name in node:
                out.append(node[step.name])
            elif isinstance(step, Index) and isinstance(node, list) and step.i < len(node):
                out.append(node[step.i])
            elif isinstance(step, AnyIndex) and isinstance(node, list):
                out.extend(node)
            elif isinstance(step, AnyProp) and isinstance(node, dict):
                out.extend(node.values())
        nodes = out
    return nodes


def typed(values: list[Any]) -> list[tuple[type, Any]]:
    """Values with their types: 1 == 1.0 == Decimal(1) and True == 1 must not hide a type change."""
    return [(type(v), typed(v) if isinstance(v, list) else v) for v in values]


def assert_equivalent(raw: bytes, selectors: list[Selector]) -> None:
    """Every selector (and the always-included fields) resolves alike in the projection and in full."""
    decoder = RecordDecoder(selectors)
    projected, full = decoder.project(raw), decoder.full(raw)
    for sel in [*selectors, *ALWAYS]:
        assert typed(resolve(projected, sel)) == typed(resolve(full, sel)), sel


def restricted(full: Any, paths: list[tuple[str, ...]]) -> Any:
    """A full record cut down to property-only paths, written independently of projection.py: a leaf
    is kept whole, an object keeps the selected keys, an array passed through is kept whole, and a
    scalar passed through is kept as its kind (a number there may be float in the projection)."""
    if any(not p for p in paths):
        return full
    if isinstance(full, dict):
        heads = {p[0] for p in paths}
        return {k: restricted(full[k], [p[1:] for p in paths if p[0] == k]) for k in heads if k in full}
    if isinstance(full, Decimal | float):
        return float(full)
    return full


def corpus_records(corpus: Path) -> list[bytes]:
    raws = []
    for path in sorted((corpus / "stratus-red-team").glob("*.json")):
        raws += [ENCODE(r) for r in json.loads(path.read_bytes())]
    raws += [
        line
        for line in (corpus / "aws-docs-examples" / "cloudtrail_events_from_aws_docs.jsonl")
        .read_bytes()
        .splitlines()
        if line.strip()
    ]
    return raws


@pytest.mark.parametrize("fields", [CIS, WIDER, ["$.*"], [], ["$.requestParameters"]], ids=len)
def test_corpus_projection_matches_full_decode(corpus_dir: Path, fields: list[str]) -> None:
    """On every real record, each selector sees the same nodes in the projection as in a full decode."""
    selectors = [parse_selector(f) for f in fields]
    raws = corpus_records(corpus_dir)
    assert len(raws) == 415
    for raw in raws:
        assert_equivalent(raw, selectors)


def test_corpus_projection_is_the_restricted_record(corpus_dir: Path) -> None:
    """For property-only selectors the projection is exactly the full record cut down to those paths."""
    paths = [tuple(f[2:].split(".")) for f in CIS] + [("eventTime",), ("eventID",), ("requestParameters",),
                                                      ("responseElements", "ConsoleLogin")]
    decoder = RecordDecoder([tuple(Prop(n) for n in p) for p in paths])
    for raw in corpus_records(corpus_dir):
        assert decoder.project(raw) == restricted(decoder.full(raw), paths)


def test_projection_keeps_only_what_is_read() -> None:
    """Unread fields are not materialised; the always-included ones are."""
    raw = ENCODE(
        {
            "eventVersion": "1.08",
            "eventName": "X",
            "eventSource": "s",
            "eventTime": "t",
            "eventID": "i",
            "userIdentity": {"type": "Root", "arn": "a"},
            "requestParameters": {"big": ["x"] * 50},
        }
    )
    projected = RecordDecoder([parse_selector("$.userIdentity.type")]).project(raw)
    assert projected == {
        "eventName": "X",
        "eventSource": "s",
        "eventTime": "t",
        "eventID": "i",
        "userIdentity": {"type": "Root"},
    }


def test_no_selectors_means_everything() -> None:
    """RecordDecoder(None) decodes the whole record in both methods."""
    raw = ENCODE({"a": {"b": [1, Decimal("2.5")]}, "eventName": "X"})
    decoder = RecordDecoder(None)
    assert decoder.project(raw) == decoder.full(raw) == {"a": {"b": [1, Decimal("2.5")]}, "eventName": "X"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b'{"a": 1e999, "eventName": "x"}', "$.a.b"),  # beyond float range where the rules pass through
        (b'{"a": [1e999], "eventName": "x"}', "$.a.b"),
        (b'{"a": {"b": 1e999}}', "$.a.b"),
        (b'{"a": null}', "$.a.b"),
        (b'{"a": "text"}', "$.a[0]"),
        (b'{"a": [{"b": 1}, {"b": 2.50}]}', "$.a.b"),
        (b'{"a": {"0": 1}}', "$.a[0]"),
        (b'{"a": 99999999999999999999999}', "$.a.b"),
        # msgspec 0.22 TypedDicts mis-match non-ASCII keys; the projection must not inherit that.
        (b'{"": 1, "\\u00fc": 2}', "$.['\u00fc']"),  # an escaped key, as JSON allows
        ('{"a": {"": 1}, "b": {"ü": {"c": 2}}}'.encode(), "$.a.['ü']"),
        ('{"a": {"": 1}, "b": {"ü": {"c": 2}}}'.encode(), "$.b.['ü'].c"),
    ],
)
def test_unexpected_kinds_never_fail(doc: bytes, field: str) -> None:
    """Scalars, arrays or huge numbers where rules expect objects decode and resolve as in the full record."""
    assert_equivalent(doc, [parse_selector(field)])


@pytest.mark.parametrize("name", ["\x00", "a b", "", "1", "é", "__class__", "eventName"])
def test_any_property_name_builds_a_decoder(name: str) -> None:
    """Property names that are no identifiers (NUL, spaces, empty, dunder) still project correctly."""
    raw = ENCODE({name: {name: 1}, "eventName": "X"})
    assert_equivalent(raw, [(Prop(name), Prop(name)), (Prop(name),)])


@pytest.mark.parametrize("doc", [b"[1]", b'"x"', b"3", b"null", b'{"a": tru}', b'{"a": 1} 2'])
def test_non_objects_and_bad_json_raise_value_error(doc: bytes) -> None:
    """A record that is not one JSON object raises ValueError from both methods."""
    decoder = RecordDecoder([parse_selector("$.a")])
    with pytest.raises(ValueError):
        decoder.project(doc)
    with pytest.raises(ValueError):
        decoder.full(doc)


# -- generated records ------------------------------------------------------------------------------

TRICKY_TEXT = st.sampled_from(['},{"eventVersion"', '"', "\\", "\n", "\u2603", "\ud7ff", "}", ",{", "é", ""])
KEYS = st.sampled_from(["eventVersion", "a", "b", "c", "eventName", "", "a.b", "ü", "0", "*"]) | st.text(
    max_size=3
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.decimals(allow_nan=False, allow_infinity=False, places=None)
    | st.lists(TRICKY_TEXT | st.text(max_size=4), max_size=4).map("".join)
)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=25,
)
RECORDS = st.dictionaries(KEYS, JSON, max_size=6)
STEP = (
    st.builds(Prop, KEYS)
    | st.builds(Index, st.integers(min_value=0, max_value=3))
    | st.just(AnyIndex())
    | st.just(AnyProp())
)
SELECTORS = st.lists(st.lists(STEP, min_size=1, max_size=4).map(tuple), max_size=5)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=RECORDS, selectors=SELECTORS)
def test_generated_records_project_like_full_decode(
    record: dict[str, Any], selectors: list[Selector]
) -> None:
    """Random records and selectors (wildcards, indices, tricky strings, big and decimal numbers) agree."""
    assert_equivalent(ENCODE(record), selectors)


@settings(max_examples=200, deadline=None)
@given(record=RECORDS)
def test_full_decode_matches_the_stdlib(record: dict[str, Any]) -> None:
    """full() agrees with json.loads(parse_float=Decimal) on generated records."""
    raw = ENCODE(record)
    assert RecordDecoder(None).full(raw) == json.loads(raw, parse_float=Decimal)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=RECORDS, paths=st.lists(st.lists(KEYS.filter(str.isascii), min_size=1, max_size=3).map(tuple)))
def test_generated_records_restrict_exactly(record: dict[str, Any], paths: list[tuple[str, ...]]) -> None:
    """For property-only selectors the projection is exactly the restricted full record (ASCII names:
    under a non-ASCII name the object keeps every key, see projection.py)."""
    raw = ENCODE(record)
    decoder = RecordDecoder([tuple(Prop(n) for n in p) for p in paths])
    always = [("eventName",), ("eventSource",), ("eventTime",), ("eventID",)]
    assert decoder.project(raw) == restricted(decoder.full(raw), [*paths, *always])
