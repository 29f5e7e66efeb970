"""The production test stack: what a `cluster.yaml` deployment runs, on one machine.

`RAYLINE_MODE=production`: a 1-CPU Ray head and a 1-CPU second node joined to it (`worker_node`
resource), the head's GCS state in Redis (fault tolerance), MLflow on a PostgreSQL server of
the cluster's own (a test restarts it) with artifacts in a SeaweedFS S3 server, Rayline's own
state in a second database, the API keys in `RAYLINE_API_KEYS` (no keys file): all set by
RAYLINE_* settings alone, on the `production-test` profile's ports. Also what the tests ask of
it: Ray's state API (nodes) and the head's gcs_server process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from rayline.ray_api import dashboard_get
from rayline.stack.harness import LocalStack
from rayline.stack.profiles import PRODUCTION_TEST
from tests.integration.stores import Postgres, S3Server, local_stack, private_postgres, seaweed_s3
from tests.waiting import wait_until

REDIS = ("127.0.0.1", 6379)
BUCKET = "rayline-prod"
SETOSA = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}
VIRGINICA = {
    "sepal length (cm)": 6.7,
    "sepal width (cm)": 3.0,
    "petal length (cm)": 5.2,
    "petal width (cm)": 2.3,
}


@dataclass
class Production:
    stack: LocalStack
    s3: S3Server
    postgres: Postgres
    """The cluster's PostgreSQL server, its own, so that a test may restart it."""
    database: str
    """MLflow's PostgreSQL database."""
    state_database: str
    """Rayline's state database (schedules and their runs)."""
    buckets_before_up: list[str]
    namespace: str
    """The cluster's key prefix in Redis."""
    head_node: str = ""
    worker_node: str = ""

    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.stack.settings.tracking_uri)

    def state(self, kind: str) -> list[dict[str, Any]]:
        """Ray's state API (`/api/v0/<kind>`, with the token)."""
        reply = dashboard_get(
            self.stack.settings, f"/api/v0/{kind}?limit=10000&detail=1", timeout=10
        )
        rows: list[dict[str, Any]] = reply["data"]["result"]["result"]
        return rows

    def predict(self, timeout: float = 10) -> tuple[int, Any]:
        """One setosa row to the served `iris_prod` (conftest.py)."""
        return self.stack.api(
            "POST", "/v1/models/iris_prod/predict", {"instances": [SETOSA]}, timeout=timeout
        )

    def alive_nodes(self) -> list[str]:
        return sorted(n["node_id"] for n in self.state("nodes") if n["state"] == "ALIVE")


def deploy(production: Production, models: list[str]) -> None:
    """`serve deploy` of the Serve app serving `models`, one Ingress replica on each node;
    returns once every replica has loaded them."""
    config = production.stack.serve_config(models)
    (ingress,) = [d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress"]
    ingress["max_replicas_per_node"] = 1  # the two replicas: one on each node
    production.stack.deploy_config(config)


def wait_for(what: str, check: Any, seconds: float) -> Any:
    """`wait_until`, with the cluster allowed to be unreachable meanwhile."""
    return wait_until(check, seconds, what, interval=1, ignoring=(Exception,))


@contextlib.contextmanager
def production_cluster(root: Path) -> Iterator[Production]:
    from ray._private.gcs_utils import cleanup_redis_storage
    from ray.util import get_node_ip_address

    namespace = f"rayline-test-{uuid.uuid4().hex[:12]}"
    try:
        with (
            seaweed_s3(root / "s3") as s3,
            private_postgres() as postgres,
            postgres.database() as (database, uri),
            postgres.database() as (state_database, state_uri),
        ):
            buckets = [b["Name"] for b in s3.client().list_buckets().get("Buckets", [])]
            settings = {
                # Production mode refuses to start without every store and key set below.
                "RAYLINE_MODE": "production",
                "RAYLINE_API_KEYS": (
                    f"admin:{secrets.token_urlsafe(24)},predict:{secrets.token_urlsafe(24)}"
                ),
                "RAYLINE_MLFLOW_BACKEND_URI": uri,
                "RAYLINE_MLFLOW_ARTIFACTS_DESTINATION": f"s3://{BUCKET}/mlflow",
                "RAYLINE_S3_ENDPOINT_URL": s3.endpoint,
                "RAYLINE_AWS_ACCESS_KEY_ID": s3.access_key,
                "RAYLINE_AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "RAYLINE_STATE_DATABASE_URI": state_uri,
                "RAYLINE_RAY_NUM_CPUS": "1",
                # Nodes that join listen on the machine's address, not on loopback: so does
                # the head.
                "RAYLINE_RAY_NODE_IP_ADDRESS": get_node_ip_address(),
                "RAYLINE_RAY_REDIS_ADDRESS": f"{REDIS[0]}:{REDIS[1]}",
                # Unique per run, so this cluster neither reads nor leaves another's GCS state.
                "RAY_external_storage_namespace": namespace,
            }
            with local_stack(root / "home", PRODUCTION_TEST, settings) as stack:
                stack.add_node("worker", num_cpus=1, resources={"worker_node": 1})
                production = Production(
                    stack, s3, postgres, database, state_database, buckets, namespace
                )

                def both_alive() -> list[dict[str, Any]] | None:
                    alive = [n for n in production.state("nodes") if n["state"] == "ALIVE"]
                    return alive if len(alive) == 2 else None

                alive = wait_for("the worker node to join", both_alive, 60)
                production.head_node = next(n["node_id"] for n in alive if n["is_head_node"])
                production.worker_node = next(n["node_id"] for n in alive if not n["is_head_node"])
                yield production
    finally:
        cleanup_redis_storage(REDIS[0], REDIS[1], "", False, namespace)


def gcs_process(temp_dir: Path, port: int) -> tuple[int, list[str], dict[str, str], str] | None:
    """pid, argv, environment and cwd of this cluster's gcs_server: its binary, under its temp
    dir and on its port (never another cluster's on this machine)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode().split("\0")[:-1]
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
            return int(proc.name), argv, environ, os.readlink(proc / "cwd")
        except (OSError, UnicodeDecodeError):
            continue
    return None
