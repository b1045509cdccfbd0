"""Daemon configuration: strict validation with key paths, defaults, env overrides."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from trailwatchd.config import (
    SINK_CONFIGS,
    SOURCE_CONFIGS,
    AlarmsConfig,
    AwsConfig,
    DaemonConfig,
    DirectorySourceConfig,
    RulesConfig,
    SqsSourceConfig,
    load_config,
    parse_config,
)
from trailwatchd.errors import ConfigError
from trailwatchd.sources import build_source
from trailwatchd.sources.s3 import S3Source
from trailwatchd.state import AsyncStateStore

BASE = {"sinks": {"console": {"type": "log"}}}


def test_reference_config_is_valid(repo_root: Path) -> None:
    """The annotated reference config (the embedded demo) loads and runs the directory source."""
    config = load_config(repo_root / "config" / "trailwatchd.toml")
    assert isinstance(config.sources["demo"], DirectorySourceConfig)
    assert config.daemon.metrics_listen == "127.0.0.1:9108"
    assert len(config.digest) == 64


@pytest.mark.parametrize("name", ["sqs.toml", "directory.toml", "s3.toml"])
def test_example_configs_are_valid(repo_root: Path, name: str) -> None:
    """Every example config in config/examples parses."""
    assert load_config(repo_root / "config" / "examples" / name).sources


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"daemon": {"bogus": 1}}, "daemon", "unknown field `bogus`"),
        ({"daemon": {"graceful_shutdown_secs": "x"}}, "daemon.graceful_shutdown_secs", "Expected `float`"),
        ({"sources": {"a": {"type": "sqs"}}}, "sources.a", "missing required field `queue_url`"),
        ({"sources": {"a": {"type": "sqz", "queue_url": "u"}}}, "sources.a.type", "directory, s3, sqs"),
        (
            {"sources": {"a": {"type": "sqs", "queue_url": "u", "max_messages": 11}}},
            "sources.a.max_messages",
            "<= 10",
        ),
        ({"sources": {"bad id": {"type": "directory", "path": "x"}}}, "sources.bad id", "ids are"),
        ({"sinks": {"s": {"type": "sns"}}}, "sinks.s", "topic_arn"),
        ({"rules": {"default_sinks": ["nope"]}}, "rules.default_sinks[0]", "'nope'"),
    ],
)
def test_invalid_config_names_key_path(data: dict[str, object], key: str, fragment: str) -> None:
    """Each mistake is reported with the exact key path and what is wrong."""
    merged = {**BASE, **data}
    if "sinks" in data:
        merged["sinks"] = {**BASE["sinks"], **data["sinks"]}  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as exc:
        parse_config(merged, file="t.toml")
    assert exc.value.key == key
    assert fragment in str(exc.value)
    assert str(exc.value).startswith("t.toml: ")


def test_defaults_fill_in() -> None:
    """A minimal SQS source gets documented defaults."""
    config = parse_config({**BASE, "sources": {"q": {"type": "sqs", "queue_url": "u"}}})
    src = config.sources["q"]
    assert isinstance(src, SqsSourceConfig)
    assert (src.max_messages, src.wait_time_secs, src.visibility_timeout_secs) == (10, 20, 300)


def test_env_overrides_aws() -> None:
    """TRAILWATCHD_AWS_* variables override [aws] so containers need no file edits."""
    config = parse_config(
        {**BASE, "aws": {"region": "eu-west-1"}},
        env={"TRAILWATCHD_AWS_REGION": "us-east-2", "TRAILWATCHD_AWS_ENDPOINT_URL": "http://x"},
    )
    assert (config.aws.region, config.aws.endpoint_url) == ("us-east-2", "http://x")


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    """A missing file and a TOML syntax error both name the file."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)


async def test_s3_source_type_builds_the_poller_and_rejects_a_bad_start_time(tmp_path: Path) -> None:
    """``type = "s3"`` is in the sources table; a start_time that is not ISO nor "now" fails validation."""
    config = parse_config({**BASE, "sources": {"trail": {"type": "s3", "bucket": "b"}}})
    async with AsyncStateStore(tmp_path / "s.db") as state:
        assert isinstance(build_source("trail", config.sources["trail"], clients=None, state=state), S3Source)
    with pytest.raises(ConfigError) as exc:
        parse_config({**BASE, "sources": {"trail": {"type": "s3", "bucket": "b", "start_time": "soon"}}})
    assert "sources" in str(exc.value) and "'soon'" in str(exc.value) and "ISO 8601" in str(exc.value)


def _option_models() -> list[type[msgspec.Struct]]:
    """Every config model an operator writes: the top-level sections and every source and sink type."""
    return [
        DaemonConfig,
        AwsConfig,
        RulesConfig,
        AlarmsConfig,
        *SOURCE_CONFIGS.values(),
        *SINK_CONFIGS.values(),
    ]


def test_reference_config_documents_every_option(repo_root: Path) -> None:
    """Each option of each model appears in config/trailwatchd.toml, set or commented out."""
    text = (repo_root / "config" / "trailwatchd.toml").read_text()
    missing = []
    for model in _option_models():
        for field in msgspec.structs.fields(model):
            if not re.search(rf"^#?\s*#?\s*{re.escape(field.encode_name)}\s*=", text, re.MULTILINE):
                missing.append(f"{model.__name__}.{field.encode_name}")
    assert not missing, f"undocumented options in config/trailwatchd.toml: {missing}"
