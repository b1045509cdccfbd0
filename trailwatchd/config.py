"""Daemon configuration: TOML in, frozen validated objects out.

Every option is documented in ``config/trailwatchd.toml``. Validation is strict on purpose: an unknown key
or a wrong type is an error naming the file and the key path (``sources.org_trail.queue_url``), because a
typo that is silently ignored in a security tool means a detection that silently never runs.

The models are msgspec Structs (``forbid_unknown_fields``) so type checks, bounds and key paths come from
one well-tested library instead of hand-written validators. Durations end in ``_secs``, sizes in
``_bytes``. Each source and sink table names its ``type``; :data:`SOURCE_CONFIGS` and
:data:`SINK_CONFIGS` map that name to its option model (the runtime classes live in the ``SOURCES`` and
``SINKS`` tables of ``trailwatchd.sources`` and ``trailwatchd.sinks``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from trailwatchd.errors import ConfigError

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

PositiveSecs = Annotated[float, Meta(gt=0)]
Id = Annotated[str, Meta(pattern=_ID_RE.pattern)]


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for every config table: frozen, keyword-only, unknown keys rejected."""


class DaemonConfig(_Model, frozen=True):
    """``[daemon]``: process-wide settings. Changing these needs a restart."""

    metrics_listen: str = "127.0.0.1:9108"
    state_path: str = "var/trailwatchd.db"
    graceful_shutdown_secs: PositiveSecs = 30.0
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    dedupe_ttl_secs: PositiveSecs = 7 * 86400.0
    """How long an alerted (rule, eventID) is remembered so a redelivered file alerts only once."""
    retention_secs: PositiveSecs = 14 * 86400.0
    """How long finished ledger rows and delivered alerts are kept (>= how long a source can redeliver)."""
    prune_interval_secs: PositiveSecs = 3600.0
    """How often expired dedupe keys, old ledger rows and delivered alerts are deleted."""
    queue_size: Annotated[int, Meta(ge=1, le=10_000)] = 64
    """Capacity of each bounded stage queue, in objects; small values push back on sources sooner."""
    max_object_bytes: Annotated[int, Meta(ge=1)] = 256 * 1024 * 1024
    """Largest object read; CloudTrail files are at most 50 MB compressed."""
    max_event_bytes: Annotated[int, Meta(ge=1)] = 262_144
    """Records larger than this are skipped and counted, as CloudTrail does for CloudWatch Logs."""
    workers: Annotated[int, Meta(ge=1, le=256)] | Literal["auto"] = 1
    """Decode-and-evaluate processes; 1 evaluates in a thread of the daemon process, ``"auto"`` starts one
    per usable CPU (docs/scaling.md)."""


class AwsConfig(_Model, frozen=True):
    """``[aws]``: optional; the standard credential chain supplies credentials."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


class RulesConfig(_Model, frozen=True):
    """``[rules]``: where rule files live and where alerts go when a rule names no sinks."""

    paths: list[str] = msgspec.field(default_factory=lambda: ["config/rules/cis-aws-foundations-1.2"])
    default_sinks: list[str] = msgspec.field(default_factory=lambda: ["console"])


class SqsSourceConfig(_Model, frozen=True, tag="sqs", tag_field="type"):
    """``type = "sqs"``: S3/SNS/CloudTrail/EventBridge notifications from one queue."""

    queue_url: str
    max_messages: Annotated[int, Meta(ge=1, le=10)] = 10
    wait_time_secs: Annotated[int, Meta(ge=0, le=20)] = 20
    visibility_timeout_secs: Annotated[int, Meta(ge=10, le=43_200)] = 300
    max_in_flight: Annotated[int, Meta(ge=1, le=1000)] = 20
    allowed_buckets: list[str] = msgspec.field(default_factory=list)
    allowed_accounts: list[str] = msgspec.field(default_factory=list)
    expected_bucket_owner: str | None = None
    max_receive_count: Annotated[int, Meta(ge=1)] | None = None
    """Give up on a failing message after this many receives (leave it for the DLQ); None: retry until
    the queue's redrive policy moves it."""


