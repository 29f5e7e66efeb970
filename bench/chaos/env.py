"""The chaos suite's own local stack: the harness's stack, what Ray says of its replicas, and the
processes it may touch.

`make chaos` starts a Ray head and an MLflow server with the product's harness
(`rayline.stack.harness`) on the `chaos` profile's ports under its own RAYLINE_HOME, so it never
collides with `make demo` or a test session, and every process it signals is proven to belong to
that stack first (its Ray temp dir or its pid file).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from rayline import procfs
from rayline.ray_api import dashboard_get
from rayline.stack.harness import BIN, LocalStack, StackError
from rayline.stack.profiles import CHAOS
from rayline.stack.ray_env import ray_env
from rayline.stack.supervisor import free_ports

HOME = Path("/tmp/rayline-chaos")  # noqa: S108 - the suite's own scratch home, wiped per run
INGRESS_TITLE = "ray::ServeReplica:rayline:Ingress"
PORTS_FREE_S = 120
"""How long a start waits for the ports: Ray's client server exits only once its head's GCS is
gone, up to a minute after the head."""
START_ATTEMPTS = 2
"""A Ray head on a busy machine can miss its start timeout; the start is tried again once."""
REDIS = ("127.0.0.1", 6379)
"""The Redis that keeps the chaos head's GCS state (fault tolerance), when one answers there."""
NAMESPACE_FILE = "redis_namespace"
"""The file in the chaos home naming the run's key prefix in Redis, so that `stop` (and the
next run's `start`) removes exactly that run's GCS state."""


