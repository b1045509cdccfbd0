"""Alarm scenarios over a real state store with a hand-moved clock: bursts, late files, restarts, gaps.

Times are minutes after 10:00 UTC; ``h.at(n)`` ticks just after minute boundary n. Expected transitions are
worked out by hand in each docstring from CloudWatch's rules (docs/alarms.md), not read back from the code.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.alarms.harness import Harness, make_rule, minute
from trailwatchd.alarms.evaluator import ALARM, INSUFFICIENT_DATA, OK
from trailwatchd.alarms.series import Series, Window, evaluation_slots, minute_of
from trailwatchd.alerts import alert_from_bytes, alert_to_bytes, build_alert
from trailwatchd.model import Alert

I, A = INSUFFICIENT_DATA, ALARM  # noqa: E741 - short names keep transition tables readable
CIS_STYLE: dict[str, Any] = {
    "period_secs": 300,
    "evaluation_periods": 1,
    "treat_missing_data": "notBreaching",
}
EVENT = {
    "eventTime": "2024-05-01T10:00:30Z",
    "eventName": "ConsoleLogin",
    "eventSource": "signin.amazonaws.com",
    "eventID": "ev-1",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "203.0.113.9",
    "recipientAccountId": "111122223333",
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::111122223333:user/eve",
        "accountId": "111122223333",
    },
}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "state.db"


async def test_burst_alarms_once_and_clears_like_cloudwatch(db: Path) -> None:
    """100 matches in one minute: INSUFFICIENT_DATA -> OK at start, one ALARM, OK when out of range.

    Sum >= 1 over 5 min, N = 1, notBreaching, no lateness (exactly CloudWatch). The range is 3 periods
    (15 min): the 10:02 datapoint keeps the alarm up to the evaluation at 10:17, so OK comes at 10:18.
    """
    h = await Harness.start(db, make_rule(**CIS_STYLE))
    try:
        assert [(c.old_state, c.new_state) for c in await h.at(0)] == [(I, OK)]
        h.clock.now = minute(2) + 30
        await h.feed(*[(minute(2) + 5, 1.0)] * 100, events=[EVENT])
        assert await h.states_over(3, 30) == [(3, OK, A), (18, A, OK)]
        notes = await h.notifications()
        assert [(n.body["OldStateValue"], n.body["NewStateValue"]) for n in notes] == [
            (I, OK),
            (OK, A),
            (A, OK),
        ]
        alarm_note = notes[1]
        assert alarm_note.kind == "alarm" and alarm_note.sinks == ("pager",)
        assert alarm_note.subject == 'ALARM: "alarm-a" in US East (N. Virginia)'
        assert alarm_note.body["NewStateReason"] == (
            "Threshold Crossed: 1 out of the last 1 datapoints [100.0 (01/05/24 09:58:00)] "
            "was greater than or equal to the threshold (1.0) "
            "(minimum 1 datapoint for OK -> ALARM transition)."
        )
        assert alarm_note.body["StateChangeTime"] == "2024-05-01T10:03:01.000+0000"
        sample = alarm_note.body["TrailwatchdSampleEvents"][0]
        assert sample["who"]["arn"] == "arn:aws:iam::111122223333:user/eve"
        assert sample["where"]["source_ip"] == "203.0.113.9"
        assert notes[2].body["NewStateReason"] == (
            "Threshold Crossed: no datapoints were received for 1 period and "
            "1 missing datapoint was treated as [NonBreaching]."
        )
        assert notes[2].body["TrailwatchdSampleEvents"] == []
        # Prometheus: one gauge set to 1, counters per transition.
        assert h.metric("trailwatchd_alarm_state", alarm="alarm-a", state="OK") == 1.0
        assert h.metric("trailwatchd_alarm_state", alarm="alarm-a", state="ALARM") == 0.0
        assert (
            h.metric("trailwatchd_alarm_transitions_total", alarm="alarm-a", **{"from": "OK", "to": "ALARM"})
            == 1
        )
        assert h.metric("trailwatchd_alarm_datapoints_total", alarm="alarm-a", outcome="counted") == 100
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("lateness", "expected", "too_late"),
    [
        (0.0, [(0, I, OK)], 1.0),  # CloudWatch: the 22-minute-late datapoint is past the range: lost
        (900.0, [(15, I, OK), (22, OK, A), (31, A, OK)], 0.0),
    ],
)
async def test_late_file(
    db: Path, lateness: float, expected: list[tuple[int, str, str]], too_late: float
) -> None:
    """A 10:00 event delivered at 10:22 (a late CloudTrail file).

    With 900 s lateness: nothing is final for the first 15 minutes after start (INSUFFICIENT_DATA), OK at
    10:15, the late datapoint still lies in the range reached back by lateness -> ALARM at 10:22, and OK
    when it leaves the 6-period lookback (10:31). Without lateness it is refused as too late.
    """
    h = await Harness.start(db, make_rule(**CIS_STYLE), lateness=lateness)
    try:
        got = await h.states_over(0, 22)
        h.clock.now = minute(22)
        await h.feed((minute(0) + 30, 1.0))
        got += await h.states_over(22, 40)
        assert got == expected
        assert h.metric("trailwatchd_alarm_datapoints_total", alarm="alarm-a", outcome="too_late") == too_late
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("lateness", "expected"),
    [
        (0.0, [(0, I, OK), (1, OK, A), (16, A, OK), (24, OK, A), (30, A, OK)]),
        (900.0, [(1, I, A), (45, A, OK)]),
    ],
)
async def test_lateness_prevents_flapping(
    db: Path, lateness: float, expected: list[tuple[int, str, str]]
) -> None:
    """A prompt 10:00 match, then a 10:14 match delivered 10 minutes late (at 10:24).

    CloudWatch's semantics (no lateness) go OK at 10:16 and ALARM again when the late file lands: two
    extra notifications. With 900 s an empty period is not "missing" until final, so the alarm stays up
    and clears once, 31 minutes after the last match.
    """
    h = await Harness.start(db, make_rule(**CIS_STYLE), lateness=lateness)
    try:
        got = await h.states_over(0, 1)
        h.clock.now = minute(0) + 40
        await h.feed((minute(0) + 30, 1.0))
        got += await h.states_over(1, 24)
        h.clock.now = minute(24)
        await h.feed((minute(14) + 10, 1.0))
        got += await h.states_over(24, 60)
        assert got == expected
    finally:
        await h.close()


async def test_restart_neither_refires_nor_sends_ok(db: Path) -> None:
    """ALARM at 10:01; restart at 10:03: state and buckets come back, no notification is repeated.

    The alarm clears at 10:31 exactly as without the restart (the restored 10:00 datapoint decides).
    """
    rule = make_rule(**CIS_STYLE)
    h = await Harness.start(db, rule, lateness=900.0)
    try:
        h.clock.now = minute(0) + 40
        await h.feed((minute(0) + 30, 1.0))
        assert await h.states_over(1, 3) == [(1, I, A)]
        before = await h.notifications()
    finally:
        await h.close()
    h = await Harness.start(db, rule, lateness=900.0, now=minute(3))
    try:
        assert h.current == A  # restored before the first tick
        assert await h.states_over(3, 31) == []
        assert [n.body["NewStateValue"] for n in await h.notifications()] == [
            n.body["NewStateValue"] for n in before
        ]
        assert await h.states_over(31, 40) == [(31, A, OK)]
        assert h.metric("trailwatchd_alarm_state", alarm="alarm-a", state="ALARM") == 0.0
    finally:
        await h.close()


async def test_restart_after_long_downtime_waits_for_the_backlog(db: Path) -> None:
    """Down from 10:02 to 11:00; the backlog (a 10:40 match) arrives at 11:01.

    Without the restart grace the first tick at 11:00 would see 30 empty final minutes and send OK, then
    ALARM again a minute later. With it, absence is not concluded before 11:15 (start + lateness), and
    the alarm clears once, at 11:15, after the 10:40 datapoint has left the lookback.
    """
    rule = make_rule(**CIS_STYLE)
    h = await Harness.start(db, rule, lateness=900.0)
    try:
        h.clock.now = minute(0) + 40
        await h.feed((minute(0) + 30, 1.0))
        assert await h.states_over(1, 3) == [(1, I, A)]
    finally:
        await h.close()
    h = await Harness.start(db, rule, lateness=900.0, now=minute(60))
    try:
        got = await h.states_over(60, 61)
        h.clock.now = minute(61)
        await h.feed((minute(40), 1.0))
        got += await h.states_over(61, 90)
        assert got == [(75, A, OK)]
    finally:
        await h.close()


async def test_missing_mode_goes_ok_then_insufficient_data(db: Path) -> None:
    """3 of 3 one-minute periods breaching -> ALARM; as the points age: OK (2 < M), then no data at all.

    Range 5: at 10:06 only 10:01 and 10:02 remain (2 real, both breaching, fewer than M = 3, the oldest is
    older than N, so no premature alarm) -> OK; at 10:08 the range is empty -> INSUFFICIENT_DATA.
    """
    rule = make_rule(
        period_secs=60, evaluation_periods=3, datapoints_to_alarm=3, treat_missing_data="missing"
    )
    h = await Harness.start(db, rule)
    try:
        h.clock.now = minute(2) + 50
        await h.feed((minute(0), 2.0), (minute(1), 2.0), (minute(2), 2.0))
        assert await h.states_over(3, 12) == [(3, I, A), (6, A, OK), (8, OK, I)]
        notes = await h.notifications()
        assert [n.body["NewStateValue"] for n in notes] == [A, OK]  # no insufficient_data_actions configured
        assert notes[1].body["NewStateReason"] == (
            "Threshold Crossed: 2 out of the last 3 datapoints "
            "[2.0 (01/05/24 10:02:00), 2.0 (01/05/24 10:01:00)] were greater than or equal to the "
            "threshold (1.0) (minimum 3 datapoints for OK -> ALARM transition)."
        )
        assert h.current == I  # saved even though nobody was notified
    finally:
        await h.close()


async def test_premature_alarm_quirk(db: Path) -> None:
    """One breaching point, N = M = 3, missing: ``- - - - X`` OK, ``- - X - -`` ALARM (AWS's rule), OK."""
    rule = make_rule(
        period_secs=60, evaluation_periods=3, datapoints_to_alarm=3, treat_missing_data="missing"
    )
    h = await Harness.start(db, rule)
    try:
        assert await h.states_over(0, 1) == []
        h.clock.now = minute(0) + 50
        await h.feed((minute(0) + 10, 5.0))
        assert await h.states_over(1, 8) == [(1, I, OK), (3, OK, A), (4, A, OK), (6, OK, I)]
    finally:
        await h.close()


async def test_breaching_heartbeat_waits_for_lateness(db: Path) -> None:
    """ "Fewer than 1 event in 5 minutes" with breaching: no ALARM while the silence may be delivery delay.

    Activity at 10:00 -> OK at 10:01; CloudWatch would alarm at 10:16, lateness 900 s makes it 10:31. At
    start CloudWatch alarms at once (nothing received yet counts as breaching); with lateness the alarm
    waits in INSUFFICIENT_DATA until something is known.
    """
    rule = make_rule(comparison_operator="LessThanThreshold", period_secs=300, treat_missing_data="breaching")
    cases: tuple[tuple[float, list[tuple[int, str, str]], list[tuple[int, str, str]]], ...] = (
        (0.0, [(0, I, A)], [(1, A, OK), (16, OK, A)]),
        (900.0, [], [(1, I, OK), (31, OK, A)]),
    )
    for lateness, first, then in cases:
        h = await Harness.start(db.with_name(f"hb-{lateness}.db"), rule, lateness=lateness)
        try:
            assert await h.states_over(0, 1) == first
            h.clock.now = minute(0) + 50
            await h.feed((minute(0) + 30, 1.0))
            assert await h.states_over(1, 40) == then
        finally:
            await h.close()


async def test_default_value_turns_idle_minutes_into_zeros(db: Path) -> None:
    """With default_value = 0, minutes with ingested events but no match are 0, so missing -> OK, not I."""
    rule = make_rule(period_secs=60, evaluation_periods=1, treat_missing_data="missing", default_value=0.0)
    h = await Harness.start(db, rule)
    try:
        h.clock.now = minute(4) + 30
        await h.ingest_only(*(minute(n) + 10 for n in range(5)))
        changes = await h.at(5)
        assert [(c.old_state, c.new_state) for c in changes] == [(I, OK)]
        assert changes[0].reason == (
            "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (01/05/24 10:04:00)] "
            "was not greater than or equal to the threshold (1.0) "
            "(minimum 1 datapoint for ALARM -> OK transition)."
        )
    finally:
        await h.close()
    bare = make_rule(period_secs=60, evaluation_periods=1, treat_missing_data="missing")
    h = await Harness.start(db.with_name("bare.db"), bare)
    try:
        h.clock.now = minute(4) + 30
        await h.ingest_only(*(minute(n) + 10 for n in range(5)))
        assert await h.at(5) == []  # no default value: nothing reported, stays INSUFFICIENT_DATA
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("statistic", "value"),
    [("Sum", 9.0), ("SampleCount", 3.0), ("Average", 3.0), ("Minimum", 1.0), ("Maximum", 6.0)],
)
def test_each_statistic_over_a_period(statistic: str, value: float) -> None:
    """Observations 1 and 2 in one minute and 6 in the next, one 2-minute period."""
    series = Series()
    at = int(minute(2))
    for stamp, v in ((minute(0), 1.0), (minute(0) + 5, 2.0), (minute(1), 6.0)):
        series.add(minute_of(stamp), v)
    slots = evaluation_slots(series, Window(120, 1, statistic), at=at, final_before=at, lateness_secs=0)
    assert slots[-1].value == value
    assert slots[-1].start == minute(0)


