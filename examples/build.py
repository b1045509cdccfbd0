"""Rebuild the example CloudTrail files in this folder from the shared corpus.

Why this exists: ``make run`` (the daemon's embedded demo) and the README tour read these files, so they
must look exactly like what CloudTrail delivers to S3. That means gzip, ``{"Records":[...]}``, compact JSON,
each record starting with ``eventVersion``, and a name in CloudTrail's key format
``<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz``. The records themselves are real:
Stratus Red Team detonations and AWS documentation examples (see NOTICE.md). Only the key order changes,
to the order CloudTrail writes. The generated files are committed, so nothing needs ``shared/`` at run
time. This script documents how they were made and lets tests/rules check that they still match the corpus.

Usage: ``.venv/bin/python examples/build.py [--corpus PATH] [--out DIR]``. The corpus defaults to
``../shared/corpus`` next to the repository, and the output directory to this folder. The output is
byte-for-byte deterministic.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus"
DOCS_FILE = "aws-docs-examples/cloudtrail_events_from_aws_docs.jsonl"

# Stratus Red Team detonations that trigger the shipped packs, one delivered file each.
STRATUS = (
    "aws.initial-access.console-login-without-mfa.json",
    "aws.defense-evasion.cloudtrail-stop.json",
    "aws.defense-evasion.cloudtrail-delete.json",
    "aws.defense-evasion.cloudtrail-event-selectors.json",
    "aws.exfiltration.ec2-security-group-open-port-22-ingress.json",
    "aws.persistence.iam-create-admin-user.json",
    "aws.exfiltration.ec2-share-ebs-snapshot.json",
    "aws.credential-access.ec2-get-password-data.json",
)
# Lines (1-based, as in the corpus manifest) of the AWS documentation examples: console sign-ins with and
# without MFA, failures, root use, KMS key changes and errors, a bucket ACL change, a failed UpdateTrail.
# Line 7 is left out on purpose: AWS's example reuses line 6's eventID, and the daemon would (rightly)
# treat it as a duplicate.
DOCS_LINES = (1, 2, 3, 6, 8, 9, 10, 17, 18, 26, 27, 30, 42, 51, 81, 103)
# The one plain JSON array, pretty-printed, for reading.
READABLE = (
    "aws.persistence.iam-create-user-login-profile.json",
    "stratus-iam-create-user-login-profile.json",
)

# CloudTrail's field order (the "CloudTrail record contents" reference and every record AWS prints).
# Stratus Red Team's anonymiser sorted keys alphabetically, so they are put back in this order. Values
# are never touched. Keys not listed keep their relative order at the end.
RECORD_ORDER = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "serviceEventDetails",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "tlsDetails",
    "edgeDeviceDetails",
)
IDENTITY_ORDER = (
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
)


def ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """The same mapping with the listed keys first, in that order."""
    head = {k: mapping[k] for k in order if k in mapping}
    return head | {k: v for k, v in mapping.items() if k not in head}


def as_delivered(record: dict[str, Any]) -> dict[str, Any]:
    """A record with CloudTrail's key order at the top level and in userIdentity."""
    out = ordered(record, RECORD_ORDER)
    if isinstance(out.get("userIdentity"), dict):
        out["userIdentity"] = ordered(out["userIdentity"], IDENTITY_ORDER)
    return out


def account_region(record: dict[str, Any]) -> tuple[str, str]:
    """The delivering account and region. Old documentation examples lack recipientAccountId."""
    account = record.get("recipientAccountId") or record["userIdentity"]["accountId"]
    return str(account), str(record["awsRegion"])


def delivered_name(records: list[dict[str, Any]], body: bytes) -> str:
    """A CloudTrail key name: the file is stamped at the next 5-minute mark after its last event."""
    account, region = account_region(records[0])
    last = max(datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for r in records)
    stamp = last.replace(second=0) + timedelta(minutes=5 - last.minute % 5)
    # 16 alphanumerics that only prevent overwrites (AWS: "It has no meaning"); derived from the content
    # so rebuilding gives the same name.
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    unique = "".join(c for c in digest if c.isalnum())[:16]
    return f"{account}_CloudTrail_{region}_{stamp:%Y%m%dT%H%MZ}_{unique}.json.gz"


def compact(doc: Any) -> bytes:
    """JSON the way CloudTrail writes it: no spaces, non-ASCII kept as UTF-8."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_files(groups: Iterable[list[dict[str, Any]]]) -> dict[str, bytes]:
    """File name -> gzip bytes (mtime 0 and no embedded name, so the output is reproducible)."""
    files = {}
    for records in groups:
        shaped = [as_delivered(r) for r in records]
        body = compact({"Records": shaped})
        files[delivered_name(shaped, body)] = gzip.compress(body, mtime=0)
    return files


def build(corpus: Path) -> dict[str, bytes]:
    """Every generated example file, by name."""
    groups = [json.loads((corpus / "stratus-red-team" / name).read_text()) for name in STRATUS]
    lines = (corpus / DOCS_FILE).read_text().splitlines()
    by_origin: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for n in DOCS_LINES:
        record = json.loads(lines[n - 1])
        by_origin.setdefault(account_region(record), []).append(record)
    files = delivery_files(groups + list(by_origin.values()))
    source, target = READABLE
    readable = [as_delivered(r) for r in json.loads((corpus / "stratus-red-team" / source).read_text())]
    files[target] = (json.dumps(readable, indent=2, ensure_ascii=False) + "\n").encode()
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus folder")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the files")
    args = parser.parse_args()
    for name, data in sorted(build(args.corpus).items()):
        (args.out / name).write_bytes(data)
        print(f"{len(data):7d}  {name}")


if __name__ == "__main__":
    main()
