"""AWS access: aiobotocore clients on an AsyncExitStack, and the one place errors are classified.

Every AWS error trailwatchd sees is mapped here to "temporary" (retry with backoff: throttling, 5xx,
timeouts, connection errors) or "permanent" (retrying the same request cannot help: missing objects,
access or KMS denials, invalid parameters), with a short bounded code that is safe as a metric label.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from trailwatchd.config import AwsConfig
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError

# Error codes that mean "slow down / try again" (botocore retry docs; SNS ThrottledException, S3 SlowDown).
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "SlowDown",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottledException",
        "KMS.ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchBucket", "NoSuchVersion"})
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "Forbidden",
        "403",
    }
)
# Our own credentials are wrong or stale: nothing is wrong with the object or message, so retry (the
# credential chain refreshes role and IMDS credentials) instead of parking good input in a DLQ.
CREDENTIALS = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "RequestExpired",
        "TokenRefreshRequired",
    }
)


def classify_client_error(exc: BaseException) -> tuple[bool, str]:
    """(temporary?, bounded code) for any exception raised by an AWS call."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(err.get("Message", "") or "")
        if code in THROTTLING or status == 429 or status >= 500:
            return True, "throttling" if (code in THROTTLING or status == 429) else "server_error"
        if code in CREDENTIALS:
            return True, "credentials"
        if code in NOT_FOUND or status == 404:
            return False, "not_found"
        if "KMS" in code or "KMS" in message or "kms" in message:
            return False, "kms_denied"
        if code in DENIED or status == 403:
            return False, "access_denied"
        return False, "invalid_request"
    if isinstance(exc, ParamValidationError):
        return False, "invalid_request"  # we built the request wrongly: retrying cannot help
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return True, "credentials"
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return True, "network"
    if isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError):
        return True, "network"
    return False, "unexpected"


class Backoff:
    """Capped exponential backoff with full jitter (AWS Architecture Blog: Exponential Backoff And Jitter)."""

    def __init__(
        self,
        base_secs: float = 1.0,
        cap_secs: float = 60.0,
        *,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base = base_secs
        self.cap = cap_secs
        self.rand = rand
        self.sleep = sleep
        self.attempts = 0

    def delay(self) -> float:
        return float(self.rand() * min(self.cap, self.base * (2 ** min(self.attempts, 20))))

    async def wait(self) -> None:
        delay = self.delay()
        self.attempts += 1
        await self.sleep(delay)

    def reset(self) -> None:
        self.attempts = 0


class AwsClients:
    """Lazily created, cached aiobotocore clients, closed together on exit."""

    def __init__(self, config: AwsConfig, *, max_pool_connections: int = 50) -> None:
        self.config = config
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._session = get_session()
        if config.profile:
            self._session.set_config_variable("profile", config.profile)
        self._aio_config = AioConfig(
            max_pool_connections=max_pool_connections, retries={"max_attempts": 3, "mode": "standard"}
        )

    async def get(self, service: str) -> Any:
        """The client for ``service`` ("s3", "sqs", "sns"), created on first use."""
        async with self._lock:
            client = self._clients.get(service)
            if client is None:
                kwargs: dict[str, Any] = {"config": self._aio_config}
                if self.config.region:
                    kwargs["region_name"] = self.config.region
                if self.config.endpoint_url:
                    kwargs["endpoint_url"] = self.config.endpoint_url
                client = await self._stack.enter_async_context(self._session.create_client(service, **kwargs))
                self._clients[service] = client
            return client

    async def __aenter__(self) -> AwsClients:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()
        self._clients.clear()


async def get_object_bytes(
    s3: Any, bucket: str, key: str, *, max_bytes: int, expected_bucket_owner: str | None = None
) -> bytes:
    """GetObject with a size cap, errors mapped to Temporary/PermanentFetchError with a fix in the text."""
    name = f"s3://{bucket}/{key}"
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if expected_bucket_owner:
        kwargs["ExpectedBucketOwner"] = expected_bucket_owner
    try:
        resp = await s3.get_object(**kwargs)
        length = int(resp.get("ContentLength") or 0)
        if length > max_bytes:
            resp["Body"].close()
            raise PermanentFetchError(
                name, f"object is {length} bytes, over max_object_bytes ({max_bytes})", code="too_large"
            )
        async with resp["Body"] as body:
            chunks: list[bytes] = []
            total = 0
            while chunk := await body.read(1024 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise PermanentFetchError(
                        name, f"object exceeds max_object_bytes ({max_bytes})", code="too_large"
                    )
                chunks.append(chunk)
        return b"".join(chunks)
    except (PermanentFetchError, TemporaryFetchError):
        raise
    except Exception as exc:
        temporary, code = classify_client_error(exc)
        hint = {
            "not_found": "the object no longer exists (deleted or moved before it was read)",
            "access_denied": "the role needs s3:GetObject on this key (and the bucket owner must match "
            "expected_bucket_owner)",
            "kms_denied": "the role needs kms:Decrypt on the trail's KMS key",
        }.get(code, str(exc))
        cls = TemporaryFetchError if temporary else PermanentFetchError
        raise cls(name, hint, code=code) from exc
