"""Build a CloudTrail trail signed exactly as CloudTrail does: log files, hourly digests in a chain
(``previousDigest*``), empty and ``_backfill`` digests, ``signature`` metadata, and the public key as
``ListPublicKeys`` returns it. Writes into any ``ObjectStore``-like dict or S3 client."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCOUNT = "111122223333"
REGION = "us-east-2"
TRAIL = "main-trail"
BUCKET = "trail-bucket"
T0 = datetime(2026, 11, 1, 0, 1, 31, tzinfo=UTC)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    return hashlib.md5(public_der(key)).hexdigest()


def public_key_list(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """What ``aws cloudtrail list-public-keys`` prints (base64 values)."""
    return {
        "PublicKeyList": [
            {"Value": base64.b64encode(public_der(key)).decode(), "Fingerprint": fingerprint(key)}
        ]
    }


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Trail:
    key: rsa.RSAPrivateKey
    prefix: str = ""
    objects: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    digests: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    _prev: tuple[str, str, str] | None = None  # key, sha256 of raw, signature
    _n: int = 0

    def log_key(self, at: datetime) -> str:
        self._n += 1
        return (
            f"{self.prefix}AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{at:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{REGION}_{at:%Y%m%dT%H%M}Z_file{self._n:04d}.json.gz"
        )

    def add_log(self, at: datetime, events: int = 2) -> tuple[str, bytes]:
        records = [
            {
                "eventVersion": "1.08",
                "eventTime": ts(at - timedelta(minutes=1)),
                "eventSource": "iam.amazonaws.com",
                "eventName": "ListUsers",
                "awsRegion": REGION,
                "eventID": f"evt-{self._n + 1}-{i}",
                "recipientAccountId": ACCOUNT,
            }
            for i in range(events)
        ]
        raw = json.dumps({"Records": records}).encode()
        key = self.log_key(at)
        self.objects[key] = (gzip.compress(raw), {})
        self.logs.append(key)
        return key, raw

    def add_digest(
        self,
        end: datetime,
        files: list[tuple[str, bytes]],
        *,
        backfill: bool = False,
        start_chain: bool = False,
    ) -> str:
        name = f"{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{end:%Y%m%dT%H%M%S}Z"
        name += "_backfill.json.gz" if backfill else ".json.gz"
        key = f"{self.prefix}AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{end:%Y/%m/%d}/{name}"
        prev = None if (start_chain or backfill) else self._prev
        doc = {
            "awsAccountId": ACCOUNT,
            "digestStartTime": ts(end - timedelta(hours=1)),
            "digestEndTime": ts(end),
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": fingerprint(self.key),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": ts(end - timedelta(minutes=5)) if files else None,
            "oldestEventTime": ts(end - timedelta(minutes=50)) if files else None,
            "previousDigestS3Bucket": BUCKET if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": prev[1] if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": [
                {
                    "s3Bucket": BUCKET,
                    "s3Object": k,
                    "hashValue": hashlib.sha256(raw).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": ts(end - timedelta(minutes=5)),
                    "oldestEventTime": ts(end - timedelta(minutes=50)),
                }
                for k, raw in files
            ],
        }
        raw = json.dumps(doc, indent=2).encode()
        to_sign = (
            f"{ts(end)}\n{BUCKET}/{key}\n{hashlib.sha256(raw).hexdigest()}\n{prev[2] if prev else 'null'}"
        ).encode()
        sig = self.key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()).hex()
        self.objects[key] = (gzip.compress(raw), {"signature": sig, "signature-algorithm": "SHA256withRSA"})
        self.digests.append(key)
        if not backfill:
            self._prev = (key, hashlib.sha256(raw).hexdigest(), sig)
        return key


def standard_trail(key: rsa.RSAPrivateKey | None = None, prefix: str = "") -> Trail:
    """Four hours: a starting digest, a normal one (two files), an empty one, a normal one, and a
    backfill digest listing a late file."""
    trail = Trail(key or new_key(), prefix)
    d1 = [trail.add_log(T0 - timedelta(minutes=30))]
    trail.add_digest(T0, d1)
    h1 = T0 + timedelta(hours=1)
    trail.add_digest(
        h1, [trail.add_log(h1 - timedelta(minutes=40)), trail.add_log(h1 - timedelta(minutes=10))]
    )
    h2 = T0 + timedelta(hours=2)
    trail.add_digest(h2, [])
    h3 = T0 + timedelta(hours=3)
    late = trail.add_log(h1 - timedelta(minutes=20))
    trail.add_digest(h3, [trail.add_log(h3 - timedelta(minutes=15))])
    trail.add_digest(h3 + timedelta(minutes=7), [late], backfill=True)
    return trail
