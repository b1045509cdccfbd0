"""AWS's two missing-data truth tables (AlarmThatSendsEmail; shared/aws-formats.md §5.2), row by row.

The tables are copied verbatim below and parsed, so a row cannot be mistyped into agreement with the code.
Each data-point string is an evaluation range of 5 periods (N = 3), oldest first: ``0`` non-breaching,
``X`` breaching, ``-`` missing. "retain state" means the decision keeps whatever state the alarm is in.
"""

from __future__ import annotations

import pytest

from trailwatchd.alarms.evaluator import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Params,
    Slot,
    decide,
    evaluation_range,
    premature_alarm,
)

N3_M3 = """
| 0 - X - X | 0 | OK | OK | OK | OK |
| 0 - - - - | 2 | OK | OK | OK | OK |
| - - - - - | 3 | INSUFFICIENT_DATA | retain state | ALARM | OK |
| 0 X X - X | 0 | ALARM | ALARM | ALARM | ALARM |
| - - X - - | 2 | ALARM | retain state | ALARM | OK |
"""
N3_M2 = """
| 0 - X - X | 0 | ALARM | ALARM | ALARM | ALARM |
| 0 0 X 0 X | 0 | ALARM | ALARM | ALARM | ALARM |
| 0 - X - - | 1 | OK | OK | ALARM | OK |
| - - - - 0 | 2 | OK | OK | ALARM | OK |
| - - - X - | 2 | ALARM | retain state | ALARM | OK |
"""
MODES = ("missing", "ignore", "breaching", "notBreaching")  # the table's column order
THRESHOLD = 1.0


def rows(table: str, m: int) -> list[tuple[str, int, str, str]]:
    out = []
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        points, _fill, *expected = cells
        for mode, want in zip(MODES, expected, strict=True):
            out.append((points, m, mode, want))
    return out


def slots_of(points: str) -> list[Slot]:
    values = {"0": 0.0, "X": 5.0, "-": None}
    return [Slot(float(i * 60), values[p]) for i, p in enumerate(points.split())]


CASES = rows(N3_M3, 3) + rows(N3_M2, 2)


@pytest.mark.parametrize(
    ("points", "m", "mode", "want"), CASES, ids=[f"M{c[1]}:{c[0]}:{c[2]}" for c in CASES]
)
def test_truth_table_row(points: str, m: int, mode: str, want: str) -> None:
    """One cell of AWS's table: the decision for that range and TreatMissingData."""
    params = Params(3, m, "GreaterThanOrEqualToThreshold", THRESHOLD, mode)
    decision = decide(slots_of(points), params)
    if want == "retain state":
        assert decision.state is None
    else:
        assert decision.state == want
        assert decision.state in (OK, ALARM, INSUFFICIENT_DATA)


def test_tables_cover_every_mode_and_both_m() -> None:
    """20 rows x 4 modes minus nothing: the parametrisation above is the whole of both tables."""
    assert len(CASES) == 40
    assert {c[2] for c in CASES} == set(MODES)


def test_evaluation_range_is_five_for_three_periods() -> None:
    """AWS's example range (5 for N = 3) and a few others (N + max(N // 3, 2))."""
    assert [evaluation_range(n) for n in (1, 3, 5, 6, 60)] == [3, 5, 7, 8, 80]


@pytest.mark.parametrize(
    ("points", "m", "premature"),
    [
        ("- - - - X", 3, False),  # AWS: "the alarm does not go to ALARM"
        ("- - - X -", 3, False),
        ("- - X - -", 3, True),  # the oldest breaching point is M periods old: ALARM even with missing
        ("- - - X -", 2, True),
        ("0 - X - -", 2, False),  # an older real non-breaching point blocks it (table: OK)
        ("- X - - -", 2, False),  # older than the N evaluation periods
    ],
)
def test_premature_alarm_rule(points: str, m: int, premature: bool) -> None:
    """AWS's "avoiding premature transitions" examples as the predicate sees them."""
    assert premature_alarm(slots_of(points), Params(3, m, "GreaterThanOrEqualToThreshold", 1.0)) is premature


def test_missing_mode_premature_alarm_is_not_applied_to_fill_modes() -> None:
    """``- - - - X`` with M = 1 alarms under every mode (one breaching point suffices)."""
    for mode in MODES:
        assert (
            decide(slots_of("- - - - X"), Params(3, 1, "GreaterThanOrEqualToThreshold", 1.0, mode)).state
            == ALARM
        )


def test_at_least_n_real_points_ignore_missing_data_entirely() -> None:
    """Case 2: the N most recent real datapoints decide, older ones do not (``X X 0 - 0`` -> last 3)."""
    params = Params(3, 2, "GreaterThanOrEqualToThreshold", 1.0, "breaching")
    decision = decide(slots_of("X X 0 - 0"), params)
    assert decision.state == OK
    assert [s.value for s in decision.counted] == [5.0, 0.0, 0.0]
    assert decision.filled == 0
