"""What can be proved about the stack without a Docker engine: the compose file is valid
Compose, mounts and commands point at real files, Prometheus in compose uses the file that
promtool checks, and the Dockerfile, Kubernetes manifests and Alertmanager config hold up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
BRANDS = REPO / "deploy" / "brands.example.toml"
K8S = REPO / "deploy" / "k8s"
# Debian's docker-compose (1.29) ships the Compose Specification JSON schema.
COMPOSE_SCHEMAS = [Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")]
BRANDPULSE_SUBCOMMANDS = {"worker", "topics", "replay"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts.append(((REPO / source).resolve(), target))
    return mounts


def test_compose_validates_against_compose_spec() -> None:
    """JSON-schema validation with the official compose-spec schema."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = next((p for p in COMPOSE_SCHEMAS if p.exists()), None)
    if schema_path is None:
        pytest.skip("no compose-spec schema (apt-get install docker-compose)")
    schema = json.loads(schema_path.read_text())
    # The schema declares draft 2019-09; name the validator so none is guessed.
    validator = jsonschema.Draft201909Validator(schema)
    validator.validate(_compose())
    broken = _compose()
    broken["services"]["kafka"]["depends_on"] = {"topics": {"condition": "whenever"}}
    assert not validator.is_valid(broken), "the schema check must be able to fail"


