"""Deterministic synthetic CloudTrail: realistic records written as AWS writes them.

The benchmarks need data with CloudTrail's real statistics, not a repeated sample: the decoder's cost
depends on record size, nesting, escapes and how well gzip compresses it, and the rule engine's cost on
the mix of event names. This generator is seeded (same seed, same bytes) and produces:

* a mix dominated by read-only calls (~70%, as in busy accounts: EC2/IAM ``Describe*``/``List*``, S3
  ``GetObject`` data events, KMS ``Decrypt``), STS ``AssumeRole``, console sign-ins with and without
  MFA (some failed), IAM/EC2/S3/CloudTrail changes the CIS rules watch, and errors
  (``AccessDenied``, ``Client.UnauthorizedOperation`` with an encoded message);
* CloudTrail's key order, compact JSON, UTF-8 written raw, nested ``requestParameters``/
  ``responseElements``/``resources``, escaped JSON policy documents, records of ~0.5-3 KB;
* gzip files named and laid out like ``AWSLogs/<acct>/CloudTrail/<region>/Y/M/D/<name>.json.gz``
  under ``bench/.data/`` (gitignored), cached by their parameters.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from isal import isal_zlib

DATA_DIR = Path(__file__).resolve().parent / ".data"
VERSION = 2
"""Bumped whenever the generator's output changes, so cached files are rebuilt."""
ACCOUNTS = ("111122223333", "444455556666", "777788889999")
REGIONS = ("us-east-1",) * 6 + ("us-west-2",) * 2 + ("eu-west-1", "ap-southeast-2")
EPOCH = datetime(2024, 5, 1, tzinfo=UTC)
_AGENTS = (
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
_USERS = ("alice", "bob", "carol", "deploy-bot", "ci-runner", "ops-admin", "søren", "analytics")
_ROLES = ("OrganizationAccountAccessRole", "ReadOnly", "github-actions-deploy", "lambda-exec", "Admin")
_BUCKETS = ("prod-assets-7f3a", "team-data-lake", "logs-archive-2024", "ml-training-sets")


class _Gen:
    """One seeded record factory; methods build one record family each."""

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
            user = r.choice(_USERS)
            return {
                "type": "IAMUser",
                "principalId": self.ident("AIDA"),
                "arn": f"arn:aws:iam::{acct}:user/{user}",
                "accountId": acct,
                "accessKeyId": self.ident("AKIA"),
                "userName": user,
            }
        role = r.choice(_ROLES)
        session = r.choice(_USERS) if r.random() < 0.5 else f"i-{self.hexs(17)}"
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
            "userAgent": r.choice(_AGENTS),
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
    def ec2_describe(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        name = r.choice(("DescribeInstances", "DescribeSecurityGroups", "DescribeVolumes", "DescribeSubnets"))
        rec = self.base(when, "ec2.amazonaws.com", name, acct, region)
        items = [
            {
                "name": r.choice(("instance-state-name", "tag:Name", "vpc-id")),
                "valueSet": {
                    "items": [
                        {"value": r.choice(("running", "stopped", f"vpc-{self.hexs(17)}", "web-*"))}
                        for _ in range(r.randint(1, 3))
                    ]
                },
            }
            for _ in range(r.randint(0, 3))
        ]
        rec["requestParameters"] = {"maxResults": r.choice((100, 1000)), "filterSet": {"items": items}}
        if r.random() < 0.5:
            rec["requestParameters"]["instancesSet"] = {
                "items": [{"instanceId": f"i-{self.hexs(17)}"} for _ in range(r.randint(1, 6))]
            }
        rec["responseElements"] = None
        if r.random() < 0.04:
            rec["errorCode"] = "Client.UnauthorizedOperation"
            rec["errorMessage"] = "You are not authorized to perform this operation."
        self.tail(rec, acct, read_only=True)
        return rec

    def iam_read(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        name = r.choice(("ListRoles", "GetRole", "ListAttachedRolePolicies", "GetPolicyVersion", "ListUsers"))
        rec = self.base(when, "iam.amazonaws.com", name, acct, "us-east-1")
        rec["requestParameters"] = {"roleName": r.choice(_ROLES)} if "Role" in name else {"maxItems": 100}
        if name == "GetPolicyVersion":
            rec["requestParameters"] = {
                "policyArn": f"arn:aws:iam::{acct}:policy/{r.choice(_ROLES)}-policy",
                "versionId": f"v{r.randint(1, 9)}",
            }
        rec["responseElements"] = None
        if r.random() < 0.06:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = (
                f"User: {rec['userIdentity']['arn']} is not authorized to perform: iam:{name} on resource: "
                f"arn:aws:iam::{acct}:role/{r.choice(_ROLES)} because no identity-based policy allows the "
                f"iam:{name} action"
            )
        self.tail(rec, acct, read_only=True)
        return rec

    def s3_data(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        name = r.choices(("GetObject", "PutObject", "HeadObject", "DeleteObject"), (60, 20, 15, 5))[0]
        rec = self.base(when, "s3.amazonaws.com", name, acct, region)
        bucket = r.choice(_BUCKETS)
        key = r.choice(self._keys)
        if r.random() < 0.05:
            key += "/résumé_ü.pdf"  # non-ASCII keys are written as raw UTF-8
        rec["requestParameters"] = {
            "bucketName": bucket,
            "Host": f"{bucket}.s3.{region}.amazonaws.com",
            "key": key,
        }
        if name == "PutObject":
            rec["requestParameters"]["x-amz-server-side-encryption"] = "aws:kms"
        rec["responseElements"] = (
            {"x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": self.ident("", 32)}
            if name == "PutObject"
            else None
        )
        rec["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": r.randrange(10**6) if name == "PutObject" else 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": self.ident("", 76),
            "bytesTransferredOut": r.randrange(10**7) if name == "GetObject" else 0,
        }
        rec["resources"] = [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": acct, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ]
        if r.random() < 0.03:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = "Access Denied"
        self.tail(rec, acct, read_only=name in ("GetObject", "HeadObject"), category="Data")
        return rec

    def kms(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        name = r.choices(("Decrypt", "GenerateDataKey", "Encrypt"), (70, 25, 5))[0]
        rec = self.base(when, "kms.amazonaws.com", name, acct, region)
        if r.random() < 0.6:
            svc = r.choice(("s3.amazonaws.com", "secretsmanager.amazonaws.com", "ssm.amazonaws.com"))
            rec["userIdentity"] = {"type": "AWSService", "invokedBy": svc}
            rec["sourceIPAddress"] = rec["userAgent"] = svc
            rec["eventType"] = "AwsServiceEvent" if r.random() < 0.2 else "AwsApiCall"
        key = f"arn:aws:kms:{region}:{acct}:key/{self.uuid()}"
        rec["requestParameters"] = {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{r.choice(_BUCKETS)}/{self.hexs(12)}"},
            "keyId": key,
        }
        if name == "GenerateDataKey":
            rec["requestParameters"]["keySpec"] = "AES_256"
        rec["responseElements"] = None
        rec["resources"] = [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key}]
        self.tail(rec, acct, read_only=name == "Decrypt")
        if "invokedBy" in rec["userIdentity"]:
            rec["sharedEventID"] = self.uuid()
        return rec

    def assume_role(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        rec = self.base(when, "sts.amazonaws.com", "AssumeRole", acct, region)
        role = r.choice(_ROLES)
        session = f"{r.choice(_USERS)}-{self.hexs(8)}"
        rec["requestParameters"] = {
            "roleArn": f"arn:aws:iam::{acct}:role/{role}",
            "roleSessionName": session,
            "durationSeconds": r.choice((900, 3600, 43200)),
        }
        rec["responseElements"] = {
            "credentials": {
                "accessKeyId": self.ident("ASIA"),
                "sessionToken": self.ident("IQoJb3JpZ2luX2Vj", 180),
                "expiration": "May 1, 2024, 1:00:00 AM",
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{self.ident('AROA')}:{session}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            },
        }
        rec["resources"] = [
            {"accountId": acct, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{acct}:role/{role}"}
        ]
        self.tail(rec, acct, read_only=True)
        rec["sharedEventID"] = self.uuid()
        return rec

    def console_login(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        rec = self.base(when, "signin.amazonaws.com", "ConsoleLogin", acct, region)
        rec["userIdentity"] = self.identity(acct, human=True)
        del rec["userIdentity"]["accessKeyId"]
        if r.random() < 0.05:
            rec["userIdentity"] = {
                "type": "Root",
                "principalId": acct,
                "arn": f"arn:aws:iam::{acct}:root",
                "accountId": acct,
            }
        rec["userAgent"] = _AGENTS[4]
        failed = r.random() < 0.15
        if failed:
            rec["errorMessage"] = "Failed authentication"
        rec["requestParameters"] = None
        rec["responseElements"] = {"ConsoleLogin": "Failure" if failed else "Success"}
        rec["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAUsed": r.choice(("Yes", "Yes", "No")),
        }
        rec["eventType"] = "AwsConsoleSignIn"
        self.tail(rec, acct, read_only=False)
        return rec

    def routine_write(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        """Everyday writes no CIS rule watches: tags, parameters, log streams, function updates."""
        r = self.rng
        source, name = r.choice(
            (
                ("ec2.amazonaws.com", "CreateTags"),
                ("ssm.amazonaws.com", "PutParameter"),
                ("logs.amazonaws.com", "CreateLogStream"),
                ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2"),
                ("dynamodb.amazonaws.com", "UpdateTable"),
                ("autoscaling.amazonaws.com", "SetDesiredCapacity"),
            )
        )
        rec = self.base(when, source, name, acct, region)
        rec["requestParameters"] = (
            {
                "resourcesSet": {"items": [{"resourceId": f"i-{self.hexs(17)}"}]},
                "tagSet": {
                    "items": [
                        {"key": "owner", "value": r.choice(_USERS)},
                        {"key": "cost-center", "value": "42"},
                    ]
                },
            }
            if name == "CreateTags"
            else {"name": f"/app/{self.hexs(6)}/config", "overwrite": True, "tier": "Standard"}
        )
        rec["responseElements"] = {"_return": True} if name == "CreateTags" else {"version": r.randint(1, 40)}
        if r.random() < 0.02:
            rec["errorCode"] = "ThrottlingException"
            rec["errorMessage"] = "Rate exceeded"
            rec["responseElements"] = None
        self.tail(rec, acct, read_only=False)
        return rec

    def change(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        """Write calls, including the ones the CIS rules look for."""
        r = self.rng
        kind = r.randrange(6)
        if kind == 0:
            name = r.choice(("PutUserPolicy", "PutRolePolicy", "CreatePolicy"))
            rec = self.base(when, "iam.amazonaws.com", name, acct, "us-east-1")
            doc = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [f"s3:{a}" for a in ("GetObject", "PutObject", "ListBucket")],
                        "Resource": [f"arn:aws:s3:::{r.choice(_BUCKETS)}/*"],
                    }
                ],
            }
            rec["requestParameters"] = {  # policy documents are JSON *strings*: lots of escapes
                "policyName": f"inline-{self.hexs(6)}",
                "policyDocument": json.dumps(doc),
                "roleName" if "Role" in name else "userName": r.choice(_ROLES + _USERS),
            }
            rec["responseElements"] = None
        elif kind == 1:
            name = r.choice(("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"))
            rec = self.base(when, "ec2.amazonaws.com", name, acct, region)
            rec["requestParameters"] = {
                "groupId": f"sg-{self.hexs(17)}",
                "ipPermissions": {
                    "items": [
                        {
                            "ipProtocol": "tcp",
                            "fromPort": p,
                            "toPort": p,
                            "groups": {},
                            "ipRanges": {"items": [{"cidrIp": r.choice(("0.0.0.0/0", "10.0.0.0/8"))}]},
                            "ipv6Ranges": {},
                            "prefixListIds": {},
                        }
                        for p in r.sample((22, 80, 443, 3389, 5432), r.randint(1, 3))
                    ]
                },
            }
            rec["responseElements"] = {
                "requestId": self.uuid(),
                "_return": True,
                "securityGroupRuleSet": {
                    "items": [
                        {
                            "groupOwnerId": acct,
                            "isEgress": False,
                            "securityGroupRuleId": f"sgr-{self.hexs(17)}",
                        }
                    ]
                },
            }
        elif kind == 2:
            rec = self.base(when, "ec2.amazonaws.com", "RunInstances", acct, region)
            iid = f"i-{self.hexs(17)}"
            rec["requestParameters"] = {
                "instancesSet": {
                    "items": [{"imageId": f"ami-{self.hexs(17)}", "minCount": 1, "maxCount": 1}]
                },
                "instanceType": r.choice(("t3.micro", "m6i.large", "c7g.xlarge")),
                "blockDeviceMapping": {},
                "monitoring": {"enabled": False},
                "disableApiTermination": False,
                "tagSpecificationSet": {
                    "items": [
                        {
                            "resourceType": "instance",
                            "tags": [
                                {"key": "Name", "value": f"web-{self.hexs(4)}"},
                                {"key": "env", "value": "prod"},
                            ],
                        }
                    ]
                },
            }
            rec["responseElements"] = {
                "requestId": self.uuid(),
                "reservationId": f"r-{self.hexs(17)}",
                "ownerId": acct,
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": iid,
                            "instanceState": {"code": 0, "name": "pending"},
                            "privateIpAddress": f"10.0.{r.randrange(256)}.{r.randrange(256)}",
                            "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                            "placement": {"availabilityZone": f"{region}a", "tenancy": "default"},
                        }
                    ]
                },
            }
        elif kind == 3:
            name = r.choice(("PutBucketPolicy", "PutBucketAcl", "CreateBucket"))
            rec = self.base(when, "s3.amazonaws.com", name, acct, region)
            bucket = r.choice(_BUCKETS)
            rec["requestParameters"] = {
                "bucketName": bucket,
                "Host": f"{bucket}.s3.amazonaws.com",
                "policy": ""
                if name != "PutBucketPolicy"
                else json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "deny-insecure",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                ),
            }
            rec["responseElements"] = None
        elif kind == 4:
            name = r.choice(("StopLogging", "UpdateTrail", "CreateTrail"))
            rec = self.base(when, "cloudtrail.amazonaws.com", name, acct, region)
            rec["requestParameters"] = {"name": f"arn:aws:cloudtrail:{region}:{acct}:trail/org-trail"}
            rec["responseElements"] = None
        else:
            name = r.choice(("CreateAccessKey", "AttachUserPolicy", "CreateUser", "DisableKey"))
            src = "kms.amazonaws.com" if name == "DisableKey" else "iam.amazonaws.com"
            rec = self.base(when, src, name, acct, region)
            rec["requestParameters"] = {
                "userName": r.choice(_USERS),
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            }
            rec["responseElements"] = None
        if r.random() < 0.08:
            rec["errorCode"] = r.choice(("AccessDenied", "Client.UnauthorizedOperation"))
            rec["errorMessage"] = (
                "You are not authorized to perform this operation. Encoded authorization "
                "failure message: " + self.ident("", 240)
            )
            rec["responseElements"] = None
        self.tail(rec, acct, read_only=False)
        return rec


_FAMILIES: tuple[tuple[str, int], ...] = (
    ("ec2_describe", 26),
    ("iam_read", 10),
    ("s3_data", 24),
    ("kms", 18),
    ("assume_role", 8),
    ("console_login", 2),
    ("routine_write", 9),
    ("change", 3),
)


def generate_records(n: int, seed: int = 0, start: datetime = EPOCH) -> Iterator[dict[str, Any]]:
    """``n`` records, deterministic for a seed; event times advance ~20 ms per record."""
    gen = _Gen(seed)
    makers: list[Callable[[datetime, str, str], dict[str, Any]]] = [getattr(gen, f) for f, _ in _FAMILIES]
    weights = [w for _, w in _FAMILIES]
    for i in range(n):
        when = start + timedelta(milliseconds=20 * i + gen.rng.randrange(-60_000, 1))
        maker = gen.rng.choices(makers, weights)[0]
        yield maker(when, gen.rng.choice(ACCOUNTS), gen.rng.choice(REGIONS))


def encode_record(record: dict[str, Any]) -> bytes:
    """Compact JSON with raw UTF-8 and the dict's key order, as CloudTrail writes it."""
    return msgspec.json.encode(record)


def log_key(acct: str, region: str, delivered: datetime, unique: str) -> str:
    """The key CloudTrail gives a log file delivered at ``delivered`` (aws-formats.md 1.1)."""
    day = delivered.strftime("%Y/%m/%d")
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    return f"AWSLogs/{acct}/CloudTrail/{region}/{day}/{acct}_CloudTrail_{region}_{stamp}_{unique}.json.gz"


def write_log_file(path: Path, records: Iterator[bytes], *, level: int = 1) -> tuple[int, int]:
    """Stream ``{"Records":[...]}`` gzip-compressed into ``path``; returns (records, compressed bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deflate = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    count = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(deflate.compress(b'{"Records":['))
        for raw in records:
            fh.write(deflate.compress((b"," if count else b"") + raw))
            count += 1
        fh.write(deflate.compress(b"]}"))
        fh.write(deflate.flush())
    tmp.replace(path)
    return count, path.stat().st_size


def build_corpus(n_events: int, per_file: int, *, seed: int = 0, root: Path = DATA_DIR) -> list[Path]:
    """``n_events`` records in files of ``per_file`` records; reuses files already built."""
    base = root / f"corpus-v{VERSION}-s{seed}-n{n_events}-m{per_file}"
    done = base / "DONE"
    paths: list[Path] = []
    rng = random.Random(seed)
    records = generate_records(n_events, seed)
    for i, first in enumerate(range(0, n_events, per_file)):
        count = min(per_file, n_events - first)
        acct, region = ACCOUNTS[i % len(ACCOUNTS)], REGIONS[i % len(REGIONS)]
        unique = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)
        )
        path = base / log_key(acct, region, EPOCH + timedelta(minutes=5 * i), unique)
        paths.append(path)
        if not done.exists():
            write_log_file(path, (encode_record(next(records)) for _ in range(count)))
    done.touch()
    return paths


def build_big_file(target_bytes: int = 50 * 1024 * 1024, *, seed: int = 1, root: Path = DATA_DIR) -> Path:
    """One log file of about ``target_bytes`` compressed (CloudTrail's 50 MB maximum by default)."""
    path = (
        root
        / f"big-v{VERSION}-s{seed}-{target_bytes}"
        / log_key(ACCOUNTS[0], "us-east-1", EPOCH, "BigFileBenchmark")
    )
    if path.exists():
        return path
    # Sized by a probe: compress a sample, scale the record count to the target.
    sample = [encode_record(r) for r in generate_records(4000, seed)]
    probe = len(isal_zlib.compress(b",".join(sample), 1, 31))
    n = int(len(sample) * target_bytes / probe * 0.96)  # the whole file compresses a little worse
    write_log_file(path, (encode_record(r) for r in generate_records(n, seed)))
    return path
