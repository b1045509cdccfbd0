"""Sources: where CloudTrail files come from. ``SOURCES`` maps a config ``type`` to its class."""

from __future__ import annotations

from typing import Any

from trailwatchd.config import DirectorySourceConfig, S3SourceConfig, SourceConfig, SqsSourceConfig
from trailwatchd.errors import ConfigError
from trailwatchd.metrics import Metrics
from trailwatchd.sources.base import Source
from trailwatchd.sources.directory import DirectorySource
from trailwatchd.sources.s3 import S3Source
from trailwatchd.sources.sqs import SqsSource
from trailwatchd.state import AsyncStateStore

SOURCES: dict[str, type] = {"sqs": SqsSource, "directory": DirectorySource, "s3": S3Source}


def build_source(
    source_id: str,
    config: SourceConfig,
    *,
    clients: Any,
    state: AsyncStateStore,
    metrics: Metrics | None = None,
) -> Source:
    """Instantiate the source a config table describes."""
    if isinstance(config, SqsSourceConfig):
        return SqsSource(source_id, config, clients, metrics=metrics)
    if isinstance(config, DirectorySourceConfig):
        return DirectorySource(source_id, config, state)
    if isinstance(config, S3SourceConfig):
        return S3Source(source_id, config, clients, state, metrics=metrics)
    raise ConfigError(f"unknown source type {type(config).__name__}", key=f"sources.{source_id}.type")
