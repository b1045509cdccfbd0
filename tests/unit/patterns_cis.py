"""The CIS AWS Foundations 3.x metric filters (spec section 9.2) and realistic records to run them on."""

from __future__ import annotations

import copy
from typing import Any

Case = tuple[str, str, Any, bool]  # (case id, pattern, event, expected match)

IAM_POLICY_EVENTS = [
    "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
    "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
    "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
    "DetachGroupPolicy",
]  # fmt: skip


def _names(*names: str) -> str:
    """The published CIS spelling of an OR over eventName values: ``($.eventName=A) || ...``."""
    return " || ".join(f"($.eventName={name})" for name in names)


# Section 9.2: CIS AWS Foundations v1.2.0 3.1-3.14, character for character as published (Security Hub
# strings for 3.2/3.4/3.13 with their eventSource guards; the CIS CloudFormation text otherwise).
CIS: dict[str, str] = {
    "3.1": '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}',
    "3.2": '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
    '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }',
    "3.3": '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && '
    '$.eventType !="AwsServiceEvent"}',
    "3.4": "{($.eventSource=iam.amazonaws.com) && (" + _names(*IAM_POLICY_EVENTS) + ")}",
    "3.5": "{" + _names("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging") + "}",
    "3.6": '{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}',
    "3.7": "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || "
    "($.eventName=ScheduleKeyDeletion))}",
    "3.8": "{($.eventSource=s3.amazonaws.com) && ("
    + _names(
        "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication",
        "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication",
    )
    + ")}",
    "3.9": "{($.eventSource=config.amazonaws.com) && ("
    + _names(
        "StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"
    )
    + ")}",
    "3.10": "{"
    + _names(
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup",
    )
    + "}",
    "3.11": "{"
    + _names(
        "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
    )
    + "}",
    "3.12": "{"
    + _names(
        "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
        "DeleteInternetGateway", "DetachInternetGateway",
    )
    + "}",
    "3.13": "{($.eventSource=ec2.amazonaws.com) && ("
    + _names(
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable",
    )
    + ")}",
    "3.14": "{"
    + _names(
        "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
        "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
        "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink",
    )
    + "}",
    # The CIS CloudFormation originals where Security Hub's strings differ.
    "3.2-cis": '{($.eventName="ConsoleLogin") && ($.additionalEventData.MFAUsed !="Yes")}',
    "3.4-cis": "{" + _names(*IAM_POLICY_EVENTS) + "}",
    "3.13-cis": "{"
    + _names(
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable",
    )
    + "}",
}  # fmt: skip


def record(**overrides: Any) -> dict[str, Any]:
    """A realistic CloudTrail management-event record (shape of the corpus), with fields replaced.

    A value of ``...`` deletes the field; dotted keys address nested fields.
    """
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDACKCEVSQ6C2EXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/anaya",
            "accountId": "111122223333",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": "anaya",
        },
        "eventTime": "2024-08-02T08:53:24Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "requestID": "6f1d0a6e-0b8a-4f57-9d1f-2d1d9b1b7c11",
        "eventID": "865d9377-9c6b-4fd7-8aad-725e95f6a140",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }
    event = copy.deepcopy(base)
    for dotted, value in overrides.items():
        *parents, last = dotted.split("__")
        node = event
        for key in parents:
            node = node.setdefault(key, {})
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return event


_LOGIN = {
    "eventSource": "signin.amazonaws.com",
    "eventName": "ConsoleLogin",
    "eventType": "AwsConsoleSignIn",
    "responseElements": {"ConsoleLogin": "Success"},
    "additionalEventData": {
        "LoginTo": "https://console.aws.amazon.com/",
        "MobileVersion": "No",
        "MFAUsed": "No",
    },
}

