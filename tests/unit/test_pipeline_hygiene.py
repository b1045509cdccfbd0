"""Alert hygiene through the pipeline: exceptions, per-rule dedupe, throttling with roll-ups, restarts."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

from trailwatchd.config import FileSinkConfig, parse_config
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sinks.file import FileSink
from trailwatchd.state import AsyncStateStore

from .test_pipeline import item, log_file, make, record, run_item

METRIC = '[rule.metric]\nnamespace = "T"\nname = "Logins"\nvalue = "1"\n'


def rules(tmp_path: Path, extra: str) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nid = "console-login"\nseverity = "high"\npattern = \'{ $.eventName = "ConsoleLogin" }\'\n'
        + extra
        + "\n"
        + METRIC
    )
    return RuleSet.load([path])


async def drain(pipe: Pipeline, state: AsyncStateStore) -> None:
    """Run the sink's delivery loop until the spool is empty (roll-ups flushed outside any object)."""
    deliver = asyncio.create_task(pipe.deliver_loop("out", idle_secs=0.01))
    try:
        for _ in range(500):
            if await state.spool_depth() == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("spool not drained")
    finally:
        deliver.cancel()
        await asyncio.gather(deliver, return_exceptions=True)


def by(event_id: str, arn: str, ip: str = "192.0.2.1") -> dict[str, object]:
    rec = record(event_id)
    rec["userIdentity"] = {"type": "IAMUser", "arn": arn}
    rec["sourceIPAddress"] = ip
    return rec


async def test_excepted_match_counts_in_metric_but_raises_no_alert(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "except = ['{ $.sourceIPAddress = \"10.*\" }']")
    pipe, sink, state, metrics = await make(
        tmp_path, ruleset, {"k": log_file(by("e1", "arn:a", "10.0.0.5"), by("e2", "arn:a"))}
    )
    work, ack = item("k")
    await run_item(pipe, work, ack)
    assert [a.event_id for a in sink.delivered] == ["e2"]
    assert ack.events == [("commit", None)]
    reg = metrics.registry
    assert reg.get_sample_value("t_logins_total") == 2.0  # the CloudWatch mirror: pattern unchanged
    assert reg.get_sample_value("trailwatchd_rule_matches_total", {"rule": "console-login"}) == 2.0
    assert reg.get_sample_value("trailwatchd_rule_exceptions_total", {"rule": "console-login"}) == 1.0
    await state.close()


async def test_dedupe_per_principal_within_window(tmp_path: Path) -> None:
    """One alert per principal per dedupe_secs; the window expires and the principal alerts again."""
    ruleset = rules(tmp_path, 'dedupe_secs = 600\ndedupe_fields = ["$.userIdentity.arn"]')
    clock = [1000.0]
    objects: dict[str, bytes | Exception] = {
        "a": log_file(by("e1", "arn:a"), by("e2", "arn:a"), by("e3", "arn:b")),
        "b": log_file(by("e4", "arn:a")),
        "c": log_file(by("e5", "arn:a")),
    }
    pipe, sink, state, _ = await make(tmp_path, ruleset, objects, clock)
    for key, at in (("a", 1000.0), ("b", 1599.0), ("c", 1601.0)):
        clock[0] = at
        work, ack = item(key)
        await run_item(pipe, work, ack)
        assert ack.events == [("commit", None)]
    assert [a.event_id for a in sink.delivered] == ["e1", "e3", "e5"]
    await state.close()


async def test_dedupe_secs_shortens_the_event_window(tmp_path: Path) -> None:
    """The same event in another file alerts again once the rule's own window is over."""
    ruleset = rules(tmp_path, "dedupe_secs = 60")
    clock = [1000.0]
    pipe, sink, state, _ = await make(
        tmp_path, ruleset, {"a": log_file(record("e1")), "b": log_file(record("e1"))}, clock
    )
    for key, at in (("a", 1000.0), ("b", 1061.0)):
        clock[0] = at
        work, ack = item(key)
        await run_item(pipe, work, ack)
    assert [a.event_id for a in sink.delivered] == ["e1", "e1"]
    await state.close()


async def test_storm_of_10000_matches_is_bounded_and_summarised(tmp_path: Path) -> None:
    """10,000 matching events in 40 files over 4 minutes, file sink: 4 x limit alerts plus 4 roll-ups,
    and every one of the 10,000 matches is either an alert or counted in a roll-up."""
    limit = 20
    ruleset = rules(tmp_path, f"max_alerts_per_minute = {limit}")
    principals = [f"arn:aws:iam::111122223333:user/u{i % 7}" for i in range(10_000)]
    objects: dict[str, bytes | Exception] = {
        f"k{n:02d}": log_file(
            *(by(f"e{i}", principals[i], f"198.51.100.{i % 3}") for i in range(n * 250, n * 250 + 250))
        )
        for n in range(40)
    }
    clock = [6000.0]
    pipe, _, state, metrics = await make(tmp_path, ruleset, objects, clock)
    out = tmp_path / "alerts.jsonl"
    file_sink = FileSink("out", FileSinkConfig(path=str(out)))
    pipe.sinks["out"] = file_sink
    for n in range(40):
        clock[0] = 6000.0 + n * 6  # 10 files a minute
        work, ack = item(f"k{n:02d}")
        await run_item(pipe, work, ack)
        assert ack.events == [("commit", None)]
    clock[0] = 6000.0 + 300
    assert await pipe.flush_rollups() == 1
    await drain(pipe, state)
    await file_sink.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    singles = [a for a in lines if a.get("kind") != "rollup"]
    rollups = [a for a in lines if a.get("kind") == "rollup"]
    assert len(singles) == 4 * limit
    assert len(rollups) == 4
    assert len(singles) + sum(r["rollup"]["count"] for r in rollups) == 10_000
    assert all(r["rollup"]["count"] == 2500 - limit for r in rollups)
    top = rollups[0]["rollup"]["top_principals"]
    assert len(top) == 5 and sum(t["count"] for t in top) < 2500 - limit
    assert {t["value"] for t in rollups[0]["rollup"]["top_source_ips"]} == {
        f"198.51.100.{i}" for i in range(3)
    }
    assert rollups[0]["summary"].startswith(f"{2500 - limit} more matches of console-login from ")
    reg = metrics.registry
    assert reg.get_sample_value("t_logins_total") == 10_000.0
    assert (
        reg.get_sample_value("trailwatchd_alerts_rolled_up_total", {"rule": "console-login"}) == 10_000 - 80
    )
    assert reg.get_sample_value("trailwatchd_rollup_alerts_total", {"rule": "console-login"}) == 4
    assert await state.spool_depth() == 0
    await state.close()


