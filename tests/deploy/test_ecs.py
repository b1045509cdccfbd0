"""deploy/ecs: every file is a valid API request for botocore's model, and agrees with the daemon's config."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

ROOT = Path(__file__).resolve().parents[2]
ECS = ROOT / "deploy" / "ecs"


def problems(service: str, operation: str, params: dict[str, Any]) -> str:
    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    return report.generate_report() if report.has_errors() else ""


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((ECS / name).read_text()))


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("ecs", "RegisterTaskDefinition", lambda: load("task-definition.json")),
        ("ecs", "CreateService", lambda: load("service.json")),
        (
            "application-autoscaling",
            "RegisterScalableTarget",
            lambda: load("autoscaling.json")["RegisterScalableTarget"],
        ),
        ("application-autoscaling", "PutScalingPolicy", lambda: load("autoscaling.json")["PutScalingPolicy"]),
    ],
    ids=["task-definition", "service", "scalable-target", "scaling-policy"],
)
def test_files_are_valid_api_requests(service: str, operation: str, params: Any) -> None:
    assert problems(service, operation, params()) == ""


def test_the_validator_does_reject_a_wrong_request() -> None:
    task = load("task-definition.json")
    task["cpu"] = 1024  # must be a string
    task["containerDefinitions"][0]["healthcheck"] = {}  # unknown key (case matters)
    report = problems("ecs", "RegisterTaskDefinition", task)
    assert "Invalid type for parameter cpu" in report and "Unknown parameter" in report


def ecs_config() -> dict[str, Any]:
    return tomllib.loads((ECS / "trailwatchd.toml").read_text())


def test_task_definition_runs_the_container_as_the_daemon_needs() -> None:
    task = load("task-definition.json")
    container = task["containerDefinitions"][0]
    cfg = ecs_config()
    assert container["user"].split(":")[0] != "0" and container["readonlyRootFilesystem"] is True
    assert any("/healthz" in part for part in container["healthCheck"]["command"])
    assert container["stopTimeout"] > cfg["daemon"]["graceful_shutdown_secs"]
    port = int(cfg["daemon"]["metrics_listen"].rpartition(":")[2])
    assert container["portMappings"][0]["containerPort"] == port
    mounts = {m["containerPath"]: m for m in container["mountPoints"]}
    assert mounts["/var/lib/trailwatchd"]["readOnly"] is False and "/tmp" in mounts
    config_arg = container["command"][container["command"].index("--config") + 1]
    assert str(Path(config_arg).parent) in mounts
    assert cfg["daemon"]["state_path"].startswith("/var/lib/trailwatchd/")
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert cfg["daemon"]["log_format"] == "json"


def test_autoscaling_targets_the_service_and_its_queue() -> None:
    service, scaling = load("service.json"), load("autoscaling.json")
    resource = f"service/{service['cluster']}/{service['serviceName']}"
    assert scaling["RegisterScalableTarget"]["ResourceId"] == resource
    assert scaling["PutScalingPolicy"]["ResourceId"] == resource
    queue = ecs_config()["sources"]["org_trail"]["queue_url"].rsplit("/", 1)[1]
    metrics = scaling["PutScalingPolicy"]["TargetTrackingScalingPolicyConfiguration"][
        "CustomizedMetricSpecification"
    ]
    dims = [
        d for m in metrics["Metrics"] if "MetricStat" in m for d in m["MetricStat"]["Metric"]["Dimensions"]
    ]
    assert {"Name": "QueueName", "Value": queue} in dims


def test_ecs_config_passes_check_config(tmp_path: Path) -> None:
    text = (ECS / "trailwatchd.toml").read_text()
    text = text.replace("/etc/trailwatchd/rules", str(ROOT / "config" / "rules"))
    (tmp_path / "trailwatchd.toml").write_text(text)
    cli = Path(sys.executable).with_name("trailwatchd")
    proc = subprocess.run(
        [str(cli), "check-config", str(tmp_path / "trailwatchd.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
