"""The deployment files hold together: the systemd unit verifies, the compose stack parses and
mounts files that exist, its configuration loads, and the environment template names only
variables the configuration reads. Docker images are not built here (no registry access)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.config import ENV_PREFIX, ArchiveSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker" / "compose.yaml"
UNIT = DEPLOY / "insar-monitor.service"
ENV_TEMPLATE = DEPLOY / "insar-monitor.env.example"


def unit_options(text: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            options.setdefault(key.strip(), []).append(value.strip())
    return options


def test_unit_is_hardened_and_runs_the_configured_daemon() -> None:
    o = unit_options(UNIT.read_text())
    for key, value in {"User": "insar-monitor", "Group": "insar-monitor",
                       "StateDirectory": "insar-monitor",
                       "ConfigurationDirectory": "insar-monitor",
                       "EnvironmentFile": "-/etc/insar-monitor/insar-monitor.env",
                       "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
                       "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                       "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
                       "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
                       "LockPersonality": "yes", "SystemCallFilter": "@system-service",
                       "CapabilityBoundingSet": "", "Restart": "on-failure"}.items():
        assert o.get(key) == [value], key
    assert "MemoryDenyWriteExecute" not in o  # torch's run-time compiled kernels
    assert int(o["TimeoutStopSec"][0]) >= 600
    assert o["ExecStart"][0].endswith(" run --config /etc/insar-monitor/monitor.toml")


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` checks every key and value; it also requires the
    executables to exist, so the copy verified runs /bin/true instead of the venv's
    ``insar-monitor`` (the only change)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    exe = "/opt/insar-monitor/.venv/bin/insar-monitor"
    assert exe in text
    unit = tmp_path / "insar-monitor.service"
    unit.write_text(text.replace(exe, "/bin/true"))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    complaints = [x for x in (proc.stdout + proc.stderr).splitlines()
                  if "insar-monitor.service" in x]
    if proc.returncode != 0 and not complaints and "Failed to" in proc.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


def compose() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_stack_has_every_service() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "monitor", "prometheus", "grafana",
                             "mailpit"}
    assert services["migrate"]["command"][:2] == ["db", "upgrade"]
    assert services["monitor"]["depends_on"]["migrate"]["condition"] == \
        "service_completed_successfully"
    assert services["monitor"]["command"][0] == "run"
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_mounts_exist_in_the_repository() -> None:
    base = COMPOSE.parent
    mounts: list[str] = []
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                mounts.append(source)
    assert "./monitor.toml" in mounts and "../prometheus/rules.yml" in mounts
    missing = [m for m in mounts if not (base / m).exists()]
    assert not missing, f"compose mounts missing files: {missing}"
    build = compose()["x-monitor"]["build"]
    assert (base / build["context"] / build["dockerfile"]).is_file()


def test_compose_grafana_datasource_is_the_dashboards_and_reaches_the_stack() -> None:
    """The stack's Grafana gets the datasource uid the dashboards query, at the stack's
    Prometheus (not the host install's 127.0.0.1), and Prometheus scrapes the job the
    rules expect."""
    stack = yaml.safe_load((COMPOSE.parent / "grafana-datasource.yaml").read_text())
    host = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources"
                           / "prometheus.yaml").read_text())
    (ds,) = stack["datasources"]
    assert ds["uid"] == host["datasources"][0]["uid"] == "insar-monitor-prometheus"
    assert ds["url"] == "http://prometheus:9090"
    for board in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert "insar-monitor-prometheus" in board.read_text(), board.name
    scrape = yaml.safe_load((COMPOSE.parent / "prometheus.yml").read_text())
    assert [j["job_name"] for j in scrape["scrape_configs"]] == ["insar-monitor"]
    assert 'job="insar-monitor"' in (DEPLOY / "prometheus" / "rules.yml").read_text()


def test_compose_configuration_loads() -> None:
    s = load_settings(COMPOSE.parent / "monitor.toml", environ={})
    assert s.email.mode == "smtp" and s.email.host == "mailpit"
    assert s.logging.json_lines and s.targets
    env = dict(compose()["services"]["monitor"]["environment"])
    assert env[f"{ENV_PREFIX}STATUS_PAGE__HOST"] == "0.0.0.0"  # published on 127.0.0.1 only
    url = env[f"{ENV_PREFIX}DATABASE__URL"]
    assert url == compose()["x-monitor"]["environment"][f"{ENV_PREFIX}DATABASE__URL"]
    assert load_settings(COMPOSE.parent / "monitor.toml", environ=env).database.url == url


def test_dockerfile_cpu_torch_non_root_and_healthcheck() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert text.startswith("#") and "\nFROM python:3.11-slim\n" in text
    assert ('ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"'
            in text)
    assert "\nUSER insar-monitor\n" in text
    assert '\nENTRYPOINT ["insar-monitor"]\n' in text
    assert "\nHEALTHCHECK " in text


def env_template() -> dict[str, str]:
    """Every ``NAME=value`` of the template, commented-out examples included."""
    found = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        m = re.match(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            found[m.group(1)] = m.group(2)
    return found


def test_env_template_names_only_variables_the_configuration_reads() -> None:
    env = env_template()
    assert f"{ENV_PREFIX}DATABASE__URL" in env
    overrides = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    # every MONITOR__ key exists and its example value is valid
    s = load_settings(DEPLOY / "monitor.example.toml", environ=overrides)
    assert s.database.url == overrides[f"{ENV_PREFIX}DATABASE__URL"]
    email = load_settings(DEPLOY / "monitor.example.toml", environ={}).email
    # ... and a tellus archive's token, under its default token_env
    read = {email.username_env, email.password_env,
            ArchiveSettings.model_fields["token_env"].default}
    others = [k for k in env if not k.startswith(ENV_PREFIX)]
    assert read <= set(others)
    # webhook secrets are named by each [webhooks.NAME] secret_env, chosen by the operator
    secrets = [k for k in others if k not in read]
    assert secrets and all(k.startswith("MONITOR_WEBHOOK_") and k.endswith("_SECRET")
                           for k in secrets), secrets
