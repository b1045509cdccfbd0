"""deploy/prometheus: valid for promtool, alert rules unit-tested, the packs' alarm rules up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.prometheus_tools import prometheus_binary
from tests.unit.test_operations_doc import exported_names

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
PACKS = ("config/rules/cis-aws-foundations-1.2", "config/rules/cloudtrail-essentials")


def promtool() -> str:
    return prometheus_binary("promtool")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=PROM, check=False)


def test_promtool_check_config_and_rules() -> None:
    proc = run(promtool(), "check", "config", "prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 2 rule files found" in proc.stdout


def test_promtool_test_rules() -> None:
    proc = run(
        promtool(),
        "test",
        "rules",
        "rules/trailwatchd-operations.test.yml",
        "rules/trailwatchd-alarms.test.yml",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alarm_rules_are_the_current_export_of_the_packs(tmp_path: Path) -> None:
    """Regenerate with the command in the assertion message; a pack change without it fails here."""
    cli = Path(sys.executable).with_name("trailwatchd")
    rules, tests = tmp_path / "trailwatchd-alarms.yml", tmp_path / "trailwatchd-alarms.test.yml"
    args = [str(cli), "export", "prometheus-rules", "-o", str(rules), "--tests", str(tests)]
    for pack in PACKS:
        args += ["--rules", pack]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    fix = (
        "regenerate: trailwatchd export prometheus-rules -o deploy/prometheus/rules/trailwatchd-alarms.yml "
        "--tests deploy/prometheus/rules/trailwatchd-alarms.test.yml "
        + " ".join(f"--rules {p}" for p in PACKS)
    )
    assert rules.read_text() == (PROM / "rules" / rules.name).read_text(), fix
    assert tests.read_text() == (PROM / "rules" / tests.name).read_text(), fix


def test_operations_rules_use_real_metrics() -> None:
    doc = yaml.safe_load((PROM / "rules" / "trailwatchd-operations.yml").read_text())
    real = exported_names()
    for rule in doc["groups"][0]["rules"]:
        for name in re.findall(r"\btrailwatchd_\w+", rule["expr"]):
            assert name in real, f"{rule['alert']}: {name} is not a trailwatchd metric"