CIS_CASES: list[Case] = [
    ("cis-3.1-unauthorized", CIS["3.1"], record(errorCode="Client.UnauthorizedOperation"), True),
    ("cis-3.1-denied", CIS["3.1"], record(errorCode="AccessDenied"), True),
    ("cis-3.1-denied-suffix", CIS["3.1"], record(errorCode="AccessDeniedException"), True),
    ("cis-3.1-other-error", CIS["3.1"], record(errorCode="ThrottlingException"), False),
    ("cis-3.1-no-error", CIS["3.1"], record(), False),
    ("cis-3.2-no-mfa", CIS["3.2"], record(**_LOGIN), True),
    ("cis-3.2-mfa", CIS["3.2"], record(**_LOGIN, additionalEventData__MFAUsed="Yes"), False),
    # The trap (spec 4.4): a record without MFAUsed is not counted, exactly as CloudWatch does.
    ("cis-3.2-e-mfa-missing", CIS["3.2"], record(**_LOGIN, additionalEventData__MFAUsed=...), False),
    ("cis-3.2-failure", CIS["3.2"], record(**_LOGIN, responseElements__ConsoleLogin="Failure"), False),
    ("cis-3.2-role", CIS["3.2"], record(**_LOGIN, userIdentity__type="AssumedRole"), False),
    ("cis-3.3-root", CIS["3.3"], record(userIdentity__type="Root"), True),
    (
        "cis-3.3-root-invoked-by",
        CIS["3.3"],
        record(userIdentity__type="Root", userIdentity__invokedBy="s3.amazonaws.com"),
        False,
    ),
    (
        "cis-3.3-root-service-event",
        CIS["3.3"],
        record(userIdentity__type="Root", eventType="AwsServiceEvent"),
        False,
    ),
    ("cis-3.3-user", CIS["3.3"], record(), False),
    ("cis-3.4-iam", CIS["3.4"], record(eventSource="iam.amazonaws.com", eventName="PutUserPolicy"), True),
    (
        "cis-3.4-last",
        CIS["3.4"],
        record(eventSource="iam.amazonaws.com", eventName="DetachGroupPolicy"),
        True,
    ),
    ("cis-3.4-other-iam", CIS["3.4"], record(eventSource="iam.amazonaws.com", eventName="CreateUser"), False),
    ("cis-3.4-guard", CIS["3.4"], record(eventSource="sts.amazonaws.com", eventName="PutUserPolicy"), False),
    ("cis-3.5", CIS["3.5"], record(eventSource="cloudtrail.amazonaws.com", eventName="StopLogging"), True),
    (
        "cis-3.5-neg",
        CIS["3.5"],
        record(eventSource="cloudtrail.amazonaws.com", eventName="LookupEvents"),
        False,
    ),
    ("cis-3.6", CIS["3.6"], record(**_LOGIN, errorMessage="Failed authentication"), True),
    ("cis-3.6-neg", CIS["3.6"], record(**_LOGIN), False),
    ("cis-3.7", CIS["3.7"], record(eventSource="kms.amazonaws.com", eventName="ScheduleKeyDeletion"), True),
    ("cis-3.7-neg", CIS["3.7"], record(eventSource="kms.amazonaws.com", eventName="Decrypt"), False),
    ("cis-3.8", CIS["3.8"], record(eventSource="s3.amazonaws.com", eventName="PutBucketPolicy"), True),
    ("cis-3.8-neg", CIS["3.8"], record(eventSource="s3.amazonaws.com", eventName="GetBucketPolicy"), False),
    (
        "cis-3.9",
        CIS["3.9"],
        record(eventSource="config.amazonaws.com", eventName="StopConfigurationRecorder"),
        True,
    ),
    (
        "cis-3.9-neg",
        CIS["3.9"],
        record(eventSource="ec2.amazonaws.com", eventName="StopConfigurationRecorder"),
        False,
    ),
    ("cis-3.10", CIS["3.10"], record(eventName="AuthorizeSecurityGroupIngress"), True),
    ("cis-3.10-neg", CIS["3.10"], record(eventName="DescribeSecurityGroups"), False),
    ("cis-3.11", CIS["3.11"], record(eventName="ReplaceNetworkAclAssociation"), True),
    ("cis-3.11-neg", CIS["3.11"], record(eventName="DescribeNetworkAcls"), False),
    ("cis-3.12", CIS["3.12"], record(eventName="AttachInternetGateway"), True),
    ("cis-3.12-neg", CIS["3.12"], record(eventName="DescribeInternetGateways"), False),
    ("cis-3.13", CIS["3.13"], record(eventName="CreateRoute"), True),
    (
        "cis-3.13-guard",
        CIS["3.13"],
        record(eventSource="ec2-other.amazonaws.com", eventName="CreateRoute"),
        False,
    ),
    ("cis-3.14", CIS["3.14"], record(eventName="CreateVpcPeeringConnection"), True),
    ("cis-3.14-neg", CIS["3.14"], record(eventName="DescribeVpcs"), False),
    ("cis-3.2-original", CIS["3.2-cis"], record(**_LOGIN), True),
    ("cis-3.2-original-no-mfa", CIS["3.2-cis"], record(**_LOGIN, additionalEventData__MFAUsed=...), False),
    ("cis-3.4-original", CIS["3.4-cis"], record(eventName="AttachRolePolicy"), True),
    ("cis-3.4-original-neg", CIS["3.4-cis"], record(eventName="AttachVolume"), False),
    ("cis-3.13-original", CIS["3.13-cis"], record(eventName="DisassociateRouteTable"), True),
]
