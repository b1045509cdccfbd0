"""The S3 access seam: list keys under a prefix, get an object's bytes and user metadata.

The verifier needs only these calls (list, get, and head for a file whose hash the pipeline recorded),
so it runs unchanged against S3 (aiobotocore, ``S3Store``), an in-memory map (unit tests) or anything
else that can list and read. ``get`` returns ``None`` for a missing object (validate-logs: "not found");
other errors raise ``trailwatchd.errors`` fetch errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from trailwatchd.aws import classify_client_error, get_object_bytes
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError

MAX_OBJECT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's stored bytes (as in S3, possibly gzip) and its user metadata (``x-amz-meta-*``)."""

    data: bytes
    metadata: Mapping[str, str]
    etag: str | None = None


class ObjectStore(Protocol):
    async def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    async def get(self, bucket: str, key: str) -> StoredObject | None: ...

    async def head(self, bucket: str, key: str) -> str | None:
        """The object's ETag ("" when the store has none), ``None`` when it does not exist."""
        ...


@dataclass
class MemoryStore:
    """A dict-backed store: ``objects[(bucket, key)] = StoredObject``."""

    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    gets: int = 0
    """How many ``get`` calls (downloads) were made."""

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    async def get(self, bucket: str, key: str) -> StoredObject | None:
        self.gets += 1
        return self.objects.get((bucket, key))

    async def head(self, bucket: str, key: str) -> str | None:
        obj = self.objects.get((bucket, key))
        return None if obj is None else (obj.etag or "")


@dataclass
class S3Store:
    """``ObjectStore`` over an aiobotocore S3 client."""

    s3: Any
    max_object_bytes: int = MAX_OBJECT_BYTES

    async def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        except Exception as exc:
            temporary, code = classify_client_error(exc)
            cls = TemporaryFetchError if temporary else PermanentFetchError
            raise cls(f"s3://{bucket}/{prefix}", f"listing failed: {exc}", code=code) from exc
        return keys

    async def head(self, bucket: str, key: str) -> str | None:
        try:
            head = await self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            temporary, code = classify_client_error(exc)
            if code == "not_found":
                return None
            cls = TemporaryFetchError if temporary else PermanentFetchError
            raise cls(f"s3://{bucket}/{key}", str(exc), code=code) from exc
        return str(head.get("ETag") or "").strip('"')

    async def get(self, bucket: str, key: str) -> StoredObject | None:
        try:
            head = await self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            temporary, code = classify_client_error(exc)
            if code == "not_found":
                return None
            cls = TemporaryFetchError if temporary else PermanentFetchError
            raise cls(f"s3://{bucket}/{key}", str(exc), code=code) from exc
        try:
            data = await get_object_bytes(self.s3, bucket, key, max_bytes=self.max_object_bytes)
        except PermanentFetchError as err:
            if err.code == "not_found":
                return None
            raise
        etag = str(head.get("ETag") or "").strip('"') or None
        return StoredObject(data, dict(head.get("Metadata") or {}), etag)