def test_docker_compose_config() -> None:
    """docker-compose's own parser (interpolation, anchors, depends_on conditions)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    env = {**os.environ, "BRANDPULSE_INTERNAL_KEY": "k" * 64}  # compose has no default key
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_the_whole_stack() -> None:
    """Kafka, topic creation, two workers, replay, Prometheus, Alertmanager, Grafana, lag."""
    services = _compose()["services"]
    assert {"kafka", "topics", "worker-1", "worker-2", "replay", "prometheus"} <= set(services)
    assert {"alertmanager", "grafana", "kafka-exporter"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert re.match(r"grafana/grafana:11\.", services["grafana"]["image"])


def test_every_bind_mount_exists() -> None:
    """A typo in a mounted path would start a container with an empty directory."""
    for name, service in _compose()["services"].items():
        for source, _ in _bind_mounts(service):
            assert source.exists(), f"{name}: {source}"
            assert REPO in source.parents, f"{name}: mounts outside the repository"


def test_brandpulse_commands_and_config() -> None:
    """brandpulse services run known subcommands with a broker and a mounted brands file."""
    services = _compose()["services"]
    brandpulse = {n: s for n, s in services.items() if s.get("image", "").startswith("brandpulse")}
    assert set(brandpulse) == {"topics", "worker-1", "worker-2", "replay"}
    for name, service in brandpulse.items():
        command = service["command"]
        assert command[0] in BRANDPULSE_SUBCOMMANDS, name
        assert "--broker" in command and command[command.index("--broker") + 1].startswith(
            "kafka://kafka:9092"
        )
        if "--brands" in command:
            target = command[command.index("--brands") + 1]
            assert target in {t for _, t in _bind_mounts(service)}, name
        assert (REPO / service["build"]["dockerfile"]).exists()
    assert services["topics"]["command"][:2] == ["topics", "create"]
    assert services["replay"]["command"][:2] == ["replay", "--synthetic"]
    for worker in ("worker-1", "worker-2"):
        command = services[worker]["command"]
        assert command[command.index("--metrics-port") + 1] == "9100"
        # The worker listens on 127.0.0.1 unless told otherwise: Prometheus would not reach it.
        assert command[command.index("--metrics-host") + 1] == "0.0.0.0"
        probe = " ".join(services[worker]["healthcheck"]["test"])
        assert "http://127.0.0.1:9100/healthz" in probe, worker


def test_compose_prometheus_uses_the_checked_config() -> None:
    """The file behind --config.file in compose is deploy/prometheus/prometheus.yml."""
    service = _compose()["services"]["prometheus"]
    flag = next(a for a in service["command"] if a.startswith("--config.file="))
    container_path = flag.split("=", 1)[1]
    host = None
    for source, target in _bind_mounts(service):
        if container_path == target:
            host = source
        elif container_path.startswith(target.rstrip("/") + "/"):
            host = source / container_path[len(target.rstrip("/")) + 1 :]
    assert host == REPO / "deploy" / "prometheus" / "prometheus.yml"
    scraped = yaml.safe_load(host.read_text())["scrape_configs"]
    services = _compose()["services"]
    for job in scraped:
        for sc in job["static_configs"]:
            for target in sc["targets"]:
                hostname = target.split(":")[0]
                assert hostname == "localhost" or hostname in services, target


def test_compose_grafana_provisioning() -> None:
    """Grafana gets the provisioning dir and the dashboards where the provider looks."""
    service = _compose()["services"]["grafana"]
    mounts = {target: source for source, target in _bind_mounts(service)}
    assert mounts["/etc/grafana/provisioning"] == REPO / "grafana" / "provisioning"
    provider = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "dashboards" / "brandpulse.yml").read_text()
    )["providers"][0]
    assert mounts[provider["options"]["path"]] == REPO / "grafana" / "dashboards"
    datasource = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_brands_example() -> None:
    """The example brands file parses and follows the documented format."""
    config = tomllib.loads(BRANDS.read_text())
    assert config["defaults"]["sla_seconds"] > 0
    names = [b["name"] for b in config["brand"]]
    assert len(names) == len(set(names)) >= 2
    for brand in config["brand"]:
        assert brand["handles"] and all(isinstance(v, list) for v in brand["handles"].values())
        hours = brand.get("business_hours")
        if hours:
            assert {"timezone", "days", "start", "end"} <= set(hours)


def test_dockerfile() -> None:
    """python:3.11-slim, project installed with pip, non-root, metrics port, brandpulse CLI."""
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"pip install \.", text)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"^EXPOSE 9100$", text, re.M)
    assert re.search(r"BRANDPULSE_METRICS_HOST=0\.0\.0\.0\b", text)
    assert re.search(r'^ENTRYPOINT \["brandpulse"\]$', text, re.M)


def test_kubernetes_manifests() -> None:
    """Workers scraped via annotations on the metrics port, brands from the ConfigMap."""
    docs = [
        d
        for path in sorted(K8S.glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d and "kind" in d
    ]
    kinds = {d["kind"]: d for d in docs}
    assert {"Deployment", "ConfigMap", "Service"} <= set(kinds)
    pod = kinds["Deployment"]["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9100"
    container = pod["spec"]["containers"][0]
    assert 9100 in [p["containerPort"] for p in container["ports"]]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    brands = kinds["ConfigMap"]["data"]["brands.toml"]
    assert tomllib.loads(brands) == tomllib.loads(BRANDS.read_text())
    env = {e["name"]: e.get("value") for e in container["env"]}
    key = next(e for e in container["env"] if e["name"] == "BRANDPULSE_INTERNAL_KEY")
    assert key["valueFrom"]["secretKeyRef"]["name"] == "brandpulse-internal-key"  # not in git
    assert env["BRANDPULSE_METRICS_HOST"] == "0.0.0.0"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "brands")
    assert env["BRANDPULSE_BRANDS"] == mount["mountPath"] + "/brands.toml"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_alertmanager_config_is_valid() -> None:
    """amtool's own validation of the example configuration."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"severity": "page", "team": "brand-care", "brand": "acme"}, "page"),
        ({"severity": "page", "team": "platform"}, "platform-page"),
        ({"severity": "ticket", "team": "brand-care", "brand": "acme"}, "ticket"),
        ({"severity": "ticket", "team": "platform"}, "platform-ticket"),
        ({"severity": "none"}, "default"),
    ],
)
def test_alertmanager_routes_by_severity(labels: dict[str, str], receiver: str) -> None:
    """Routing as amtool resolves it: severity first, then team."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager)")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}"]
        + [f"{k}={v}" for k, v in labels.items()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def test_alertmanager_routes_every_severity_used() -> None:
    """Structural check (no amtool needed): each severity the rules use has a route."""
    config = yaml.safe_load(ALERTMANAGER.read_text())
    routed = {
        m.split("=", 1)[1].strip('"')
        for route in config["route"]["routes"]
        for m in route.get("matchers", [])
        if m.startswith("severity=")
    }
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert routed >= {"page", "ticket"}
