"""The directory source: a local folder of CloudTrail files, each processed once across restarts.

Used by the embedded demo and for on-prem replays (``aws s3 sync`` a trail bucket, point a source at it).

How "once" is kept without trusting the file system:

* A file is identified by its path relative to the configured directory *and* its size and mtime (ns),
  so a file rewritten in place is new work while an untouched one is not.
* A file is emitted only after two consecutive polls saw the same size and mtime, so a file that is
  still being written waits (writers that rename a finished temp file into place never show a partial
  file at all; ``.*``, ``*.tmp`` and ``*.part`` names are ignored for exactly that pattern).
* The file's identity is written to the state store's per-source ``seen`` set only when the pipeline
  commits it (every alert delivered), so a crash before that re-emits it after the restart and the
  pipeline's ledger and dedupe keys keep alerts single. Parked files (permanent failure) are recorded
  in the ledger with the reason *and* in the seen set, so they are not retried until they change.
  Seen entries are never pruned here: a temporarily unmounted directory must not look like new files.
* While an emission is unacknowledged the same path is not emitted again, even if it changed.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import structlog

from trailwatchd.config import DirectorySourceConfig
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError
from trailwatchd.model import ObjectRef
from trailwatchd.sources.base import Emit, WorkItem
from trailwatchd.state import AsyncStateStore

log = structlog.get_logger()

IGNORED_SUFFIXES = (".tmp", ".part")
RETRY_CAP_SECS = 300.0
"""Longest wait before retrying a released file (the first retry waits one poll interval)."""

Stat = tuple[int, int]
"""(size in bytes, mtime in ns) of a listed file."""


def ignored(rel: PurePosixPath) -> bool:
    """Hidden files or folders (``.*``) and temp files (``*.tmp``, ``*.part``) are never work."""
    return any(part.startswith(".") for part in rel.parts) or rel.name.endswith(IGNORED_SUFFIXES)


def identity(key: str, st: Stat) -> str:
    """The file's identity in the state store: relative path, size and mtime in ns."""
    return f"{key}#{st[0]}:{st[1]}"


@dataclass(slots=True)
class _Retry:
    identity: str
    attempts: int
    not_before: float


class _FileAck:
    """Acknowledgement of one emitted file; the first commit or release wins, later calls are ignored."""

    def __init__(self, source: DirectorySource, key: str, ident: str) -> None:
        self._source = source
        self._key = key
        self._ident = ident
        self._resolved = False

    async def commit(self) -> None:
        if not self._resolved:
            self._resolved = True
            await self._source._commit(self._key, self._ident)

    async def release(self, reason: str, *, permanent: bool) -> None:
        if not self._resolved:
            self._resolved = True
            await self._source._release(self._key, self._ident, reason, permanent=permanent)


