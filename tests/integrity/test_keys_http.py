"""The real aiobotocore key provider against a loopback CloudTrail ``ListPublicKeys`` stand-in over HTTP.

moto does not implement ``ListPublicKeys``, so this aiohttp server speaks the CloudTrail JSON 1.1 protocol
for that one operation (``X-Amz-Target: <targetPrefix>.ListPublicKeys``; the response shape is
botocore's service model: ``PublicKeyList[]`` with ``Value`` as base64 DER, validity times as epoch
seconds, ``Fingerprint``, and ``NextToken`` pagination). It filters keys by validity overlap with the
requested ``StartTime``/``EndTime`` the way CloudTrail documents, so the provider's parameters matter.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integrity.trail import fingerprint, new_key, public_der
from trailwatchd.config import AwsConfig
from trailwatchd.errors import TemporaryFetchError
from trailwatchd.integrity.cli import regional_cloudtrail
from trailwatchd.integrity.keys import AwsKeyProvider

WHEN = datetime(2026, 11, 1, 5, tzinfo=UTC)
TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys"  # the model's targetPrefix


@dataclass
class StandIn:
    """Keys per region with validity windows; records every request it answers."""

    keys: dict[str, list[tuple[rsa.RSAPrivateKey, datetime, datetime]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    throttle_next: int = 0
    page_size: int = 1

    async def handle(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        body = json.loads(await request.read() or b"{}")
        # SigV4 scope: .../<date>/<region>/cloudtrail/aws4_request names the region the client is for.
        auth = request.headers.get("Authorization", "")
        region = auth.split("Credential=", 1)[1].split("/")[2] if "Credential=" in auth else "?"
        self.requests.append({"target": target, "region": region, **body})
        if request.headers.get("Content-Type") != "application/x-amz-json-1.1" or target != TARGET:
            return _error(400, "UnknownOperationException", f"stand-in only serves {TARGET}")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return _error(400, "ThrottlingException", "Rate exceeded")
        start = datetime.fromtimestamp(body["StartTime"], UTC) if "StartTime" in body else None
        end = datetime.fromtimestamp(body["EndTime"], UTC) if "EndTime" in body else None
        now = WHEN + timedelta(days=30)
        matching = [
            (key, vs, ve)
            for key, vs, ve in self.keys.get(region, [])
            if (start is None and end is None and vs <= now < ve)  # no range: the active keys
            or (start is not None and ve > start and (end is None or vs < end))
        ]
        offset = int(body.get("NextToken", "0"))
        page = matching[offset : offset + self.page_size]
        out: dict[str, Any] = {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(public_der(key)).decode(),
                    "ValidityStartTime": vs.timestamp(),
                    "ValidityEndTime": ve.timestamp(),
                    "Fingerprint": fingerprint(key),
                }
                for key, vs, ve in page
            ]
        }
        if offset + self.page_size < len(matching):
            out["NextToken"] = str(offset + self.page_size)
        return web.Response(body=json.dumps(out).encode(), content_type="application/x-amz-json-1.1")


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"__type": code, "message": message}).encode()
    return web.Response(
        status=status,
        body=body,
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-ErrorType": code},
    )


@pytest.fixture
async def standin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[StandIn, str]]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    state = StandIn()
    app = web.Application()
    app.router.add_post("/", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def provider(standin: tuple[StandIn, str]) -> AsyncIterator[AwsKeyProvider]:
    async with AsyncExitStack() as stack:
        yield AwsKeyProvider(
            regional_cloudtrail(stack, AwsConfig(region="us-east-1", endpoint_url=standin[1]))
        )


def _same(got: rsa.RSAPublicKey | None, want: rsa.RSAPrivateKey) -> bool:
    return got is not None and got.public_numbers() == want.public_key().public_numbers()


async def test_fetches_over_http_with_time_range_and_pages(
    standin: tuple[StandIn, str], provider: AwsKeyProvider
) -> None:
    server, _ = standin
    old, current, other = new_key(), new_key(), new_key()
    server.keys["us-east-2"] = [
        (old, WHEN - timedelta(days=60), WHEN - timedelta(days=10)),  # expired before WHEN: not returned
        (other, WHEN - timedelta(days=5), WHEN + timedelta(days=400)),
        (current, WHEN - timedelta(days=1), WHEN + timedelta(days=400)),
    ]
    got = await provider.get("us-east-2", fingerprint(current), WHEN)
    assert _same(got, current)
    calls = [r for r in server.requests if r["target"] == TARGET]
    assert [r["region"] for r in calls] == ["us-east-2", "us-east-2"]  # the digest's region, two pages
    assert calls[0]["StartTime"] == WHEN.timestamp()
    assert calls[0]["EndTime"] == (WHEN + timedelta(days=20)).timestamp()
    assert "NextToken" not in calls[0] and calls[1]["NextToken"] == "1"
    # Both pages' keys are cached by fingerprint: neither lookup goes back to the server.
    assert _same(await provider.get("us-east-2", fingerprint(other), WHEN), other)
    assert _same(await provider.get("us-east-2", fingerprint(current), WHEN), current)
    assert len(server.requests) == 2
    # Keys are per region: the same fingerprint in another region is asked for there (and not found).
    assert await provider.get("eu-west-1", fingerprint(current), WHEN) is None
    assert {r["region"] for r in server.requests[2:]} == {"eu-west-1"}


async def test_falls_back_to_active_keys_and_reports_unknown(
    standin: tuple[StandIn, str], provider: AwsKeyProvider
) -> None:
    server, _ = standin
    active = new_key()
    # Valid only from 25 days after the digest: outside [when, when + 20d], found by the no-range call.
    server.keys["us-east-1"] = [(active, WHEN + timedelta(days=25), WHEN + timedelta(days=400))]
    assert _same(await provider.get("us-east-1", fingerprint(active), WHEN), active)
    assert "StartTime" in server.requests[0] and "StartTime" not in server.requests[1]
    server.requests.clear()
    assert await provider.get("us-east-1", fingerprint(new_key()), WHEN) is None  # unknown: None, no error
    assert len(server.requests) == 2


async def test_throttling_is_temporary_and_retried(
    standin: tuple[StandIn, str], provider: AwsKeyProvider
) -> None:
    server, _ = standin
    key = new_key()
    server.keys["us-east-1"] = [(key, WHEN - timedelta(days=1), WHEN + timedelta(days=400))]
    server.throttle_next = 1  # one throttled answer: botocore's standard retry absorbs it
    assert _same(await provider.get("us-east-1", fingerprint(key), WHEN), key)
    assert len(server.requests) == 2
    server.throttle_next = 10  # throttled beyond the retry budget: a temporary error, nothing cached
    server.requests.clear()
    with pytest.raises(TemporaryFetchError) as err:
        await provider.get("us-east-1", fingerprint(new_key()), WHEN)
    assert err.value.code == "throttling"
    assert len(server.requests) == 4  # retries={"max_attempts": 3} = 3 retries after the first try
