"""deploy/grafana/dashboard.json against real data: every panel query parses and returns data.

A real ``trailwatchd run`` subprocess processes the bundled example CloudTrail files (directory source, the
CIS and essentials packs with their alarms) and also consumes an (empty) SQS queue on the moto server, so
the SQS series exist. A real ``prometheus`` (Debian package) on loopback scrapes it every second. Each panel
query, with Grafana's variables replaced by what Grafana would send, goes to Prometheus' HTTP API and must
be accepted and return at least one series. Grafana itself is not installable here; its JSON model is
checked for what Grafana needs (a datasource input, unique ids, a target per panel).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # moto's dependency; a synchronous client is the simplest for test setup
import pytest

from tests.prometheus_tools import prometheus_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "10m", "$instance": ".*"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def targets() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] if p["type"] != "row" for t in p["targets"]]


def substitute(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return dict(json.loads(err.read()))
    except urllib.error.URLError:  # Prometheus still starting
        return {}


def test_dashboard_model_is_importable() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "trailwatchd" and dash["__inputs"][0]["type"] == "datasource"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in dash["templating"]["list"]}
    assert names == {"datasource", "instance"}
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
    expressions = " ".join(expr for _, expr in targets())
    for needed in (
        "trailwatchd_rule_matches_total",
        "trailwatchd_alarm_state",
        "trailwatchd_errors_total",
        "trailwatchd_alerts_spooled",
        "trailwatchd_queue_depth",
        "trailwatchd_config_reloads_total",
        "trailwatchd_newest_event_timestamp_seconds",
        "trailwatchd_rule_info",
    ):
        assert needed in expressions, needed


@pytest.fixture
def prometheus_bin() -> str:
    return prometheus_binary("prometheus")


@pytest.fixture
def daemon_and_prometheus(
    tmp_path: Path, moto_endpoint: str, prometheus_bin: str
) -> Iterator[tuple[str, Path]]:
    """Start trailwatchd (examples + an empty SQS queue) and Prometheus scraping it; yield the API URL."""
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="dashboard")["QueueUrl"]
    metrics_port, prom_port = free_port(), free_port()
    config = tmp_path / "trailwatchd.toml"
    config.write_text(f"""
[daemon]
metrics_listen = "127.0.0.1:{metrics_port}"
state_path = "{tmp_path / "state.db"}"
log_format = "json"
[aws]
region = "us-east-1"
endpoint_url = "{moto_endpoint}"
[rules]
paths = ["{ROOT / "config/rules/cis-aws-foundations-1.2"}", "{ROOT / "config/rules/cloudtrail-essentials"}"]
default_sinks = ["alerts"]
[alarms]
evaluation_interval_secs = 1
[sources.demo]
type = "directory"
path = "{ROOT / "examples"}"
glob = "*.json*"
[sources.queue]
type = "sqs"
queue_url = "{queue_url}"
wait_time_secs = 1
[sinks.security]
type = "file"
path = "{tmp_path / "alarms.jsonl"}"
[sinks.alerts]
type = "file"
path = "{tmp_path / "alerts.jsonl"}"
""")
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: trailwatchd
    static_configs:
      - targets: ["127.0.0.1:{metrics_port}"]
""")
    env = dict(os.environ)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("trailwatchd")), "run", "--config", str(config)],
        stdout=(tmp_path / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    prom = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=(tmp_path / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{prom_port}", tmp_path
    finally:
        for proc in (daemon, prom):
            proc.terminate()
        for proc in (daemon, prom):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def query(api: str, expr: str) -> dict[str, Any]:
    return get_json(f"{api}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")


def test_every_panel_query_returns_data(daemon_and_prometheus: tuple[str, Path]) -> None:
    api, tmp_path = daemon_and_prometheus
    deadline = time.monotonic() + 60
    ready = ""
    while time.monotonic() < deadline:
        # The examples are processed and at least 5 scrapes of the finished state are stored.
        answer = query(
            api,
            "count_over_time(trailwatchd_rules_loaded[1m]) >= 5 and on () "
            "sum(trailwatchd_rule_matches_total) > 100",
        )
        if answer.get("status") == "success" and answer["data"]["result"]:
            ready = "yes"
            break
        time.sleep(0.5)
    logs = (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
    assert ready, f"Prometheus never saw the processed examples.\n{logs}"
    empty, failed = [], []
    for title, expr in targets():
        answer = query(api, substitute(expr))
        if answer.get("status") != "success":
            failed.append(f"{title}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            empty.append(f"{title}: {expr}")
    assert failed == [], "queries Prometheus rejected:\n" + "\n".join(failed)
    assert empty == [], "panels without data:\n" + "\n".join(empty)