class DirectorySourceConfig(_Model, frozen=True, tag="directory", tag_field="type"):
    """``type = "directory"``: a local folder of CloudTrail files, each processed once across restarts."""

    path: str
    glob: str = "**/*"
    poll_interval_secs: PositiveSecs = 2.0


class S3SourceConfig(_Model, frozen=True, tag="s3", tag_field="type"):
    """``type = "s3"``: polls a trail bucket prefix (README "S3 polling"; ``trailwatchd/sources/s3.py``)."""

    bucket: str
    prefix: str = ""
    poll_interval_secs: PositiveSecs = 60.0
    lookback_secs: Annotated[float, Meta(ge=900)] = 1800.0
    start_time: str = "now"
    accounts: list[str] = msgspec.field(default_factory=list)
    regions: list[str] = msgspec.field(default_factory=list)
    expected_bucket_owner: str | None = None
    max_list_requests_per_poll: Annotated[int, Meta(ge=10)] = 1000
    discovery_interval_secs: PositiveSecs = 3600.0

    def __post_init__(self) -> None:
        """``start_time`` is checked here so ``check-config`` reports it, not the first poll."""
        if self.start_time.strip().lower() != "now":
            try:
                datetime.fromisoformat(self.start_time.strip())
            except ValueError:
                raise ValueError(
                    f'start_time {self.start_time!r} is neither "now" nor an ISO 8601 time '
                    "(e.g. 2024-05-01T00:00:00Z)"
                ) from None


class SnsSinkConfig(_Model, frozen=True, tag="sns", tag_field="type"):
    """``type = "sns"``: one JSON alert per matching event on an SNS topic."""

    topic_arn: str
    subject_prefix: str = "trailwatchd"
    max_message_bytes: Annotated[int, Meta(ge=1024, le=1_048_576)] = 262_144
    include_event: bool = True
    max_concurrent_batches: Annotated[int, Meta(ge=1, le=32)] = 4
    """PublishBatch calls in flight at once (standard topics; FIFO topics always send one at a time)."""


class LogSinkConfig(_Model, frozen=True, tag="log", tag_field="type"):
    """``type = "log"``: one structured log line per alert."""

    level: Literal["info", "warning", "error"] = "warning"


class FileSinkConfig(_Model, frozen=True, tag="file", tag_field="type"):
    """``type = "file"``: JSON Lines, one alert per line, fsynced before the alert counts as delivered."""

    path: str


SOURCE_CONFIGS: dict[str, type[_Model]] = {
    "sqs": SqsSourceConfig,
    "directory": DirectorySourceConfig,
    "s3": S3SourceConfig,
}
SINK_CONFIGS: dict[str, type[_Model]] = {
    "sns": SnsSinkConfig,
    "log": LogSinkConfig,
    "file": FileSinkConfig,
}


class AccountEnrichment(_Model, frozen=True):
    """``[enrichment.accounts."<account id>"]``: what alerts about this account show and how loud they are."""

    name: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    """Shown as ``where.account_name`` and in the summary (``in 123456789012 (prod)/us-east-1``)."""
    severity_overrides: dict[str, Literal["critical", "high", "warning", "notice", "info"]] = msgspec.field(
        default_factory=dict
    )
    """Rule id (or ``"*"`` for every rule) -> severity for this account's alerts; a rule id beats ``*``."""

    def severity_for(self, rule_id: str, severity: str) -> str:
        """The severity an alert of ``rule_id`` in this account gets."""
        return self.severity_overrides.get(rule_id) or self.severity_overrides.get("*") or severity


class EnrichmentConfig(_Model, frozen=True):
    """``[enrichment]``: optional context from the operator, applied to alerts when they are built."""

    accounts: dict[Annotated[str, Meta(pattern=r"^[0-9]{12}$")], AccountEnrichment] = msgspec.field(
        default_factory=dict
    )


SourceConfig = SqsSourceConfig | DirectorySourceConfig | S3SourceConfig


