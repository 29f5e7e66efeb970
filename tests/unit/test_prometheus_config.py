"""deploy/prometheus: Debian's promtool (`make prometheus`) accepts the shipped config and alert
rules, the rules pass their own unit tests (alerts_test.yml, each alert firing and quiet), and
the config points where a local stack serves /metrics and keeps Ray's service-discovery file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray._private.ray_constants import PROMETHEUS_SERVICE_DISCOVERY_FILE

from rayline.settings import PROJECT_ROOT, Settings
from rayline.stack import ray_temp_dir
from rayline.stack.services import ensure_api_keys, prometheus_files
from serve_app.routes import ENDPOINTS

DEPLOY = PROJECT_ROOT / "deploy" / "prometheus"
HOME = Path(Settings.model_fields["home"].default)
"""The Rayline home of a checkout that sets no RAYLINE_HOME (`.rayline/`)."""


def promtool(*args: str) -> None:
    """Run promtool and fail the test with everything it printed unless it succeeds."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `make prometheus` installs it "
            "(Debian: sudo apt-get install prometheus)"
        )
    result = subprocess.run([path, *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} failed (exit {result.returncode}):\n"
        f"{result.stdout}{result.stderr}"
    )


def shipped(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return loaded


def scrape_job(config: dict[str, Any], name: str) -> dict[str, Any]:
    jobs: dict[str, dict[str, Any]] = {job["job_name"]: job for job in config["scrape_configs"]}
    return jobs[name]


def test_promtool_accepts_the_config_in_a_checkout_with_a_key_and_a_running_head(
    tmp_path: Path,
) -> None:
    # promtool refuses a config whose credentials file is missing, and reads the Ray head's
    # discovery file when there is one; both are laid out here as in a checkout whose stack
    # is up, with the config itself unchanged.
    deploy = tmp_path / "deploy" / "prometheus"
    shutil.copytree(DEPLOY, deploy)
    home = tmp_path / HOME.relative_to(PROJECT_ROOT)
    settings = Settings(home=home, api_keys=None)
    ensure_api_keys(settings)
    prometheus_files(settings)  # what `make up` writes: the predict key, the session link
    predict_key = (home / "prometheus_key").read_text().strip()
    assert f"predict:{predict_key}" in settings.credentials_file.read_text().splitlines()
    assert (home / "prometheus_key").stat().st_mode & 0o777 == 0o600
    session = ray_temp_dir(settings) / "session_latest"
    assert (home / "ray_session_latest").readlink() == session
    try:
        # What Ray's PrometheusServiceDiscoveryWriter writes: one group, job "ray".
        session.mkdir(parents=True)
        targets = [{"labels": {"job": "ray"}, "targets": ["127.0.0.1:44217"]}]
        (session / PROMETHEUS_SERVICE_DISCOVERY_FILE).write_text(json.dumps(targets))
        promtool("check", "config", str(deploy / "prometheus.yml"))
    finally:
        if not session.parent.is_relative_to(tmp_path):
            shutil.rmtree(session.parent, ignore_errors=True)


def test_promtool_accepts_the_alert_rules() -> None:
    promtool("check", "rules", str(DEPLOY / "alerts.yml"))


def test_alert_rules_pass_their_unit_tests() -> None:
    promtool("test", "rules", str(DEPLOY / "alerts_test.yml"))


def test_every_alert_has_a_severity_and_text_and_is_tested_firing_and_quiet() -> None:
    rules = [rule for group in shipped("alerts.yml")["groups"] for rule in group["rules"]]
    alerts = {rule["alert"] for rule in rules}
    assert alerts == {
        "RaylineModelDrift",
        "RaylineFeatureDrift",
        "RaylineQualityDrop",
        "RaylineScheduleFailures",
        "RaylineHigh5xxRate",
        "RaylineTargetDown",
    }
    for rule in rules:
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    cases = [
        case
        for test in shipped("alerts_test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    assert {c["alertname"] for c in cases if c["exp_alerts"]} == alerts
    assert {c["alertname"] for c in cases if not c["exp_alerts"]} == alerts


def test_config_scrapes_the_local_ingress_with_a_predict_key_and_loads_the_rules() -> None:
    config = shipped("prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    rayline = scrape_job(config, "rayline")
    port = Settings.model_fields["serve_port"].default
    assert rayline["static_configs"] == [{"targets": [f"127.0.0.1:{port}"]}]
    assert rayline.get("metrics_path", "/metrics") == "/metrics"
    assert rayline["authorization"]["type"] == "Bearer"
    key_file = (DEPLOY / rayline["authorization"]["credentials_file"]).resolve()
    assert key_file == HOME / "prometheus_key"
    # The key the comments ask for is enough for the route.
    metrics = next(e for e in ENDPOINTS if (e.method, e.path) == ("GET", "/metrics"))
    assert metrics.role == "predict"


def test_config_discovers_ray_nodes_where_the_local_head_writes_them() -> None:
    (sd_config,) = scrape_job(shipped("prometheus.yml"), "ray")["file_sd_configs"]
    (pattern,) = sd_config["files"]
    # `make up` links the home's `ray_session_latest` to the head's session, wherever it is.
    expected = HOME / "ray_session_latest" / PROMETHEUS_SERVICE_DISCOVERY_FILE
    assert (DEPLOY / pattern).resolve(strict=False) == expected.resolve(strict=False)
