"""SNS sink with a fake client: subjects, attributes, size fitting, batch splitting, error mapping, FIFO."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given, settings
from hypothesis import strategies as st

from trailwatchd.alerts import build_alert
from trailwatchd.config import SnsSinkConfig
from trailwatchd.errors import PermanentDeliveryError, TemporaryDeliveryError
from trailwatchd.model import Alert
from trailwatchd.sinks.sns import (
    SnsSink,
    attributes_size,
    fifo_ids,
    fit_message,
    message_attributes,
    split_batches,
    subject_for,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
FIFO_TOPIC = TOPIC + ".fifo"
EVENT = {
    "eventID": "e-0",
    "eventName": "ConsoleLogin",
    "eventSource": "signin.amazonaws.com",
    "awsRegion": "eu-west-1",
    "recipientAccountId": "123456789012",
    "sourceIPAddress": "192.0.2.1",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory"},
    "requestParameters": None,
}


def make_alert(n: int = 0, *, rule_id: str = "r1", **event: Any) -> Alert:
    """An alert for a copy of EVENT with its own eventID and the given fields replaced."""
    return build_alert(
        rule_id=rule_id,
        title="Console login without MFA",
        severity="high",
        event={**EVENT, "eventID": f"e-{n}", **event},
        object_uri="s3://b/k.json.gz",
        matched_at=1_700_000_000.0,
    )


class FakeSns:
    """Records PublishBatch calls; fails entries or whole calls on demand."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.entry_failures: dict[int, dict[str, Any]] = {}  # global entry position -> Failed[] item
        self.raise_next: BaseException | None = None
        self.drop: set[int] = set()
        self._seen = 0

    async def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.raise_next is not None:
            exc, self.raise_next = self.raise_next, None
            raise exc
        ok, failed = [], []
        for entry in kwargs["PublishBatchRequestEntries"]:
            pos, self._seen = self._seen, self._seen + 1
            if pos in self.entry_failures:
                failed.append({"Id": entry["Id"], **self.entry_failures[pos]})
            elif pos not in self.drop:
                ok.append({"Id": entry["Id"], "MessageId": f"mid-{pos}"})
        return {"Successful": ok, "Failed": failed}

    def entries(self) -> list[dict[str, Any]]:
        return [e for call in self.calls for e in call["PublishBatchRequestEntries"]]


def sink(client: Any, **config: Any) -> SnsSink:
    """An SnsSink on TOPIC (or the given config values) around ``client``."""
    return SnsSink("sns", SnsSinkConfig(**{"topic_arn": TOPIC, **config}), client)


def client_error(code: str, status: int) -> ClientError:
    """A botocore ClientError as aiobotocore raises it."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PublishBatch",
    )


@pytest.mark.parametrize(
    ("prefix", "severity", "title", "expected"),
    [
        ("trailwatchd", "high", "Console login without MFA", "trailwatchd: high Console login without MFA"),
        ("tw", "critical", "Root\r\nBcc: evil@example.com", "tw: critical Root Bcc: evil@example.com"),
        ("tw", "high", "Café \u202eevil\x00 login", "tw: high Cafe evil login"),
        ("", "info", "  spaced\tout  ", "info spaced out"),
        ("tw", "high", "\U0001f6a8", "tw: high"),
    ],
    ids=["plain", "header-injection", "unicode-bidi-nul", "no-prefix", "emoji-only"],
)
def test_subject_is_one_printable_ascii_line(prefix: str, severity: str, title: str, expected: str) -> None:
    """Subjects are printable ASCII without line breaks or control characters, accents folded."""
    assert subject_for(prefix, severity, title) == expected


def test_subject_is_under_100_characters() -> None:
    """A long title is cut so the subject stays below SNS's 100-character limit, marked with '...'."""
    subject = subject_for("trailwatchd", "critical", "x" * 500)
    assert subject is not None and len(subject) == 99 and subject.endswith("...")
    assert subject_for("", "", "\x00\n") is None


def test_message_attributes_for_filter_policies() -> None:
    """rule_id, severity, account, region and event_name are String attributes; empty ones are omitted."""
    attrs = message_attributes(make_alert())
    assert attrs == {
        "rule_id": {"DataType": "String", "StringValue": "r1"},
        "severity": {"DataType": "String", "StringValue": "high"},
        "account": {"DataType": "String", "StringValue": "123456789012"},
        "region": {"DataType": "String", "StringValue": "eu-west-1"},
        "event_name": {"DataType": "String", "StringValue": "ConsoleLogin"},
    }
    sparse = message_attributes(make_alert(awsRegion="", recipientAccountId=None, userIdentity=None))
    assert set(sparse) == {"rule_id", "severity", "event_name"}
    expected = sum(len(k) + len("String") + len(v["StringValue"]) for k, v in attrs.items())
    assert attributes_size(attrs) == expected


