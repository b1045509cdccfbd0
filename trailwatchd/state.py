"""The one durable store: object ledger, alert dedupe, alert spool and small per-component state.

The product promise is "kill -9 at any moment, restart, and every alert arrives, once (within the dedupe
window)". It rests on one transaction per object, :meth:`StateStore.record_evaluation`, which spools the
object's new alerts (one row per alert and sink), records their dedupe keys and marks the object
``evaluated``. A crash before that commit leaves nothing, so the unacknowledged object comes back and is
evaluated again; after it, the alerts are on disk, the redelivered object is recognised in the ledger and
the spool delivers them. Objects are acknowledged upstream only when none of their spool rows is pending.

Durability settings and why:

* ``journal_mode=WAL``: readers never block the writer, and a commit is one sequential append to the
  ``-wal`` file; a process killed at any point loses only the uncommitted transaction.
* ``synchronous=FULL`` for :meth:`StateStore.record_evaluation`: after it returns the pipeline may
  acknowledge the object (delete the SQS message), so the commit must survive power loss, not just a
  process crash; FULL fsyncs the WAL on that commit. Every other write runs at ``NORMAL``, which in WAL
  mode is still atomic and crash-safe for the process but may lose the *last few* commits on power loss;
  losing a delivered/done/seen mark only causes a redelivery that the ledger and dedupe keys absorb.
  WAL replays in order, so the next FULL commit makes all earlier NORMAL commits durable too.
* ``busy_timeout``: a second process (``trailwatchd export``, an operator's sqlite3 shell) may hold the
  lock briefly; waiting beats failing.

Write transactions use ``BEGIN IMMEDIATE`` so the write lock is taken up front and a transaction never
fails half way on a lock upgrade. Alert payloads are opaque bytes: the pipeline serialises them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from trailwatchd.state_schema import (
    INSERT_SPOOL,
    JSON_TABLES,
    SELECT_DUE,
    NewAlert,
    RejectedAlert,
    SpoolEntry,
    StateError,
    migrate,
    spool_entry,
    spool_id,
)

__all__ = [
    "AsyncStateStore",
    "NewAlert",
    "RejectedAlert",
    "SpoolEntry",
    "StateError",
    "StateStore",
    "spool_id",
]

BUSY_TIMEOUT_MS = 10_000
OBJECT_STATUSES = ("evaluated", "done", "parked")


class StateStore:
    """Synchronous core over one sqlite3 connection; not thread-safe (see :class:`AsyncStateStore`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                p = Path(self.path)
                p.parent.mkdir(parents=True, exist_ok=True)
                # Alert payloads quote CloudTrail events: keep the file private. SQLite creates -wal and
                # -shm with the main file's permissions, so creating it 0600 first covers all three.
                os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
            conn = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise StateError(f"cannot open state database {self.path}: {err}") from err
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self.schema_version = migrate(conn)
        except BaseException as err:
            conn.close()
            if isinstance(err, sqlite3.Error):
                raise StateError(f"cannot open state database {self.path}: {err}") from err
            raise
        self._conn = conn

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``durable`` commits with ``synchronous=FULL`` (see module docstring)."""
        conn = self._conn
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # also after a failed COMMIT (I/O error): never leave one open
                    conn.execute("ROLLBACK")
                raise
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the main file)."""
        self._conn.close()

    # -- ledger and spool -------------------------------------------------------------------------
    def object_status(self, source_id: str, object_key: str) -> str | None:
        """``None`` (never evaluated, or pruned), ``"evaluated"``, ``"done"`` or ``"parked"``."""
        status = self._scalar(
            "SELECT status FROM ledger WHERE source_id = ? AND object_key = ?", (source_id, object_key)
        )
        return None if status is None else str(status)

    def object_sha256(self, source_id: str, object_key: str) -> str | None:
        """The decompressed content's SHA-256 recorded when the object was evaluated, if any."""
        value = self._scalar(
            "SELECT sha256 FROM ledger WHERE source_id = ? AND object_key = ? AND status IN "
            "('evaluated', 'done')",
            (source_id, object_key),
        )
        return None if value is None else str(value)

    def record_evaluation(
        self,
        source_id: str,
        object_key: str,
        alerts: Iterable[NewAlert],
        *,
        now: float,
        ttl_secs: float,
        events: int = 0,
        matches: int = 0,
        meta: Mapping[str, str] | None = None,
        sha256: str | None = None,
    ) -> list[SpoolEntry]:
        """Spool new alerts, record their dedupe keys and mark the object evaluated, atomically.

        ``meta`` rows (e.g. the alert throttle's state) are written in the same transaction, so state
        derived from this object's matches is committed exactly when its alerts are. ``sha256`` (the
        decompressed content's hash, for the integrity check) is kept on the ledger row.

        An alert whose dedupe key is recorded and unexpired is skipped (already alerted, possibly from
        another object carrying the same event); the same key twice in ``alerts`` alerts once. Returns
        the spool entries actually created, one per (new alert, sink). Committed with
        ``synchronous=FULL``: once this returns, the object may be acknowledged upstream.
        """
        with self._tx(durable=True) as conn:
            created = self._spool(conn, source_id, object_key, alerts, now=now, ttl_secs=ttl_secs)
            conn.execute(
                "INSERT INTO ledger (source_id, object_key, status, events, matches, reason, evaluated_at, "
                "updated_at) VALUES (?, ?, 'evaluated', ?, ?, NULL, ?, ?) "
                "ON CONFLICT (source_id, object_key) DO UPDATE SET status = 'evaluated', "
                "events = excluded.events, matches = excluded.matches, reason = NULL, "
                "evaluated_at = excluded.evaluated_at, updated_at = excluded.updated_at",
                (source_id, object_key, events, matches, now, now),
            )
            if sha256 is not None:
                conn.execute(
                    "UPDATE ledger SET sha256 = ? WHERE source_id = ? AND object_key = ?",
                    (sha256, source_id, object_key),
                )
            for name, value in (meta or {}).items():
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
        return created

    def _spool(
        self,
        conn: sqlite3.Connection,
        source_id: str,
        object_key: str,
        alerts: Iterable[NewAlert],
        *,
        now: float,
        ttl_secs: float,
    ) -> list[SpoolEntry]:
        """Spool new alerts (unexpired dedupe keys skipped) inside the caller's transaction."""
        created: list[SpoolEntry] = []
        for alert in alerts:
            expires = self._scalar("SELECT expires_at FROM dedupe WHERE key = ?", (alert.dedupe_key,))
            if expires is not None and float(expires) > now:
                continue
            conn.execute(
                "INSERT INTO dedupe (key, expires_at, recorded_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET expires_at = excluded.expires_at, recorded_at = excluded.recorded_at",
                (alert.dedupe_key, now + (alert.ttl_secs or ttl_secs), now),
            )
            for sink_id in dict.fromkeys(alert.sink_ids):
                entry = SpoolEntry(
                    id=spool_id(sink_id, alert.dedupe_key),
                    sink_id=sink_id,
                    source_id=source_id,
                    object_key=object_key,
                    dedupe_key=alert.dedupe_key,
                    payload=alert.payload,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    last_error=None,
                )
                cur = conn.execute(
                    INSERT_SPOOL,
                    (
                        entry.id,
                        entry.sink_id,
                        entry.source_id,
                        entry.object_key,
                        entry.dedupe_key,
                        entry.payload,
                        entry.attempts,
                        entry.next_attempt_at,
                        entry.created_at,
                        None,
                    ),
                )
                if cur.rowcount:
                    created.append(entry)
        return created

    def due(self, *, now: float, limit: int = 100, sink_id: str | None = None) -> list[SpoolEntry]:
        """Pending entries whose next attempt is due, oldest first (optionally for one sink)."""
        rows = self._conn.execute(SELECT_DUE, (now, sink_id, sink_id, limit)).fetchall()
        return [spool_entry(row) for row in rows]

    def undelivered_count(self, source_id: str, object_key: str) -> int:
        """Pending spool entries of one object; zero means the object may be acknowledged."""
        return int(
            self._scalar(
                "SELECT count(*) FROM spool WHERE status = 'pending' AND source_id = ? AND object_key = ?",
                (source_id, object_key),
            )
        )

    def pending_for_sink(self, sink_id: str) -> int:
        """Pending spool entries of one sink (a reload may not remove a sink that still owes alerts)."""
        return int(
            self._scalar("SELECT count(*) FROM spool WHERE status = 'pending' AND sink_id = ?", (sink_id,))
        )

    def mark_delivered(self, entry_ids: Sequence[str], *, now: float) -> None:
        """The sink accepted these entries; they stay (``delivered``) until :meth:`prune`."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE spool SET status = 'delivered', delivered_at = ?, last_error = NULL "
                "WHERE id = ? AND status = 'pending'",
                [(now, entry_id) for entry_id in entry_ids],
            )

    def mark_retry(self, entry_id: str, *, next_attempt_at: float, error: str) -> None:
        """A temporary failure: count the attempt, keep the error, try again at ``next_attempt_at``."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE spool SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE id = ? AND status = 'pending'",
                (next_attempt_at, error, entry_id),
            )

    def mark_rejected(self, entry_id: str, *, error: str, now: float) -> None:
        """The sink refused the entry for good: move it, payload and reason, to ``rejected``.

        It no longer counts as undelivered (retrying cannot help, and holding the object back forever
        would stall its source), but it is kept and counted, never silently dropped.
        """
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO rejected (spool_id, sink_id, source_id, object_key, dedupe_key, payload, "
                "attempts, error, created_at, rejected_at) SELECT id, sink_id, source_id, object_key, "
                "dedupe_key, payload, attempts + 1, ?, created_at, ? FROM spool "
                "WHERE id = ? AND status = 'pending'",
                (error, now, entry_id),
            )
            conn.execute("DELETE FROM spool WHERE id = ? AND status = 'pending'", (entry_id,))

    def mark_done(self, source_id: str, object_key: str, *, now: float) -> None:
        """The object was acknowledged upstream; its ledger row becomes prunable."""
        self._set_status(source_id, object_key, "done", None, now)

    def mark_parked(self, source_id: str, object_key: str, *, reason: str, now: float) -> None:
        """The object was given up on (permanent failure); kept with the reason, never pruned."""
        self._set_status(source_id, object_key, "parked", reason, now)

    def _set_status(
        self, source_id: str, object_key: str, status: str, reason: str | None, now: float
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO ledger (source_id, object_key, status, reason, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source_id, object_key) "
                "DO UPDATE SET status = excluded.status, reason = excluded.reason, "
                "updated_at = excluded.updated_at",
                (source_id, object_key, status, reason, now),
            )

    def spool_depth(self) -> int:
        """Pending spool entries over all sinks (the ``spool_depth`` gauge)."""
        return int(self._scalar("SELECT count(*) FROM spool WHERE status = 'pending'"))

    def rejected_count(self) -> int:
        """Alerts a sink refused for good, kept in ``rejected``."""
        return int(self._scalar("SELECT count(*) FROM rejected"))

    def rejected(self, *, limit: int = 100) -> list[RejectedAlert]:
        """The most recently rejected alerts with their error, for operators and ``export``."""
        rows = self._conn.execute(
            "SELECT spool_id, sink_id, source_id, object_key, dedupe_key, payload, attempts, rejected_at, "
            "created_at, error FROM rejected ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [RejectedAlert(spool_entry(row), error=str(row[9]), rejected_at=float(row[7])) for row in rows]

    # -- per-source seen keys, checkpoints, alarms, meta -----------------------------------------
    def seen(self, source_id: str, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` recorded for ``source_id``."""
        # One bound JSON array instead of N placeholders: no bound-parameter limit, no SQL building.
        rows = self._conn.execute(
            "SELECT key FROM seen WHERE source_id = ? AND key IN (SELECT value FROM json_each(?))",
            (source_id, json.dumps(list(keys))),
        )
        return {str(row[0]) for row in rows}

    def mark_seen(self, source_id: str, keys: Iterable[str], *, at: float) -> None:
        """Record keys with timestamp ``at`` (seen time or the object's own time: the caller decides)."""
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO seen (source_id, key, at) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id, key) DO UPDATE SET at = excluded.at",
                [(source_id, key, at) for key in keys],
            )

    def prune_seen(self, source_id: str, *, before: float) -> int:
        """Forget ``source_id``'s keys whose timestamp is older than ``before``; return how many."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM seen WHERE source_id = ? AND at < ?", (source_id, before))
            return cur.rowcount

    def get_checkpoint(self, source_id: str) -> Any:
        """The source's checkpoint (any JSON value), or ``None``."""
        return self._get_json("checkpoints", source_id)

    def set_checkpoint(self, source_id: str, value: Any, *, now: float) -> None:
        """Replace the source's checkpoint with a JSON-serialisable value."""
        self._put_json("checkpoints", source_id, value, now)

    def get_alarm(self, name: str) -> Any:
        """The alarm's saved state (any JSON value), or ``None``."""
        return self._get_json("alarms", name)

    def put_alarm(self, name: str, value: Any, *, now: float) -> None:
        """Save the alarm's state as JSON."""
        self._put_json("alarms", name, value, now)

    def record_alarm_transitions(
        self,
        states: Mapping[str, Any],
        alerts: Iterable[NewAlert],
        *,
        now: float,
        ttl_secs: float,
    ) -> list[SpoolEntry]:
        """Save alarm states and spool their notifications in one durable transaction.

        So a crash either loses both (the transition is evaluated again after the restart) or keeps both
        (the notification is delivered and the alarm does not fire again). Spool rows carry source
        ``trailwatchd`` and object key ``alarms``; no object waits on them.
        """
        with self._tx(durable=True) as conn:
            created = self._spool(conn, "trailwatchd", "alarms", alerts, now=now, ttl_secs=ttl_secs)
            for name, value in states.items():
                text = json.dumps(value, separators=(",", ":"), sort_keys=True)
                conn.execute(JSON_TABLES["alarms"][1], (name, text, now))
        return created

    def _get_json(self, table: str, key: str) -> Any:
        text = self._scalar(JSON_TABLES[table][0], (key,))
        return None if text is None else json.loads(text)

    def _put_json(self, table: str, key: str, value: Any, now: float) -> None:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        with self._tx() as conn:
            conn.execute(JSON_TABLES[table][1], (key, text, now))

    def get_meta(self, key: str) -> str | None:
        """A value from the generic key/value table."""
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the generic key/value table."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- housekeeping -----------------------------------------------------------------------------
    def prune(self, *, now: float, retention_secs: float) -> dict[str, int]:
        """Drop expired dedupe keys, and ``done`` ledger rows and delivered spool rows past the retention.

        ``evaluated`` and ``parked`` ledger rows, pending spool rows and rejected alerts are never pruned:
        they are unfinished work or evidence an operator must see. Keep the retention at least as long as
        a source can redeliver an object (SQS retention, the S3 poller's lookback), so a late duplicate
        still finds its ledger row.
        """
        cutoff = now - retention_secs
        with self._tx() as conn:
            return {
                "dedupe": conn.execute("DELETE FROM dedupe WHERE expires_at <= ?", (now,)).rowcount,
                "ledger": conn.execute(
                    "DELETE FROM ledger WHERE status = 'done' AND updated_at < ?", (cutoff,)
                ).rowcount,
                "spool": conn.execute(
                    "DELETE FROM spool WHERE status = 'delivered' AND delivered_at < ?", (cutoff,)
                ).rowcount,
            }


P = ParamSpec("P")
T = TypeVar("T")


class AsyncStateStore:
    """The daemon's view of the store: every method is a coroutine run on ONE dedicated worker thread.

    Why one thread: a sqlite3 connection belongs to the thread that opened it, and a single writer
    serialises transactions without lock contention, so concurrent coroutines simply queue. The event
    loop never waits on disk (an fsync under ``synchronous=FULL`` can take tens of milliseconds).
    Arguments are materialised (``list``) before they cross to the thread so no caller-owned iterator is
    consumed off the loop. Use ``async with`` (or call :meth:`close`) to close the connection and stop
    the thread.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trailwatchd-state")
        # Queued first on the single worker, so the connection is opened (and bound) on that thread
        # before any call runs; an open error surfaces on the first await (``__aenter__`` awaits it).
        self._opened: Future[StateStore] = self._executor.submit(StateStore, self.path)
        self._closed = False

    async def __aenter__(self) -> AsyncStateStore:
        try:
            await self.run(lambda store: None)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _call(
        self, fn: Callable[Concatenate[StateStore, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._closed:
            raise StateError(f"state store {self.path} is closed")
        opened = self._opened

        def job() -> T:
            return fn(opened.result(), *args, **kwargs)

        return await asyncio.wrap_future(self._executor.submit(job))

    async def run(self, fn: Callable[[StateStore], T]) -> T:
        """Run ``fn(store)`` on the store's thread: for a batch of calls, tools and tests."""
        return await self._call(fn)

    async def close(self) -> None:
        """Close the connection on its thread, then stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        opened = self._opened

        def shut() -> None:
            if not opened.cancelled() and opened.exception() is None:
                opened.result().close()

        try:
            await asyncio.wrap_future(self._executor.submit(shut))
        finally:
            await asyncio.to_thread(self._executor.shutdown, wait=True)

    # -- the StateStore methods, one line each (docs on StateStore) -------------------------------
    async def object_status(self, source_id: str, object_key: str) -> str | None:
        return await self._call(StateStore.object_status, source_id, object_key)

    async def record_evaluation(
        self,
        source_id: str,
        object_key: str,
        alerts: Iterable[NewAlert],
        *,
        now: float,
        ttl_secs: float,
        events: int = 0,
        matches: int = 0,
        meta: Mapping[str, str] | None = None,
        sha256: str | None = None,
    ) -> list[SpoolEntry]:
        return await self._call(
            StateStore.record_evaluation,
            source_id,
            object_key,
            list(alerts),
            now=now,
            ttl_secs=ttl_secs,
            events=events,
            matches=matches,
            meta=dict(meta or {}),
            sha256=sha256,
        )

    async def object_sha256(self, source_id: str, object_key: str) -> str | None:
        return await self._call(StateStore.object_sha256, source_id, object_key)

    async def due(self, *, now: float, limit: int = 100, sink_id: str | None = None) -> list[SpoolEntry]:
        return await self._call(StateStore.due, now=now, limit=limit, sink_id=sink_id)

    async def undelivered_count(self, source_id: str, object_key: str) -> int:
        return await self._call(StateStore.undelivered_count, source_id, object_key)

    async def pending_for_sink(self, sink_id: str) -> int:
        return await self._call(StateStore.pending_for_sink, sink_id)

    async def mark_delivered(self, entry_ids: Sequence[str], *, now: float) -> None:
        await self._call(StateStore.mark_delivered, list(entry_ids), now=now)

    async def mark_retry(self, entry_id: str, *, next_attempt_at: float, error: str) -> None:
        await self._call(StateStore.mark_retry, entry_id, next_attempt_at=next_attempt_at, error=error)

    async def mark_rejected(self, entry_id: str, *, error: str, now: float) -> None:
        await self._call(StateStore.mark_rejected, entry_id, error=error, now=now)

    async def mark_done(self, source_id: str, object_key: str, *, now: float) -> None:
        await self._call(StateStore.mark_done, source_id, object_key, now=now)

    async def mark_parked(self, source_id: str, object_key: str, *, reason: str, now: float) -> None:
        await self._call(StateStore.mark_parked, source_id, object_key, reason=reason, now=now)

    async def spool_depth(self) -> int:
        return await self._call(StateStore.spool_depth)

    async def rejected_count(self) -> int:
        return await self._call(StateStore.rejected_count)

    async def rejected(self, *, limit: int = 100) -> list[RejectedAlert]:
        return await self._call(StateStore.rejected, limit=limit)

    async def seen(self, source_id: str, keys: Iterable[str]) -> set[str]:
        return await self._call(StateStore.seen, source_id, list(keys))

    async def mark_seen(self, source_id: str, keys: Iterable[str], *, at: float) -> None:
        await self._call(StateStore.mark_seen, source_id, list(keys), at=at)

    async def prune_seen(self, source_id: str, *, before: float) -> int:
        return await self._call(StateStore.prune_seen, source_id, before=before)

    async def get_checkpoint(self, source_id: str) -> Any:
        return await self._call(StateStore.get_checkpoint, source_id)

    async def set_checkpoint(self, source_id: str, value: Any, *, now: float) -> None:
        await self._call(StateStore.set_checkpoint, source_id, value, now=now)

    async def get_alarm(self, name: str) -> Any:
        return await self._call(StateStore.get_alarm, name)

    async def put_alarm(self, name: str, value: Any, *, now: float) -> None:
        await self._call(StateStore.put_alarm, name, value, now=now)

    async def record_alarm_transitions(
        self, states: Mapping[str, Any], alerts: Iterable[NewAlert], *, now: float, ttl_secs: float
    ) -> list[SpoolEntry]:
        return await self._call(
            StateStore.record_alarm_transitions, dict(states), list(alerts), now=now, ttl_secs=ttl_secs
        )

    async def get_meta(self, key: str) -> str | None:
        return await self._call(StateStore.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._call(StateStore.set_meta, key, value)

    async def prune(self, *, now: float, retention_secs: float) -> dict[str, int]:
        return await self._call(StateStore.prune, now=now, retention_secs=retention_secs)
