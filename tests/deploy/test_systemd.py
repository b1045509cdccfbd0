"""deploy/systemd/trailwatchd.service: systemd accepts it, and reload is SIGHUP (the daemon's reload path)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "trailwatchd.service"


def directives(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_unit_reloads_with_sighup_and_drains_on_sigterm() -> None:
    d = directives(UNIT.read_text())
    assert d["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert d["ExecStart"].endswith("trailwatchd run --config /etc/trailwatchd/trailwatchd.toml")
    assert d["KillSignal"] == "SIGTERM"
    assert float(d["TimeoutStopSec"]) > 30  # more than the default graceful_shutdown_secs
    assert d["RestartPreventExitStatus"] == "2"  # the CLI's exit status for an invalid config
    assert d["User"] == "trailwatchd" and d["NoNewPrivileges"] == "yes" and d["ProtectSystem"] == "strict"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    exe = Path(sys.executable).with_name("trailwatchd")
    unit = tmp_path / "trailwatchd.service"
    unit.write_text(UNIT.read_text().replace("/opt/trailwatchd/bin/trailwatchd", str(exe)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "trailwatchd.service" in line
    ]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr
