"""Reliability on the real stack (the fast versions; `make chaos` runs the long ones): every
schemathesis check from /openapi.json, overload, a killed predictor replica, an MLflow
outage, concurrent promotions, a killed training driver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from mlflow import MlflowClient

from bench.chaos.load import Retry, open_loop
from rayline import procfs
from rayline import stack as stack_module
from rayline.haproxy import SERVER_MAXCONN
from rayline.priority import is_control_plane
from rayline.stack.harness import replica_states
from tests.conformance import check_all, config
from tests.conftest import write_config
from tests.stack import Stack
from tests.waiting import NotYet, wait_until

pytestmark = pytest.mark.integration
ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}
# Few cases a mode per operation on the real stack (the session's longest path): the breadth is
# tests/unit/test_openapi_conformance.py's, in process; `make chaos` sends 500 each.
FUZZ_EXAMPLES = int(os.environ.get("RAYLINE_FUZZ_EXAMPLES", "12"))


def test_the_api_answers_as_its_openapi_document_says(serving: Stack) -> None:
    """Every operation in /openapi.json, valid and invalid inputs, every schemathesis check
    (tests/conformance.py): no server error, every status, header and body as documented,
    invalid input refused, valid input accepted."""
    schema = schemathesis.openapi.from_url(serving.url + "/openapi.json", config=config())
    # Submitting jobs and benchmarks and changing schedules starts real work; they have their
    # own tests.
    schema = schema.exclude(path_regex="^/v1/(jobs|benchmarks)$", method="POST")
    schema = schema.exclude(path_regex="^/v1/schedules", method=["POST", "PATCH", "DELETE"])
    headers = {"Authorization": f"Bearer {serving.admin_key}"}
    operations, failures = check_all(
        schema, lambda case: case.call(headers=headers, timeout=30), headers, FUZZ_EXAMPLES
    )
    assert operations >= 25
    assert failures == []


def _predict_load(serving: Stack, phases: list[tuple[float, float]], retry: Retry | None) -> Any:
    body = json.dumps({"instances": [ROW]}).encode()
    headers = {"Authorization": f"Bearer {serving.admin_key}", "Content-Type": "application/json"}
    url = f"{serving.url}/v1/models/iris_it/predict"
    return asyncio.run(open_loop(url, body, headers, phases, retry, timeout_s=60, drain_s=90))


def _haproxy_server_limits(serving: Stack) -> dict[str, str]:
    """Server → connection limit (`slim`) of every replica server of the HTTP backend, as the
    stack's running HAProxy reports them on its admin socket (`show stat`). (The gRPC
    backend's servers, `proto h2`, keep Ray's lines.)"""
    for pid in serving.pids():
        argv = procfs.argv(pid)
        if argv and Path(argv[0]).name == "haproxy" and "-f" in argv:
            config = Path(argv[argv.index("-f") + 1]).read_text()
            break
    else:
        raise AssertionError("no HAProxy process in the stack")
    found = re.search(r"^\s*stats socket (\S+)", config, re.MULTILINE)
    assert found, config
    with socket.socket(socket.AF_UNIX) as admin:
        admin.settimeout(10)
        admin.connect(found.group(1))
        admin.sendall(b"show stat\n")
        answer = b""
        while chunk := admin.recv(65536):
            answer += chunk
    header, *rows = answer.decode().strip().splitlines()
    fields = header.lstrip("# ").split(",")
    stats = [dict(zip(fields, row.split(","), strict=False)) for row in rows]
    return {
        row["svname"]: row["slim"]
        for row in stats
        if row["pxname"].startswith("http-") and row["svname"].startswith("SERVE_REPLICA")
    }


def test_a_burst_beyond_capacity_gets_no_error_but_refusals_and_recovers(serving: Stack) -> None:
    """250 req/s for 4 s, ~2.5x what this machine serves: every request gets a 200 or a
    429/503 with Retry-After, never another error or a hang; right after, predictions succeed.
    (Whether refusals happen depends on how much HAProxy queues meanwhile; `make chaos`
    holds 2x capacity for a minute, where they must.)"""
    # HAProxy holds what the replicas cannot take yet (rayline.haproxy): without the limit,
    # overload queues in the replicas' event loops, health checks time out, replicas go DOWN
    # and every request gets a 500.
    limits = _haproxy_server_limits(serving)
    assert limits and set(limits.values()) == {str(SERVER_MAXCONN)}, limits
    run = _predict_load(serving, [(250.0, 4.0)], retry=None)
    finals = run.status_counts()
    assert len(run.requests) == 1000
    assert set(finals) <= {"200", "429", "503"}, (finals, run.transport_errors())
    assert finals.get("200", 0) > 0, finals
    assert sum(r.refusals_without_retry_after for r in run.requests) == 0
    recovered = _predict_load(serving, [(5.0, 2.0)], retry=None)
    assert recovered.status_counts() == {"200": 10}


def test_a_killed_ingress_replica_loses_no_request_of_clients_that_never_retry(
    serving: Stack,
) -> None:
    """The Ingress replicas answer predictions themselves; one is SIGKILLed under load. HAProxy
    replays what it dropped on the other, so clients without any retry see only 200s."""
    before = serving.replica_pids("Ingress")
    assert len(before) >= 2, f"serve_config.yaml runs two Ingress replicas at least: {before}"
    victim = min(before)

    killer = threading.Timer(3.0, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        run = _predict_load(serving, [(10.0, 15.0)], retry=None)
    finally:
        killer.join()
    assert run.status_counts() == {"200": 150}, (run.status_counts(), run.transport_errors())
    wait_until(
        lambda: len(serving.replica_pids("Ingress") - {victim}) >= len(before),
        120,
        "Serve to replace the killed Ingress replica",
    )


def test_concurrent_promotions_end_in_one_state_without_errors(
    serving: Stack, two_versions: str
) -> None:
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def promote(version: str) -> None:
        status, body, _ = serving.http(
            "POST", f"/v1/models/{two_versions}/aliases/champion", {"version": version}
        )
        with lock:
            results.append((status, body))

    threads = [threading.Thread(target=promote, args=(str(1 + i % 2),)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200] * 20, results
    models = {m["name"]: m for m in serving.http("GET", "/v1/models")[1]["models"]}
    final = models[two_versions]["aliases"]["champion"]
    assert final in ("1", "2")
    versions = serving.http("GET", f"/v1/models/{two_versions}/versions")[1]["versions"]
    assert [v["version"] for v in versions if "champion" in v["aliases"]] == [final]


@contextlib.contextmanager
def mlflow_outage(serving: Stack) -> Iterator[None]:
    """Stop the stack's MLflow server, and start it again after."""
    started_file = serving.settings.home / "started.json"
    started = json.loads(started_file.read_text())
    health = f"{serving.settings.tracking_uri}/health"
    os.killpg(int(started["mlflow_pid"]), signal.SIGTERM)
    wait_until(lambda: not stack_module._answers(health), 30, "MLflow to stop")
    try:
        yield
    finally:
        started["mlflow_pid"] = stack_module.start_mlflow(serving.settings)
        started_file.write_text(json.dumps(started))
        wait_until(lambda: stack_module._answers(health), 60, "MLflow to answer again")


