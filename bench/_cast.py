"""The cast of the synthetic corpus: accounts, principals, addresses, and the fields every record has.

Real accounts repeat a small set of principals, source addresses and object keys; drawing them from
seeded pools gives the corpus CloudTrail's compressibility and keeps generation fast.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("us-east-1",) * 6 + ("us-west-2",) * 2 + ("eu-west-1", "ap-southeast-2")
EPOCH = datetime(2024, 5, 1, tzinfo=UTC)
AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off "
    "command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0",
    "terraform-provider-aws/5.43.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go/1.51.6 (go1.22.1; linux; amd64) HashiCorp-terraform-exec/0.17.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 "
    "Safari/537.36",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.210 OpenJDK_64-Bit_Server_VM/"
    "25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
)
USERS = ("alice", "bob", "carol", "deploy-bot", "ci-runner", "ops-admin", "søren", "analytics")
ROLES = ("OrganizationAccountAccessRole", "ReadOnly", "github-actions-deploy", "lambda-exec", "Admin")
BUCKETS = ("prod-assets-7f3a", "team-data-lake", "logs-archive-2024", "ml-training-sets")


class Cast:
    """Seeded random values and the parts shared by every record family (see bench/_families.py)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # Real accounts repeat a small cast of principals, addresses and object keys; pools give the
        # data CloudTrail's compressibility (and make generation fast).
        self._idents = [self._identity(a, human=h) for a in ACCOUNTS for h in (True, False) for _ in range(8)]
        self._ips = [self.ip() for _ in range(300)]
        self._keys = [
            "/".join(self.hexs(self.rng.randint(4, 10)) for _ in range(self.rng.randint(1, 4)))
            for _ in range(3000)
        ]

    # -- small random values --------------------------------------------------------------------
    def hexs(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        h = self.hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def ident(self, prefix: str, n: int = 16) -> str:
        return prefix + base64.b32encode(self.rng.randbytes((5 * n + 7) // 8)).decode()[:n]

    def ip(self) -> str:
        r = self.rng
        return (
            f"{r.choice((10, 52, 54, 198, 203, 34))}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}"
        )

    def identity(self, acct: str, *, human: bool | None = None) -> dict[str, Any]:
        """A principal of ``acct`` from the pool (a fresh dict: callers edit it)."""
        cast = [
            i
            for i in self._idents
            if i["accountId"] == acct and (human is None or (i["type"] == "IAMUser") == human)
        ]
        return msgspec.json.decode(msgspec.json.encode(self.rng.choice(cast)), type=dict[str, Any])

    def _identity(self, acct: str, *, human: bool) -> dict[str, Any]:
        r = self.rng
        if human:
            user = r.choice(USERS)
            return {
                "type": "IAMUser",
                "principalId": self.ident("AIDA"),
                "arn": f"arn:aws:iam::{acct}:user/{user}",
                "accountId": acct,
                "accessKeyId": self.ident("AKIA"),
                "userName": user,
            }
        role = r.choice(ROLES)
        session = r.choice(USERS) if r.random() < 0.5 else f"i-{self.hexs(17)}"
        rid = self.ident("AROA")
        created = (EPOCH - timedelta(seconds=r.randrange(3600))).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "type": "AssumedRole",
            "principalId": f"{rid}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": self.ident("ASIA"),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": rid,
                    "arn": f"arn:aws:iam::{acct}:role/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": created, "mfaAuthenticated": r.choice(("false", "true"))},
            },
        }

    def base(self, when: datetime, source: str, name: str, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        return {
            "eventVersion": r.choice(("1.08", "1.09", "1.10")),
            "userIdentity": self.identity(acct),
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": r.choice(self._ips),
            "userAgent": r.choice(AGENTS),
        }

    def tail(self, rec: dict[str, Any], acct: str, *, read_only: bool, category: str = "Management") -> None:
        rec["requestID"] = self.uuid()
        rec["eventID"] = self.uuid()
        rec["readOnly"] = read_only
        rec.setdefault("eventType", "AwsApiCall")
        rec["managementEvent"] = category == "Management"
        rec["recipientAccountId"] = acct
        rec["eventCategory"] = category
        if self.rng.random() < 0.8:
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{rec['eventSource'].split('.')[0]}.{rec['awsRegion']}"
                ".amazonaws.com",
            }

    # -- record families ------------------------------------------------------------------------
