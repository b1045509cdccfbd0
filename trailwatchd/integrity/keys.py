"""Public-key providers: CloudTrail ``ListPublicKeys`` per region, a local file, cached by fingerprint.

Keys are per region (aws-formats.md 2.4): a digest is checked with the key whose fingerprint (MD5 of the
DER bytes) equals its ``digestPublicKeyFingerprint``, fetched from the digest's delivery region. The file
provider exists for offline and on-premises checks: it reads the JSON that
``aws cloudtrail list-public-keys`` prints (``PublicKeyList[].Value`` base64, ``Fingerprint``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from trailwatchd.aws import classify_client_error
from trailwatchd.errors import PermanentFetchError, TemporaryFetchError
from trailwatchd.integrity.digest import fingerprint, load_public_key


class KeyProvider(Protocol):
    """Look up the public key with this fingerprint for a digest delivered in ``region`` near ``when``."""

    async def get(self, region: str, fingerprint: str, when: datetime) -> rsa.RSAPublicKey | None: ...


def keys_from_list(entries: list[dict[str, Any]], *, base64_values: bool) -> dict[str, rsa.RSAPublicKey]:
    """``PublicKeyList`` entries to ``{fingerprint: key}``; the fingerprint is recomputed from the DER."""
    out: dict[str, rsa.RSAPublicKey] = {}
    for entry in entries:
        value = entry["Value"]
        der = base64.b64decode(value) if base64_values or isinstance(value, str) else bytes(value)
        out[fingerprint(der)] = load_public_key(der)
    return out


@dataclass
class FileKeyProvider:
    """Keys from ``list-public-keys`` JSON files (any region), for offline verification."""

    paths: tuple[Path, ...]
    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in self.paths:
            doc = json.loads(path.read_text())
            entries = doc["PublicKeyList"] if isinstance(doc, dict) else doc
            self._keys.update(keys_from_list(entries, base64_values=True))

    async def get(self, region: str, fingerprint: str, when: datetime) -> rsa.RSAPublicKey | None:
        return self._keys.get(fingerprint)


@dataclass
class AwsKeyProvider:
    """``cloudtrail:ListPublicKeys`` in the digest's region, cached by (region, fingerprint).

    ``client_for`` returns the CloudTrail client of a region. The window searched is ``[when, when + 20
    days]`` like the AWS CLI, plus the currently active keys when that finds nothing.
    """

    client_for: Callable[[str], Awaitable[Any]]
    _cache: dict[tuple[str, str], rsa.RSAPublicKey] = field(default_factory=dict)

    async def get(self, region: str, fingerprint: str, when: datetime) -> rsa.RSAPublicKey | None:
        hit = self._cache.get((region, fingerprint))
        if hit is not None:
            return hit
        client = await self.client_for(region)
        for kwargs in ({"StartTime": when, "EndTime": when + timedelta(days=20)}, {}):
            token: str | None = None
            while True:
                call = dict(kwargs, **({"NextToken": token} if token else {}))
                try:
                    resp = await client.list_public_keys(**call)
                    found = keys_from_list(resp.get("PublicKeyList", []), base64_values=False)
                except Exception as exc:  # an AWS error or an unloadable key: the caller retries later
                    temporary, code = classify_client_error(exc)
                    cls = TemporaryFetchError if temporary else PermanentFetchError
                    raise cls(f"cloudtrail:ListPublicKeys {region}", str(exc), code=code) from exc
                for fp, key in found.items():
                    self._cache[(region, fp)] = key
                token = resp.get("NextToken")
                if not token:
                    break
            if (region, fingerprint) in self._cache:
                return self._cache[(region, fingerprint)]
        return None
