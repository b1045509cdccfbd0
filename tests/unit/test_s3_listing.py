"""The S3 poller's pure planner: which day prefixes a window touches, and the synthetic StartAfter key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailwatchd.sources.s3_listing import (
    Partition,
    days_between,
    normalise_prefix,
    parse_time,
    plan_days,
    start_after,
    window_start,
)

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
P = Partition("", None, "111122223333", "eu-west-1")


def at(text: str) -> datetime:
    return parse_time(text)


def test_window_inside_one_day_lists_one_prefix() -> None:
    assert plan_days(at("2024-05-01T10:30:00Z"), 900, EPOCH) == ["2024/05/01/"]


def test_window_crossing_utc_midnight_lists_yesterday_too() -> None:
    assert plan_days(at("2024-05-02T00:05:00Z"), 900, EPOCH) == ["2024/05/01/", "2024/05/02/"]


def test_midnight_exactly_and_just_after_lookback() -> None:
    assert plan_days(at("2024-05-02T00:00:00Z"), 900, EPOCH) == ["2024/05/01/", "2024/05/02/"]
    assert plan_days(at("2024-05-02T00:15:00Z"), 900, EPOCH) == ["2024/05/02/"]
    assert plan_days(at("2024-05-02T00:14:59Z"), 900, EPOCH) == ["2024/05/01/", "2024/05/02/"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2024-04-01T00:10:00Z", ["2024/03/31/", "2024/04/01/"]),  # 31-day month end
        ("2023-05-01T00:01:00Z", ["2023/04/30/", "2023/05/01/"]),  # 30-day month end
        ("2023-03-01T00:01:00Z", ["2023/02/28/", "2023/03/01/"]),  # February, common year
        ("2024-03-01T00:01:00Z", ["2024/02/29/", "2024/03/01/"]),  # leap day
        ("2024-02-29T00:01:00Z", ["2024/02/28/", "2024/02/29/"]),  # into the leap day
        ("2025-01-01T00:01:00Z", ["2024/12/31/", "2025/01/01/"]),  # year end
    ],
)
def test_month_ends_leap_day_and_year_end(now: str, expected: list[str]) -> None:
    assert plan_days(at(now), 900, EPOCH) == expected


def test_start_time_bounds_the_window() -> None:
    # start after now - lookback: only start's day counts
    assert plan_days(at("2024-05-02T00:05:00Z"), 3600, at("2024-05-02T00:01:00Z")) == ["2024/05/02/"]
    assert window_start(at("2024-05-02T00:05:00Z"), 3600, at("2024-05-02T00:01:00Z")) == at(
        "2024-05-02T00:01:00Z"
    )


def test_backfill_range_spans_every_day_inclusive() -> None:
    days = days_between(at("2024-02-27T23:00:00Z"), at("2024-03-02T01:00:00Z"))
    assert [d.isoformat() for d in days] == [
        "2024-02-27",
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
        "2024-03-02",
    ]
    assert days_between(at("2024-03-02T00:00:00Z"), at("2024-03-01T00:00:00Z")) == []


def test_local_offsets_and_dst_are_irrelevant() -> None:
    """The same instants written with a DST-ish offset give the same UTC days."""
    cest = timezone(timedelta(hours=2))
    now_local = datetime(2024, 3, 31, 2, 5, tzinfo=cest)  # 00:05 UTC on the night clocks change in the EU
    assert plan_days(now_local, 900, EPOCH) == ["2024/03/30/", "2024/03/31/"]
    assert plan_days(now_local, 900, EPOCH) == plan_days(at("2024-03-31T00:05:00Z"), 900, EPOCH)
    naive = datetime(2024, 3, 31, 0, 5)  # naive = UTC (CloudTrail stamps are UTC)
    assert plan_days(naive, 900, EPOCH) == plan_days(at("2024-03-31T00:05:00Z"), 900, EPOCH)


def test_start_after_is_a_minute_marker_inside_the_day_only() -> None:
    key = start_after(P, at("2024-05-01T00:00Z").date(), at("2024-05-01T10:04:59Z"))
    assert (
        key == "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/"
        "111122223333_CloudTrail_eu-west-1_20240501T1004Z"
    )
    same_minute = key + "_AAAAAAAAAAAAAAAA.json.gz"
    earlier = key.replace("T1004Z", "T1003Z") + "_zzzzzzzzzzzzzzzz.json.gz"
    assert same_minute > key > earlier  # files of the marker's minute are listed, earlier ones are not
    assert start_after(P, at("2024-05-02T00:00Z").date(), at("2024-05-01T23:59Z")) is None


def test_org_partition_base_and_prefix_normalisation() -> None:
    org = Partition("o-abcdefghij/", "o-abcdefghij", "123456789012", "ca-central-1")
    assert org.base == "o-abcdefghij/AWSLogs/o-abcdefghij/123456789012/CloudTrail/ca-central-1/"
    assert normalise_prefix("trail") == "trail/"
    assert normalise_prefix("/trail/") == "trail/"
    assert normalise_prefix("") == ""


@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
    lookback=st.floats(min_value=900, max_value=5 * 86400),
    start_back=st.floats(min_value=0, max_value=10 * 86400),
)
def test_plan_covers_every_minute_of_the_window_and_nothing_else(
    now: datetime, lookback: float, start_back: float
) -> None:
    """Every delivery minute in [max(start, now - lookback), now] falls in a planned prefix; no extra days."""
    start = now - timedelta(seconds=start_back)  # before or after now - lookback
    plan = plan_days(now, lookback, start)
    lo = window_start(now, lookback, start)
    assert plan[0] == f"{lo:%Y/%m/%d}/" and plan[-1] == f"{now:%Y/%m/%d}/"
    assert len(plan) == len(set(plan)) == (now.date() - lo.date()).days + 1
    t = lo
    while t <= now:
        assert f"{t:%Y/%m/%d}/" in plan
        t += timedelta(hours=1)
