"""The state store's SQLite schema, its forward migrations and the row types it hands out.

The schema version is SQLite's ``PRAGMA user_version`` (an integer in the database header, changed inside
the same transaction as the DDL, so a crash mid-migration leaves the old version *and* the old schema).
``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a new feature appends a step and
never edits a released one, because databases in the field are already at that step.

Tables (times are epoch seconds as REAL; ``source_id`` is the config id of a source):

``ledger``       one row per object a source delivered: ``evaluated`` (alerts durable in the spool),
                 ``done`` (acknowledged; pruned after a retention) or ``parked`` (given up on, with reason).
``dedupe``       alert dedupe keys (``rule_id|eventID``) with their expiry.
``spool``        one row per (alert, sink): ``pending`` until delivered, then ``delivered`` (pruned later).
``rejected``     spool rows a sink permanently refused, kept with the reason and payload for an operator.
``seen``         per-source key sets with a timestamp (the S3 poller's pruned seen-set, the directory
                 source's settled files).
``checkpoints``  per-source JSON (e.g. the S3 poller's listing position).
``alarms``       alarm state JSON per alarm name (the alarm state machine survives restarts).
``meta``         generic key/value text.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trailwatchd.errors import TrailwatchdError


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert produced by evaluating an object, before it is spooled.

    ``dedupe_key`` (e.g. ``rule_id|eventID``) makes the same detection alert once per dedupe window no
    matter how many times or in how many objects the event is seen.
    """

    dedupe_key: str
    payload: bytes
    sink_ids: tuple[str, ...]
    ttl_secs: float | None = None
    """This alert's dedupe window (a rule's ``dedupe_secs``); None means the store call's ``ttl_secs``."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One pending delivery of one alert to one sink."""

    id: str
    sink_id: str
    source_id: str
    object_key: str
    dedupe_key: str
    payload: bytes
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None


