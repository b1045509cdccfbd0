"""Digest files: parse, the exact string CloudTrail signs, RSA-SHA256 verification, hashes.

Pure functions (no I/O) so the daemon and the ``verify`` command share one implementation. The details
follow ``aws cloudtrail validate-logs`` (aws-formats.md section 2.3): the hash in the string to sign is over
the decompressed digest bytes *as stored* (never re-serialised JSON), and a starting digest's missing
previous signature is signed as the literal ``null``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

REQUIRED = (
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
)


class DigestFormatError(ValueError):
    """The object is not a digest CloudTrail could have written (validate-logs: "invalid format")."""


@dataclass(frozen=True, slots=True)
class LogFileEntry:
    """One ``logFiles[]`` entry: where the log file is and the SHA-256 of its decompressed bytes."""

    bucket: str
    key: str
    hash_value: str


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest plus the raw (decompressed) bytes its signature covers."""

    raw: bytes
    account: str
    start: datetime
    end: datetime
    end_text: str
    bucket: str
    key: str
    fingerprint: str
    previous_bucket: str | None
    previous_key: str | None
    previous_hash: str | None
    previous_signature: str | None
    log_files: tuple[LogFileEntry, ...]

    @property
    def starts_chain(self) -> bool:
        """A *starting* digest (validation or logging (re)started): no link to a predecessor."""
        return self.previous_bucket is None or self.previous_key is None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def parse_time(text: str) -> datetime:
    """CloudTrail's ``2015-08-17T15:01:31Z`` as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def inflate(data: bytes) -> bytes:
    """Gunzip when gzip-compressed (CloudTrail always compresses; tests and copies may not)."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DigestFormatError(f"not valid gzip: {exc}") from exc
    return data


def parse_digest(data: bytes) -> Digest:
    """Parse a digest object's bytes (gzip or plain). Raises DigestFormatError with the reason."""
    raw = inflate(data)
    try:
        doc: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DigestFormatError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DigestFormatError("not a JSON object")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise DigestFormatError(f"missing keys: {', '.join(missing)}")
    try:
        files = tuple(
            LogFileEntry(str(f["s3Bucket"]), str(f["s3Object"]), str(f["hashValue"]).lower())
            for f in doc.get("logFiles") or ()
        )
        return Digest(
            raw=raw,
            account=str(doc.get("awsAccountId") or ""),
            start=parse_time(doc["digestStartTime"]),
            end=parse_time(doc["digestEndTime"]),
            end_text=doc["digestEndTime"],
            bucket=str(doc["digestS3Bucket"]),
            key=str(doc["digestS3Object"]),
            fingerprint=str(doc["digestPublicKeyFingerprint"]),
            previous_bucket=doc.get("previousDigestS3Bucket"),
            previous_key=doc.get("previousDigestS3Object"),
            previous_hash=doc.get("previousDigestHashValue"),
            previous_signature=doc["previousDigestSignature"],
            log_files=files,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DigestFormatError(f"bad field: {exc!r}") from exc


def string_to_sign(digest: Digest) -> bytes:
    """The exact bytes CloudTrail signs (aws-formats.md 2.3)."""
    previous = digest.previous_signature if digest.previous_signature is not None else "null"
    return f"{digest.end_text}\n{digest.bucket}/{digest.key}\n{digest.sha256}\n{previous}".encode()


def fingerprint(der: bytes) -> str:
    """CloudTrail's key fingerprint: lowercase hex MD5 of the DER public key (not a security use)."""
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


def load_public_key(der: bytes) -> rsa.RSAPublicKey:
    """Load a PKCS#1 ``RSAPublicKey`` or SubjectPublicKeyInfo DER key (CloudTrail returns both)."""
    try:
        key = load_der_public_key(der)
    except ValueError:
        # PKCS#1 RSAPublicKey on a cryptography build that wants SPKI: wrap it in the SPKI header.
        key = load_der_public_key(_spki_from_pkcs1(der))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _spki_from_pkcs1(der: bytes) -> bytes:
    alg = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL params
    bitstring = b"\x03" + _der_len(len(der) + 1) + b"\x00" + der
    body = alg + bitstring
    return b"\x30" + _der_len(len(body)) + body


def signature_valid(digest: Digest, signature_hex: str, key: rsa.RSAPublicKey) -> bool:
    """RSA PKCS#1 v1.5 / SHA-256 over the string to sign (``SHA256withRSA``)."""
    try:
        sig = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    try:
        key.verify(sig, string_to_sign(digest), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
