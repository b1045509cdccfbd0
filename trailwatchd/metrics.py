"""Every Prometheus metric trailwatchd exposes, declared once.

Two kinds live here:

* **Self-telemetry** (``trailwatchd_*``): what the pipeline is doing. Labels come only from bounded sets
  (config ids, rule ids, fixed outcome and error-code vocabularies), never from keys, ARNs or messages,
  and every known label value is initialised to 0 at build time so dashboards and ``rate()`` see the
  series before the first event.
* **Mirror counters**: one counter family per CloudWatch metric a rule's metric filter defines, named
  after namespace and metric name (``LogMetrics``/``UnauthorizedAPICalls`` ->
  ``logmetrics_unauthorized_api_calls_total``), incremented by the metric value exactly as CloudWatch
  would sum it, so ``increase(...[5m])`` equals the CloudWatch ``Sum`` over a 5-minute period.

A registry is injected so tests (and a reload that rebuilds mirrors) never fight over the global one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

OBJECT_RESULTS = ("ok", "skipped", "decode_error", "fetch_error", "duplicate")
SQS_OUTCOMES = ("received", "deleted", "released", "left_for_dlq", "ignored", "rejected")
ALERT_OUTCOMES = ("published", "retried", "rejected", "deduplicated")
STAGES = ("fetch", "decode", "evaluate", "deliver", "acknowledge", "source", "state")
DELAY_ORIGINS = ("event_time", "object_created")
# Alerts arrive minutes after the API call (CloudTrail delivers ~5 min after the call, up to 15+).
DELAY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, float("inf"))


def snake_case(name: str) -> str:
    """``UnauthorizedAPICalls`` -> ``unauthorized_api_calls``; any other character becomes ``_``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s or "unnamed"


def mirror_metric_name(namespace: str, name: str) -> str:
    """The Prometheus counter name (without ``_total``) mirroring a CloudWatch metric."""
    # The namespace is lower-cased as one word, as in the example: LogMetrics -> logmetrics.
    ns = re.sub(r"[^a-z0-9]+", "_", namespace.lower()).strip("_")
    full = f"{ns}_{snake_case(name)}" if ns else snake_case(name)
    return full if re.match(r"[a-zA-Z_]", full) else f"m_{full}"


@dataclass(frozen=True, slots=True)
class MirrorSpec:
    """One mirrored CloudWatch metric: its family name and its label (dimension) names."""

    namespace: str
    name: str
    dimensions: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return mirror_metric_name(self.namespace, self.name)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(snake_case(d) for d in self.dimensions)