class ChaosStack(LocalStack):
    """The running chaos stack, and what Ray's state API says of its Serve replicas."""

    def dashboard(self, path: str, timeout: float = 10) -> Any:
        return dashboard_get(self.settings, path, timeout=timeout)

    def replicas(self, deployment: str = "Ingress") -> list[dict[str, Any]]:
        """Serve replica actors of one deployment (any state), from Ray's state API."""
        query = urllib.parse.urlencode(
            {
                "limit": 1000,
                "detail": "true",
                "filter_keys": "class_name",
                "filter_predicates": "=",
                "filter_values": f"ServeReplica:rayline:{deployment}",
            }
        )
        data = self.dashboard(f"/api/v0/actors?{query}")
        result: list[dict[str, Any]] = data["data"]["result"]["result"]
        return result

    def nodes(self) -> list[dict[str, Any]]:
        """Ray's nodes (ALIVE and DEAD), from its state API."""
        data = self.dashboard("/api/v0/nodes?limit=1000&detail=true")
        result: list[dict[str, Any]] = data["data"]["result"]["result"]
        return result

    def serve_replicas(self, deployment: str = "Ingress") -> list[dict[str, Any]]:
        """{node_id, state, pid} of each replica of one deployment, in Serve's own view."""
        app = self.serve_app()
        replicas = ((app.get("deployments") or {}).get(deployment) or {}).get("replicas") or []
        return [
            {
                "node_id": r.get("node_id") or "",
                "state": r.get("state") or "",
                "pid": int(r.get("pid") or 0),
            }
            for r in replicas
        ]

    def alive_replicas(self, deployment: str = "Ingress") -> dict[str, int]:
        """actor id → pid of the ALIVE replicas of one deployment."""
        return {
            a["actor_id"]: int(a["pid"])
            for a in self.replicas(deployment)
            if a.get("state") == "ALIVE" and a.get("pid")
        }


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def redis_answers(address: tuple[str, int] = REDIS) -> bool:
    """Whether a Redis answers PING at `address`."""
    try:
        with socket.create_connection(address, timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def chaos_stack(home: Path = HOME, namespace: str | None = None) -> ChaosStack:
    """The chaos stack's handle (not started): its own key file, never the caller's keys; with
    `namespace`, its GCS keeps its state in Redis under that prefix (GCS fault tolerance)."""
    variables = {"RAYLINE_EXPERIMENT": "rayline-chaos"}
    if namespace:
        variables["RAYLINE_RAY_REDIS_ADDRESS"] = f"{REDIS[0]}:{REDIS[1]}"
        # One per run: a head never reloads an earlier run's nodes, actors or Serve apps.
        variables["RAY_external_storage_namespace"] = namespace
    return ChaosStack.from_profile(
        CHAOS,
        home,
        variables,
        unset=("RAYLINE_API_KEYS",),
        predictor_config={"poll_interval_s": 1},
    )


def gcs_fault_tolerant(stack: LocalStack) -> bool:
    return bool(stack.settings.ray_redis_address)


def forget_gcs_state(home: Path) -> None:
    """Remove the GCS state the run in `home` left in Redis (none if it ran without)."""
    from ray._private.gcs_utils import cleanup_redis_storage

    path = home / NAMESPACE_FILE
    if path.exists() and (namespace := path.read_text().strip()):
        cleanup_redis_storage(REDIS[0], REDIS[1], "", False, namespace)
        path.unlink()


def start(home: Path = HOME) -> ChaosStack:
    """A fresh chaos stack: stop what an earlier run left, wipe its home, `up` (with GCS fault
    tolerance in a namespace of its own when Redis answers)."""
    namespace = f"rayline-chaos-{uuid.uuid4().hex[:12]}" if redis_answers() else None
    stack = chaos_stack(home, namespace)
    stack.enter_environment()
    with contextlib.suppress(Exception):  # an earlier run's state may be anything
        stack.stop()
    for attempt in range(1, START_ATTEMPTS):
        try:
            return _fresh_up(stack)
        except SystemExit as exc:  # how rayline.stack reports a start that failed
            print(f"stack start failed ({exc}); attempt {attempt} of {START_ATTEMPTS}", flush=True)
            stack.stop()
            time.sleep(10)
    return _fresh_up(stack)


def _fresh_up(stack: ChaosStack) -> ChaosStack:
    # What an earlier run, or a failed attempt, left in Redis: the head starts clean.
    with contextlib.suppress(Exception):  # Redis may be gone since: the namespace is unique
        forget_gcs_state(stack.home)
    shutil.rmtree(stack.home, ignore_errors=True)
    stack.home.mkdir(parents=True)
    namespace = stack.variables.get("RAY_external_storage_namespace")
    if namespace:
        (stack.home / NAMESPACE_FILE).write_text(namespace + "\n")
    return stack.up(wait_ports_s=PORTS_FREE_S)


def attach(home: Path = HOME) -> ChaosStack:
    """The chaos stack an earlier `--keep` run left up (for developing one phase)."""
    path = home / NAMESPACE_FILE
    namespace = path.read_text().strip() if path.exists() else None
    stack = chaos_stack(home, namespace)
    stack.enter_environment()
    return stack


def stop(stack: ChaosStack) -> None:
    try:
        stack.down()
    finally:
        forget_gcs_state(stack.home)


# --- the head's GCS and a second node ---------------------------------------------------------
LOOPBACK_RAY_START = """
import sys
from ray._private import ray_constants, services
ray_constants.ENABLE_RAY_CLUSTER = True  # past `ray start`'s refusal to join a loopback head
services.resolve_ip_for_localhost = lambda host: host  # and 127.0.0.1 stays 127.0.0.1
from ray.scripts.scripts import main
sys.argv = ["ray", *sys.argv[1:]]
main()
"""
"""`ray start`, for a node that joins a head on 127.0.0.1 from 127.0.0.1."""


def join_node(stack: LocalStack, name: str, num_cpus: int, resources: dict[str, float]) -> Path:
    """`ray start --address=<head>` of a second node on loopback (`LocalStack.add_node` cannot
    join a head on 127.0.0.1: Ray's multi-node mode, off there, is what `ray start` of a
    worker requires, and on it swaps 127.0.0.1 for the machine's address). The node gets its
    own temp dir and agent port, and listens on 127.0.0.1 only; `stack.stop()` stops it."""
    temp_dir = Path("/tmp") / f"rl-{name}-{uuid.uuid4().hex[:8]}"  # noqa: S108 - ours
    stack.extra_nodes.append(temp_dir)
    (agent,) = free_ports(1)
    result = subprocess.run(
        [
            str(BIN / "python"), "-c", LOOPBACK_RAY_START, "start",
            f"--address={stack.settings.ray_gcs_address}",
            "--node-ip-address", stack.settings.ray_node_ip_address,
            "--num-cpus", str(num_cpus),
            "--resources", json.dumps(resources),
            "--object-store-memory", str(300_000_000),
            "--dashboard-agent-listen-port", str(agent),
            "--temp-dir", str(temp_dir),
            "--disable-usage-stats",
        ],
        env=ray_env(stack.settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise StackError(f"ray start (second node) failed:\n{result.stdout}\n{result.stderr}")
    return temp_dir


def node_pids(temp_dir: Path) -> list[int]:
    """Every process of the node whose temp dir is `temp_dir`: those naming it (raylet, agents,
    log monitor) and everything below them (its workers and replicas)."""
    parents: dict[int, int] = {}
    named: set[int] = set()
    marker = str(temp_dir)
    for pid in procfs.pids():
        fields = procfs.stat(pid)
        if fields:
            parents[pid] = int(fields[1])
            if marker in procfs.command(pid):
                named.add(pid)
    found = set(named)
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    found.discard(os.getpid())
    return sorted(found)


def gcs_process(temp_dir: Path, port: int) -> tuple[int, list[str], dict[str, str], str] | None:
    """pid, argv, environment and cwd of this head's gcs_server: its binary, under its temp dir
    and on its port (never another cluster's on this machine)."""
    for pid in procfs.pids():
        proc = Path(f"/proc/{pid}")
        try:
            argv = procfs.argv(pid)
            if not (
                argv
                and argv[0].endswith("/gcs_server")
                and f"--gcs_server_port={port}" in argv
                and any(arg.startswith(f"--session-dir={temp_dir}/") for arg in argv)
            ):
                continue
            environ = dict(
                item.split("=", 1)
                for item in (proc / "environ").read_bytes().decode().split("\0")
                if "=" in item
            )
            return pid, argv, environ, os.readlink(proc / "cwd")
        except (OSError, UnicodeDecodeError):
            continue
    return None
