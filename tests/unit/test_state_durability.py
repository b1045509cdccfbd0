"""Crash durability: a process killed without closing the store leaves whole transactions or nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trailwatchd.state import NewAlert, StateStore

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

PRELUDE = """
import os, sys, time
from trailwatchd.state import NewAlert, StateStore
store = StateStore(sys.argv[1])
alerts = [NewAlert(f"r1|e{i}", b"x" * 100, ("sns", "file")) for i in range(3)]
"""


def spawn(script: str, db: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(script)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(db)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # the child prints exactly when it reached the point
    if line != expected:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"child said {line!r}, expected {expected!r}; stderr: {err}")


def test_evaluation_survives_os_exit_without_close(tmp_path: Path) -> None:
    """A process that records an evaluation and dies with os._exit leaves it readable by a new store."""
    db = tmp_path / "state.db"
    proc = spawn(
        """
        store.record_evaluation("src", "a.json", alerts, now=1.0, ttl_secs=60.0, events=3, matches=3)
        os._exit(0)
        """,
        db,
    )
    assert proc.wait(timeout=30) == 0
    store = StateStore(db)
    assert store.object_status("src", "a.json") == "evaluated"
    assert store.undelivered_count("src", "a.json") == 6
    assert store.record_evaluation("src", "a.json", [], now=2.0, ttl_secs=60.0) == []
    store.close()


def test_evaluation_survives_sigkill_with_connection_open(tmp_path: Path) -> None:
    """SIGKILL after the commit, connection open and WAL not checkpointed, loses nothing."""
    db = tmp_path / "state.db"
    proc = spawn(
        """
        store.record_evaluation("src", "a.json", alerts, now=1.0, ttl_secs=60.0)
        store.mark_delivered([e.id for e in store.due(now=1.0, sink_id="file")], now=1.5)
        print("committed", flush=True)
        time.sleep(60)
        """,
        db,
    )
    wait_line(proc, "committed")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert Path(f"{db}-wal").exists()  # the data lives only in the WAL: recovery must replay it
    store = StateStore(db)
    assert store.object_status("src", "a.json") == "evaluated"
    assert sorted({e.sink_id for e in store.due(now=2.0)}) == ["sns"]
    assert store.undelivered_count("src", "a.json") == 3
    store.close()


def test_sigkill_mid_transaction_leaves_nothing_half_written(tmp_path: Path) -> None:
    """Killed inside record_evaluation after some rows were written, the store holds none of them."""
    db = tmp_path / "state.db"
    proc = spawn(
        """
        from collections.abc import Sequence
        store.record_evaluation("src", "before.json", alerts[:1], now=1.0, ttl_secs=60.0)

        class Stalling(Sequence):
            # Yields two alerts (written to spool and dedupe inside the open transaction), then hangs.
            def __len__(self): return 3
            def __getitem__(self, i):
                if i == 2:
                    print("mid-transaction", flush=True)
                    time.sleep(60)
                if i >= 3: raise IndexError(i)
                return alerts[i]

        store.record_evaluation("src", "a.json", Stalling(), now=2.0, ttl_secs=60.0)
        """,
        db,
    )
    wait_line(proc, "mid-transaction")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    store = StateStore(db)
    assert store.object_status("src", "before.json") == "evaluated"
    assert store.object_status("src", "a.json") is None
    assert store.spool_depth() == 2  # only before.json's alert, for its two sinks
    keys = [row[0] for row in store._conn.execute("SELECT key FROM dedupe ORDER BY key")]
    assert keys == ["r1|e0"]
    # Redelivered and re-evaluated after the restart, the object alerts normally.
    alerts = [NewAlert(f"r1|e{i}", b"x" * 100, ("sns", "file")) for i in range(3)]
    fresh = store.record_evaluation("src", "a.json", alerts, now=3.0, ttl_secs=60.0)
    assert sorted({e.dedupe_key for e in fresh}) == ["r1|e1", "r1|e2"]
    store.close()


def test_killed_process_does_not_block_the_next_writer(tmp_path: Path) -> None:
    """A writer killed while holding the write lock does not leave the database locked."""
    db = tmp_path / "state.db"
    proc = spawn(
        """
        store._conn.execute("BEGIN IMMEDIATE")
        store._conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
        print("locked", flush=True)
        time.sleep(60)
        """,
        db,
    )
    wait_line(proc, "locked")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = StateStore(db)
    store.set_meta("other", "x")
    assert store.get_meta("k") is None
    assert store.get_meta("other") == "x"
    store.close()
