"""DirectorySource: each settled file emitted once, across restarts; retry, park and fetch behaviour."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trailwatchd.config import DirectorySourceConfig
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError
from trailwatchd.sources.base import WorkItem
from trailwatchd.sources.directory import DirectorySource, identity
from trailwatchd.state import AsyncStateStore

INTERVAL = 0.01


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Recorder:
    """The pipeline's intake, recording what it is given."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []
        self.arrived = asyncio.Event()

    async def __call__(self, item: WorkItem) -> None:
        self.items.append(item)
        self.arrived.set()

    def take(self) -> list[WorkItem]:
        items, self.items = self.items, []
        return items


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[AsyncStateStore]:
    async with AsyncStateStore(tmp_path / "state.db") as store:
        yield store


@pytest.fixture
def root(tmp_path: Path) -> Path:
    d = tmp_path / "trail"
    d.mkdir()
    return d


def write(path: Path, data: bytes = b'{"Records": []}', mtime_ns: int = 1_700_000_000_000_000_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def make(
    root: Path, state: AsyncStateStore, clock: Clock | None = None, glob: str = "**/*"
) -> DirectorySource:
    config = DirectorySourceConfig(path=str(root), glob=glob, poll_interval_secs=INTERVAL)
    return DirectorySource("local", config, state, clock=clock or Clock())


async def settle(source: DirectorySource, emit: Recorder) -> list[WorkItem]:
    """Two polls: the first sees the files, the second (same size/mtime) emits them."""
    await source.poll(emit)
    await source.poll(emit)
    return emit.take()


def keys(items: list[WorkItem]) -> list[str]:
    return [ref.key for item in items for ref in item.objects]


async def test_new_files_are_emitted_once_in_sorted_order(root: Path, state: AsyncStateStore) -> None:
    """Files are emitted after one stable poll, sorted, with relative posix keys and their size and mtime."""
    write(root / "b.json", b"12345")
    write(root / "a" / "z.json.gz")
    source, emit = make(root, state), Recorder()
    was_ready = source.ready
    assert await source.poll(emit) == 0  # first sighting: could still be growing
    assert (was_ready, source.ready) == (False, True)
    items = await settle(source, emit)
    assert keys(items) == ["a/z.json.gz", "b.json"]
    ref = items[1].objects[0]
    assert (ref.source_id, ref.size, ref.last_modified, ref.bucket) == ("local", 5, 1_700_000_000.0, None)
    assert items[1].label == "b.json"
    assert await source.poll(emit) == 0  # unacknowledged: not emitted again
    for item in items:
        await item.ack.commit()
    assert await source.poll(emit) == 0
    assert source.in_flight == frozenset()


async def test_ignored_names_and_glob(root: Path, state: AsyncStateStore) -> None:
    """Hidden files and folders, *.tmp and *.part are never emitted, nor files outside the glob."""
    for name in (".hidden.json", "x.json.tmp", "y.json.part", ".sync/z.json", "sub/.w.json", "ok.json.gz",
                 "notes.txt"):
        write(root / name)
    (root / "emptydir").mkdir()
    assert keys(await settle(make(root, state), Recorder())) == ["notes.txt", "ok.json.gz"]
    assert keys(await settle(make(root, state, glob="*.json.gz"), Recorder())) == ["ok.json.gz"]


async def test_growing_file_waits_until_it_stops_changing(root: Path, state: AsyncStateStore) -> None:
    """A file whose size changed since the previous poll is not emitted until a poll sees it unchanged."""
    path = write(root / "a.json", b"{")
    source, emit = make(root, state), Recorder()
    await source.poll(emit)
    write(path, b'{"Records"', mtime_ns=1_700_000_001_000_000_000)
    assert await source.poll(emit) == 0
    write(path, b'{"Records": []}', mtime_ns=1_700_000_002_000_000_000)
    assert await source.poll(emit) == 0
    assert await source.poll(emit) == 1
    assert emit.take()[0].objects[0].size == len(b'{"Records": []}')


async def test_restart_does_not_re_emit_committed_files(tmp_path: Path, root: Path) -> None:
    """A new source on the same state file skips committed files but re-emits ones never acknowledged."""
    write(root / "done.json")
    write(root / "lost.json")
    async with AsyncStateStore(tmp_path / "state.db") as state:
        items = await settle(make(root, state), Recorder())
        assert keys(items) == ["done.json", "lost.json"]
        await items[0].ack.commit()  # lost.json: the process "crashes" before its ack
    async with AsyncStateStore(tmp_path / "state.db") as state:
        assert keys(await settle(make(root, state), Recorder())) == ["lost.json"]


async def test_rewritten_file_is_new_work(root: Path, state: AsyncStateStore) -> None:
    """After a commit, the same path with a different size or mtime is emitted again."""
    path = write(root / "a.json")
    source, emit = make(root, state), Recorder()
    [item] = await settle(source, emit)
    await item.ack.commit()
    write(path, b'{"Records": [{}]}', mtime_ns=1_800_000_000_000_000_000)
    assert keys(await settle(source, emit)) == ["a.json"]


async def test_changed_while_in_flight_waits_for_the_ack(root: Path, state: AsyncStateStore) -> None:
    """A file that changes while its emission is unacknowledged is not emitted a second time until then."""
    path = write(root / "a.json")
    source, emit = make(root, state), Recorder()
    [item] = await settle(source, emit)
    write(path, b'{"Records": [{}]}', mtime_ns=1_800_000_000_000_000_000)
    assert await source.poll(emit) == 0
    assert await source.poll(emit) == 0
    await item.ack.commit()
    assert await source.poll(emit) == 1
    assert emit.take()[0].objects[0].size == len(b'{"Records": [{}]}')


async def test_temporary_release_retries_with_growing_backoff(root: Path, state: AsyncStateStore) -> None:
    """release(permanent=False) brings the file back after one interval, then after two, and so on."""
    write(root / "a.json")
    clock = Clock()
    source, emit = make(root, state, clock), Recorder()
    [item] = await settle(source, emit)
    await item.ack.release("sink down", permanent=False)
    assert await source.poll(emit) == 0
    clock.t += INTERVAL
    assert await source.poll(emit) == 1
    [item] = emit.take()
    await item.ack.release("sink down", permanent=False)
    clock.t += INTERVAL
    assert await source.poll(emit) == 0  # second attempt waits 2 intervals
    clock.t += INTERVAL
    assert await source.poll(emit) == 1
    assert await state.object_status("local", identity("a.json", (15, 1_700_000_000_000_000_000))) is None


async def test_permanent_release_parks_until_the_file_changes(
    tmp_path: Path, root: Path, state: AsyncStateStore
) -> None:
    """release(permanent=True) records the reason in the ledger and skips the file, also after a restart."""
    path = write(root / "bad.json", b"not json")
    clock = Clock()
    source, emit = make(root, state, clock), Recorder()
    [item] = await settle(source, emit)
    await item.ack.release("decode error: not json", permanent=True)
    ident = identity("bad.json", (8, 1_700_000_000_000_000_000))
    assert await state.object_status("local", ident) == "parked"
    reason = await state.run(
        lambda s: s._conn.execute("SELECT reason FROM ledger WHERE object_key = ?", (ident,)).fetchone()[0]
    )
    assert reason == "decode error: not json"
    clock.t += 10_000
    assert await source.poll(emit) == 0
    assert await settle(make(root, state), Recorder()) == []  # a restarted source skips it too
    write(path, b'{"Records": []}', mtime_ns=1_800_000_000_000_000_000)
    assert keys(await settle(source, emit)) == ["bad.json"]


async def test_ack_is_resolved_once(root: Path, state: AsyncStateStore) -> None:
    """After a commit, a stray release does not park the file or schedule a retry."""
    write(root / "a.json")
    source, emit = make(root, state), Recorder()
    [item] = await settle(source, emit)
    await item.ack.commit()
    await item.ack.release("late", permanent=True)
    assert await state.object_status("local", identity("a.json", (15, 1_700_000_000_000_000_000))) is None


async def test_missing_directory_is_not_ready_until_it_appears(
    tmp_path: Path, state: AsyncStateStore
) -> None:
    """A poll of a missing directory emits nothing and leaves the source not ready; it recovers."""
    root = tmp_path / "later"
    source, emit = make(root, state), Recorder()
    assert await source.poll(emit) == 0
    was_ready = source.ready
    write(root / "a.json")
    assert keys(await settle(source, emit)) == ["a.json"]
    assert (was_ready, source.ready) == (False, True)


async def test_run_emits_and_stops(root: Path, state: AsyncStateStore) -> None:
    """run() polls on its interval, emits new files and returns once stop is set."""
    write(root / "a.json")
    source, emit, stop = make(root, state), Recorder(), asyncio.Event()
    task = asyncio.create_task(source.run(emit, stop))
    await asyncio.wait_for(emit.arrived.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert keys(emit.items) == ["a.json"]


# -- fetch ------------------------------------------------------------------------------------------
async def test_fetch_reads_the_listed_file(root: Path, state: AsyncStateStore) -> None:
    """fetch returns the bytes of the file the WorkItem names."""
    write(root / "a" / "b.json", b'{"Records": [1]}')
    [item] = await settle(make(root, state), Recorder())
    assert await make(root, state).fetch(item.objects[0], 1024) == b'{"Records": [1]}'


@pytest.mark.parametrize(
    ("case", "error", "code"),
    [
        ("too_large", PermanentFetchError, "too_large"),
        ("deleted", PermanentFetchError, "not_found"),
        ("rewritten", TemporaryFetchError, "changed"),
        ("directory", PermanentFetchError, "not_a_file"),
        ("escape", PermanentFetchError, "invalid_key"),
    ],
)
async def test_fetch_errors(
    root: Path, state: AsyncStateStore, case: str, error: type[Exception], code: str
) -> None:
    """Each failure maps to the right fetch error type and bounded code."""
    path = write(root / "a.json", b"0123456789")
    source = make(root, state)
    [item] = await settle(source, Recorder())
    ref = item.objects[0]
    limit = 1024
    if case == "too_large":
        limit = 9
    elif case == "deleted":
        path.unlink()
    elif case == "rewritten":
        write(path, b"0123456789abc")
    elif case == "directory":
        path.unlink()
        path.mkdir()
    elif case == "escape":
        ref = type(ref)(source_id="local", key="../outside.json")
    with pytest.raises(error) as info:
        await source.fetch(ref, limit)
    assert getattr(info.value, "code", None) == code
