"""StateStore: the per-object transaction, dedupe, spool bookkeeping, pruning and small state tables."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from trailwatchd import state_schema
from trailwatchd.state import NewAlert, StateError, StateStore, spool_id

TTL = 3600.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(tmp_path / "state.db")
    yield s
    s.close()


def alert(event_id: str, *sinks: str, rule: str = "r1") -> NewAlert:
    return NewAlert(f"{rule}|{event_id}", f"payload {rule} {event_id}".encode(), sinks or ("console",))


def test_record_evaluation_spools_one_entry_per_alert_and_sink(store: StateStore) -> None:
    """Each new alert is spooled once per sink, and the object becomes 'evaluated' with its counts."""
    entries = store.record_evaluation(
        "src", "a.json", [alert("e1", "sns", "file"), alert("e2", "sns")], now=100.0, ttl_secs=TTL,
        events=7, matches=2,
    )
    assert sorted((e.dedupe_key, e.sink_id) for e in entries) == [
        ("r1|e1", "file"), ("r1|e1", "sns"), ("r1|e2", "sns"),
    ]
    assert {e.id for e in entries} == {spool_id(e.sink_id, e.dedupe_key) for e in entries}
    assert store.object_status("src", "a.json") == "evaluated"
    assert store.undelivered_count("src", "a.json") == 3
    assert store.spool_depth() == 3
    row = store._conn.execute("SELECT events, matches FROM ledger").fetchone()
    assert row == (7, 2)


def test_unknown_object_has_no_status(store: StateStore) -> None:
    """An object never recorded reports None, so the pipeline evaluates it."""
    assert store.object_status("src", "nope") is None
    assert store.undelivered_count("src", "nope") == 0


def test_re_evaluating_an_object_spools_nothing_new(store: StateStore) -> None:
    """A redelivered object evaluated again yields no second spool entry for the same alerts."""
    first = store.record_evaluation("src", "a.json", [alert("e1")], now=100.0, ttl_secs=TTL)
    again = store.record_evaluation("src", "a.json", [alert("e1")], now=101.0, ttl_secs=TTL)
    assert len(first) == 1
    assert again == []
    assert store.spool_depth() == 1


def test_same_event_in_two_objects_alerts_once(store: StateStore) -> None:
    """Two objects carrying the same eventID (duplicate trails) produce one alert; the second is clear."""
    store.record_evaluation("src", "a.json", [alert("e1")], now=100.0, ttl_secs=TTL)
    second = store.record_evaluation("src", "b.json", [alert("e1"), alert("e2")], now=100.0, ttl_secs=TTL)
    assert [e.dedupe_key for e in second] == ["r1|e2"]
    assert store.undelivered_count("src", "a.json") == 1
    assert store.undelivered_count("src", "b.json") == 1


def test_duplicate_key_within_one_object_alerts_once(store: StateStore) -> None:
    """The same dedupe key twice in one evaluation (a duplicated record) is spooled once."""
    entries = store.record_evaluation("src", "a.json", [alert("e1"), alert("e1")], now=1.0, ttl_secs=TTL)
    assert len(entries) == 1


def test_dedupe_key_expires_after_ttl(store: StateStore) -> None:
    """Within the TTL the key suppresses the alert; after it the event alerts again, reusing the id."""
    [first] = store.record_evaluation("src", "a.json", [alert("e1")], now=100.0, ttl_secs=TTL)
    store.mark_delivered([first.id], now=101.0)
    assert store.record_evaluation("src", "b.json", [alert("e1")], now=100.0 + TTL - 1, ttl_secs=TTL) == []
    [again] = store.record_evaluation("src", "c.json", [alert("e1")], now=100.0 + TTL, ttl_secs=TTL)
    assert again.id == first.id
    assert again.object_key == "c.json"
    assert store.undelivered_count("src", "c.json") == 1
    assert [e.id for e in store.due(now=100.0 + TTL)] == [first.id]


def test_expired_key_with_pending_delivery_is_not_spooled_twice(store: StateStore) -> None:
    """If the old delivery is still pending when the key expires, the pending row keeps covering it."""
    store.record_evaluation("src", "a.json", [alert("e1")], now=100.0, ttl_secs=TTL)
    assert store.record_evaluation("src", "b.json", [alert("e1")], now=100.0 + TTL, ttl_secs=TTL) == []
    assert store.spool_depth() == 1
    assert store.undelivered_count("src", "a.json") == 1


def test_failed_transaction_records_nothing(store: StateStore) -> None:
    """An error half way through the alerts rolls back the spool rows, dedupe keys and ledger mark."""

    def alerts() -> Iterator[NewAlert]:
        yield alert("e1")
        raise RuntimeError("evaluation blew up")

    with pytest.raises(RuntimeError):
        store.record_evaluation("src", "a.json", alerts(), now=1.0, ttl_secs=TTL)
    assert store.object_status("src", "a.json") is None
    assert store.spool_depth() == 0
    assert store.record_evaluation("src", "a.json", [alert("e1")], now=2.0, ttl_secs=TTL) != []


def test_due_orders_by_time_and_filters_by_sink(store: StateStore) -> None:
    """due() returns pending entries whose time has come, oldest first, per sink when asked, up to limit."""
    store.record_evaluation("src", "a.json", [alert("e1", "sns")], now=10.0, ttl_secs=TTL)
    store.record_evaluation("src", "b.json", [alert("e2", "sns", "file")], now=20.0, ttl_secs=TTL)
    assert [e.dedupe_key for e in store.due(now=15.0)] == ["r1|e1"]
    assert [e.dedupe_key for e in store.due(now=25.0, sink_id="sns")] == ["r1|e1", "r1|e2"]
    assert [e.sink_id for e in store.due(now=25.0, sink_id="file")] == ["file"]
    assert len(store.due(now=25.0, limit=2)) == 2
    assert store.due(now=5.0) == []


def test_retry_counts_attempts_and_delays(store: StateStore) -> None:
    """mark_retry keeps the entry pending, bumps attempts, stores the error and hides it until due."""
    [entry] = store.record_evaluation("src", "a.json", [alert("e1", "sns")], now=10.0, ttl_secs=TTL)
    store.mark_retry(entry.id, next_attempt_at=50.0, error="throttled")
    assert store.due(now=49.0) == []
    [again] = store.due(now=50.0)
    assert (again.attempts, again.last_error, again.payload) == (1, "throttled", entry.payload)
    assert store.undelivered_count("src", "a.json") == 1


def test_delivered_entries_release_the_object(store: StateStore) -> None:
    """Once every entry is delivered the object has nothing undelivered and the spool is empty."""
    entries = store.record_evaluation("src", "a.json", [alert("e1", "a", "b")], now=10.0, ttl_secs=TTL)
    store.mark_delivered([entries[0].id], now=11.0)
    assert store.undelivered_count("src", "a.json") == 1
    store.mark_delivered([e.id for e in entries], now=12.0)
    assert store.undelivered_count("src", "a.json") == 0
    assert store.spool_depth() == 0
    assert store.due(now=100.0) == []


def test_rejected_entry_is_parked_with_reason_and_counted(store: StateStore) -> None:
    """A permanent refusal moves the entry (payload and reason) to the rejected table and frees the object."""
    [entry] = store.record_evaluation("src", "a.json", [alert("e1", "sns")], now=10.0, ttl_secs=TTL)
    store.mark_retry(entry.id, next_attempt_at=11.0, error="throttled")
    store.mark_rejected(entry.id, error="topic not found", now=12.0)
    assert store.undelivered_count("src", "a.json") == 0
    assert store.due(now=100.0) == []
    assert store.rejected_count() == 1
    [rejected] = store.rejected()
    assert (rejected.error, rejected.rejected_at) == ("topic not found", 12.0)
    assert (rejected.entry.id, rejected.entry.payload) == (entry.id, entry.payload)
    assert rejected.entry.attempts == 2
    store.mark_rejected(entry.id, error="again", now=13.0)  # no longer pending: no second record
    assert store.rejected_count() == 1


def test_done_and_parked_statuses(store: StateStore) -> None:
    """mark_done and mark_parked set the ledger status; parked keeps its reason."""
    store.record_evaluation("src", "a.json", [], now=1.0, ttl_secs=TTL)
    store.mark_done("src", "a.json", now=2.0)
    store.mark_parked("src", "bad.json", reason="not gzip", now=3.0)
    assert store.object_status("src", "a.json") == "done"
    assert store.object_status("src", "bad.json") == "parked"
    reason = store._conn.execute("SELECT reason FROM ledger WHERE object_key = 'bad.json'").fetchone()[0]
    assert reason == "not gzip"
    assert store.object_status("other", "a.json") is None


def test_prune_drops_only_finished_rows_past_retention(store: StateStore) -> None:
    """prune removes expired keys, old done rows and old delivered rows, never unfinished or parked work."""
    [old] = store.record_evaluation("src", "old.json", [alert("e1")], now=0.0, ttl_secs=10.0)
    store.mark_delivered([old.id], now=1.0)
    store.mark_done("src", "old.json", now=1.0)
    store.record_evaluation("src", "pending.json", [alert("e2")], now=0.0, ttl_secs=10.0)
    store.mark_parked("src", "parked.json", reason="bad", now=0.0)
    store.record_evaluation("src", "recent.json", [], now=95.0, ttl_secs=1000.0)
    store.mark_done("src", "recent.json", now=95.0)
    counts = store.prune(now=100.0, retention_secs=50.0)
    assert counts == {"dedupe": 2, "ledger": 1, "spool": 1}
    assert store.object_status("src", "old.json") is None
    assert store.object_status("src", "pending.json") == "evaluated"
    assert store.object_status("src", "parked.json") == "parked"
    assert store.object_status("src", "recent.json") == "done"
    assert store.undelivered_count("src", "pending.json") == 1


def test_seen_keys_are_per_source_and_prunable(store: StateStore) -> None:
    """mark_seen/seen answer per source; prune_seen drops keys older than the cut-off."""
    store.mark_seen("s3", ["k1", "k2"], at=10.0)
    store.mark_seen("s3", ["k3"], at=20.0)
    store.mark_seen("other", ["k1"], at=10.0)
    assert store.seen("s3", ["k1", "k3", "k9"]) == {"k1", "k3"}
    assert store.seen("s3", []) == set()
    assert store.prune_seen("s3", before=15.0) == 2
    assert store.seen("s3", ["k1", "k2", "k3"]) == {"k3"}
    assert store.seen("other", ["k1"]) == {"k1"}


def test_seen_handles_many_keys(store: StateStore) -> None:
    """A lookup with more keys than SQLite's bound-parameter limit still works."""
    keys = [f"AWSLogs/1/CloudTrail/{i:06d}.json.gz" for i in range(40_000)]
    store.mark_seen("s3", keys[::2], at=1.0)
    assert store.seen("s3", keys) == set(keys[::2])