class IntegrityConfig(_Model, frozen=True):
    """``[integrity]``: verify CloudTrail digests as they arrive (docs/integrity.md). Off by default."""

    enabled: bool = False
    sources: list[str] = msgspec.field(default_factory=list)
    """Source ids whose digest keys are verified; empty = every source that delivers digests."""
    public_key_files: list[str] = msgspec.field(default_factory=list)
    """``aws cloudtrail list-public-keys`` JSON files; empty = ``ListPublicKeys`` in the digest's region."""
    unlisted_grace_secs: Annotated[float, Meta(ge=0)] = 7200.0
    """How long before a digest's end a log file must have been delivered to be expected in a digest."""
    repair: bool = True
    """Ingest listed log files the pipeline never processed (gap repair)."""
    sinks: list[str] = msgspec.field(default_factory=list)
    """Sinks for integrity findings; empty = ``rules.default_sinks``."""
    digest_overdue_secs: Annotated[float, Meta(ge=0)] = 1800.0
    """Grace after a digest's end + 1 hour before a missing next digest is a finding (0 disables)."""


SinkConfig = SnsSinkConfig | LogSinkConfig | FileSinkConfig


class AlarmsConfig(_Model, frozen=True):
    """``[alarms]``: CloudWatch-style evaluation of the rules' ``[rule.alarm]`` tables (docs/alarms.md)."""

    enabled: bool = True
    allowed_lateness_secs: Annotated[float, Meta(ge=0, le=86_400)] = 900.0
    """How long after a minute ends datapoints for it may still arrive; until then an empty period is
    pending, not missing. 900 s covers CloudTrail's usual 5-15 minute delivery delay; 0 = CloudWatch."""
    evaluation_interval_secs: Annotated[float, Meta(gt=0, le=60)] = 60.0
    """How often the evaluation task wakes; alarms are evaluated once per minute boundary passed."""
    account_id: Annotated[str, Meta(pattern=r"^[0-9]{12}$")] | None = None
    """``AWSAccountId`` in alarm messages; unset = the account of the alarm's most recent event."""
    region: str | None = None
    """Region code whose display name goes in ``Region`` and the Subject; unset = ``[aws].region``."""
    sample_events: Annotated[int, Meta(ge=0, le=10)] = 3
    """Matching events (who/what/where) included in each alarm message under TrailwatchdSampleEvents."""


class ReloadConfig(_Model, frozen=True):
    """``[reload]``: live reload of this file and the rule files (README "Reloading rules and config")."""

    watch: bool = True
    """Poll the config file and every rule file for content changes and reload when they change."""
    poll_interval_secs: Annotated[float, Meta(gt=0, le=3600)] = 2.0
    """How often the watched files are hashed. Content hashes, not inotify: Kubernetes ConfigMap updates
    swap a ``..data`` symlink and never touch the file the config names."""
    debounce_secs: Annotated[float, Meta(ge=0, le=600)] = 1.0
    """Wait until the files have been unchanged this long, so an editor's burst of writes is one reload."""
    http_endpoint: bool = False
    """Serve ``POST /-/reload`` on the metrics listener (for ECS and platforms where signals are awkward)."""
    http_allow: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    """Client addresses allowed to call ``POST /-/reload``; others get 403. Loopback only by default."""


class Config(_Model, frozen=True):
    """The whole file. ``sources`` and ``sinks`` map an operator-chosen id to a component's options."""

    daemon: DaemonConfig = msgspec.field(default_factory=DaemonConfig)
    aws: AwsConfig = msgspec.field(default_factory=AwsConfig)
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    sources: dict[str, SourceConfig] = msgspec.field(default_factory=dict)
    sinks: dict[str, SinkConfig] = msgspec.field(default_factory=dict)
    integrity: IntegrityConfig = msgspec.field(default_factory=IntegrityConfig)
    enrichment: EnrichmentConfig = msgspec.field(default_factory=EnrichmentConfig)
    alarms: AlarmsConfig = msgspec.field(default_factory=AlarmsConfig)
    reload: ReloadConfig = msgspec.field(default_factory=ReloadConfig)
    path: str | None = None
    """Where the config was read from; relative paths in it resolve against the current directory."""
    digest: str = ""
    """sha256 of the file's bytes, exposed as the active config hash."""


