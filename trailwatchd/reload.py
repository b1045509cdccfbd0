"""Live reload: what changed between two configs, and a watcher that notices file changes.

The daemon reloads through one path whatever the trigger (SIGHUP, this watcher, ``POST /-/reload``):
read and validate the whole config, compile every rule and run every golden example, then swap. This
module holds the two pure parts of that path so they can be tested without a daemon:

* :func:`diff_config` decides what a new config means for the running process: sources and sinks whose
  table changed are restarted, settings the process only reads at startup (``[daemon]``, ``[aws]``,
  ``[alarms]``, ``[integrity]``) are *refused* with the dotted key named, so an operator never believes a
  change is live when it is not.
* :class:`FileWatcher` hashes the config file and every rule file it names. Content hashes of the resolved
  paths, not inotify: a Kubernetes ConfigMap update swaps the ``..data`` symlink and never writes the file
  the config names, and editors replace files by rename; both change the bytes behind the path, which is
  all that is compared. Polling every couple of seconds costs a few reads of small files.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog

from trailwatchd.config import Config
from trailwatchd.rules.loader import expand_paths
from trailwatchd.rules.problems import Problem

log = structlog.get_logger()

RESTART_ONLY = ("daemon", "aws", "alarms", "integrity")
"""Config sections read once at startup: a change is refused until the process restarts."""

Result = Literal["success", "failure", "refused"]


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """What a reload from ``old`` to ``new`` must do (see :func:`diff_config`)."""

    refused: tuple[str, ...] = ()
    """Dotted keys of restart-only settings that differ (``daemon.metrics_listen``)."""
    sources_added: tuple[str, ...] = ()
    sources_removed: tuple[str, ...] = ()
    sources_changed: tuple[str, ...] = ()
    sinks_added: tuple[str, ...] = ()
    sinks_removed: tuple[str, ...] = ()
    sinks_changed: tuple[str, ...] = ()

    @property
    def restarts(self) -> tuple[str, ...]:
        """Human labels of the components this change restarts, starts or stops."""
        return tuple(
            f"{kind}.{ident}:{what}"
            for kind, groups in (
                (
                    "sources",
                    (
                        ("added", self.sources_added),
                        ("removed", self.sources_removed),
                        ("restarted", self.sources_changed),
                    ),
                ),
                (
                    "sinks",
                    (
                        ("added", self.sinks_added),
                        ("removed", self.sinks_removed),
                        ("restarted", self.sinks_changed),
                    ),
                ),
            )
            for what, ids in groups
            for ident in ids
        )


@dataclass(slots=True)
class ReloadOutcome:
    """The answer to one reload request (logged, counted and returned by ``POST /-/reload``)."""

    result: Result
    trigger: str
    errors: list[str] = field(default_factory=list)
    config_digest: str = ""
    rules_digest: str = ""
    restarted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "trigger": self.trigger,
            "errors": self.errors,
            "config_digest": self.config_digest,
            "rules_digest": self.rules_digest,
            "restarted": self.restarted,
        }


def changed_keys(old: Any, new: Any, prefix: str) -> list[str]:
    """Dotted paths where two ``msgspec.to_builtins`` trees differ (a whole list counts as one value)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}.{key}")
        return out
    return [] if old == new else [prefix]


def _ids(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    changed = tuple(sorted(i for i in set(old) & set(new) if old[i] != new[i]))
    return added, removed, changed


def diff_config(old: Config, new: Config) -> ConfigChange:
    """Compare two validated configs. ``[rules]``, ``[enrichment]`` and ``[reload]`` apply live."""
    refused: list[str] = []
    for section in RESTART_ONLY:
        refused += changed_keys(
            msgspec.to_builtins(getattr(old, section)), msgspec.to_builtins(getattr(new, section)), section
        )
    src = _ids(old.sources, new.sources)
    snk = _ids(old.sinks, new.sinks)
    return ConfigChange(
        refused=tuple(refused),
        sources_added=src[0],
        sources_removed=src[1],
        sources_changed=src[2],
        sinks_added=snk[0],
        sinks_removed=snk[1],
        sinks_changed=snk[2],
    )


def problem_lines(err: BaseException) -> list[str]:
    """One line per problem, each naming its file, rule, key and (for patterns) line and column."""
    problems: list[Problem] | None = getattr(err, "problems", None)
    if problems:
        return [str(p) for p in problems]
    return [line for line in str(err).splitlines() if line.strip()] or [repr(err)]


def watched_files(config: Config) -> list[Path]:
    """The config file and every rule file the config names (directories and globs expanded now)."""
    files = [Path(config.path)] if config.path else []
    return files + expand_paths(config.rules.paths, [])


def fingerprint(config: Config) -> str:
    """sha256 over the names and bytes of the watched files; missing files and new files change it."""
    h = hashlib.sha256()
    for path in watched_files(config):
        h.update(str(path).encode() + b"\0")
        try:
            h.update(path.read_bytes())  # follows symlinks: a swapped ConfigMap ..data is new content
        except OSError as err:
            h.update(f"<unreadable: {err.strerror}>".encode())
        h.update(b"\0")
    for item in config.rules.paths:  # a rule directory that appears or vanishes
        h.update(f"{item}={Path(item).exists()}\0".encode())
    return h.hexdigest()


class FileWatcher:
    """Polls :func:`fingerprint` and calls ``on_change`` once the files have settled (debounced)."""

    def __init__(
        self,
        config: Callable[[], Config],
        on_change: Callable[[], Awaitable[object]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._on_change = on_change
        self._clock = clock
        self.applied: str | None = None
        """Fingerprint the running config was loaded from (or last reload attempt saw)."""
        self._seen: str | None = None
        self._changed_at = 0.0

    async def prime(self) -> None:
        """Record the fingerprint of the files the running config came from."""
        self.mark_applied(await asyncio.to_thread(fingerprint, self._config()))

    def mark_applied(self, taken_before_reading: str) -> None:
        """A reload attempt has read the files; ``taken_before_reading`` was computed before it read them.

        Taken *before*, so an edit that lands while the reload runs is never marked as applied: it differs
        from this value and triggers the next reload. A failed reload counts as applied too, so a broken
        file is reported once, not on every poll; the next edit triggers the next attempt. (If the new
        config names other rule files, the next poll sees a different set and reloads once more: harmless.)
        """
        self.applied = self._seen = taken_before_reading

    async def check(self) -> bool:
        """One poll; returns True when it triggered a reload."""
        current = await asyncio.to_thread(fingerprint, self._config())
        now = self._clock()
        if current != self._seen:
            self._seen, self._changed_at = current, now
        if current == self.applied or now - self._changed_at < self._config().reload.debounce_secs:
            return False
        log.info("config_change_detected", files=len(watched_files(self._config())))
        await self._on_change()  # the daemon's reload() calls mark_applied() with what it read
        return True

    async def run(self) -> None:
        """Poll at ``[reload].poll_interval_secs`` while ``[reload].watch`` is on (cancelled at stop)."""
        if self.applied is None:
            await self.prime()
        while True:
            cfg = self._config().reload
            await asyncio.sleep(cfg.poll_interval_secs)
            if self._config().reload.watch:
                try:
                    await self.check()
                except Exception:  # a watcher bug must never stop the daemon; the next poll retries
                    log.exception("config_watch_failed")
