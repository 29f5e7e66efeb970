"""The Dockerfile and compose.yaml, read (`make container-test` runs them): the image's Ray
environment is the local head's, compose publishes only the three UIs on loopback, and every
variable compose.yaml reads is in .env.example."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from rayline.settings import PROJECT_ROOT, Settings
from rayline.stack.ray_env import ray_env

RAY_ENV = (
    "RAY_AUTH_MODE",
    "RAY_worker_niceness",
    "RAY_SERVE_ENABLE_HA_PROXY",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED",
    "RAY_SERVE_HAPROXY_RETRY_ON",
    "RAY_SERVE_HAPROXY_RETRIES",
)
"""What `ray_env` gives the local head's Ray processes, which the image's Ray needs too."""


def dockerfile_env(path: Path = PROJECT_ROOT / "Dockerfile") -> dict[str, str]:
    """The final stage's ENV instructions, as KEY=VALUE pairs."""
    text = path.read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line[4:]))  # type: ignore[misc]
    return env


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    return loaded


def example_env() -> dict[str, str]:
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_images_ray_environment_is_the_local_heads() -> None:
    env = dockerfile_env()
    local = ray_env(Settings())
    assert {k: env[k] for k in RAY_ENV} == {k: local[k] for k in RAY_ENV}
    assert env["RAY_SERVE_HAPROXY_BINARY_PATH"] == "/opt/rayline/bin/rayline-haproxy"
    assert env["PATH"].startswith("/opt/rayline/bin:")


def test_the_image_runs_as_a_user_and_carries_no_secret() -> None:
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    final = text.split("\nFROM ")[-1]
    assert re.search(r"^USER 1000:1000$", final, re.M)
    assert not re.search(r"(TOKEN|PASSWORD|SECRET|API_KEYS)\S*=", text)
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".rayline/*", "!.rayline/wheelhouse", ".env"} <= set(ignored)


def test_compose_publishes_only_the_uis_and_only_on_loopback_by_default() -> None:
    published = {
        name: service["ports"]
        for name, service in compose()["services"].items()
        if "ports" in service
    }
    assert sorted(published) == ["mlflow", "ray-head"]
    for ports in published.values():
        for port in ports:
            assert port.startswith("${PUBLISH_HOST:-127.0.0.1}:"), port
    assert example_env()["PUBLISH_HOST"] == "127.0.0.1"


def test_every_variable_compose_reads_is_in_env_example() -> None:
    text = (PROJECT_ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text)) - {"RAYLINE_ENV_FILE"}
    assert used - set(example_env()) == set()
    assert "change-me" in example_env()["RAY_AUTH_TOKEN"]  # a placeholder, not a secret


def test_the_rayline_containers_settings_pass_production_validation() -> None:
    """Each service of the Rayline image gets settings that RAYLINE_MODE=production accepts
    (compose's own interpolation done with .env.example's values)."""
    values = example_env()
    for name in ("mlflow", "ray-head", "ray-worker", "deploy"):
        service = compose()["services"][name]
        env = {**values}
        for key, value in service["environment"].items():
            env[key] = re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values[m.group(1)], str(value))
        fields = {
            key.removeprefix("RAYLINE_").lower(): value
            for key, value in env.items()
            if key.startswith("RAYLINE_") and key != "RAYLINE_IMAGE"
        }
        settings = Settings(**fields)
        assert settings.mode == "production", name
        assert settings.tracking_uri == "http://mlflow:5050", name
