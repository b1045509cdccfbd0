"""Overdue digests: CloudTrail delivers one digest per account and region every hour, so silence is news.

After a digest ending at ``E`` the next one is due by ``E + 1h`` plus delivery time. When no newer digest
has been verified by ``E + 1h + grace`` (``[integrity] digest_overdue_secs``), either logging or log file
validation was turned off, or digests are being deleted before the daemon sees them: one finding per
episode (its subject names the last good digest time, so the spool's dedupe raises it once even across
restarts), and a "resumed" finding when a newer digest verifies. The state is a small JSON document kept
in the state store's meta table, so a restart neither forgets a silent region nor re-raises an episode.

Pure and clock-free: the service passes ``now`` in, which is how the tests drive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from trailwatchd.integrity.findings import Finding

PERIOD_SECS = 3600.0
META_KEY = "integrity.overdue"


class _Track(msgspec.Struct):
    last_end: float
    """digestEndTime (epoch) of the newest verified digest."""
    prefix: str
    """``s3://bucket/.../CloudTrail-Digest/<region>/``: where the digests should appear."""
    overdue: bool = False


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class OverdueWatch:
    grace_secs: float
    tracks: dict[tuple[str, str], _Track] = field(default_factory=dict)

    def observe(self, account: str, region: str, end: datetime, prefix: str) -> Finding | None:
        """A verified digest ending at ``end``; returns the "resumed" finding when it ends an episode."""
        track = self.tracks.get((account, region))
        ts = end.timestamp()
        if track is None:
            self.tracks[(account, region)] = _Track(ts, prefix)
            return None
        if ts <= track.last_end:
            return None  # an older digest (backfill, re-delivery): the clock does not go back
        resumed = None
        if track.overdue:
            resumed = Finding(
                "trailwatchd.integrity.digests_resumed",
                f"{track.prefix}#after={_iso(track.last_end)}",
                f"digests resumed: {_iso(ts)} after a gap since {_iso(track.last_end)}",
                account,
                region,
                _iso(ts),
            )
        self.tracks[(account, region)] = _Track(ts, prefix)
        return resumed

    def check(self, now: float) -> list[Finding]:
        """New overdue episodes at ``now`` (each raised once; cleared by :meth:`observe`)."""
        found: list[Finding] = []
        for (account, region), track in sorted(self.tracks.items()):
            due = track.last_end + PERIOD_SECS + self.grace_secs
            if track.overdue or now <= due:
                continue
            track.overdue = True
            found.append(
                Finding(
                    "trailwatchd.integrity.digest_overdue",
                    f"{track.prefix}#after={_iso(track.last_end)}",
                    f"no digest newer than {_iso(track.last_end)} by {_iso(due)} (now {_iso(now)}): "
                    "logging or log file validation was stopped, or digests are being deleted",
                    account,
                    region,
                    _iso(track.last_end),
                )
            )
        return found

    def ages(self, now: float) -> dict[tuple[str, str], float]:
        """Seconds since the newest verified digest's end, per (account, region)."""
        return {k: max(0.0, now - t.last_end) for k, t in self.tracks.items()}

    def dump(self) -> str:
        doc = {f"{a}|{r}": t for (a, r), t in self.tracks.items()}
        return msgspec.json.encode(doc).decode()

    def load(self, raw: str | None) -> None:
        """Restore :meth:`dump`'s document; a damaged one raises ``msgspec.DecodeError`` (caller logs)."""
        if not raw:
            return
        doc = msgspec.json.decode(raw, type=dict[str, _Track])
        self.tracks = {tuple(k.split("|", 1)): v for k, v in doc.items()}  # type: ignore[misc]
