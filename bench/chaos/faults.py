"""The chaos suite's faults: killed replicas and drivers, an MLflow outage and racing promotions.
Every process signalled here is first proven to belong to the chaos stack."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from bench.chaos.env import INGRESS_TITLE, ChaosStack, rss_bytes
from bench.train_config import write_config
from rayline import procfs
from rayline import stack as stack_module
from rayline.training import parse_events

DEPLOYMENTS = ("Ingress", "Metrics")


# --- replicas --------------------------------------------------------------------------------
def replica_snapshot(stack: ChaosStack) -> dict[str, dict[str, dict[str, Any]]]:
    """deployment → actor id → {pid, state, rss_bytes, death} for every replica Ray knows."""
    snapshot: dict[str, dict[str, dict[str, Any]]] = {}
    for deployment in DEPLOYMENTS:
        snapshot[deployment] = {}
        for actor in stack.replicas(deployment):
            pid = int(actor.get("pid") or 0)
            alive = actor.get("state") == "ALIVE"
            death = ((actor.get("death_cause") or {}).get("actor_died_error_context") or {}).get(
                "error_message", ""
            )
            snapshot[deployment][actor["actor_id"]] = {
                "pid": pid,
                "state": actor.get("state"),
                "rss_bytes": rss_bytes(pid) if alive and pid else None,
                "death": death[:200],
            }
    return snapshot


def replica_changes(
    before: dict[str, dict[str, dict[str, Any]]], after: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Replicas that crashed (died other than by Serve's own `ray.kill`) between two snapshots,
    those Serve stopped or added on purpose (autoscaling), and RSS growth of the survivors."""
    crashed: list[str] = []
    stopped: list[str] = []
    added: list[str] = []
    rss_before = rss_after = 0
    for deployment, actors in after.items():
        alive_before = {
            a for a, info in before.get(deployment, {}).items() if info["state"] == "ALIVE"
        }
        for actor_id, info in actors.items():
            was_alive = actor_id in alive_before
            if info["state"] == "ALIVE" and not was_alive:
                added.append(f"{deployment}:{actor_id[:8]}")
            if info["state"] == "DEAD" and was_alive:
                graceful = "killed by `ray.kill`" in info["death"]
                (stopped if graceful else crashed).append(f"{deployment}:{actor_id[:8]}")
            if was_alive and info["state"] == "ALIVE":
                start = before[deployment][actor_id]["rss_bytes"]
                end = info["rss_bytes"]
                if start and end:
                    rss_before += start
                    rss_after += end
    growth = (rss_after - rss_before) / rss_before * 100 if rss_before else None
    return {
        "replica_restarts": len(crashed),
        "crashed": crashed,
        "stopped_by_serve": stopped,
        "added_by_serve": added,
        "rss_start_bytes": rss_before,
        "rss_end_bytes": rss_after,
        "memory_growth_pct": None if growth is None else round(growth, 2),
    }


def kill_ingress(stack: ChaosStack) -> dict[str, Any]:
    """SIGKILL one live Ingress replica (HTTP and the models) of this stack (checked by title
    and by `stack_pids`)."""
    alive = stack.alive_replicas("Ingress")
    ours = set(stack.pids())
    for actor_id, pid in sorted(alive.items()):
        title = procfs.command(pid)
        if not title.startswith(INGRESS_TITLE) or pid not in ours:
            continue
        os.kill(pid, signal.SIGKILL)
        return {"t": time.time(), "actor_id": actor_id, "pid": pid, "replicas_alive": len(alive)}
    return {"t": time.time(), "actor_id": None, "pid": None, "replicas_alive": len(alive)}


