"""Past one machine, on one machine: a head and a second Ray node joined to it, a sweep whose
trials run on both, a Serve Predictor replica placed on the worker node, and GCS fault
tolerance with Redis (the GCS process killed and restarted while predictions go on)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ray.util import get_node_ip_address

from rayline.ray_api import dashboard_get
from rayline.stack import ray_temp_dir
from rayline.stack.harness import BIN, LocalStack
from rayline.stack.profiles import SCALE_OUT_TEST as PORTS
from rayline.stack.profiles import port_free
from rayline.training import result_event
from tests.conftest import write_config
from tests.integration.stores import local_stack
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

REDIS = ("127.0.0.1", 6379)
SETOSA = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}


@dataclass
class Cluster:
    stack: LocalStack
    head_node: str
    worker_node: str
    namespace: str

    def _state(self, kind: str, **filters: str) -> list[dict[str, Any]]:
        """Ray's state API (`/api/v0/<kind>`, with the token), including dead actors."""
        reply = dashboard_get(
            self.stack.settings, f"/api/v0/{kind}?limit=10000&detail=1", timeout=10
        )
        rows: list[dict[str, Any]] = reply["data"]["result"]["result"]
        return [r for r in rows if all(str(r.get(k)) == v for k, v in filters.items())]

    def actors(self, **filters: str) -> list[dict[str, Any]]:
        return self._state("actors", **filters)

    def nodes(self) -> list[dict[str, Any]]:
        return self._state("nodes")

    def alive_nodes(self) -> list[str]:
        return sorted(n["node_id"] for n in self.nodes() if n["state"] == "ALIVE")

    def predict(self, timeout: float = 10) -> tuple[int, Any]:
        return self.stack.api(
            "POST", "/v1/models/iris_multi/predict", {"instances": [SETOSA]}, timeout=timeout
        )


