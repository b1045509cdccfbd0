"""The pipeline's digest hook: verified digests are committed, a failed verification is retried."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_pipeline import item, make, ruleset, run_item  # noqa: F401 - fixture
from trailwatchd.errors import TemporaryFetchError
from trailwatchd.model import ObjectRef
from trailwatchd.rules import RuleSet

DIGEST = (
    "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/"
    "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240102T010203Z.json.gz"
)


async def test_digest_hook_called_and_committed(tmp_path: Path, ruleset: RuleSet) -> None:  # noqa: F811
    pipe, _, state, metrics = await make(tmp_path, ruleset, {DIGEST: RuntimeError("not fetched here")})
    seen: list[str] = []

    async def hook(ref: ObjectRef) -> bool:
        seen.append(ref.key)
        return True

    pipe.digest_hook = hook
    work, ack = item(DIGEST)
    await run_item(pipe, work, ack)
    assert seen == [DIGEST] and ack.events == [("commit", None)]
    sample = metrics.registry.get_sample_value(
        "trailwatchd_objects_processed_total", {"source": "fake", "result": "verified"}
    )
    assert sample == 1
    await state.close()


async def test_digest_hook_failure_releases_for_retry(tmp_path: Path, ruleset: RuleSet) -> None:  # noqa: F811
    pipe, _, state, _ = await make(tmp_path, ruleset, {})

    async def hook(ref: ObjectRef) -> bool:
        raise TemporaryFetchError("s3://b/k", "throttled", code="throttling")

    pipe.digest_hook = hook
    work, ack = item(DIGEST)
    await run_item(pipe, work, ack)
    assert ack.events == [("s3://b/k: throttled", False)]
    await state.close()