def test_attribute_values_never_carry_surrogates() -> None:
    """A hand-made body with a lone surrogate yields an attribute SNS accepts (U+FFFD instead)."""
    alert = make_alert()
    body = {**alert.body, "where": {"region": "eu\ud800x"}}
    attrs = message_attributes(Alert("r1", "e", "high", "t", body))
    assert attrs["region"]["StringValue"] == "eu\ufffdx"


def test_small_message_is_sent_whole() -> None:
    """A message within the limit is the alert JSON unchanged, without event_truncated."""
    alert = make_alert()
    fitted = fit_message(alert.body, 262_144)
    assert fitted is not None
    data, truncated = fitted
    assert not truncated and json.loads(data) == json.loads(json.dumps(alert.body))


def test_bulky_fields_are_dropped_first() -> None:
    """An oversized requestParameters is removed before the event itself is cut."""
    alert = make_alert(requestParameters={"policy": "p" * 20_000}, responseElements={"x": 1})
    fitted = fit_message(alert.body, 8_000)
    assert fitted is not None
    data, truncated = fitted
    doc = json.loads(data)
    assert truncated and doc["event_truncated"] is True and len(data) <= 8_000
    assert "requestParameters" not in doc["event"] and "responseElements" not in doc["event"]
    assert doc["event"]["eventName"] == "ConsoleLogin" and doc["summary"] == alert.body["summary"]


def test_event_becomes_a_truncated_json_string_when_still_too_big() -> None:
    """When the rest of the event is too big, ``event`` is the longest fitting prefix of its JSON text."""
    alert = make_alert(additionalEventData={"blob": '"quoted\\' * 5_000})
    budget = 6_000
    fitted = fit_message(alert.body, budget)
    assert fitted is not None
    data, truncated = fitted
    doc = json.loads(data)
    assert truncated and isinstance(doc["event"], str) and len(data) <= budget
    assert len(data) > budget - 16  # the longest prefix: escaping may leave a byte or two unused
    full = json.dumps(alert.body["event"], separators=(",", ":"), ensure_ascii=False)
    assert full.startswith(doc["event"]) and len(doc["event"]) > 1_000


def test_nothing_fits_returns_none() -> None:
    """A body that is over budget even without its event cannot be fitted."""
    assert fit_message({"description": "d" * 5_000, "event": {"a": 1}}, 1_024) is None
    assert fit_message({"description": "d" * 5_000}, 1_024) is None  # include_event = false


@settings(max_examples=60, deadline=None)
@given(
    fields=st.dictionaries(st.text(max_size=8), st.text(max_size=3_000), max_size=6),
    budget=st.integers(min_value=300, max_value=12_000),
)
def test_fitted_message_is_valid_json_within_budget(fields: dict[str, str], budget: int) -> None:
    """Whatever the event holds (quotes, backslashes, any Unicode), the result is valid JSON <= budget."""
    fields = {k: v.encode("utf-8", "replace").decode() for k, v in fields.items()}
    body = {"summary": "s", "event": {"requestParameters": fields, **fields}}
    fitted = fit_message(body, budget)
    if fitted is None:
        assert len(json.dumps({"summary": "s", "event": "", "event_truncated": True})) > budget
        return
    data, _ = fitted
    assert len(data) <= budget
    assert json.loads(data)["summary"] == "s"


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "expected"),
    [
        ([1] * 25, 1_000, [list(range(10)), list(range(10, 20)), list(range(20, 25))]),
        ([400, 400, 400, 100], 1_000, [[0, 1], [2, 3]]),
        ([1_000, 1, 1_000], 1_000, [[0], [1], [2]]),
        ([], 1_000, []),
    ],
    ids=["by-count", "by-bytes", "full-entries", "empty"],
)
def test_split_batches(sizes: list[int], max_bytes: int, expected: list[list[int]]) -> None:
    """Batches hold at most 10 entries and at most max_bytes in total, in order."""
    assert split_batches(sizes, max_bytes=max_bytes) == expected


async def test_deliver_batches_with_valid_unique_ids() -> None:
    """25 alerts go out as 10+10+5 with entry ids of [A-Za-z0-9_-] up to 80 characters, unique per call."""
    fake = FakeSns()
    results = await sink(fake).deliver([make_alert(i) for i in range(25)])
    assert results == [None] * 25
    assert [len(c["PublishBatchRequestEntries"]) for c in fake.calls] == [10, 10, 5]
    for call in fake.calls:
        ids = [e["Id"] for e in call["PublishBatchRequestEntries"]]
        assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", i) for i in ids)
        assert call["TopicArn"] == TOPIC
    entry = fake.entries()[3]
    assert json.loads(entry["Message"])["event_id"] == "e-3"
    assert entry["Subject"] == "trailwatchd: high Console login without MFA"
    assert entry["MessageAttributes"]["rule_id"] == {"DataType": "String", "StringValue": "r1"}
    assert "MessageGroupId" not in entry


async def test_deliver_splits_by_total_size() -> None:
    """Big alerts are spread so no PublishBatch exceeds max_message_bytes in total."""
    fake = FakeSns()
    limit = 20_000
    alerts = [make_alert(i, additionalEventData={"pad": "x" * 6_000}) for i in range(6)]
    assert await sink(fake, max_message_bytes=limit).deliver(alerts) == [None] * 6
    assert len(fake.calls) > 1
    for call in fake.calls:
        total = sum(
            len(e["Message"].encode()) + len(e["Subject"]) + attributes_size(e["MessageAttributes"])
            for e in call["PublishBatchRequestEntries"]
        )
        assert total <= limit


async def test_oversized_alert_is_truncated_within_limit() -> None:
    """A 50 KB event on a 4 KiB limit goes out truncated: message plus attributes within the limit."""
    fake = FakeSns()
    big = make_alert(additionalEventData={"pad": "y" * 50_000})
    assert await sink(fake, max_message_bytes=4_096).deliver([big]) == [None]
    (entry,) = fake.entries()
    size = len(entry["Message"].encode()) + attributes_size(entry["MessageAttributes"])
    assert size + len(entry["Subject"]) <= 4_096
    doc = json.loads(entry["Message"])
    assert doc["event_truncated"] is True and doc["who"]["arn"].endswith("user/mallory")


async def test_unfittable_alert_is_permanent_and_others_still_go() -> None:
    """An alert too big even without its event is rejected permanently; its batch-mates are published."""
    fake = FakeSns()
    huge = build_alert(
        rule_id="r1", title="t", severity="high", description="d" * 10_000,
        event=EVENT, object_uri=None, matched_at=0.0,
    )  # fmt: skip
    results = await sink(fake, max_message_bytes=4_096).deliver([make_alert(1), huge, make_alert(2)])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], PermanentDeliveryError) and results[1].code == "message_too_large"
    assert len(fake.entries()) == 2


async def test_include_event_false_omits_event() -> None:
    """With include_event = false the message carries the summary sections but not the record."""
    fake = FakeSns()
    await sink(fake, include_event=False).deliver([make_alert()])
    doc = json.loads(fake.entries()[0]["Message"])
    assert "event" not in doc and doc["where"]["source_ip"] == "192.0.2.1"


async def test_per_entry_failures_map_to_temporary_or_permanent() -> None:
    """SenderFault means permanent unless it is throttling; server faults and silence are temporary."""
    fake = FakeSns()
    fake.entry_failures = {
        1: {"Code": "InvalidParameter", "Message": "bad", "SenderFault": True},
        2: {"Code": "InternalError", "Message": "oops", "SenderFault": False},
        3: {"Code": "Throttled", "Message": "slow down", "SenderFault": True},
    }
    fake.drop = {4}
    results = await sink(fake).deliver([make_alert(i) for i in range(5)])
    assert results[0] is None
    assert isinstance(results[1], PermanentDeliveryError) and results[1].code == "InvalidParameter"
    assert isinstance(results[2], TemporaryDeliveryError) and results[2].code == "InternalError"
    assert isinstance(results[3], TemporaryDeliveryError) and results[3].code == "Throttled"
    assert isinstance(results[4], TemporaryDeliveryError) and results[4].code == "no_result"
    assert "bad" in results[1].reason


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (client_error("NotFound", 404), PermanentDeliveryError, "not_found"),
        (client_error("AuthorizationError", 403), PermanentDeliveryError, "access_denied"),
        (client_error("KMSDisabled", 400), PermanentDeliveryError, "kms_denied"),
        (client_error("InvalidParameter", 400), PermanentDeliveryError, "invalid_request"),
        (client_error("Throttling", 400), TemporaryDeliveryError, "throttling"),
        (client_error("Unavailable", 503), TemporaryDeliveryError, "server_error"),
        (EndpointConnectionError(endpoint_url="http://x"), TemporaryDeliveryError, "network"),
        (TimeoutError(), TemporaryDeliveryError, "network"),
    ],
    ids=["not-found", "denied", "kms", "invalid", "throttled", "5xx", "no-connection", "timeout"],
)
async def test_whole_call_errors_apply_to_every_alert_of_the_batch(
    exc: BaseException, kind: type[Exception], code: str
) -> None:
    """A failed PublishBatch call yields the same error (aws.classify_client_error) for each alert."""
    fake = FakeSns()
    fake.raise_next = exc
    results = await sink(fake).deliver([make_alert(0), make_alert(1)])
    assert all(isinstance(r, kind) and r.code == code for r in results)
    assert results[0] is not None and TOPIC in results[0].reason


