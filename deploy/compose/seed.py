"""Seed the compose demo's moto with a CloudTrail-shaped bucket that notifies an SQS queue, then upload
the example CloudTrail files so trailwatchd has something to detect.

    python deploy/compose/seed.py --endpoint-url http://localhost:5000 --examples examples

Creates (idempotent): bucket ``demo-trail`` with S3 ObjectCreated notifications for ``AWSLogs/`` to queue
``trailwatchd`` (with a DLQ and a redrive policy, as deploy/aws/ does in a real account), SNS topic
``security-alerts`` with a subscribed queue ``security-inbox`` to read the alerts from. Each example file
``<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`` is uploaded under CloudTrail's layout
``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/``. Uses botocore only (it is in the trailwatchd image).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import botocore.session

BUCKET = "demo-trail"
QUEUE = "trailwatchd"
REGION = "us-east-1"
NAME = re.compile(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{4})(\d{2})(\d{2})T\d{4}Z_[A-Za-z0-9]+\.json\.gz$")


def client(name: str, endpoint: str) -> Any:
    return botocore.session.get_session().create_client(name, region_name=REGION, endpoint_url=endpoint)


def queue(sqs: Any, name: str, attributes: dict[str, str] | None = None) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def seed(endpoint: str, examples: Path) -> dict[str, Any]:
    s3, sqs, sns = (client(n, endpoint) for n in ("s3", "sqs", "sns"))
    s3.create_bucket(Bucket=BUCKET)
    _, dlq_arn = queue(sqs, f"{QUEUE}-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    queue_url, queue_arn = queue(sqs, QUEUE, {"RedrivePolicy": redrive, "VisibilityTimeout": "60"})
    topic_arn = sns.create_topic(Name="security-alerts")["TopicArn"]
    _, inbox_arn = queue(sqs, "security-inbox")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "AWSLogs/"}]}},
                }
            ]
        },
    )
    keys = []
    for path in sorted(examples.iterdir()):
        match = NAME.match(path.name)
        if not match:
            continue
        account, region, year, month, day = match.groups()
        key = f"AWSLogs/{account}/CloudTrail/{region}/{year}/{month}/{day}/{path.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return {"bucket": BUCKET, "queue_url": queue_url, "topic_arn": topic_arn, "uploaded": keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", default="http://localhost:5000")
    parser.add_argument("--examples", type=Path, default=Path("examples"))
    args = parser.parse_args(argv)
    result = seed(args.endpoint_url, args.examples)
    print(
        f"seeded {args.endpoint_url}: {len(result['uploaded'])} CloudTrail files in s3://{BUCKET}/AWSLogs/, "
        f"notifications to {result['queue_url']}, alerts on {result['topic_arn']}"
    )
    return 0 if result["uploaded"] else 1


if __name__ == "__main__":
    sys.exit(main())
