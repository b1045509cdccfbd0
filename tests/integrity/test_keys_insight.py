"""Key providers (AWS ListPublicKeys through a fake client, file), PKCS#1 and SPKI keys, and Insight
files flowing through the pipeline as events rules can match."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry

from tests.integrity.trail import fingerprint, new_key, public_der
from tests.unit.test_pipeline import FakeSink, FakeSource, RecordingAck
from trailwatchd.engine import Snapshot
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError
from trailwatchd.integrity.digest import load_public_key
from trailwatchd.integrity.keys import AwsKeyProvider
from trailwatchd.metrics import Metrics, MirrorCounters
from trailwatchd.model import ObjectRef
from trailwatchd.pipeline import Pipeline, PipelineSettings
from trailwatchd.rules import RuleSet
from trailwatchd.sources.base import WorkItem
from trailwatchd.state import AsyncStateStore

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


class FakeCloudTrail:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    async def list_public_keys(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.pages[len(self.calls) - 1] if len(self.calls) <= len(self.pages) else {}


async def test_aws_provider_pages_caches_and_is_per_region() -> None:
    k1, k2 = new_key(), new_key()
    fake = FakeCloudTrail(
        [
            {"PublicKeyList": [{"Value": public_der(k1), "Fingerprint": "x"}], "NextToken": "t"},
            {"PublicKeyList": [{"Value": public_der(k2), "Fingerprint": "y"}]},
        ]
    )
    regions: list[str] = []

    async def client_for(region: str) -> Any:
        regions.append(region)
        return fake

    provider = AwsKeyProvider(client_for)
    got = await provider.get("us-east-2", fingerprint(k2), WHEN)
    assert got is not None and got.public_numbers() == k2.public_key().public_numbers()
    assert fake.calls[1]["NextToken"] == "t" and fake.calls[0]["StartTime"] == WHEN
    again = await provider.get("us-east-2", fingerprint(k2), WHEN)  # cached: no new call
    assert again is got and len(fake.calls) == 2
    assert await provider.get("eu-west-1", fingerprint(k2), WHEN) is None  # another region's keys
    assert regions == ["us-east-2", "eu-west-1"]


def test_pkcs1_and_spki_keys_load() -> None:
    key = new_key().public_key()
    for fmt in (serialization.PublicFormat.PKCS1, serialization.PublicFormat.SubjectPublicKeyInfo):
        der = key.public_bytes(serialization.Encoding.DER, fmt)
        assert load_public_key(der).public_numbers() == key.public_numbers()


async def test_insight_file_is_evaluated_as_events(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "insight-start"\nseverity = "warning"\n'
        'pattern = \'{ $.eventCategory = "Insight" && $.insightDetails.state = "Start" && '
        '$.insightDetails.insightType = "ApiCallRateInsight" }\'\n'
    )
    snap = Snapshot.of(RuleSet.load([rules]))
    body = (Path(__file__).parent / "data" / "cloudtrail-insight-file_example.json").read_bytes()
    key = (
        "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2019/11/14/"
        "123456789012_CloudTrail-Insight_us-east-1_20191114T0055Z_EXAMPLEabcdEXAMPLE.json.gz"
    )
    state = AsyncStateStore(tmp_path / "s.db")
    await state.__aenter__()
    metrics = Metrics(CollectorRegistry())
    sink = FakeSink("out")
    pipe = Pipeline(
        snapshot=lambda: snap,
        sources={"fake": FakeSource({key: gzip.compress(body)})},
        sinks={"out": sink},
        state=state,
        metrics=metrics,
        mirrors=MirrorCounters(metrics.registry),
        settings=PipelineSettings(default_sinks=("out",)),
    )
    ack = RecordingAck()
    deliver = asyncio.create_task(pipe.deliver_loop("out", idle_secs=0.01))
    try:
        await asyncio.wait_for(
            pipe.process(WorkItem("fake", (ObjectRef("fake", key, bucket="b"),), ack, label="i")), 10
        )
    finally:
        deliver.cancel()
        await asyncio.gather(deliver, return_exceptions=True)
    assert ack.events == [("commit", None)]
    assert [a.rule_id for a in sink.delivered] == ["insight-start"]  # the Start record, not the End one
    assert sink.delivered[0].body["summary"].startswith("CloudTrail Insight ApiCallRateInsight Start")
    await state.close()


async def test_aws_provider_errors_become_fetch_errors() -> None:
    class Failing:
        def __init__(self, code: str, status: int) -> None:
            self.code, self.status = code, status

        async def list_public_keys(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": "m"},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                },
                "ListPublicKeys",
            )

    for code, status, cls in (
        ("ThrottlingException", 400, TemporaryFetchError),
        ("AccessDenied", 403, PermanentFetchError),
    ):
        failing = Failing(code, status)

        async def client_for(region: str, f: Failing = failing) -> Any:
            return f

        try:
            await AwsKeyProvider(client_for).get("us-east-1", "ab", WHEN)
        except cls as err:
            assert "ListPublicKeys us-east-1" in str(err)
        else:
            raise AssertionError("no error raised")
