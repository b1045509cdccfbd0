"""deploy/kubernetes: PodSecurity "restricted", probes on the daemon's endpoints, and the ConfigMap's config
and rules pass ``trailwatchd check-config`` (with the image's paths mapped onto the repository)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]


def by_kind(kind: str) -> dict[str, Any]:
    found = [d for f in sorted(KUBE.glob("*.yaml")) for d in docs(f.name) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}"
    return found[0]


def test_kustomization_lists_files_that_exist() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (KUBE / resource).is_file(), resource


def test_pod_meets_podsecurity_restricted() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
        assert sc["readOnlyRootFilesystem"] is True
        assert not sc.get("privileged")
    assert all("hostPath" not in v for v in pod["volumes"])
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/var/lib/trailwatchd", "/tmp"} <= mounts  # writable state and temp on a read-only root


def configmap_config(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Write the ConfigMap's files as kubelet would, with the image's paths mapped onto the repository."""
    data = by_kind("ConfigMap")["data"]
    conf = tmp_path / "conf"
    conf.mkdir()
    mapping = {
        "/etc/trailwatchd/conf": str(conf),
        "/etc/trailwatchd/rules": str(ROOT / "config" / "rules"),
        "/var/lib/trailwatchd": str(tmp_path / "state"),
    }
    for name, text in data.items():
        for old, new in mapping.items():
            text = text.replace(old, new)  # noqa: PLW2901
        (conf / name).write_text(text)
    config = conf / "trailwatchd.toml"
    return config, tomllib.loads(config.read_text())


def test_configmap_config_passes_check_config(tmp_path: Path) -> None:
    config, _ = configmap_config(tmp_path)
    cli = Path(sys.executable).with_name("trailwatchd")
    proc = subprocess.run(
        [str(cli), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deployment_agrees_with_its_config(tmp_path: Path) -> None:
    _, cfg = configmap_config(tmp_path)
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    port = int(cfg["daemon"]["metrics_listen"].rpartition(":")[2])
    assert cfg["daemon"]["metrics_listen"].startswith("0.0.0.0:")
    assert container["ports"][0]["containerPort"] == port
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["terminationGracePeriodSeconds"] > cfg["daemon"]["graceful_shutdown_secs"]
    conf_mount = next(m for m in container["volumeMounts"] if m["name"] == "conf")
    config_arg = container["args"][container["args"].index("--config") + 1]
    assert Path(config_arg).parent == Path(conf_mount["mountPath"])
    assert cfg["reload"]["watch"] is True  # ConfigMap updates are applied by the watcher


@pytest.mark.parametrize("name", ["service.yaml", "servicemonitor.yaml"])
def test_service_selects_the_pods(name: str) -> None:
    labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    for doc in docs(name):
        selector = doc.get("spec", {}).get("selector")
        if selector is None:
            continue
        wanted = selector.get("matchLabels", selector)
        assert all(labels.get(k) == v for k, v in wanted.items())
