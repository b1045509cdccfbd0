"""AsyncStateStore: every call runs on one dedicated thread, so the event loop never waits on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from trailwatchd import state_schema
from trailwatchd.state import AsyncStateStore, NewAlert, StateError, StateStore


async def test_calls_run_on_one_worker_thread(tmp_path: Path) -> None:
    """All calls, including the open, run on the same thread, which is not the event loop's."""
    async with AsyncStateStore(tmp_path / "state.db") as store:
        idents = await asyncio.gather(*(store.run(lambda s: threading.get_ident()) for _ in range(5)))
        assert len(set(idents)) == 1
        assert idents[0] != threading.get_ident()
        # sqlite3 refuses a connection used off its own thread, so this proves the open happened there too.
        assert await store.spool_depth() == 0


async def test_a_slow_call_does_not_block_the_loop(tmp_path: Path) -> None:
    """While the store thread is blocked inside a call, the loop keeps running and can unblock it."""
    started, gate = threading.Event(), threading.Event()

    def slow(_: StateStore) -> bool:
        started.set()
        return gate.wait(timeout=2)  # returns False only if nobody on the loop could set the gate

    async with AsyncStateStore(tmp_path / "state.db") as store:
        busy = asyncio.ensure_future(store.run(slow))
        await asyncio.sleep(0)  # let the call start; run inline on the loop, it would block right here
        assert await asyncio.to_thread(started.wait, 5)
        gate.set()
        assert await asyncio.wait_for(busy, timeout=5) is True


async def test_pipeline_flow_through_the_async_api(tmp_path: Path) -> None:
    """record -> due -> delivered -> nothing undelivered -> done, all as coroutines."""
    async with AsyncStateStore(tmp_path / "state.db") as store:
        alerts = (NewAlert("r1|e1", b"{}", ("sns",)) for _ in range(1))  # a generator is materialised first
        [entry] = await store.record_evaluation("src", "a.json", alerts, now=1.0, ttl_secs=60.0)
        assert await store.object_status("src", "a.json") == "evaluated"
        assert [e.id for e in await store.due(now=1.0, sink_id="sns")] == [entry.id]
        await store.mark_retry(entry.id, next_attempt_at=5.0, error="throttled")
        assert await store.due(now=2.0) == []
        await store.mark_delivered([entry.id], now=6.0)
        assert await store.undelivered_count("src", "a.json") == 0
        await store.mark_done("src", "a.json", now=7.0)
        assert await store.object_status("src", "a.json") == "done"
        await store.mark_seen("src", ["k"], at=1.0)
        assert await store.seen("src", ["k", "j"]) == {"k"}
        await store.set_checkpoint("src", [1, 2], now=1.0)
        assert await store.get_checkpoint("src") == [1, 2]
        assert await store.prune(now=1000.0, retention_secs=10.0) == {"dedupe": 1, "ledger": 1, "spool": 1}
    reopened = StateStore(tmp_path / "state.db")
    assert reopened.get_checkpoint("src") == [1, 2]
    reopened.close()


async def test_close_stops_the_thread_and_refuses_calls(tmp_path: Path) -> None:
    """After close the worker thread is gone and further calls raise StateError; close is idempotent."""
    store = AsyncStateStore(tmp_path / "state.db")
    ident = await store.run(lambda s: threading.get_ident())
    await store.close()
    await store.close()
    assert ident not in {t.ident for t in threading.enumerate()}
    with pytest.raises(StateError, match="closed"):
        await store.spool_depth()


async def test_open_errors_surface_on_enter(tmp_path: Path) -> None:
    """A database the store cannot use fails `async with` with StateError and leaves no thread behind."""
    path = tmp_path / "state.db"
    StateStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(state_schema.MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StateError, match="newer"):
        async with AsyncStateStore(path):
            pass
    assert not [t for t in threading.enumerate() if t.name.startswith("trailwatchd-state")]