def _wait_for(what: str, check: Any, seconds: float) -> Any:
    """`wait_until`, with the cluster allowed to be unreachable meanwhile."""
    return wait_until(check, seconds, what, interval=1, ignoring=(Exception,))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A 1-CPU head with its GCS state in Redis and a 1-CPU worker node (`worker_node` resource)."""
    from ray._private.gcs_utils import cleanup_redis_storage

    namespace = f"rayline-test-{uuid.uuid4().hex[:12]}"
    settings = {
        "RAYLINE_RAY_NUM_CPUS": "1",
        # Nodes that join listen on the machine's address, not on loopback: so does the head.
        "RAYLINE_RAY_NODE_IP_ADDRESS": get_node_ip_address(),
        "RAYLINE_RAY_REDIS_ADDRESS": f"{REDIS[0]}:{REDIS[1]}",
        # Unique per run, so this cluster neither reads nor leaves another's GCS state.
        "RAY_external_storage_namespace": namespace,
    }
    try:
        with local_stack(tmp_path_factory.mktemp("scale"), PORTS, settings) as stack:
            stack.add_node("worker", num_cpus=1, resources={"worker_node": 1})
            joined = Cluster(stack, "", "", namespace)
            nodes = _wait_for(
                "the worker node did not join",
                lambda: [n for n in joined.nodes() if n["state"] == "ALIVE"][1:] and joined.nodes(),
                60,
            )
            head = next(n["node_id"] for n in nodes if n["is_head_node"])
            worker = next(n["node_id"] for n in nodes if not n["is_head_node"])
            yield Cluster(stack, head, worker, namespace)
    finally:
        cleanup_redis_storage(REDIS[0], REDIS[1], "", False, namespace)


@pytest.fixture(scope="module")
def iris_multi(cluster: Cluster) -> dict[str, Any]:
    # Trials of a few seconds each, so the two 1-CPU nodes are both busy at once.
    path = write_config(
        cluster.stack.configs,
        "iris_multi",
        estimators={"random_forest": {"n_estimators": [200, 300]}, "knn": {}},
        search={"num_samples": 4},
        ensemble={"enabled": False},
    )
    return result_event(cluster.stack.train(path).stdout)


@pytest.fixture(scope="module")
def served(cluster: Cluster, iris_multi: dict[str, Any]) -> Cluster:
    """The Serve app with its Predictor pinned to the worker node by a custom resource."""
    cluster.stack.deploy(["iris_multi"], predictor_options={"resources": {"worker_node": 0.01}})
    return cluster


def test_sweep_trials_run_on_both_nodes(cluster: Cluster, iris_multi: dict[str, Any]) -> None:
    assert iris_multi["model"] == "iris_multi" and iris_multi["version"] == "1"
    # Tune's trial actors (alive or dead) with the node each one ran on.
    trials = [a for a in cluster.actors(class_name="ImplicitFunc") if a.get("pid")]
    assert {a["node_id"] for a in trials} == {cluster.head_node, cluster.worker_node}, trials


def test_predictor_replica_runs_on_the_worker_node(served: Cluster) -> None:
    replicas = served.actors(class_name="ServeReplica:rayline:Predictor", state="ALIVE")
    assert replicas and {a["node_id"] for a in replicas} == {served.worker_node}
    # The ingress stays where Serve put it; the model's answer came from the worker node.
    status, body = served.predict()
    assert status == 200 and body["predictions"] == [0], body


def _gcs_process(temp_dir: Path, port: int) -> tuple[int, list[str], dict[str, str], str] | None:
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


def test_serving_survives_a_gcs_restart(served: Cluster) -> None:
    settings = served.stack.settings
    temp_dir = ray_temp_dir(settings)
    found = _gcs_process(temp_dir, settings.ray_gcs_port)
    assert found is not None, f"no gcs_server under {temp_dir}"
    pid, argv, environ, cwd = found
    assert environ.get("RAY_REDIS_ADDRESS") == f"{REDIS[0]}:{REDIS[1]}"
    assert environ.get("RAY_external_storage_namespace") == served.namespace
    assert served.predict()[0] == 200
    # A schedule and its run history live in Rayline's state database, not in Ray's job table.
    quick = {  # fails at once at "load": its run is recorded without taking the CPUs
        "name": "gcs_nightly",
        "dataset": {"source": "/nonexistent/rayline.csv", "task": "classification"},
        "estimators": {"linear": {}},
    }
    schedule = {"name": "gcs-nightly", "spec": quick, "cron": "0 3 * * *"}
    status, created = served.stack.api("POST", "/v1/schedules", schedule)
    assert status == 201, created
    status, before = served.stack.api("POST", "/v1/schedules/gcs-nightly/run")
    assert status == 202, before

    os.kill(pid, signal.SIGKILL)
    _wait_for("the GCS did not exit", lambda: not Path(f"/proc/{pid}").exists(), 10)
    assert port_free(settings.ray_gcs_port, settings.ray_node_ip_address)
    # The outage: Serve's proxy and replicas answer without the GCS (slower: ~1-2 s a request
    # instead of ~50 ms on the 2-core test machine).
    answered = 0
    outage_end = time.monotonic() + 20
    while time.monotonic() < outage_end:
        status, body = served.predict(timeout=30)
        assert status == 200 and body["predictions"] == [0], body
        answered += 1
        time.sleep(0.2)
    still_down = _gcs_process(temp_dir, settings.ray_gcs_port) is None
    assert still_down and answered >= 3
    assert port_free(settings.ray_gcs_port, settings.ray_node_ip_address)

    # Nothing in a `ray start` cluster restarts the GCS (KubeRay or systemd would): do what
    # they do, with the same binary, arguments and environment; it reloads its state from Redis.
    # (Its arguments name its log files.)
    subprocess.Popen(
        argv, env=environ, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    _wait_for(
        "both nodes did not come back ALIVE",
        lambda: served.alive_nodes() == sorted([served.head_node, served.worker_node]),
        90,
    )
    # The same cluster (same node ids) accepts new work again, and still serves.
    job = served.stack.run(
        str(BIN / "ray"), "job", "submit", "--address", settings.ray_dashboard_url, "--",
        "python", "-c", "import ray; ray.init(); print('nodes', len(ray.nodes()))",
        timeout=180,
    )  # fmt: skip
    assert "nodes 2" in job.stdout
    status, body = served.predict(timeout=30)
    assert status == 200 and body["predictions"] == [0], body
    status, runs = served.stack.api("GET", "/v1/schedules/gcs-nightly/runs")
    assert status == 200 and before["id"] in [r["id"] for r in runs["runs"]], runs
    status, listed = served.stack.api("GET", "/v1/schedules/gcs-nightly")
    assert status == 200 and listed["next_fire"] is not None, listed
    served.stack.http("DELETE", "/v1/schedules/gcs-nightly")
