"""``trailwatchd scan s3://...`` (backfill) counts exactly what ``scan`` counts over the same files
downloaded, against moto's server mode over real HTTP."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from trailwatchd.cli import main
from trailwatchd.decode import classify_key

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUCKET = "history"
SINCE, UNTIL = "2024-07-30T00:00:00Z", "2024-08-01T23:59:59Z"


def layout_key(name: str, prefix: str = "trail/") -> str:
    info = classify_key(name)
    assert info.delivered_at is not None and info.account and info.region
    return f"{prefix}AWSLogs/{info.account}/CloudTrail/{info.region}/{info.delivered_at:%Y/%m/%d}/{name}"


def s3_client(endpoint: str) -> Any:
    """A plain (sync) botocore client: the CLI under test runs its own event loop."""
    return botocore.session.get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint)


def run(argv: list[str]) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, out=out, err=err)
    lines = out.getvalue().splitlines()
    return status, json.loads(lines[-1]) if lines else {}, err.getvalue()


def test_backfill_counts_equal_a_local_scan_of_the_same_files(moto_endpoint: str, tmp_path: Path) -> None:
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    logs = sorted(EXAMPLES.glob("*_CloudTrail_*.json.gz"))
    assert len(logs) >= 10
    in_range: list[Path] = []
    for path in logs:
        key = layout_key(path.name)
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        stamp = classify_key(path.name).delivered_at
        assert stamp is not None
        if "2024-07-30" <= stamp.date().isoformat() <= "2024-08-01":
            in_range.append(path)
    digest = "trail/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/07/31/" \
        "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240731T120000Z.json.gz"  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=digest, Body=b"not a log file")
    assert 3 <= len(in_range) < len(logs)  # the range selects some files, not all

    status, remote, err = run(
        ["scan", f"s3://{BUCKET}/trail/", "--since", SINCE, "--until", UNTIL, "--format", "json",
         "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--progress", "never"]
    )  # fmt: skip
    assert status == 0, err
    assert f"{len(in_range)} objects delivered" in err

    local = tmp_path / "local"
    local.mkdir()
    for path in in_range:  # download what the range covers, exactly as stored
        key = layout_key(path.name)
        (local / path.name).write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    status, offline, err = run(["scan", str(local), "--format", "json", "--progress", "never"])
    assert status == 0, err

    assert remote["files"] == offline["files"] == len(in_range)
    assert remote["events"] == offline["events"] > 0
    assert remote["rules"] == offline["rules"]
    assert sum(remote["rules"].values()) > 0  # the shipped packs match something in this history
    assert remote["metrics"] == offline["metrics"]
    assert remote["errors"] == offline["errors"] == []


def test_backfill_matches_lines_and_usage_errors(moto_endpoint: str) -> None:
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    name = next(p for p in sorted(EXAMPLES.glob("*_CloudTrail_*.json.gz")) if "20240801" in p.name)
    s3.put_object(Bucket=BUCKET, Key=layout_key(name.name, prefix=""), Body=name.read_bytes())
    out, err = io.StringIO(), io.StringIO()
    argv = ["scan", f"s3://{BUCKET}", "--since", "2024-08-01", "--until", "2024-08-02", "--matches",
            "--format", "json", "--endpoint-url", moto_endpoint, "--region", "us-east-1"]  # fmt: skip
    assert main(argv, out=out, err=err) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    matches, report = lines[:-1], lines[-1]
    assert len(matches) == sum(report["rules"].values()) > 0
    assert all(m["file"].startswith(f"s3://{BUCKET}/AWSLogs/") for m in matches)
    # A prefix inside AWSLogs/ narrows the listing to that account; --progress always draws a bar (tqdm).
    other = layout_key(name.name, prefix="").replace("AWSLogs/", "AWSLogs/o-abcdefghij/", 1)
    s3.put_object(
        Bucket=BUCKET, Key=other.replace(other.split("/")[2], "999999999999", 1), Body=name.read_bytes()
    )
    narrowed, bar = io.StringIO(), io.StringIO()
    account = layout_key(name.name, prefix="").split("/")[1]
    argv = ["scan", f"s3://{BUCKET}/AWSLogs/{account}/", "--since", "2024-08-01", "--until", "2024-08-02",
            "--format", "json", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
            "--progress", "always"]  # fmt: skip
    assert main(argv, out=narrowed, err=bar) == 0, bar.getvalue()
    assert json.loads(narrowed.getvalue())["files"] == 1
    assert "1 objects delivered" in bar.getvalue() and "/1 [" in bar.getvalue()  # the tqdm bar
    assert main(["scan", f"s3://{BUCKET}"], out=io.StringIO(), err=(e := io.StringIO())) == 2
    assert "--since" in e.getvalue()
    assert main(["scan", "s3://b", "--since", "yesterday"], out=io.StringIO(), err=io.StringIO()) == 2