# --- the training driver ----------------------------------------------------------------------
def killed_driver(stack: ChaosStack) -> dict[str, Any]:
    """Submit a sweep, SIGKILL its driver once the sweep runs; its MLflow run must end FAILED
    (the Metrics deployment reaps such runs every 15 s) and nothing may be registered."""
    from mlflow import MlflowClient
    from ray.job_submission import JobSubmissionClient

    name = "chaos_killed"
    path = write_config(
        stack.configs,
        name,
        dataset={"source": "digits"},
        estimators={"svm": {"C": [1.0, 3.0, 10.0, 30.0]}},
        search={"algorithm": "grid"},
        split={"cv_folds": 5},
        ensemble={"enabled": False},
    )
    jobs = JobSubmissionClient(stack.settings.ray_dashboard_url)
    job_id = jobs.submit_job(entrypoint=f"python -m jobs.train {path}")
    result: dict[str, Any] = {"job_id": job_id, "model": name}
    deadline = time.monotonic() + 300
    logs = ""
    while time.monotonic() < deadline and '"event": "run"' not in logs:
        time.sleep(1)
        logs = jobs.get_job_logs(job_id)
    run = parse_events(logs)["run"]
    if run is None:
        jobs.stop_job(job_id)
        return {**result, "killed_job_clean": False, "error": "the sweep never started"}
    run_id = run["run_id"]
    # Mid-sweep: after the first trial report, or 20 s into the sweep, whichever comes first.
    until = time.monotonic() + 20
    while time.monotonic() < until and '"event": "trial"' not in logs:
        time.sleep(1)
        logs = jobs.get_job_logs(job_id)
    driver = jobs.get_job_info(job_id).driver_info
    if driver is None or not driver.pid:
        jobs.stop_job(job_id)
        return {**result, "killed_job_clean": False, "error": "no driver pid from Ray"}
    pid = int(driver.pid)
    if pid not in stack.pids():
        return {**result, "killed_job_clean": False, "error": f"driver pid {pid} is not ours"}
    trials_done = logs.count('"event": "trial"')
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    client = MlflowClient(stack.settings.tracking_uri)
    status = client.get_run(run_id).info.status
    while time.monotonic() - killed_at < 90 and status == "RUNNING":
        time.sleep(1)
        status = client.get_run(run_id).info.status
    failed_after = round(time.monotonic() - killed_at, 1)
    versions = client.search_model_versions(f"name='{name}'")
    job_status = str(jobs.get_job_status(job_id))
    return {
        **result,
        "run_id": run_id,
        "driver_pid": pid,
        "trials_done_before_kill": trials_done,
        "run_status": status,
        "run_failed_after_s": failed_after if status == "FAILED" else None,
        "job_status": job_status,
        "versions_registered": len(versions),
        "killed_job_clean": status == "FAILED" and failed_after <= 60 and not versions,
    }


# --- MLflow ------------------------------------------------------------------------------------
def stop_mlflow(stack: ChaosStack) -> dict[str, Any]:
    """Stop the stack's MLflow server (its pid from started.json) and wait until it is gone."""
    pid = int(str(stack_module.read_started(stack.settings)["mlflow_pid"]))
    os.killpg(pid, signal.SIGTERM)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and stack_module.answers(
        f"{stack.settings.tracking_uri}/health", timeout=1
    ):
        time.sleep(0.3)
    return {"pid": pid, "stopped_in_s": round(time.monotonic() - t0, 2)}


def start_mlflow(stack: ChaosStack) -> dict[str, Any]:
    t0 = time.monotonic()
    pid = stack_module.start_mlflow(stack.settings)
    if pid is not None:
        started = stack_module.read_started(stack.settings)
        stack_module.record_started(stack.settings, {**started, "mlflow_pid": pid})
    return {"pid": pid, "started_in_s": round(time.monotonic() - t0, 2)}


def registry_probe(stack: ChaosStack) -> dict[str, Any]:
    started = time.monotonic()
    status, body, headers = stack.http("GET", "/v1/models", key="predict", timeout=60)
    seconds = time.monotonic() - started
    return {
        "status": status,
        "seconds": round(seconds, 3),
        "retry_after": headers.get("Retry-After") or headers.get("retry-after"),
        "detail": body.get("detail", "")[:120] if isinstance(body, dict) else str(body)[:120],
    }


# --- promotions --------------------------------------------------------------------------------
def concurrent_promotions(stack: ChaosStack, model: str, alias: str = "canary") -> dict[str, Any]:
    """20 simultaneous promotions of one alias (versions 1 and 2): all answer, none 5xx, and the
    registry ends in exactly one state that the versions listing agrees with."""
    barrier = threading.Barrier(20)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def promote(version: str) -> None:
        barrier.wait(timeout=30)
        status = stack.http(
            "POST", f"/v1/models/{model}/aliases/{alias}", {"version": version}, timeout=60
        )[0]
        with lock:
            results.append((version, status))

    threads = [threading.Thread(target=promote, args=(str(1 + i % 2),)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = [status for _, status in results]
    models = {m["name"]: m for m in stack.http("GET", "/v1/models")[1]["models"]}
    final = models[model]["aliases"].get(alias)
    versions = stack.http("GET", f"/v1/models/{model}/versions")[1]["versions"]
    holders = [v["version"] for v in versions if alias in v["aliases"]]
    ok = (
        len(statuses) == 20
        and all(s == 200 for s in statuses)
        and final in ("1", "2")
        and holders == [final]
    )
    return {
        "alias": alias,
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "final_version": final,
        "versions_holding_alias": holders,
        "concurrent_promotions_ok": ok,
    }