ENV_OVERRIDES = {
    "TRAILWATCHD_AWS_REGION": "region",
    "TRAILWATCHD_AWS_ENDPOINT_URL": "endpoint_url",
    "TRAILWATCHD_AWS_PROFILE": "profile",
}
"""Environment variables that override ``[aws]`` (containers set these instead of editing the file)."""


def _msgspec_key(err: msgspec.ValidationError) -> tuple[str, str | None]:
    """Split msgspec's "reason - at `$.a.b`" into (reason, "a.b")."""
    text = str(err)
    match = re.search(r" - at `\$(.*)`$", text)
    if not match:
        return text, None
    path = match.group(1).lstrip(".")
    path = re.sub(r"\[(['\"])(.*?)\1\]", r".\2", path).lstrip(".")
    return text[: match.start()], path or None


def parse_config(
    data: Mapping[str, Any],
    *,
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    digest: str = "",
) -> Config:
    """Validate an already-parsed TOML mapping; raise :class:`ConfigError` with the key path."""
    raw = dict(data)
    aws = dict(raw.get("aws") or {})
    for var, key in ENV_OVERRIDES.items():
        value = (env if env is not None else os.environ).get(var)
        if value:
            aws[key] = value
    if aws:
        raw["aws"] = aws
    for section in ("path", "digest"):
        if section in raw:
            raise ConfigError(f"unknown key {section!r}", file=file, key=section)
    components: dict[str, dict[str, Any]] = {}
    for table, models in (("sources", SOURCE_CONFIGS), ("sinks", SINK_CONFIGS)):
        entries = raw.pop(table, None) or {}
        if not isinstance(entries, Mapping):
            raise ConfigError(f"[{table}] must be a table of tables", file=file, key=table)
        components[table] = {}
        for ident, options in entries.items():
            key = f"{table}.{ident}"
            if not _ID_RE.match(ident):
                raise ConfigError(
                    "ids are 1-64 letters, digits, '_' or '-', starting with a letter or digit",
                    file=file,
                    key=key,
                )
            if not isinstance(options, Mapping):
                raise ConfigError("must be a table", file=file, key=key)
            kind = options.get("type")
            model = models.get(kind) if isinstance(kind, str) else None
            if model is None:
                raise ConfigError(
                    f"type must be one of {', '.join(sorted(models))}, not {kind!r}",
                    file=file,
                    key=f"{key}.type",
                )
            components[table][ident] = _convert(options, model, file, key)
    base: Config = _convert(raw, Config, file, "")
    config = msgspec.structs.replace(base, sources=components["sources"], sinks=components["sinks"])
    for i, sink in enumerate(config.rules.default_sinks):
        if sink not in config.sinks:
            raise ConfigError(
                f"names sink {sink!r}, which is not defined under [sinks.{sink}]",
                file=file,
                key=f"rules.default_sinks[{i}]",
            )
    for field_name, known in (("sinks", config.sinks), ("sources", config.sources)):  # [integrity] ids
        for i, ident in enumerate(getattr(config.integrity, field_name)):
            if ident not in known:
                raise ConfigError(
                    f"names {field_name[:-1]} {ident!r}, which is not defined under [{field_name}.{ident}]",
                    file=file,
                    key=f"integrity.{field_name}[{i}]",
                )
    return msgspec.structs.replace(config, path=file, digest=digest)


def _convert(data: Mapping[str, Any], model: type[Any], file: str | None, prefix: str) -> Any:
    """msgspec.convert with errors turned into ConfigError carrying the full key path."""
    try:
        return msgspec.convert(dict(data), type=model)
    except msgspec.ValidationError as err:
        reason, key = _msgspec_key(err)
        if reason.startswith("Object contains unknown field"):
            reason += " (check the spelling against config/trailwatchd.toml)"
        full = ".".join(part for part in (prefix, key) if part) or None
        raise ConfigError(reason, file=file, key=full) from None


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror}", file=str(p)) from None
    try:
        data = tomllib.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"not valid TOML: {err}", file=str(p)) from None
    return parse_config(data, file=str(p), env=env, digest=hashlib.sha256(blob).hexdigest())
