"""cluster.yaml is a Ray cluster launcher config that `ray up` accepts: it validates against
Ray's own schema, installs this checkout on every node, keeps token auth on and opens only the
Serve ingress port to the world; every node serves as `make up` does."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rayline.settings import PROJECT_ROOT

CLUSTER_YAML = PROJECT_ROOT / "cluster.yaml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CLUSTER_YAML.read_text())
    return loaded


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    spec = importlib.util.find_spec("ray")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "autoscaler" / "ray-schema.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _commands(commands: list[str]) -> str:
    return "\n".join(commands)


def test_cluster_yaml_matches_rays_cluster_schema(
    config: dict[str, Any], schema: dict[str, Any]
) -> None:
    jsonschema.validate(config, schema)
    # The same checks `ray up` runs before it touches AWS: defaults merged, then validated.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(config)))


def test_the_schema_check_rejects_a_misspelled_key(
    config: dict[str, Any], schema: dict[str, Any]
) -> None:
    broken = {**config, "worker_start_commands": config["worker_start_ray_commands"]}
    with pytest.raises(jsonschema.ValidationError, match="worker_start_commands"):
        jsonschema.validate(broken, schema)


def test_head_and_worker_node_types_with_bounds(config: dict[str, Any]) -> None:
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers, "no worker node type"
    for worker in workers:
        assert 0 <= worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]
        # serve_config.yaml can pin replicas to workers with this resource.
        assert worker["resources"]["worker_node"] >= 1


def test_setup_commands_install_this_checkout(config: dict[str, Any]) -> None:
    # The checkout is copied to ~/rayline on every node...
    assert config["file_mounts"]["~/rayline"] == "."
    for excluded in (".venv", ".rayline", ".env", "web/node_modules"):
        assert excluded in config["rsync_exclude"]
    setup = config["setup_commands"]
    # ...and installed there, editable, into the venv that every later command puts on PATH.
    assert any("cd ~/rayline" in c and "pip install" in c and "-e ." in c for c in setup), setup
    assert any("rayline/.venv/bin" in c and ".bashrc" in c for c in setup)
    assert "python -m rayline.stack mlflow" in _commands(config["head_start_ray_commands"])


@pytest.mark.parametrize("key", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_ray_starts_with_token_auth_on_every_node(config: dict[str, Any], key: str) -> None:
    commands = _commands(config[key])
    assert "ray start" in commands
    assert commands.index("RAY_AUTH_MODE=token") < commands.index("ray start")
    # Every node gets this machine's token, so `ray job submit` from here is accepted.
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_only_the_ingress_port_is_open_to_the_world(config: dict[str, Any]) -> None:
    rules = config["provider"]["security_group"]["IpPermissions"]
    open_to_world = [
        (rule["FromPort"], rule["ToPort"])
        for rule in rules
        if any(r.get("CidrIp") == "0.0.0.0/0" for r in rule.get("IpRanges", []))
        or any(r.get("CidrIpv6") == "::/0" for r in rule.get("Ipv6Ranges", []))
    ]
    serve_config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
    ingress = serve_config["http_options"]["port"]
    assert open_to_world == [(ingress, ingress)]
    # The dashboard and Jobs API listen on the head's loopback (reached through SSH).
    assert "--dashboard-host=127.0.0.1" in _commands(config["head_start_ray_commands"])


def test_settings_and_secrets_come_from_outside_the_repo(config: dict[str, Any]) -> None:
    text = CLUSTER_YAML.read_text()
    for secret_name in ("AWS_SECRET_ACCESS_KEY", "RAYLINE_API_KEYS=", "password"):
        assert secret_name not in text
    env_sources = [src for dst, src in config["file_mounts"].items() if dst.endswith(".env")]
    assert env_sources and all(src.startswith("~/") for src in env_sources)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert ". ~/rayline.env" in _commands(config[key])


def test_every_node_serves_as_make_up_does(config: dict[str, Any], tmp_path: Path) -> None:
    # The Serve settings `make up` gives the head (rayline.stack.ray_env), on every cluster node:
    # replicas start their own HTTP servers only where the raylet has them.
    from rayline import stack
    from rayline.settings import Settings

    local = stack.ray_env(Settings(home=tmp_path))
    names = [
        "RAY_SERVE_ENABLE_HA_PROXY",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT",
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT",
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        "RAY_worker_niceness",  # replicas at normal priority, as on the local head
    ]
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        commands = _commands(config[key])
        for name in names:
            assert f"{name}={local[name]}" in commands, f"{key}: {name}"
        assert "RAY_SERVE_HAPROXY_BINARY_PATH=$HOME/rayline/.venv/bin/rayline-haproxy" in commands
        assert commands.index("RAY_SERVE_ENABLE_HA_PROXY") < commands.index("ray start")