async def test_bugs_are_not_swallowed() -> None:
    """An exception that is not AWS trouble propagates instead of becoming a delivery error."""
    fake = FakeSns()
    fake.raise_next = KeyError("bug")
    with pytest.raises(KeyError):
        await sink(fake).deliver([make_alert()])


async def test_client_factory_is_awaited_lazily_and_its_errors_are_mapped() -> None:
    """A zero-argument async factory is accepted; a failing factory is a temporary error, not a crash."""
    fake = FakeSns()
    made: list[int] = []

    async def factory() -> FakeSns:
        made.append(1)
        return fake

    s = sink(factory)
    assert made == []
    assert await s.deliver([make_alert()]) == [None] and made == [1]

    async def broken() -> FakeSns:
        raise EndpointConnectionError(endpoint_url="http://sts")

    results = await sink(broken).deliver([make_alert()])
    assert isinstance(results[0], TemporaryDeliveryError)


async def test_fifo_topic_gets_group_and_deterministic_dedupe_ids() -> None:
    """On a .fifo topic each entry has MessageGroupId = rule id and a sha256 dedupe id per (rule, event)."""
    fake = FakeSns()
    s = sink(fake, topic_arn=FIFO_TOPIC)
    await s.deliver([make_alert(1), make_alert(1), make_alert(1, rule_id="r2")])
    first, again, other = fake.entries()
    expected = hashlib.sha256(b"r1\x00e-1").hexdigest()
    assert first["MessageGroupId"] == "r1" and first["MessageDeduplicationId"] == expected
    assert again["MessageDeduplicationId"] == expected
    assert other["MessageGroupId"] == "r2" and other["MessageDeduplicationId"] != expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_fifo_group_id_for_unusual_rule_ids() -> None:
    """A rule id SNS would refuse as a group id (spaces, too long) is replaced by a stable hash."""
    group, dedupe = fifo_ids("rule with spaces", "e")
    assert group.startswith("rule-") and re.fullmatch(r"[\x21-\x7e]{1,128}", group)
    assert fifo_ids("rule with spaces", "e") == (group, dedupe)
    assert fifo_ids("x" * 200, "e")[0] != "x" * 200


async def test_close_is_harmless() -> None:
    """close() does not touch the shared client."""
    fake = FakeSns()
    await sink(fake).close()
    assert fake.calls == []



class SlowSns(FakeSns):
    """A FakeSns whose calls take a while, recording how many overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.peak = 0

    async def publish_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.01)
            return await super().publish_batch(**kwargs)
        finally:
            self.active -= 1


@pytest.mark.parametrize(("topic", "concurrency", "peak"), [(TOPIC, 3, 3), (TOPIC, 1, 1), (FIFO_TOPIC, 4, 1)])
async def test_batches_overlap_up_to_the_limit_but_never_on_fifo_topics(
    topic: str, concurrency: int, peak: int
) -> None:
    """Standard topics get concurrent PublishBatch calls; a FIFO topic one at a time, in spool order."""
    client = SlowSns()
    sink = SnsSink("s", SnsSinkConfig(topic_arn=topic, max_concurrent_batches=concurrency), client)
    assert sink.batch_limit == 10 * peak
    alerts = [make_alert(n) for n in range(50)]
    results = await sink.deliver(alerts)
    assert results == [None] * 50
    assert client.peak == peak
    sent = sorted(json.loads(e["Message"])["event_id"] for e in client.entries())
    assert sent == sorted(f"e-{n}" for n in range(50))
    if topic == FIFO_TOPIC:
        in_order = [json.loads(e["Message"])["event_id"] for e in client.entries()]
        assert in_order == [f"e-{n}" for n in range(50)]