def test_checkpoints_alarms_and_meta_survive_reopen(tmp_path: Path) -> None:
    """JSON checkpoints, alarm states and meta values round-trip and persist across a reopen."""
    path = tmp_path / "state.db"
    s = StateStore(path)
    s.set_checkpoint("s3", {"after": "AWSLogs/1/x", "n": 3}, now=1.0)
    s.put_alarm("root-login", {"state": "ALARM", "since": 12.5}, now=1.0)
    s.set_meta("instance", "abc")
    s.set_checkpoint("s3", {"after": "AWSLogs/1/y", "n": 4}, now=2.0)
    s.close()
    s = StateStore(path)
    assert s.get_checkpoint("s3") == {"after": "AWSLogs/1/y", "n": 4}
    assert s.get_alarm("root-login") == {"state": "ALARM", "since": 12.5}
    assert s.get_meta("instance") == "abc"
    assert (s.get_checkpoint("nope"), s.get_alarm("nope"), s.get_meta("nope")) == (None, None, None)
    s.close()


def test_database_is_wal_private_and_at_current_version(tmp_path: Path) -> None:
    """A new database is in WAL mode, readable only by its owner, at the newest schema version."""
    path = tmp_path / "sub" / "dir" / "state.db"
    s = StateStore(path)
    assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.schema_version == len(state_schema.MIGRATIONS)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    s.close()


