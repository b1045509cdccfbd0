"""The S3 poller's digest listing (``digests = True``, set by ``[integrity]``): the window's digest day
prefixes of every partition (org layout included), the seen-set, retries, and nothing when it is off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_s3_poller import ACCT, ORG, Harness, h, log_key, put  # noqa: F401 - fixture
from trailwatchd.config import IntegrityConfig
from trailwatchd.integrity.service import poll_digests

pytestmark = pytest.mark.integration


def digest_key(stamp: str, *, acct: str = ACCT, region: str = "us-east-1", org: str = "") -> str:
    """A digest key whose end time is ``stamp`` (``20240501T100000``)."""
    day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
    org_part = f"{org}/" if org else ""
    name = f"{acct}_CloudTrail-Digest_{region}_trail_{region}_{stamp}Z.json.gz"
    return f"AWSLogs/{org_part}{acct}/CloudTrail-Digest/{region}/{day}/{name}"


async def test_digests_listed_once_with_the_seen_set(h: Harness, aws_clients: dict[str, Any]) -> None:  # noqa: F811
    h.clock.set("2024-05-01T10:20:00Z")
    member = "123456789012"
    live = log_key("2024-05-01T10:10", "L")
    d_recent = digest_key("20240501T100000")
    d_prev = digest_key("20240501T090000")  # end 09:00: outside a 15 min lookback, inside lookback + 1h
    d_old = digest_key("20240501T060000")  # before start - 1h: never emitted
    d_org = digest_key("20240501T100000", acct=member, org=ORG, region="ca-central-1")
    org_log = log_key("2024-05-01T10:05", "O", acct=member, org=ORG, region="ca-central-1")
    await put(aws_clients, live, d_recent, d_prev, d_old, d_org, org_log)
    off = h.source(start_time="2024-05-01T08:00:00Z")
    assert await h.poll(off) == sorted([live, org_log])  # integrity off: digests are not emitted

    src = h.source(start_time="2024-05-01T08:00:00Z")
    src.digests = True
    assert await h.poll(src, commit=False) == sorted([d_recent, d_prev, d_org])  # logs are seen already
    assert await h.poll(src, commit=False) == []  # in flight: not emitted twice
    failed = next(i for i in h.items if i.objects[0].key == d_prev)
    await failed.ack.release("throttled", permanent=False)  # retried after the poller's backoff
    for item in h.items:
        if item.objects[0].key != d_prev:
            await item.ack.commit()
    assert await h.poll(src) == []  # backoff not over yet, the others are seen
    src._retry[d_prev] = (1, 0.0)  # the backoff is over
    assert await h.poll(src) == [d_prev]
    assert await h.poll(src) == []
    sample = h.registry.get_sample_value
    assert sample("trailwatchd_s3_objects_discovered_total", {"source": "trail", "kind": "digest"}) == 3


def test_poll_digests_follows_integrity_sources(h: Harness) -> None:  # noqa: F811
    """The daemon calls this for every source it builds (at start and on reload)."""
    for icfg, want in (
        (IntegrityConfig(enabled=False), False),
        (IntegrityConfig(enabled=True), True),
        (IntegrityConfig(enabled=True, sources=["trail"]), True),
        (IntegrityConfig(enabled=True, sources=["other"]), False),
    ):
        src = h.source()
        poll_digests("trail", src, icfg)
        assert src.digests is want, icfg
    poll_digests("queue", object(), IntegrityConfig(enabled=True))  # not an S3 poller: ignored
