"""AWS error classification: what is retried, what parks input, and the bounded codes operators see."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from trailwatchd.aws import classify_client_error


def client_error(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("SlowDown", 503), (True, "throttling")),
        (client_error("ThrottlingException", 400), (True, "throttling")),
        (client_error("BadGateway", 502), (True, "server_error")),
        (client_error("NoSuchKey", 404), (False, "not_found")),
        (client_error("AccessDenied", 403), (False, "access_denied")),
        (client_error("KMS.AccessDeniedException", 400), (False, "kms_denied")),
        # Stale or missing credentials are our problem, not the object's: retry, never DLQ good input.
        (client_error("ExpiredToken", 400), (True, "credentials")),
        (client_error("ExpiredTokenException", 400), (True, "credentials")),
        (client_error("InvalidClientTokenId", 403), (True, "credentials")),
        (client_error("SignatureDoesNotMatch", 403), (True, "credentials")),
        (NoCredentialsError(), (True, "credentials")),
        (PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), (True, "credentials")),
        (CredentialRetrievalError(provider="sts", error_msg="boom"), (True, "credentials")),
        (EndpointConnectionError(endpoint_url="http://x"), (True, "network")),
        (ParamValidationError(report="bad"), (False, "invalid_request")),
        (ValueError("bug"), (False, "unexpected")),
    ],
)
def test_classification(exc: BaseException, expected: tuple[bool, str]) -> None:
    assert classify_client_error(exc) == expected
