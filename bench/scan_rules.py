"""Rule packs for the scan benchmark: the CIS pack and a deterministic 60-rule pack.

* CIS: the shipped pack (``config/rules/cis-aws-foundations-1.2/``) when it exists; until then the 14
  CIS AWS Foundations 1.2 metric filters (3.1-3.14) built in memory, character for character as the CIS
  CloudFormation template publishes them, each with a count-1 metric like the template's
  ``MetricTransformations``.
* 60 rules: the CIS rules plus 46 synthetic rules of the kinds real packs hold, drawn from a seeded
  generator (same seed, same rules): eventName sets (with and without an eventSource guard), errorCode
  globs, userIdentity checks, request-parameter checks with a few wildcard selectors and regexes, and
  some rules the eventName index cannot file (they run on every event). The pack stays within
  CloudWatch's quotas (at most 5 regex patterns per log group, 2 regexes and 3 wildcard selectors per
  pattern), so it could be deployed to CloudWatch Logs unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from trailwatchd.patterns import Prop, compile_pattern, required_values
from trailwatchd.rules import MetricSpec, Rule, RuleSet

REPO = Path(__file__).resolve().parent.parent
CIS_PACK_DIR = REPO / "config" / "rules" / "cis-aws-foundations-1.2"
SYNTHETIC_RULES = 46

def _any_name(*names: str) -> str:
    """The CIS spelling of an OR over eventName values: ``($.eventName=A) || ($.eventName=B) ...``."""
    return " || ".join(f"($.eventName={name})" for name in names)


# (rule id, metric name, filter pattern): the CIS CloudFormation template's FilterPattern lines.
CIS_FILTERS: tuple[tuple[str, str, str], ...] = (
    (
        "cis-3.1",
        "UnauthorizedAPICalls",
        '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}',
    ),
    (
        "cis-3.2",
        "LoginWithoutMFA",
        '{($.eventName="ConsoleLogin") && ($.additionalEventData.MFAUsed !="Yes")}',
    ),
    (
        "cis-3.3",
        "ForRootAcount",
        '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && '
        '$.eventType !="AwsServiceEvent"}',
    ),
    (
        "cis-3.4",
        "IamPolicyChanges",
        "{"
        + _any_name(
            "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
            "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
            "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy",
            "AttachGroupPolicy", "DetachGroupPolicy",
        )
        + "}",
    ),
    (
        "cis-3.5",
        "CloudTrailConfigurationChanges",
        "{" + _any_name("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging") + "}",
    ),
    (
        "cis-3.6",
        "AuthenticationFailuresDetected",
        '{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}',
    ),
    (
        "cis-3.7",
        "CustomerCreatedCMKsChanges",
        "{($.eventSource=kms.amazonaws.com) && (" + _any_name("DisableKey", "ScheduleKeyDeletion") + ")}",
    ),
    (
        "cis-3.8",
        "S3BucketPolicyChanges",
        "{($.eventSource=s3.amazonaws.com) && ("
        + _any_name(
            "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication",
            "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication",
        )
        + ")}",
    ),
    (
        "cis-3.9",
        "ConfigConfigurationChanges",
        "{($.eventSource=config.amazonaws.com) && ("
        + _any_name(
            "StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
            "PutConfigurationRecorder",
        )
        + ")}",
    ),
    (
        "cis-3.10",
        "SecurityGroupChanges",
        "{"
        + _any_name(
            "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup",
        )
        + "}",
    ),
    (
        "cis-3.11",
        "NACLChanges",
        "{"
        + _any_name(
            "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
            "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
        )
        + "}",
    ),
    (
        "cis-3.12",
        "NetworkGatewayChanges",
        "{"
        + _any_name(
            "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
            "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway",
        )
        + "}",
    ),
    (
        "cis-3.13",
        "RouteTableChanges",
        "{"
        + _any_name(
            "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
            "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable",
        )
        + "}",
    ),
    (
        "cis-3.14",
        "VpcChanges",
        "{"
        + _any_name(
            "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
            "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink",
        )
        + "}",
    ),
)  # fmt: skip

# Write (and a few sensitive read) calls per service that detection packs watch. Some of them occur in
# the corpus (bench/corpus.py), most do not: a real pack mostly watches for rare calls.
CALLS: dict[str, tuple[str, ...]] = {
    "iam.amazonaws.com": (
        "CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
        "CreateLoginProfile", "UpdateLoginProfile", "AddUserToGroup", "CreateRole", "UpdateAssumeRolePolicy",
        "DeactivateMFADevice", "DeleteVirtualMFADevice", "UpdateAccountPasswordPolicy", "AttachUserPolicy",
        "PutUserPolicy", "PutRolePolicy", "CreatePolicy", "CreateSAMLProvider",
    ),
    "ec2.amazonaws.com": (
        "RunInstances", "TerminateInstances", "StopInstances", "ModifyInstanceAttribute", "CreateSnapshot",
        "ModifySnapshotAttribute", "ModifyImageAttribute", "CreateKeyPair", "ImportKeyPair",
        "DisableEbsEncryptionByDefault", "DeleteFlowLogs", "AuthorizeSecurityGroupIngress",
    ),
    "s3.amazonaws.com": (
        "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutBucketAcl", "PutBucketPolicy",
        "PutBucketVersioning", "PutBucketLogging", "DeleteBucket", "DeleteBucketEncryption", "PutObjectAcl",
        "CreateBucket",
    ),
    "kms.amazonaws.com": (
        "DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", "DisableKeyRotation",
        "ImportKeyMaterial",
    ),
    "cloudtrail.amazonaws.com": ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"),
    "guardduty.amazonaws.com": (
        "DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "CreateIPSet",
    ),
    "lambda.amazonaws.com": (
        "CreateFunction20150331", "UpdateFunctionCode20150331v2", "AddPermission20150707",
        "UpdateFunctionConfiguration20150331v2",
    ),
    "sts.amazonaws.com": ("AssumeRole", "GetFederationToken", "GetSessionToken", "AssumeRoleWithWebIdentity"),
    "rds.amazonaws.com": (
        "ModifyDBSnapshotAttribute", "DeleteDBInstance", "ModifyDBInstance",
        "RestoreDBInstanceFromDBSnapshot",
    ),
    "secretsmanager.amazonaws.com": ("GetSecretValue", "DeleteSecret", "PutResourcePolicy"),
    "logs.amazonaws.com": ("DeleteLogGroup", "DeleteLogStream", "PutRetentionPolicy", "DeleteMetricFilter"),
    "organizations.amazonaws.com": ("LeaveOrganization", "RemoveAccountFromOrganization", "DetachPolicy"),
}  # fmt: skip
SERVICES = tuple(CALLS)
ERROR_GLOBS = ("AccessDenied*", "*UnauthorizedOperation", "*NotFound*", "Throttling*", "InvalidClientTokenId")
IDENTITY_TYPES = ("Root", "IAMUser", "AssumedRole", "FederatedUser", "AWSService")


def make_rule(rule_id: str, pattern: str, metric: str | None = None, namespace: str = "LogMetrics") -> Rule:
    """A rule as the loader builds it from TOML (index key included), with an optional count-1 metric."""
    compiled = compile_pattern(pattern)
    spec = None
    if metric is not None:
        spec = MetricSpec(namespace=namespace, name=metric, value="1", value_number=1.0, value_selector=None)
    return Rule(
        id=rule_id,
        pattern=compiled,
        title=rule_id,
        metric=spec,
        event_names=required_values(compiled.ast, (Prop("eventName"),)),
    )


def cis_rules() -> tuple[list[Rule], str]:
    """The CIS rules and where they came from (the shipped pack when present)."""
    if CIS_PACK_DIR.is_dir() and any(CIS_PACK_DIR.rglob("*.toml")):
        return list(RuleSet.load([CIS_PACK_DIR]).rules), str(CIS_PACK_DIR.relative_to(REPO))
    return [make_rule(i, p, m) for i, m, p in CIS_FILTERS], "in-memory CIS 1.2 filters (pack not found)"


# -- the synthetic rules ---------------------------------------------------------------------------
class _Synth:
    """Seeded pattern factories, one per kind of rule."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _names(self, service: str, k: int) -> list[str]:
        calls = CALLS[service]
        return self.rng.sample(calls, min(k, len(calls)))

    def _eq(self, selector: str, value: str) -> str:
        # Both spellings occur in published packs: quoted and bare (a bare word must not look numeric).
        bare = value.replace(".", "").replace("-", "").replace("_", "").isalnum() and self.rng.random() < 0.5
        return f"($.{selector} = {value})" if bare else f'($.{selector} = "{value}")'

    def _name_or(self, names: list[str]) -> str:
        """One condition, or an OR of several in parentheses (an operand of ``&&``)."""
        terms = [self._eq("eventName", n) for n in names]
        return terms[0] if len(terms) == 1 else f"({' || '.join(terms)})"

    def name_set(self) -> str:
        """eventName in a set, half of them guarded by eventSource (indexable)."""
        service = self.rng.choice(SERVICES)
        names = self._names(service, self.rng.randint(1, 6))
        if self.rng.random() < 0.5:
            return f"{{ {self._eq('eventSource', service)} && {self._name_or(names)} }}"
        return "{ " + " || ".join(self._eq("eventName", n) for n in names) + " }"

    def name_error(self) -> str:
        """Failed (or only successful) calls of a set (indexable)."""
        names = self._names(self.rng.choice(SERVICES), self.rng.randint(1, 4))
        if self.rng.random() < 0.3:
            return f"{{ {self._name_or(names)} && ($.errorCode NOT EXISTS) }}"
        return f'{{ {self._name_or(names)} && ($.errorCode = "{self.rng.choice(ERROR_GLOBS)}") }}'

    def name_identity(self) -> str:
        """Calls by a kind of principal, or without MFA (indexable)."""
        names = self._names(self.rng.choice(SERVICES), self.rng.randint(1, 5))
        roll = self.rng.random()
        if roll < 0.4:
            who = f'($.userIdentity.type = "{self.rng.choice(IDENTITY_TYPES)}")'
        elif roll < 0.7:
            who = '($.userIdentity.sessionContext.attributes.mfaAuthenticated != "true")'
        else:
            who = '($.userIdentity.arn = "*:assumed-role/github-actions-deploy/*")'
        return f"{{ {self._name_or(names)} && {who} }}"

    def name_params(self) -> str:
        """A call with a suspicious parameter, some through wildcard selectors (indexable)."""
        return self.rng.choice(
            (
                '{ $.eventName = "AttachUserPolicy" && '
                '$.requestParameters.policyArn = "*AdministratorAccess" }',
                '{ $.eventName = "AuthorizeSecurityGroupIngress" && '
                '$.requestParameters.ipPermissions.items[*].ipRanges.items[0].cidrIp = "0.0.0.0/0" }',
                '{ $.eventName = "RunInstances" && $.requestParameters.instanceType = "p4d.*" }',
                "{ $.eventName = AssumeRole && $.requestParameters.durationSeconds > 3600 }",
                '{ $.eventName = "PutBucketPolicy" && '
                '$.requestParameters.policy = "*\\"Principal\\":\\"*" }',
                '{ ($.eventName = "ModifySnapshotAttribute" || $.eventName = "ModifyImageAttribute") && '
                '$.requestParameters.createVolumePermission.add.items[*].group = "all" }',
            )
        )

    def name_regex(self) -> str:
        """A regex on a request parameter (indexable; counts against the 5-regex quota)."""
        return self.rng.choice(
            (
                "{ $.eventName = CreateUser && $.requestParameters.userName = %^admin|^root|^svc-% }",
                "{ $.eventName = CreateAccessKey && $.userIdentity.arn = %:root$|:user/ops-% }",
                "{ $.eventName = PutUserPolicy && $.requestParameters.policyDocument = %Action.:.\\*% }",
            )
        )

    def unindexed(self) -> str:
        """Rules the eventName index cannot file: they run on every event."""
        return self.rng.choice(
            (
                '{ ($.eventSource = "s3.amazonaws.com") && ($.errorCode = "AccessDenied") && '
                "($.readOnly IS FALSE) }",
                '{ ($.userIdentity.type = "Root") && ($.readOnly IS FALSE) }',
                '{ ($.errorCode = "*Throttl*") || ($.errorCode = "RequestLimitExceeded") }',
                '{ ($.userIdentity.type = "IAMUser") && ($.sourceIPAddress != "10.*") && '
                '($.errorCode = "AccessDenied*") }',
                '{ $.resources[*].ARN = "arn:aws:s3:::logs-archive-*" && $.eventName != "GetObject" && '
                '$.eventName != "HeadObject" }',
                '{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = %^Disable|^Schedule|^Delete%) }',
                '{ ($.userAgent = "*kali*") || ($.userAgent = "*parrot*") || ($.userAgent = "*pentoo*") }',
                '{ ($.eventSource = "iam.amazonaws.com") && ($.eventName = %^Delete%) && '
                "($.errorCode NOT EXISTS) }",
                "{ ($.userIdentity.sessionContext.sessionIssuer.userName = OrganizationAccountAccessRole) "
                "&& ($.readOnly IS FALSE) }",
            )
        )


