"""deploy/aws/trailwatchd.yaml: cfn-lint clean, and the daemon's IAM policy is least privilege for parliament.

cfn-lint and parliament are PyPI packages pinned in the dev extra (run from the venv). The policy is taken
from the template and its intrinsic functions resolved with sample values, so parliament checks exactly
what CloudFormation would create (with and without the KMS statement).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "trailwatchd.yaml"
BIN = Path(sys.executable).parent

SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "TrailBucketName": "org-trail",
    "TrailPrefix": "AWSLogs/",
    "AlertTopic": "arn:aws:sns:us-east-1:123456789012:security-alerts.fifo",
    "Queue.Arn": "arn:aws:sqs:us-east-1:123456789012:trailwatchd",
}
KMS = "arn:aws:kms:us-east-1:123456789012:key/0b1e0c49-9c3b-4f6e-8d8a-0e2a9b1f2c3d"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !Ref, !GetAtt, !If, ...) as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """Resolve Sub/Ref/GetAtt/If with SAMPLE; drop AWS::NoValue."""
    if isinstance(node, list):
        items = [resolve(n, conditions) for n in node]
        return [i for i in items if i is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if "Ref" in node and len(node) == 1:
        ref = node["Ref"]
        if ref == "AWS::NoValue":
            return NO_VALUE
        return KMS if ref == "KmsKeyArn" else SAMPLE[ref]
    if "Fn::GetAtt" in node:
        return SAMPLE[".".join(node["Fn::GetAtt"])]
    if "Fn::Sub" in node:
        text = node["Fn::Sub"]
        for key, value in SAMPLE.items():
            text = text.replace("${" + key + "}", value)
        assert "${" not in text, text
        return text
    if "Fn::If" in node:
        name, yes, no = node["Fn::If"]
        return resolve(yes if conditions[name] else no, conditions)
    out = {k: resolve(v, conditions) for k, v in node.items()}
    return {k: v for k, v in out.items() if v is not NO_VALUE}


NO_VALUE = object()


def template() -> dict[str, Any]:
    return dict(yaml.load(TEMPLATE.read_text(), Loader=CfnLoader))  # a SafeLoader subclass


def daemon_policy(*, kms: bool) -> dict[str, Any]:
    role = template()["Resources"]["Role"]["Properties"]
    doc = role["Policies"][0]["PolicyDocument"]
    return dict(resolve(doc, {"HasKms": kms, "FromS3": True, "FromSns": False, "Fifo": True}))


def test_cfn_lint_is_clean() -> None:
    proc = subprocess.run([str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cfn_lint_does_fail_on_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "t.yaml"
    broken.write_text(
        TEMPLATE.read_text().replace("Type: AWS::SQS::QueuePolicy", "Type: AWS::SQS::QueuePolicyy")
    )
    proc = subprocess.run([str(BIN / "cfn-lint"), str(broken)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0


@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "sse-kms"])
def test_parliament_finds_nothing(kms: bool) -> None:
    policy = json.dumps(daemon_policy(kms=kms))
    proc = subprocess.run(
        [str(BIN / "parliament"), "--string", policy, "--json"], capture_output=True, text=True, check=False
    )
    findings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert findings == [] and proc.returncode == 0, proc.stdout + proc.stderr


def test_parliament_does_flag_a_wildcard_policy() -> None:
    wide = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    proc = subprocess.run(
        [str(BIN / "parliament"), "--string", wide, "--json"], capture_output=True, text=True, check=False
    )
    assert proc.stdout.strip(), "parliament reported nothing for s3:* on *"


@pytest.mark.parametrize("kms", [False, True], ids=["sse-s3", "sse-kms"])
def test_policy_is_least_privilege(kms: bool) -> None:
    statements = daemon_policy(kms=kms)["Statement"]
    grants = {}
    for st in statements:
        assert st["Effect"] == "Allow"
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert st["Resource"] != "*" and all("*" not in a for a in actions)  # prefix wildcards only
        for action in actions:
            grants[action] = st["Resource"]
    expected = {
        "s3:GetObject": "arn:aws:s3:::org-trail/AWSLogs/*",
        "s3:ListBucket": "arn:aws:s3:::org-trail",
        "sqs:ReceiveMessage": SAMPLE["Queue.Arn"],
        "sqs:DeleteMessage": SAMPLE["Queue.Arn"],
        "sqs:ChangeMessageVisibility": SAMPLE["Queue.Arn"],
        "sqs:GetQueueAttributes": SAMPLE["Queue.Arn"],
        "sns:Publish": SAMPLE["AlertTopic"],
    } | ({"kms:Decrypt": KMS} if kms else {})
    assert grants == expected
    listing = next(st for st in statements if st["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "AWSLogs/*"}}


def test_queue_has_a_dlq_and_outputs_feed_the_config() -> None:
    resources = template()["Resources"]
    redrive = resources["Queue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert 1 <= redrive["maxReceiveCount"] <= 10
    assert {"QueueUrl", "AlertTopicArn", "RoleArn"} <= set(template()["Outputs"])
