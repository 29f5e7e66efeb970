"""Past one machine, on one machine: a sweep whose trials run on both nodes, a Serve Ingress
replica (HTTP and models) on each node, and GCS fault tolerance with Redis (the
GCS process killed and restarted while predictions go on)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rayline.registry import NODE_TAG
from rayline.stack import ray_temp_dir
from rayline.stack.harness import BIN
from rayline.stack.profiles import port_free
from tests.integration.production.cluster import REDIS, Production, gcs_process, wait_for
from tests.waiting import NotYet

pytestmark = pytest.mark.integration


def test_sweep_trials_run_on_both_nodes(production: Production, iris_prod: dict[str, Any]) -> None:
    assert iris_prod["model"] == "iris_prod" and iris_prod["version"] == "1"
    # Each trial's MLflow run names the Ray node it ran on (Ray's state API forgets the dead
    # trial actors of a finished job).
    client = production.client()
    parent = client.get_run(iris_prod["run_id"])
    trials = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(trials) == 4
    nodes = {t.data.tags.get(NODE_TAG) for t in trials}
    assert nodes == {production.head_node, production.worker_node}, [t.data.tags for t in trials]


def test_ingress_replicas_serve_from_both_nodes(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    both = {production.head_node, production.worker_node}

    def running_on_both() -> set[str] | None:
        # Serve's own view: a replica counts once it is RUNNING (a redeploy in another test of
        # the package replaces them, and /ready answers as soon as the first one runs).
        app = production.stack.serve_app()
        replicas = (app.get("deployments") or {}).get("Ingress", {}).get("replicas") or []
        seen = [(r["node_id"], r["state"]) for r in replicas]
        if {node for node, state in seen if state == "RUNNING"} != both:
            raise NotYet(seen)
        return both

    wait_for("a RUNNING Ingress replica on each node", running_on_both, 180)
    # HAProxy on the head spreads requests over both; every answer is the model's.
    for _ in range(6):
        status, body = production.predict()
        assert status == 200 and body["predictions"] == [0], body


# Last of all: Serve may still be replacing replicas after the GCS came back.
@pytest.mark.disruptive(last=True)
def test_serving_survives_a_gcs_restart(production: Production, iris_prod: dict[str, Any]) -> None:
    settings = production.stack.settings
    temp_dir = ray_temp_dir(settings)
    found = gcs_process(temp_dir, settings.ray_gcs_port)
    assert found is not None, f"no gcs_server under {temp_dir}"
    pid, argv, environ, cwd = found
    assert environ.get("RAY_REDIS_ADDRESS") == f"{REDIS[0]}:{REDIS[1]}"
    assert environ.get("RAY_external_storage_namespace") == production.namespace
    assert production.predict()[0] == 200
    # A schedule and its run history live in Rayline's state database, not in Ray's job table.
    quick = {  # fails at once at "load": its run is recorded without taking the CPUs
        "name": "gcs_nightly",
        "dataset": {"source": "/nonexistent/rayline.csv", "task": "classification"},
        "estimators": {"linear": {}},
    }
    schedule = {"name": "gcs-nightly", "spec": quick, "cron": "0 3 * * *"}
    status, created = production.stack.api("POST", "/v1/schedules", schedule)
    assert status == 201, created
    status, before = production.stack.api("POST", "/v1/schedules/gcs-nightly/run")
    assert status == 202, before

    os.kill(pid, signal.SIGKILL)
    wait_for("the GCS to exit", lambda: not Path(f"/proc/{pid}").exists(), 10)
    assert port_free(settings.ray_gcs_port, settings.ray_node_ip_address)
    # The outage: Serve's proxy and replicas answer without the GCS (slower: ~1-2 s a request
    # instead of ~50 ms on the 2-core test machine).
    answered = 0
    outage_end = time.monotonic() + 20
    while time.monotonic() < outage_end:
        status, body = production.predict(timeout=30)
        assert status == 200 and body["predictions"] == [0], body
        answered += 1
        time.sleep(0.2)
    still_down = gcs_process(temp_dir, settings.ray_gcs_port) is None
    assert still_down and answered >= 3
    assert port_free(settings.ray_gcs_port, settings.ray_node_ip_address)

    # Nothing in a `ray start` cluster restarts the GCS (KubeRay or systemd would): do what
    # they do, with the same binary, arguments and environment; it reloads its state from Redis.
    # (Its arguments name its log files.)
    subprocess.Popen(
        argv, env=environ, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_for(
        "both nodes to come back ALIVE",
        lambda: production.alive_nodes() == sorted([production.head_node, production.worker_node]),
        90,
    )
    # The same cluster (same node ids) accepts new work again, and still serves.
    job = production.stack.run(
        str(BIN / "ray"), "job", "submit", "--address", settings.ray_dashboard_url, "--",
        "python", "-c", "import ray; ray.init(); print('nodes', len(ray.nodes()))",
        timeout=180,
    )  # fmt: skip
    assert "nodes 2" in job.stdout
    status, body = production.predict(timeout=30)
    assert status == 200 and body["predictions"] == [0], body
    status, runs = production.stack.api("GET", "/v1/schedules/gcs-nightly/runs")
    assert status == 200 and before["id"] in [r["id"] for r in runs["runs"]], runs
    status, listed = production.stack.api("GET", "/v1/schedules/gcs-nightly")
    assert status == 200 and listed["next_fire"] is not None, listed
    production.stack.http("DELETE", "/v1/schedules/gcs-nightly")