@pytest.mark.parametrize(
    ("operator", "at_threshold", "below"),
    [
        ("GreaterThanOrEqualToThreshold", A, OK),
        ("GreaterThanThreshold", OK, OK),
        ("LessThanThreshold", OK, A),
        ("LessThanOrEqualToThreshold", A, A),
    ],
)
async def test_each_operator_through_the_service(
    db: Path, operator: str, at_threshold: str, below: str
) -> None:
    """Average of the period against threshold 3: once equal (2 and 4), once below (1 and 2)."""
    for values, want in (((2.0, 4.0), at_threshold), ((1.0, 2.0), below)):
        rule = make_rule(
            period_secs=60,
            statistic="Average",
            comparison_operator=operator,
            threshold=3.0,
            treat_missing_data="ignore",
        )
        h = await Harness.start(db.with_name(f"{operator}-{values}.db"), rule)
        try:
            h.clock.now = minute(0) + 30
            await h.feed(*((minute(0) + 1, v) for v in values))
            await h.at(1)
            assert h.current == want
        finally:
            await h.close()


async def test_ignore_keeps_the_state_when_data_stops(db: Path) -> None:
    """``ignore``: ALARM stays ALARM when the metric stops flowing (all missing)."""
    h = await Harness.start(db, make_rule(period_secs=60, treat_missing_data="ignore"))
    try:
        h.clock.now = minute(0) + 30
        await h.feed((minute(0) + 1, 3.0))
        assert await h.states_over(1, 30) == [(1, I, A)]
    finally:
        await h.close()


