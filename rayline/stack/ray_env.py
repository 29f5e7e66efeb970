"""How the local Ray head is started: its environment, its `ray start` arguments, its folders."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from pydantic import SecretStr

from rayline.settings import SERVE_PORT_BLOCK as SERVE_PORT_BLOCK  # re-exported: profiles, stack
from rayline.settings import Settings
from rayline.stack.supervisor import BIN, free_ports

AWS_SECRET_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
"""S3 credentials that never reach a Ray process under their AWS_* names."""

WORKER_SETUP_HOOK_VARIABLE = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"
WORKER_SETUP_HOOK = "serve_app._ray_patches.bind_grpc_to_loopback"
"""Ray's worker process setup hook, as `serve_app._ray_patches` names it (a unit test checks
that the two agree)."""


def ray_temp_dir(settings: Settings) -> Path:
    """Ray's session folder; Unix socket paths are short, so long homes map into /tmp."""
    inside = settings.home / "ray"
    # Ray's socket paths add ~75 bytes below this folder and AF_UNIX paths stop at 107.
    if len(str(inside)) <= 30:
        return inside
    return Path("/tmp") / f"rayline-{hashlib.sha256(str(settings.home).encode()).hexdigest()[:10]}"  # noqa: S108


def serve_ports(serve_port: int, grpc_port: int) -> dict[str, str]:
    """Ray Serve's HTTP and gRPC port settings inside the blocks that start at `serve_port`
    and `grpc_port`.

    Serve binds these ports with SO_REUSEPORT, so two stacks sharing one would split each
    other's requests: every stack keeps all of them inside its own blocks."""
    ports = {}
    for protocol, first in (("HTTP", serve_port), ("GRPC", grpc_port)):
        ports[f"RAY_SERVE_DIRECT_INGRESS_MIN_{protocol}_PORT"] = str(first + 1)
        ports[f"RAY_SERVE_DIRECT_INGRESS_MAX_{protocol}_PORT"] = str(first + SERVE_PORT_BLOCK - 2)
        ports[f"RAY_SERVE_FALLBACK_PROXY_{protocol}_PORT"] = str(first + SERVE_PORT_BLOCK - 1)
    return ports


def ray_env(settings: Settings) -> dict[str, str]:
    """Environment for Ray processes: token auth, and what jobs and replicas need."""
    env = dict(os.environ)
    # S3 keys reach Ray processes only as RAYLINE_AWS_* (read by rayline.datasets): Ray Tune
    # copies AWS_* variables into trial runtime_envs, which Ray logs in clear text.
    for name in AWS_SECRET_VARS:
        value = env.pop(name, None)
        if value and name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setdefault(f"RAYLINE_{name}", value)
    env.update({k: v for k, v in settings.storage_env.items() if k not in AWS_SECRET_VARS})
    env.update(
        {
            "RAY_AUTH_MODE": "token",
            # Jobs and replicas read the same settings as the process that started the head.
            "RAYLINE_HOME": str(settings.home),
            "RAYLINE_MLFLOW_TRACKING_URI": settings.tracking_uri,
            "RAYLINE_RAY_DASHBOARD_PORT": str(settings.ray_dashboard_port),
            "RAYLINE_SERVE_PORT": str(settings.serve_port),
            "RAYLINE_WEB_DIST": str(settings.web_dist),
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    # Every setting given explicitly, `.env` included (which jobs and replicas, in another cwd,
    # do not read), reaches them by name; the MLflow database URI stays with the MLflow server.
    env.pop("RAYLINE_MLFLOW_BACKEND_URI", None)
    for name in sorted(settings.model_fields_set - {"mlflow_backend_uri"}):
        value = getattr(settings, name)
        if value is not None:
            secret = isinstance(value, SecretStr)
            env[f"RAYLINE_{name.upper()}"] = value.get_secret_value() if secret else str(value)
    # Ray starts every worker at niceness 15 (its `worker_niceness`), the Serve replicas too,
    # below the dashboard, MLflow and HAProxy: under contention serving got the leftovers.
    # Workers run at normal priority; training and Ray's control plane yield instead
    # (`rayline.priority`).
    env.setdefault("RAY_worker_niceness", "0")
    # Serve runs behind HAProxy with Ray Serve's throughput settings (README, "Performance").
    env.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
    env.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    env.setdefault("RAY_SERVE_HAPROXY_BINARY_PATH", str(BIN / "rayline-haproxy"))
    # A request that a dying Ingress replica dropped (connection refused, reset or closed
    # without an answer) is replayed on another replica, so a lost replica loses no request.
    # The price: an admin POST whose replica died after acting but before answering runs twice.
    env.setdefault("RAY_SERVE_HAPROXY_RETRY_ON", "conn-failure empty-response junk-response")
    env.setdefault("RAY_SERVE_HAPROXY_RETRIES", "3")
    for name, value in serve_ports(settings.serve_port, settings.grpc_port).items():
        env.setdefault(name, value)
    # HAProxy's stats and metrics ports are free ports of this head, not Ray's fixed defaults.
    stats_port, metrics_port = free_ports(2)
    env.setdefault("RAY_SERVE_HAPROXY_STATS_PORT", str(stats_port))
    env.setdefault("RAY_SERVE_HAPROXY_METRICS_PORT", str(metrics_port))
    if settings.ray_node_ip_address == "127.0.0.1":
        # Outside its single-machine mode Ray swaps 127.0.0.1 for the machine's address.
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Serve binds its gRPC servers to every interface; each Ray worker starts by patching
        # them to loopback (serve_app/_ray_patches.py). A job's own setup hook replaces it.
        env.setdefault(WORKER_SETUP_HOOK_VARIABLE, WORKER_SETUP_HOOK)
    if settings.ray_redis_address:
        env["RAY_REDIS_ADDRESS"] = settings.ray_redis_address
        # A restarted head finds its own state in Redis and no other cluster's.
        home_id = hashlib.sha256(str(settings.home).encode()).hexdigest()[:8]
        env.setdefault(
            "RAY_external_storage_namespace", f"rayline-{home_id}-{settings.ray_gcs_port}"
        )
        # While the GCS is down, Serve's controller must not block on its writes (Ray's
        # default: no timeout) and raylets must wait for it rather than exit after 60 s.
        env.setdefault("RAY_SERVE_KV_TIMEOUT_S", "1")
        env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "600")
    return env


def ray_start_args(settings: Settings, temp_dir: Path) -> list[str]:
    """`ray start` for the local head: its ports from settings, its dashboard on loopback."""
    return [
        str(BIN / "ray"),
        "start",
        "--head",
        "--port",
        str(settings.ray_gcs_port),
        "--node-ip-address",
        settings.ray_node_ip_address,
        "--num-cpus",
        str(settings.ray_num_cpus),
        "--object-store-memory",
        str(settings.ray_object_store_bytes),
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(settings.ray_dashboard_port),
        "--dashboard-agent-listen-port",
        str(settings.ray_agent_port),
        "--ray-client-server-port",
        str(settings.ray_client_port),
        "--temp-dir",
        str(temp_dir),
        "--disable-usage-stats",
    ]


def ensure_ray_token() -> None:
    """Ray's token auth needs a token in ~/.ray/auth_token; create one if missing."""
    if os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").exists():
        return
    subprocess.run(
        [str(BIN / "ray"), "get-auth-token", "--generate"],
        check=True,
        env={**os.environ, "RAY_AUTH_MODE": "token"},
        capture_output=True,
    )