# How many rules of each kind 46 synthetic rules hold, in the order they are drawn.
_KINDS: tuple[tuple[str, int], ...] = (
    ("name_set", 18),
    ("name_error", 6),
    ("name_identity", 6),
    ("name_params", 5),
    ("name_regex", 2),
    ("unindexed", 9),
)
_UNIQUE = ("name_params", "name_regex", "unindexed")  # drawn from fixed lists without repeats
REGEX_QUOTA = 5


def synthetic_rules(n: int = SYNTHETIC_RULES, seed: int = 60) -> list[Rule]:
    """``n`` realistic rules (at most 46: the regex quota and the fixed lists bound the rest)."""
    synth = _Synth(seed)
    factories: dict[str, Callable[[], str]] = {kind: getattr(synth, kind) for kind, _ in _KINDS}
    patterns: list[str] = []
    for kind, count in _KINDS:
        seen: set[str] = set()
        while len(seen) < count:
            text = factories[kind]()
            if text in seen or text in patterns:
                continue
            seen.add(text)
            patterns.append(text)
    synth.rng.shuffle(patterns)
    patterns = patterns[:n]
    regexes = sum("%" in p for p in patterns)
    assert regexes <= REGEX_QUOTA, f"{regexes} regex patterns: CloudWatch allows {REGEX_QUOTA} per log group"
    rules = []
    for i, text in enumerate(patterns):
        metric = f"Synthetic{i + 1:02d}" if i % 2 == 0 else None  # half carry a metric, as in real packs
        rules.append(make_rule(f"synthetic-{i + 1:02d}", text, metric, namespace="Bench"))
    return rules


def packs() -> dict[str, tuple[RuleSet, str]]:
    """``{"cis": (rule set, origin), "60": (rule set, origin)}``."""
    cis, origin = cis_rules()
    extra = synthetic_rules(max(0, min(SYNTHETIC_RULES, 60 - len(cis))))
    return {
        "cis": (RuleSet.from_rules(cis), origin),
        "60": (RuleSet.from_rules([*cis, *extra]), f"{origin} + {len(extra)} synthetic rules"),
    }