async def test_pending_rollup_survives_restart(tmp_path: Path) -> None:
    """Matches held back before a restart are in the roll-up sent after it; the budget is not reset."""
    ruleset = rules(tmp_path, "max_alerts_per_minute = 2")
    objects: dict[str, bytes | Exception] = {
        "a": log_file(*(by(f"e{i}", "arn:a") for i in range(5))),
        "b": log_file(by("e9", "arn:b")),
    }
    clock = [6000.0]
    pipe, sink, state, _ = await make(tmp_path, ruleset, objects, clock)
    work, ack = item("a")
    await run_item(pipe, work, ack)
    assert len(sink.delivered) == 2
    await state.close()

    # restart within the same minute: the budget is spent, so "b" is held back too
    clock[0] = 6010.0
    pipe2, sink2, state2, _ = await make(tmp_path, ruleset, objects, clock)
    work, ack = item("b")
    await run_item(pipe2, work, ack)
    assert sink2.delivered == []
    await state2.close()

    clock[0] = 6065.0
    pipe3, sink3, state3, _ = await make(tmp_path, ruleset, objects, clock)
    assert await pipe3.flush_rollups() == 1
    await drain(pipe3, state3)
    (rollup,) = sink3.delivered
    assert rollup.body["rollup"]["count"] == 4
    assert {t["value"]: t["count"] for t in rollup.body["rollup"]["top_principals"]} == {
        "arn:a": 3,
        "arn:b": 1,
    }
    assert await pipe3.flush_rollups() == 0  # flushed once, and the flush is committed
    await state3.close()


async def test_unreadable_throttle_state_starts_empty(tmp_path: Path) -> None:
    ruleset = rules(tmp_path, "max_alerts_per_minute = 1")
    store = AsyncStateStore(tmp_path / "state.db")
    await store.__aenter__()
    await store.set_meta("alert_throttle", "{broken")
    await store.close()
    pipe, sink, state, _ = await make(tmp_path, ruleset, {"a": log_file(record("e1"))})
    work, ack = item("a")
    await run_item(pipe, work, ack)
    assert [a.event_id for a in sink.delivered] == ["e1"]
    await state.close()


async def test_account_enrichment_names_the_account_and_overrides_severity(tmp_path: Path) -> None:
    """[enrichment.accounts]: the name shows in where.account_name and the summary; overrides apply."""
    cfg = parse_config(
        {
            "rules": {"default_sinks": []},
            "enrichment": {
                "accounts": {
                    "111122223333": {
                        "name": "prod",
                        "severity_overrides": {"*": "info", "console-login": "critical"},
                    },
                    "444455556666": {"name": "sandbox <lab>", "severity_overrides": {"*": "info"}},
                }
            },
        }
    )
    ruleset = rules(tmp_path, "")
    other = record("e2")
    other["recipientAccountId"] = "444455556666"
    unknown = record("e3")
    unknown["recipientAccountId"] = "999999999999"
    pipe, sink, state, _ = await make(tmp_path, ruleset, {"k": log_file(record("e1"), other, unknown)})
    pipe.settings = PipelineSettings(default_sinks=("out",), accounts=cfg.enrichment.accounts)
    work, ack = item("k")
    await run_item(pipe, work, ack)
    got = {a.event_id: a for a in sink.delivered}
    assert (got["e1"].severity, got["e1"].body["severity"]) == ("critical", "critical")  # rule id beats "*"
    assert got["e1"].body["where"]["account_name"] == "prod"
    assert " in 111122223333 (prod)/us-east-1 " in got["e1"].body["summary"]
    assert got["e2"].severity == "info"
    assert " in 444455556666 (sandbox ‹lab›)/us-east-1 " in got["e2"].body["summary"]
    assert got["e2"].body["where"]["account_name"] == "sandbox <lab>"
    assert (got["e3"].severity, got["e3"].body["where"]["account_name"]) == ("high", None)
    await state.close()


def test_reference_config_enrichment_example_is_valid(repo_root: Path) -> None:
    """The commented [enrichment] example in config/trailwatchd.toml parses once uncommented."""
    text = (repo_root / "config" / "trailwatchd.toml").read_text()
    block = text[text.index('# [enrichment.accounts."123456789012"]') :].splitlines()
    toml = "\n".join(line[2:] for line in block if line.startswith("# ") and not line.startswith("# #"))
    toml = toml[: toml.index("Per-rule alert hygiene")]
    cfg = parse_config({"rules": {"default_sinks": []}, **tomllib.loads(toml)})
    prod = cfg.enrichment.accounts["123456789012"]
    assert prod.name == "prod"
    assert prod.severity_for("cis-3.3-root-account-usage", "warning") == "critical"
    assert prod.severity_for("other", "warning") == "high"
    assert cfg.enrichment.accounts["210987654321"].severity_for("x", "critical") == "info"