def spool_id(sink_id: str, dedupe_key: str) -> str:
    """Deterministic spool id, so spooling the same alert for the same sink twice is a no-op."""
    return hashlib.sha256(f"{sink_id}|{dedupe_key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RejectedAlert:
    """A spool entry a sink refused for good, with the error and when (kept for operators)."""

    entry: SpoolEntry
    error: str
    rejected_at: float


def spool_entry(row: sqlite3.Row | tuple[Any, ...]) -> SpoolEntry:
    """A SpoolEntry from a row of the ten spool columns in SpoolEntry's field order."""
    return SpoolEntry(
        id=row[0],
        sink_id=row[1],
        source_id=row[2],
        object_key=row[3],
        dedupe_key=row[4],
        payload=bytes(row[5]),
        attempts=int(row[6]),
        next_attempt_at=float(row[7]),
        created_at=float(row[8]),
        last_error=row[9],
    )


class StateError(TrailwatchdError):
    """The state database cannot be used (written by a newer trailwatchd, not a database, ...)."""


_V1 = (
    """CREATE TABLE ledger (
        source_id    TEXT NOT NULL,
        object_key   TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('evaluated', 'done', 'parked')),
        events       INTEGER NOT NULL DEFAULT 0,
        matches      INTEGER NOT NULL DEFAULT 0,
        reason       TEXT,
        evaluated_at REAL,
        updated_at   REAL NOT NULL,
        PRIMARY KEY (source_id, object_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX ledger_prune ON ledger (status, updated_at)",
    """CREATE TABLE dedupe (
        key         TEXT PRIMARY KEY,
        expires_at  REAL NOT NULL,
        recorded_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX dedupe_expiry ON dedupe (expires_at)",
    """CREATE TABLE spool (
        id              TEXT PRIMARY KEY,
        sink_id         TEXT NOT NULL,
        source_id       TEXT NOT NULL,
        object_key      TEXT NOT NULL,
        dedupe_key      TEXT NOT NULL,
        payload         BLOB NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at      REAL NOT NULL,
        delivered_at    REAL,
        last_error      TEXT
    )""",
    # Partial indexes: the hot queries only ever look at pending rows, which are few.
    "CREATE INDEX spool_due ON spool (next_attempt_at, created_at) WHERE status = 'pending'",
    "CREATE INDEX spool_object ON spool (source_id, object_key) WHERE status = 'pending'",
    "CREATE INDEX spool_delivered ON spool (delivered_at) WHERE status = 'delivered'",
    """CREATE TABLE rejected (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        spool_id    TEXT NOT NULL,
        sink_id     TEXT NOT NULL,
        source_id   TEXT NOT NULL,
        object_key  TEXT NOT NULL,
        dedupe_key  TEXT NOT NULL,
        payload     BLOB NOT NULL,
        attempts    INTEGER NOT NULL,
        error       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        rejected_at REAL NOT NULL
    )""",
)

_V2 = (
    """CREATE TABLE seen (
        source_id TEXT NOT NULL,
        key       TEXT NOT NULL,
        at        REAL NOT NULL,
        PRIMARY KEY (source_id, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX seen_at ON seen (source_id, at)",
    """CREATE TABLE checkpoints (
        source_id  TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE alarms (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
)

_V3 = (
    # SHA-256 of the decompressed object as the pipeline read it ([integrity]): the digest check compares
    # it with the digest's hashValue instead of downloading the log file a second time.
    "ALTER TABLE ledger ADD COLUMN sha256 TEXT",
)

MIGRATIONS: tuple[Sequence[str], ...] = (_V1, _V2, _V3)
"""Step ``i`` upgrades version ``i`` to ``i + 1``. Append only."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's ``user_version`` (0 for a new, empty file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the database up to ``len(migrations)``, one transaction per step; return the new version.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so the explicit transactions here are
    the only ones. Refuses a database newer than this code: running old code on a newer schema could
    silently misread or corrupt it, and a downgrade is an operator decision.
    """
    target = len(migrations)
    current = schema_version(conn)
    if current > target:
        raise StateError(
            f"state database schema version {current} is newer than this trailwatchd understands "
            f"({target}); upgrade trailwatchd or point daemon.state_path at a fresh file"
        )
    for version in range(current, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[version]:
                conn.execute(statement)
            # PRAGMA does not take bound parameters; version is an int we computed.
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return target


# Queries are literals (no interpolation, every value bound). A spool row with the new row's id exists
# only when the alert's dedupe key expired (or was pruned) while its old delivery is still kept: a
# delivered row is reused; a pending one already covers the alert, so the upsert leaves it alone.
INSERT_SPOOL = (
    "INSERT INTO spool (id, sink_id, source_id, object_key, dedupe_key, payload, attempts, next_attempt_at, "
    "created_at, last_error, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') "
    "ON CONFLICT (id) DO UPDATE SET source_id = excluded.source_id, object_key = excluded.object_key, "
    "payload = excluded.payload, status = 'pending', attempts = 0, "
    "next_attempt_at = excluded.next_attempt_at, created_at = excluded.created_at, delivered_at = NULL, "
    "last_error = NULL WHERE spool.status = 'delivered'"
)
SELECT_DUE = (
    "SELECT id, sink_id, source_id, object_key, dedupe_key, payload, attempts, next_attempt_at, created_at, "
    "last_error FROM spool WHERE status = 'pending' AND next_attempt_at <= ? AND (? IS NULL OR sink_id = ?) "
    "ORDER BY next_attempt_at, created_at, id LIMIT ?"
)
JSON_TABLES = {
    "checkpoints": (
        "SELECT value FROM checkpoints WHERE source_id = ?",
        "INSERT INTO checkpoints (source_id, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (source_id) "
        "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    ),
    "alarms": (
        "SELECT value FROM alarms WHERE name = ?",
        "INSERT INTO alarms (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
        "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    ),
}