def test_memory_database_for_tests() -> None:
    """':memory:' works for throwaway stores."""
    s = StateStore(":memory:")
    s.record_evaluation("src", "a", [alert("e1")], now=1.0, ttl_secs=TTL)
    assert s.spool_depth() == 1
    s.close()


def test_old_schema_is_migrated_forward_keeping_data(tmp_path: Path) -> None:
    """A version-1 database (no seen/checkpoint tables) is upgraded on open and keeps its spool."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    state_schema.migrate(conn, state_schema.MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO spool (id, sink_id, source_id, object_key, dedupe_key, payload, status, "
        "next_attempt_at, created_at) VALUES ('x', 'sns', 'src', 'a', 'r|e', x'00', 'pending', 0, 0)"
    )
    conn.close()
    s = StateStore(path)
    assert s.schema_version == len(state_schema.MIGRATIONS) == 3
    assert s._conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert s.undelivered_count("src", "a") == 1
    s.mark_seen("src", ["k"], at=1.0)  # a table added by the migration
    assert s.seen("src", ["k"]) == {"k"}
    s.close()


def test_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    """A migration step that fails is rolled back entirely, version included."""
    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    broken = (*state_schema.MIGRATIONS, ("CREATE TABLE extra (x)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        state_schema.migrate(conn, broken)
    assert state_schema.schema_version(conn) == len(state_schema.MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer trailwatchd is refused instead of misread."""
    path = tmp_path / "state.db"
    StateStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(state_schema.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer"):
        StateStore(path)


def test_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    """A file that is not SQLite raises StateError naming the path."""
    path = tmp_path / "state.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StateError, match=r"state\.db"):
        StateStore(path)


        StateStore(path)


def test_object_sha256_is_kept_on_the_ledger_row() -> None:
    """The integrity check's recorded hash: stored with the evaluation, readable once evaluated/done."""
    s = StateStore(":memory:")
    s.record_evaluation("src", "a#e1", [], now=1.0, ttl_secs=TTL, sha256="ab" * 32)
    s.record_evaluation("src", "b", [], now=1.0, ttl_secs=TTL)
    assert s.object_sha256("src", "a#e1") == "ab" * 32
    s.mark_done("src", "a#e1", now=2.0)
    assert s.object_sha256("src", "a#e1") == "ab" * 32
    assert s.object_sha256("src", "b") is None  # evaluated without integrity: nothing recorded
    assert s.object_sha256("other", "a#e1") is None
    s.close()
