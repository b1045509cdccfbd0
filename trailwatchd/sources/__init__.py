"""Sources: where CloudTrail files come from. ``SOURCES`` maps a config ``type`` to its class."""

from __future__ import annotations

from typing import Any

from trailwatchd.config import DirectorySourceConfig, SourceConfig, SqsSourceConfig
from trailwatchd.errors import ConfigError
from trailwatchd.metrics import Metrics
from trailwatchd.sources.base import Source
from trailwatchd.sources.directory import DirectorySource
from trailwatchd.sources.sqs import SqsSource
from trailwatchd.state import AsyncStateStore

SOURCES: dict[str, type] = {"sqs": SqsSource, "directory": DirectorySource}


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
    # The S3 poller's config model exists so configs validate, but the poller itself is not built yet.
    raise ConfigError(
        'type = "s3" (the bucket poller) is not available in this release; use "sqs" with S3 event '
        'notifications or "directory"',
        key=f"sources.{source_id}.type",
    )
