"""Record families of the synthetic corpus, one method each, and how often each occurs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bench._cast import AGENTS, BUCKETS, ROLES, USERS, Cast


class Families(Cast):
    """One seeded record factory; each public method builds one record family."""

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
        rec["requestParameters"] = {"roleName": r.choice(ROLES)} if "Role" in name else {"maxItems": 100}
        if name == "GetPolicyVersion":
            rec["requestParameters"] = {
                "policyArn": f"arn:aws:iam::{acct}:policy/{r.choice(ROLES)}-policy",
                "versionId": f"v{r.randint(1, 9)}",
            }
        rec["responseElements"] = None
        if r.random() < 0.06:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = (
                f"User: {rec['userIdentity']['arn']} is not authorized to perform: iam:{name} on resource: "
                f"arn:aws:iam::{acct}:role/{r.choice(ROLES)} because no identity-based policy allows the "
                f"iam:{name} action"
            )
        self.tail(rec, acct, read_only=True)
        return rec

    def s3_data(self, when: datetime, acct: str, region: str) -> dict[str, Any]:
        r = self.rng
        name = r.choices(("GetObject", "PutObject", "HeadObject", "DeleteObject"), (60, 20, 15, 5))[0]
        rec = self.base(when, "s3.amazonaws.com", name, acct, region)
        bucket = r.choice(BUCKETS)
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
            "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{r.choice(BUCKETS)}/{self.hexs(12)}"},
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
        role = r.choice(ROLES)
        session = f"{r.choice(USERS)}-{self.hexs(8)}"
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
        rec["userAgent"] = AGENTS[4]
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
                        {"key": "owner", "value": r.choice(USERS)},
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
                        "Resource": [f"arn:aws:s3:::{r.choice(BUCKETS)}/*"],
                    }
                ],
            }
            rec["requestParameters"] = {  # policy documents are JSON *strings*: lots of escapes
                "policyName": f"inline-{self.hexs(6)}",
                "policyDocument": json.dumps(doc),
                "roleName" if "Role" in name else "userName": r.choice(ROLES + USERS),
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
            bucket = r.choice(BUCKETS)
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
                "userName": r.choice(USERS),
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


FAMILIES: tuple[tuple[str, int], ...] = (
    ("ec2_describe", 26),
    ("iam_read", 10),
    ("s3_data", 24),
    ("kms", 18),
    ("assume_role", 8),
    ("console_login", 2),
    ("routine_write", 9),
    ("change", 3),
)