def _ingress_replica_states(serving: Stack) -> dict[str, int]:
    """State (RUNNING, STARTING, ...) → how many Ingress replicas are in it."""
    return replica_states(serving.serve_app(), "Ingress")


def _ingress_replicas_running(serving: Stack) -> bool:
    """Every Ingress replica RUNNING (none starting), and 20 readiness
    checks in a row answered 200: HAProxy (leastconn) takes requests that do not overlap to
    its replicas in turn, so every replica answered."""
    states = _ingress_replica_states(serving)
    if not states or set(states) != {"RUNNING"}:
        raise NotYet(states)
    return all(serving.http("GET", "/ready", key=None)[0] == 200 for _ in range(20))


def test_mlflow_outage_keeps_predictions_and_fails_registry_routes_fast(serving: Stack) -> None:
    wait_until(lambda: _ingress_replicas_running(serving), 120, "every Ingress replica ready")
    before = serving.replica_pids("Ingress")
    with mlflow_outage(serving):
        # A replica replacing a killed one cannot load its models while MLflow is down: it
        # must wait (STARTING, no requests) instead of joining and answering 503.
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: serving.replica_pids("Ingress") - before, 120, "a replacement replica")
        wait_until(
            lambda: "STARTING" in _ingress_replica_states(serving) or None,
            60,
            "the replacement replica to wait for MLflow",
        )
        for _ in range(20):
            status, body, _ = serving.http(
                "POST", "/v1/models/iris_it/predict", {"instances": [ROW]}, timeout=20
            )
            assert status == 200, body
        status, body, headers = serving.http("GET", "/v1/models", timeout=20)
        assert status == 503 and "MLflow" in body["detail"]
        assert headers.get("Retry-After")
        assert serving.http("GET", "/ready", key=None, timeout=20)[0] == 200

        def failed_poll() -> dict[str, Any]:
            info = serving.http("GET", "/model-info?model=iris_it@champion", timeout=20)[1]
            model: dict[str, Any] = info["models"][0]
            if not model.get("last_error"):
                raise NotYet(model)
            return model

        # A watcher poll fails during the outage; the loaded version keeps serving.
        wait_until(failed_poll, 120, "a failed watcher poll during the outage")
        assert serving.http("POST", "/v1/models/iris_it/predict", {"instances": [ROW]})[0] == 200
        assert "STARTING" in _ingress_replica_states(serving)  # still waiting, not serving
    wait_until(
        lambda: serving.http("GET", "/v1/models")[0] == 200, 60, "the registry routes to recover"
    )
    # MLflow is back: the replacement loads the models and joins.
    wait_until(lambda: _ingress_replicas_running(serving), 120, "the replacement to join")