class DirectorySource:
    """Polls ``config.path`` for ``config.glob`` every ``poll_interval_secs``; one WorkItem per new file.

    ``clock`` (monotonic seconds) only times retry backoff; tests inject one to avoid waiting.
    """

    def __init__(
        self,
        source_id: str,
        config: DirectorySourceConfig,
        state: AsyncStateStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = source_id
        self.config = config
        self.root = Path(config.path)
        self._state = state
        self._clock = clock
        self._ready = False
        self._previous: dict[str, Stat] = {}
        self._in_flight: dict[str, str] = {}
        self._settled: dict[str, str] = {}  # key -> identity known to be done or parked (a cache)
        self._retry: dict[str, _Retry] = {}

    @property
    def ready(self) -> bool:
        """True once a poll has listed the directory completely."""
        return self._ready

    @property
    def in_flight(self) -> frozenset[str]:
        """Keys emitted and not yet committed or released."""
        return frozenset(self._in_flight)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; scan errors are logged and retried on the next poll."""
        while not stop.is_set():
            await self.poll(emit, stop)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.poll_interval_secs)

    async def poll(self, emit: Emit, stop: asyncio.Event | None = None) -> int:
        """List the directory once and emit every file that is due, in key order; return how many."""
        try:
            listing = await asyncio.to_thread(self._scan)
        except (OSError, ValueError) as err:  # ValueError: a glob pathlib rejects
            log.error("directory_scan_failed", source_id=self.id, path=self.config.path, error=str(err))
            return 0
        previous, self._previous = self._previous, listing
        for cache in (self._settled, self._retry):
            for key in [k for k in cache if k not in listing]:
                del cache[key]
        due: list[tuple[str, Stat, str]] = []
        now = self._clock()
        for key in sorted(listing):
            st = listing[key]
            if previous.get(key) != st or key in self._in_flight:
                continue  # new or still growing: wait a poll; or its previous emission is unfinished
            ident = identity(key, st)
            if self._settled.get(key) == ident:
                continue
            retry = self._retry.get(key)
            if retry is not None and retry.identity == ident and now < retry.not_before:
                continue
            due.append((key, st, ident))
        if due:
            settled = await self._state.seen(self.id, [ident for _, _, ident in due])
            for key, _, ident in due:
                if ident in settled:
                    self._settled[key] = ident
            due = [d for d in due if d[2] not in settled]
        self._ready = True
        emitted = 0
        for key, st, ident in due:
            if stop is not None and stop.is_set():
                break
            ref = ObjectRef(source_id=self.id, key=key, size=st[0], last_modified=st[1] / 1e9)
            item = WorkItem(
                source_id=self.id,
                objects=(ref,),
                ack=_FileAck(self, key, ident),
                label=key,
                received_at=asyncio.get_running_loop().time(),
            )
            self._in_flight[key] = ident
            try:
                await emit(item)
            except BaseException:
                self._in_flight.pop(key, None)  # not handed over (cancelled while the queue was full)
                raise
            emitted += 1
        return emitted

    def _scan(self) -> dict[str, Stat]:
        """Runs in a thread: every regular, non-ignored file matching the glob, with its stat."""
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.config.path} is not a directory")
        found: dict[str, Stat] = {}
        for path in self.root.glob(self.config.glob):
            rel = PurePosixPath(path.relative_to(self.root).as_posix())
            if ignored(rel):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # removed between listing and stat
            if stat.S_ISREG(st.st_mode):
                found[str(rel)] = (st.st_size, st.st_mtime_ns)
        return found

    # -- acknowledgement --------------------------------------------------------------------------
    async def _commit(self, key: str, ident: str) -> None:
        try:
            await self._state.mark_seen(self.id, [ident], at=time.time())
            self._settled[key] = ident
            self._retry.pop(key, None)
        finally:
            self._in_flight.pop(key, None)

    async def _release(self, key: str, ident: str, reason: str, *, permanent: bool) -> None:
        try:
            if permanent:
                # Ledger first: a seen (skipped) identity always has its reason on record.
                await self._state.mark_parked(self.id, ident, reason=reason, now=time.time())
                await self._state.mark_seen(self.id, [ident], at=time.time())
                self._settled[key] = ident
                self._retry.pop(key, None)
                log.warning("file_parked", source_id=self.id, object_key=key, reason=reason)
                return
            previous = self._retry.get(key)
            attempts = previous.attempts + 1 if previous is not None and previous.identity == ident else 1
            delay = min(RETRY_CAP_SECS, self.config.poll_interval_secs * 2 ** (attempts - 1))
            self._retry[key] = _Retry(ident, attempts, self._clock() + delay)
            log.info(
                "file_retry_scheduled",
                source_id=self.id,
                object_key=key,
                reason=reason,
                attempts=attempts,
                delay_secs=delay,
            )
        finally:
            self._in_flight.pop(key, None)

    # -- fetch --------------------------------------------------------------------------------------
    async def fetch(self, ref: ObjectRef, max_bytes: int) -> bytes:
        """Read the file in a thread; PermanentFetchError/TemporaryFetchError with a bounded code."""
        return await asyncio.to_thread(self._read, ref, max_bytes)

    def _read(self, ref: ObjectRef, max_bytes: int) -> bytes:
        rel = PurePosixPath(ref.key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise PermanentFetchError(
                ref.key, "key is not a path inside the source directory", code="invalid_key"
            )
        try:
            with self.root.joinpath(*rel.parts).open("rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise PermanentFetchError(ref.key, "not a regular file", code="not_a_file")
                if st.st_size > max_bytes:
                    raise PermanentFetchError(
                        ref.key, f"{st.st_size} bytes exceeds the {max_bytes}-byte limit", code="too_large"
                    )
                if (ref.size is not None and st.st_size != ref.size) or (
                    ref.last_modified is not None and st.st_mtime_ns / 1e9 != ref.last_modified
                ):
                    raise TemporaryFetchError(ref.key, "changed since it was listed", code="changed")
                data = fh.read(max_bytes + 1)
        except FileNotFoundError:
            raise PermanentFetchError(ref.key, "no such file", code="not_found") from None
        except PermissionError as err:
            reason = f"permission denied: {err.strerror}"
            raise PermanentFetchError(ref.key, reason, code="access_denied") from None
        except IsADirectoryError:
            raise PermanentFetchError(ref.key, "not a regular file", code="not_a_file") from None
        except OSError as err:
            reason = f"read failed: {err.strerror or err}"
            raise TemporaryFetchError(ref.key, reason, code="io_error") from err
        if len(data) > max_bytes:
            raise PermanentFetchError(ref.key, f"grew past the {max_bytes}-byte limit", code="too_large")
        if ref.size is not None and len(data) != ref.size:
            raise TemporaryFetchError(ref.key, "changed while being read", code="changed")
        return data
