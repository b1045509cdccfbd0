"""Alert hygiene keys in rule files and the throttle itself: dedupe keys, exceptions, roll-ups, bounds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from trailwatchd.alerts import alert_from_bytes
from trailwatchd.rules import Rule, RuleSet
from trailwatchd.rules.problems import Problem, RuleLoadError
from trailwatchd.sinks.log import log_fields
from trailwatchd.state import NewAlert, StateStore
from trailwatchd.throttle import MAX_KEYS, OTHER, Throttle, dedupe_key, excepted

BASE = '[[rule]]\nid = "r1"\npattern = \'{ $.eventName = "ConsoleLogin" }\'\n'


def load(tmp_path: Path, extra: str) -> Rule:
    path = tmp_path / "r.toml"
    path.write_text(BASE + extra)
    return RuleSet.load([path]).get("r1")


def problems(tmp_path: Path, extra: str) -> list[Problem]:
    path = tmp_path / "r.toml"
    path.write_text(BASE + extra)
    with pytest.raises(RuleLoadError) as info:
        RuleSet.load([path])
    return info.value.problems


def event(i: int, arn: str = "arn:aws:iam::1:user/a", ip: str = "192.0.2.1", **more: Any) -> dict[str, Any]:
    return {
        "eventID": f"e{i}",
        "eventName": "ConsoleLogin",
        "eventTime": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "userIdentity": {"type": "IAMUser", "arn": arn},
        "sourceIPAddress": ip,
        "recipientAccountId": "111122223333",
        **more,
    }


# -- rule file keys ---------------------------------------------------------------------------------
def test_hygiene_keys_load(tmp_path: Path) -> None:
    rule = load(
        tmp_path,
        'dedupe_secs = 3600\ndedupe_fields = ["$.userIdentity.arn"]\nmax_alerts_per_minute = 5\n'
        "except = ['{ $.sourceIPAddress = \"10.*\" }', '{ $.userAgent = \"*Terraform*\" }']\n",
    )
    assert rule.dedupe_secs == 3600
    assert rule.dedupe_fields == ("$.userIdentity.arn",)
    assert len(rule.dedupe_selectors) == 1
    assert rule.max_alerts_per_minute == 5
    assert [p.text for p in rule.exceptions] == [
        '{ $.sourceIPAddress = "10.*" }',
        '{ $.userAgent = "*Terraform*" }',
    ]


def test_hygiene_defaults(tmp_path: Path) -> None:
    rule = load(tmp_path, "")
    assert (rule.dedupe_secs, rule.dedupe_fields, rule.max_alerts_per_minute, rule.exceptions) == (
        None,
        (),
        None,
        (),
    )


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        ("dedupe_secs = 0", "rule[0].dedupe_secs", "integer >= 1"),
        ("dedupe_secs = 'x'", "rule[0].dedupe_secs", "integer >= 1"),
        ("dedupe_secs = 99999999", "rule[0].dedupe_secs", "at most"),
        ("max_alerts_per_minute = -1", "rule[0].max_alerts_per_minute", "integer >= 1"),
        ("max_alerts_per_minute = true", "rule[0].max_alerts_per_minute", "integer >= 1"),
        (
            'dedupe_secs = 60\ndedupe_fields = ["userIdentity.arn"]',
            "rule[0].dedupe_fields[0]",
            "field reference",
        ),
        ('dedupe_fields = ["$.userIdentity.arn"]', "rule[0].dedupe_fields", "needs dedupe_secs"),
        ("except = '{ $.a = 1 }'", "rule[0].except", "list of non-empty strings"),
        ("excepts = []", "rule[0].excepts", "unknown key"),
    ],
)
def test_invalid_hygiene_keys(tmp_path: Path, extra: str, key: str, fragment: str) -> None:
    found = problems(tmp_path, extra + "\n")
    assert [p.key for p in found] == [key]
    assert fragment in found[0].message


def test_except_syntax_error_has_key_path_line_and_column(tmp_path: Path) -> None:
    """A broken exception pattern is reported like a broken pattern, next to other problems."""
    found = problems(tmp_path, "severity = 'loud'\nexcept = ['{ $.a = 1 }', '{ $.eventName = }']\n")
    by_key = {p.key: p for p in found}
    assert set(by_key) == {"rule[0].severity", "rule[0].except[1]"}
    bad = by_key["rule[0].except[1]"]
    assert (bad.rule_id, bad.line, bad.column) == ("r1", 1, 17)


# -- dedupe keys and exceptions --------------------------------------------------------------------
def test_dedupe_key_per_event_by_default(tmp_path: Path) -> None:
    rule = load(tmp_path, "")
    assert dedupe_key(rule, event(1), "e1") == "r1|e1"


def test_dedupe_key_per_field_values(tmp_path: Path) -> None:
    rule = load(tmp_path, 'dedupe_secs = 60\ndedupe_fields = ["$.userIdentity.arn"]\n')
    a1, a2 = dedupe_key(rule, event(1), "e1"), dedupe_key(rule, event(2), "e2")
    b = dedupe_key(rule, event(3, arn="arn:aws:iam::1:user/b"), "e3")
    missing = dedupe_key(rule, {"eventName": "ConsoleLogin"}, "e4")
    assert a1 == a2
    assert len({a1, b, missing}) == 3
    assert a1.startswith("r1|fields:")


def test_excepted_uses_the_full_event(tmp_path: Path) -> None:
    rule = load(tmp_path, "except = ['{ $.sourceIPAddress = \"10.*\" }']\n")
    assert excepted(rule, event(1, ip="10.1.2.3"))
    assert not excepted(rule, event(1, ip="192.0.2.1"))


# -- the throttle -----------------------------------------------------------------------------------
def plan_for(throttle: Throttle, rule: Rule, events: list[dict[str, Any]], now: float) -> Any:
    return throttle.plan(
        [(rule, e) for e in events],
        rules={rule.id: rule},
        object_uri="s3://b/k",
        now=now,
        default_sinks=("out",),
        default_ttl_secs=86400.0,
    )


def test_limit_then_one_rollup_next_minute(tmp_path: Path) -> None:
    """3 alerts, then 97 absorbed; the roll-up is spooled when the minute is over, with the numbers."""
    rule = load(tmp_path, "max_alerts_per_minute = 3\n")
    throttle = Throttle()
    arns = ["arn:aws:iam::1:user/a"] * 60 + ["arn:aws:iam::1:user/b"] * 40
    plan = plan_for(throttle, rule, [event(i, arn=a) for i, a in enumerate(arns)], now=600.0)
    throttle.commit(plan)
    assert len(plan.alerts) == 3
    assert plan.rolled_up == {"r1": 97}
    assert plan.rollups == []
    assert (
        throttle.flush(rules={"r1": rule}, now=659.0, default_sinks=("out",), default_ttl_secs=1).alerts == []
    )
    later = throttle.flush(rules={"r1": rule}, now=660.0, default_sinks=("out",), default_ttl_secs=1)
    (rollup,) = later.rollups
    body = rollup.body
    assert body["kind"] == "rollup"
    assert body["rollup"]["count"] == 97
    assert body["rollup"]["top_principals"] == [
        {"value": "arn:aws:iam::1:user/a", "count": 57},
        {"value": "arn:aws:iam::1:user/b", "count": 40},
    ]
    assert body["rollup"]["top_source_ips"] == [{"value": "192.0.2.1", "count": 97}]
    assert body["rollup"]["first_event_time"] == "2024-01-01T00:00:03Z"
    assert body["rollup"]["last_event_time"] == "2024-01-01T00:01:39Z"
    assert body["summary"].startswith("97 more matches of r1 from arn:aws:iam::1:user/a (57)")
    assert "since 1970-01-01T00:10:00.000Z" in body["summary"]
    (spooled,) = later.alerts
    assert spooled.dedupe_key == "r1|rollup:600"
    assert alert_from_bytes(spooled.payload).body == body
    throttle.commit(later)
    assert throttle.state.rules == {}  # nothing left to remember


def test_next_minute_resets_the_budget(tmp_path: Path) -> None:
    rule = load(tmp_path, "max_alerts_per_minute = 2\n")
    throttle = Throttle()
    first = plan_for(throttle, rule, [event(i) for i in range(5)], now=0.0)
    throttle.commit(first)
    second = plan_for(throttle, rule, [event(i) for i in range(5, 10)], now=61.0)
    throttle.commit(second)
    # minute 2: the minute-1 roll-up (3 matches) plus 2 fresh alerts, 3 more pending
    assert [r.body["rollup"]["count"] for r in second.rollups] == [3]
    assert len(second.alerts) == 3
    assert second.rolled_up == {"r1": 3}


def test_plan_does_not_touch_state_until_commit(tmp_path: Path) -> None:
    """A failed transaction leaves the in-memory limiter as it was (no double counting on retry)."""
    rule = load(tmp_path, "max_alerts_per_minute = 1\n")
    throttle = Throttle()
    plan_for(throttle, rule, [event(i) for i in range(5)], now=0.0)
    assert throttle.state.rules == {}
    plan = plan_for(throttle, rule, [event(i) for i in range(5)], now=0.0)
    throttle.commit(plan)
    assert throttle.state.rules["r1"].pending is not None
    assert throttle.state.rules["r1"].pending.count == 4


def test_state_round_trips_through_meta_json(tmp_path: Path) -> None:
    rule = load(tmp_path, "max_alerts_per_minute = 1\n")
    throttle = Throttle()
    plan = plan_for(throttle, rule, [event(i) for i in range(5)], now=0.0)
    throttle.commit(plan)
    (raw,) = plan.meta().values()
    again = Throttle.load(raw)
    assert again.state == throttle.state
    with pytest.raises(msgspec.DecodeError):
        Throttle.load("{not json")


def test_counters_are_bounded_and_rollups_per_minute(tmp_path: Path) -> None:
    """20,000 matches from 20,000 principals: state stays at MAX_KEYS values, one roll-up per minute."""
    rule = load(tmp_path, "max_alerts_per_minute = 10\n")
    throttle = Throttle()
    total_alerts = 0
    rolled = 0
    for minute in range(4):
        events = [event(i, arn=f"arn:aws:iam::1:user/u{minute}-{i}") for i in range(5000)]
        plan = plan_for(throttle, rule, events, now=minute * 60.0 + 1)
        throttle.commit(plan)
        total_alerts += len(plan.alerts)
        rolled += sum(r.body["rollup"]["count"] for r in plan.rollups)
        pending = throttle.state.rules["r1"].pending
        assert pending is not None
        assert len(pending.principals.values) == MAX_KEYS + 1  # plus "(other)"
        assert pending.principals.values[OTHER] == 5000 - 10 - MAX_KEYS
        assert len(msgspec.json.encode(throttle.state)) < 40_000
    final = throttle.flush(rules={"r1": rule}, now=1000.0, default_sinks=("out",), default_ttl_secs=1)
    total_alerts += len(final.alerts)
    rolled += sum(r.body["rollup"]["count"] for r in final.rollups)
    assert total_alerts == 4 * 10 + 4  # 10 per minute plus one roll-up per minute
    assert rolled == 4 * (5000 - 10)  # every held-back match is accounted for in a roll-up


def test_removed_rule_flushes_its_pending_rollup(tmp_path: Path) -> None:
    """A reload that drops the rule (or its limit) spools what was held back, then forgets the rule."""
    rule = load(tmp_path, "max_alerts_per_minute = 1\n")
    throttle = Throttle()
    throttle.commit(plan_for(throttle, rule, [event(i) for i in range(3)], now=0.0))
    plan = throttle.flush(rules={}, now=1.0, default_sinks=("out",), default_ttl_secs=1)
    assert [r.body["rollup"]["count"] for r in plan.rollups] == [2]
    assert plan.rollups[0].sinks == ("out",)
    throttle.commit(plan)
    assert throttle.state.rules == {}


def test_excepted_matches_are_not_alerted_nor_rolled_up(tmp_path: Path) -> None:
    rule = load(tmp_path, "max_alerts_per_minute = 1\nexcept = ['{ $.sourceIPAddress = \"10.*\" }']\n")
    throttle = Throttle()
    plan = plan_for(throttle, rule, [event(1, ip="10.0.0.1"), event(2), event(3, ip="10.9.9.9")], now=0.0)
    assert plan.excepted == {"r1": 2}
    assert len(plan.alerts) == 1
    assert plan.rolled_up == {}


def test_rollup_text_is_neutralised(tmp_path: Path) -> None:
    """Principal names in the roll-up summary come from attacker-controlled fields: neutralised."""
    rule = load(tmp_path, "max_alerts_per_minute = 1\n")
    throttle = Throttle()
    evil = "arn:aws:iam::1:user/x\u202e\x1b[31mgnp.exe\n"
    throttle.commit(plan_for(throttle, rule, [event(1), event(2, arn=evil)], now=0.0))
    (rollup,) = throttle.flush(
        rules={"r1": rule}, now=60.0, default_sinks=("out",), default_ttl_secs=1
    ).rollups
    summary = rollup.body["summary"]
    assert "\u202e" not in summary and "\x1b" not in summary and "\n" not in summary
    assert "\ufffd" in summary


# -- the state store's part: meta rows and per-alert TTL in the object's transaction ----------------
def test_record_evaluation_writes_meta_and_per_alert_ttl_atomically(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    short = NewAlert("r|short", b"{}", ("out",), ttl_secs=10.0)
    long = NewAlert("r|long", b"{}", ("out",))
    created = store.record_evaluation(
        "src", "obj", [short, long], now=100.0, ttl_secs=1000.0, meta={"k": "v1"}
    )
    assert len(created) == 2
    assert store.get_meta("k") == "v1"
    store.mark_delivered([e.id for e in created], now=101.0)
    # 20 s later the short key has expired and alerts again; the long one is still deduplicated.
    again = store.record_evaluation("src", "obj2", [short, long], now=120.0, ttl_secs=1000.0)
    assert [e.dedupe_key for e in again] == ["r|short"]
    # A transaction that fails part way (an unstorable meta value) leaves neither alerts nor meta behind.
    with pytest.raises(sqlite3.Error):
        store.record_evaluation(
            "src",
            "obj3",
            [NewAlert("r|new", b"{}", ("out",))],
            now=130.0,
            ttl_secs=1000.0,
            meta={"k": {"not": "text"}},  # type: ignore[dict-item]
        )
    assert store.get_meta("k") == "v1"
    assert store.object_status("src", "obj3") is None
    assert [
        e.dedupe_key
        for e in store.record_evaluation(
            "src", "obj3", [NewAlert("r|new", b"{}", ("out",))], now=131.0, ttl_secs=1000.0
        )
    ] == ["r|new"]
    store.close()


def test_log_sink_renders_a_rollup(tmp_path: Path) -> None:
    rule = load(tmp_path, "max_alerts_per_minute = 1\n")
    throttle = Throttle()
    throttle.commit(plan_for(throttle, rule, [event(i) for i in range(4)], now=0.0))
    (rollup,) = throttle.flush(
        rules={"r1": rule}, now=60.0, default_sinks=("out",), default_ttl_secs=1
    ).rollups
    fields = log_fields(rollup)
    assert fields["summary"].startswith("3 more matches of r1 from arn:aws:iam::1:user/a (3) since ")
    assert fields["event_id"] == "rollup:r1:0" and fields["principal"] is None


def test_hygiene_keys_change_the_rule_set_digest(tmp_path: Path) -> None:
    """A reload that only changes a limit or an exception is a new rule set (logged, new digest)."""
    plain = load_set(tmp_path, "")
    digests = {plain.digest}
    for extra in ("max_alerts_per_minute = 3\n", "except = ['{ $.a = 1 }']\n", "dedupe_secs = 60\n"):
        digests.add(load_set(tmp_path, extra).digest)
    assert len(digests) == 4
    assert load_set(tmp_path, "").digest == plain.digest


def load_set(tmp_path: Path, extra: str) -> RuleSet:
    path = tmp_path / "d.toml"
    path.write_text(BASE + extra)
    return RuleSet.load([path])