def test_rays_control_plane_yields_the_cpu_to_the_replicas(serving: Stack) -> None:
    """The dashboard, its modules and the agent run niced (they spin while the GCS is down and
    starved the replicas: README "Reliability"); the Ingress replicas do not."""
    control = []
    for pid in serving.pids():
        argv = procfs.argv(pid)
        if is_control_plane(argv):
            control.append((argv[0][:60], procfs.nice(pid)))
    assert len(control) >= 3, control  # the dashboard head, a module or more, the agent
    wanted = serving.settings.control_plane_niceness
    assert wanted > 0 and all(nice == wanted for _, nice in control), control
    replicas = serving.replica_pids("Ingress")
    assert replicas and {procfs.nice(pid) for pid in replicas} == {0}


def test_killed_driver_leaves_its_run_failed(serving: Stack) -> None:
    path = write_config(
        serving.configs,
        "killed_it",
        dataset={"source": "digits"},
        estimators={"svm": {"C": [1.0, 3.0, 10.0, 30.0]}},
        search={"algorithm": "grid"},
        split={"cv_folds": 5},
    )
    jobs = serving.jobs()
    job_id = jobs.submit_job(entrypoint=f"python -m jobs.train {path}")

    def started_run() -> str | None:
        logs = str(jobs.get_job_logs(job_id))
        return logs if '"event": "run"' in logs else None

    logs = wait_until(started_run, 240, "the job to start its MLflow run")
    run_id = json.loads(
        next(line for line in logs.splitlines() if line.startswith('@rayline {"event": "run"'))[9:]
    )["run_id"]
    os.kill(int(jobs.get_job_info(job_id).driver_info.pid), signal.SIGKILL)
    client = MlflowClient(serving.settings.tracking_uri)
    wait_until(lambda: client.get_run(run_id).info.status != "RUNNING", 60, "the run to be marked")
    assert client.get_run(run_id).info.status == "FAILED"
    assert client.search_model_versions("name='killed_it'") == []
