"""The hand-written TOML encoder: whatever text a template holds comes back from tomllib unchanged."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from trailwatchd.migrate.writer import toml_key, toml_string, toml_value


@given(st.text())
def test_any_string_round_trips(text: str) -> None:
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


@given(st.dictionaries(st.text(min_size=1), st.one_of(st.text(), st.integers(), st.floats(allow_nan=False))))
def test_inline_tables_round_trip(table: dict[str, object]) -> None:
    assert tomllib.loads(f"k = {toml_value(table)}")["k"] == table


def test_patterns_stay_readable() -> None:
    pattern = '{ ($.errorCode = "*UnauthorizedOperation") }'
    assert toml_string(pattern) == f"'{pattern}'"
    assert toml_string("it's") == '"it\'s"'
    assert toml_key("Event Name") == '"Event Name"'