class Metrics:
    """Self-telemetry families, created once per registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.objects = Counter(
            "trailwatchd_objects_processed_total",
            "Objects finished, by source and result.",
            ["source", "result"],
            registry=r,
        )
        self.events = Counter(
            "trailwatchd_events_processed_total", "CloudTrail records evaluated.", ["source"], registry=r
        )
        self.events_skipped = Counter(
            "trailwatchd_events_skipped_total",
            "Records not evaluated (oversize as CloudWatch does, duplicate eventID).",
            ["source", "reason"],
            registry=r,
        )
        self.bytes_read = Counter(
            "trailwatchd_bytes_read_total", "Object bytes read (compressed).", ["source"], registry=r
        )
        self.errors = Counter(
            "trailwatchd_errors_total",
            "Errors by pipeline stage and bounded error code.",
            ["stage", "code"],
            registry=r,
        )
        self.sqs_messages = Counter(
            "trailwatchd_sqs_messages_total", "SQS messages by outcome.", ["source", "outcome"], registry=r
        )
        self.alerts = Counter(
            "trailwatchd_alerts_total",
            "Alert deliveries by sink and outcome.",
            ["sink", "outcome"],
            registry=r,
        )
        self.rule_matches = Counter(
            "trailwatchd_rule_matches_total", "Events matched, by rule id.", ["rule"], registry=r
        )
        self.spool_depth = Gauge(
            "trailwatchd_alerts_spooled", "Alerts waiting in the durable spool.", registry=r
        )
        self.queue_depth = Gauge(
            "trailwatchd_queue_depth", "Items waiting in a pipeline stage queue.", ["queue"], registry=r
        )
        self.in_flight = Gauge(
            "trailwatchd_objects_in_flight",
            "Work items received and not yet acknowledged.",
            ["source"],
            registry=r,
        )
        self.newest_event = Gauge(
            "trailwatchd_newest_event_timestamp_seconds",
            "eventTime of the newest record processed (alert on time() - this).",
            registry=r,
        )
        self.delay = Histogram(
            "trailwatchd_alert_delay_seconds",
            "Delay from eventTime / S3 object creation to alert delivery.",
            ["origin"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.rule_info = Gauge(
            "trailwatchd_rule_info",
            "1 for each enabled rule, labelled with its severity (join on rule for per-severity views).",
            ["rule", "severity"],
            registry=r,
        )
        self.rules_loaded = Gauge(
            "trailwatchd_rules_loaded", "Enabled rules in the active rule set.", registry=r
        )
        self.config_info = Info(
            "trailwatchd_config", "Digest of the active configuration and rule set.", registry=r
        )
        self.reloads = Counter(
            "trailwatchd_config_reloads_total", "Configuration reloads by result.", ["result"], registry=r
        )
        self.last_reload = Gauge(
            "trailwatchd_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            registry=r,
        )
        self.pruned = Counter(
            "trailwatchd_state_pruned_rows_total",
            "Rows deleted from the state store by the periodic prune.",
            ["table"],
            registry=r,
        )
        self.extraction_failures = Counter(
            "trailwatchd_metric_extraction_failures_total",
            "Matches whose metric value field was missing or not numeric.",
            ["rule"],
            registry=r,
        )
        self.s3_list_requests = Counter(
            "trailwatchd_s3_list_requests_total",
            "S3 ListObjectsV2 requests made by the S3 poller (its listing cost).",
            ["source"],
            registry=r,
        )
        self.s3_objects = Counter(
            "trailwatchd_s3_objects_discovered_total",
            "Objects the S3 poller found for the first time, by kind (only log files are read).",
            ["source", "kind"],
            registry=r,
        )
        for origin in DELAY_ORIGINS:
            self.delay.labels(origin)
        for stage in STAGES:
            self.errors.labels(stage, "none")
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)

    def init_source(self, source_id: str, *, sqs: bool = False) -> None:
        """Create every series of one source at 0."""
        for result in OBJECT_RESULTS:
            self.objects.labels(source_id, result)
        self.events.labels(source_id)
        self.bytes_read.labels(source_id)
        self.in_flight.labels(source_id)
        for reason in ("oversize", "duplicate"):
            self.events_skipped.labels(source_id, reason)
        if sqs:
            for outcome in SQS_OUTCOMES:
                self.sqs_messages.labels(source_id, outcome)

    def init_sink(self, sink_id: str) -> None:
        """Create every series of one sink at 0."""
        for outcome in ALERT_OUTCOMES:
            self.alerts.labels(sink_id, outcome)

    def init_rules(self, rule_ids: Iterable[str]) -> None:
        """Create ``trailwatchd_rule_matches_total`` at 0 for every rule."""
        for rule_id in rule_ids:
            self.rule_matches.labels(rule_id)
            self.extraction_failures.labels(rule_id)

    def set_rule_info(self, rules: Iterable[tuple[str, str]]) -> None:
        """Publish (rule id, severity) of the enabled rules; a reload replaces the whole set."""
        self.rule_info.clear()
        for rule_id, severity in rules:
            self.rule_info.labels(rule_id, severity).set(1)

    def mark_reload(
        self, result: str, *, config_digest: str = "", rules_digest: str = "", now: float | None = None
    ) -> None:
        """Count a load or reload by result; on success publish the active config and rule-set hashes.

        The startup load counts as a success, so ``time() - last_success`` is always defined.
        """
        self.reloads.labels(result).inc()
        if result == "success":
            self.config_info.info({"config_sha256": config_digest, "rules_sha256": rules_digest})
            self.last_reload.set(now if now is not None else time.time())


RELOAD_RESULTS = ("success", "failure", "refused")


class MirrorCounters:
    """The CloudWatch-mirroring counter families for one rule set.

    Families are registered on the shared registry; :meth:`replace` swaps them on reload so a rule whose
    metric changed leaves no conflicting family behind while unchanged families keep their counts.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._families: dict[str, tuple[MirrorSpec, Counter]] = {}

    def check(self, specs: Sequence[MirrorSpec]) -> dict[str, MirrorSpec]:
        """The families ``specs`` need; ValueError if two rules give one metric different dimensions or a
        family would collide with another registered metric. Changes nothing (a reload checks first)."""
        wanted: dict[str, MirrorSpec] = {}
        for spec in specs:
            other = wanted.get(spec.family)
            if other is not None and other.labels != spec.labels:
                raise ValueError(
                    f"metric {spec.namespace}/{spec.name} is defined twice with different dimensions "
                    f"({', '.join(other.dimensions) or 'none'} vs {', '.join(spec.dimensions) or 'none'})"
                )
            wanted[spec.family] = spec
        taken = getattr(self.registry, "_names_to_collectors", {})
        mine = {id(counter) for _, counter in self._families.values()}
        for family, spec in wanted.items():
            for name in (family, f"{family}_total", f"{family}_created"):
                owner = taken.get(name)
                if owner is not None and id(owner) not in mine:
                    raise ValueError(
                        f"metric {spec.namespace}/{spec.name} would be exported as {family}, which is "
                        "already a trailwatchd metric; rename the metric"
                    )
        return wanted

    def replace(self, specs: Sequence[MirrorSpec]) -> None:
        """Make the registered families exactly ``specs``; keep the ones that did not change."""
        wanted = self.check(specs)
        for family, (spec, counter) in list(self._families.items()):
            if family not in wanted or wanted[family].labels != spec.labels:
                self.registry.unregister(counter)
                del self._families[family]
        for family, spec in wanted.items():
            if family in self._families:
                continue
            counter = Counter(
                family,
                f"Mirror of CloudWatch metric {spec.namespace}/{spec.name}.",
                list(spec.labels),
                registry=self.registry,
            )
            if not spec.labels:
                counter.inc(0)
            self._families[family] = (spec, counter)

    def inc(
        self, namespace: str, name: str, value: float, dimensions: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Add one datapoint's value (CloudWatch sums metric-filter values per period)."""
        entry = self._families.get(mirror_metric_name(namespace, name))
        if entry is None:
            return
        _, counter = entry
        if dimensions:
            counter.labels(*(v for _, v in dimensions)).inc(value)
        else:
            counter.inc(value)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted(self._families))
