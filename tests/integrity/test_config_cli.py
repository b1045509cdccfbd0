"""``[integrity]`` config (off by default, strict) and ``trailwatchd verify`` argument handling."""

from __future__ import annotations

import io

import pytest

from trailwatchd.cli import main
from trailwatchd.config import parse_config
from trailwatchd.errors import ConfigError

BASE = {
    "sinks": {"console": {"type": "log"}},
    "sources": {"q": {"type": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}},
}


def test_integrity_is_off_by_default_and_strict() -> None:
    assert parse_config(BASE).integrity.enabled is False
    cfg = parse_config(
        {**BASE, "integrity": {"enabled": True, "unlisted_grace_secs": 3600, "sources": ["q"]}}
    )
    assert cfg.integrity.enabled and cfg.integrity.unlisted_grace_secs == 3600
    with pytest.raises(ConfigError, match="integrity"):
        parse_config({**BASE, "integrity": {"enabled": True, "grace": 1}})
    with pytest.raises(ConfigError):
        parse_config({**BASE, "integrity": {"unlisted_grace_secs": -1}})
    with pytest.raises(ConfigError, match=r"integrity\.sinks\[0\]"):
        parse_config({**BASE, "integrity": {"sinks": ["pager"]}})
    with pytest.raises(ConfigError, match=r"integrity\.sources\[0\]"):
        parse_config({**BASE, "integrity": {"sources": ["nope"]}})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "bucket/prefix", "--since", "2026-11-01T00:00:00Z"], "not an s3://bucket/prefix"),
        (["verify", "s3://b/p", "--since", "yesterday"], "bad time"),
    ],
)
def test_verify_usage_errors(argv: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out=out, err=err) == 2
    assert message in err.getvalue()