async def test_reload_keeps_state_and_marks_config_update(db: Path) -> None:
    """A reload with a changed threshold keeps the alarm's state; the payload shows the config update time."""
    h = await Harness.start(db, make_rule(**CIS_STYLE))
    try:
        h.clock.now = minute(0) + 30
        await h.feed((minute(0) + 1, 3.0))
        await h.states_over(1, 2)
        assert h.current == A
        h.clock.now = minute(5) + 7
        h.service.set_rules([make_rule(threshold=5.0, **CIS_STYLE)])
        h.rule = h.service.alarms["alarm-a"].rule
        assert h.current == A
        changes = await h.at(6)  # 3.0 is no longer >= 5.0
        assert [(c.old_state, c.new_state) for c in changes] == [(A, OK)]
        notes = await h.notifications()
        assert notes[-1].body["AlarmConfigurationUpdatedTimestamp"] == "2024-05-01T10:05:07.000+0000"
        assert notes[-1].body["Trigger"]["Threshold"] == 5.0
    finally:
        await h.close()


def test_spool_format_of_per_event_alerts_is_unchanged() -> None:
    """kind/subject are omitted for per-event alerts; alarm notifications round-trip with both."""
    alert = build_alert(rule_id="r", title="t", severity="high", event=EVENT, object_uri=None, matched_at=0.0)
    raw = json.loads(alert_to_bytes(alert))
    assert set(raw) == {"rule_id", "event_id", "severity", "title", "sinks", "body"}
    alarm = Alert(
        "r", "alarm|x", "high", "ALARM: x", {"AlarmName": "x"}, ("s",), kind="alarm", subject="ALARM: x"
    )
    back = alert_from_bytes(alert_to_bytes(alarm))
    assert (back.kind, back.subject, back.body) == ("alarm", "ALARM: x", {"AlarmName": "x"})
    assert alert_from_bytes(alert_to_bytes(alert)).kind == "alert"


async def test_damaged_saved_rows_are_discarded_not_fatal(db: Path) -> None:
    """A corrupt state or series row is logged and the alarm starts afresh instead of crashing."""
    h = await Harness.start(db, make_rule(**CIS_STYLE))
    try:
        await h.state.put_alarm("alarm-a", {"state": "ALARM", "changed_at": "yesterday"}, now=0.0)
        await h.state.set_meta("alarm-series:alarm-a", '{"buckets": {"x": [1]}}')
    finally:
        await h.close()
    h = await Harness.start(db, make_rule(**CIS_STYLE))
    try:
        assert h.service.alarms["alarm-a"].series.buckets == {}
        h.clock.now = minute(0) + 30
        await h.feed((minute(0) + 1, 3.0))
        assert [(c.old_state, c.new_state) for c in await h.at(1)] == [(I, A)]
    finally:
        await h.close()
