"""The chaos suite's cluster faults (issue #17): the head's GCS process killed under load and
restarted as a supervisor would, a second node holding an Ingress replica lost under load, and
how soon a revoked API key is refused by every replica."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chaos import faults
from bench.chaos.env import (
    ChaosStack,
    gcs_fault_tolerant,
    gcs_process,
    join_node,
    node_pids,
)
from bench.chaos.figures import Plan, attempt_figures
from bench.chaos.load import lateness, open_loop, windows
from bench.chaos.phases import MODEL, target
from rayline import procfs
from rayline.keys import key_id
from rayline.stack.harness import BIN
from rayline.stack.ray_env import ray_temp_dir

NODE = "chaos-node"
NODE_RESOURCE = "chaos_node"
"""The custom resource the second node advertises, by which the suite finds it."""
KEY_CALLS = 12
"""Calls in a row that must all answer alike before a key counts as accepted or refused
everywhere (HAProxy spreads them over the replicas)."""
TINY_JOB = "import ray; ray.init(); print('nodes', sum(n['Alive'] for n in ray.nodes()))"
SCHEDULE = {
    "name": "chaos-gcs",
    # Never due during the run, and if it were it would fail at once at "load".
    "spec": {
        "name": "chaos_gcs",
        "dataset": {"source": "/nonexistent/rayline.csv", "task": "classification"},
        "estimators": {"linear": {}},
    },
    "cron": "0 3 * * *",
}


def _until(check: Callable[[], Any], seconds: float, interval: float = 0.5) -> Any:
    """`check()` until it returns something truthy (errors count as not yet); None after
    `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if result := check():
                return result
        time.sleep(interval)
    return None


# --- an API key revoked ---------------------------------------------------------------------
def _keys(stack: ChaosStack, *args: str) -> str:
    return stack.run(str(BIN / "python"), "-m", "rayline.stack", "keys", *args).stdout.strip()


def _whoami(stack: ChaosStack, key: str) -> list[int]:
    bearer = {"Authorization": f"Bearer {key}"}
    return [
        stack.http("GET", "/v1/whoami", key=None, headers=bearer, timeout=10)[0]
        for _ in range(KEY_CALLS)
    ]


def key_revocation(stack: ChaosStack) -> dict[str, Any]:
    """A predict key added with the CLI, then revoked with it: seconds from the revoke until
    KEY_CALLS calls in a row all get 401 (`key_revocation_s`)."""
    key = _keys(stack, "add", "--role", "predict", "--name", "chaos-revocation")
    added_at = time.monotonic()
    accepted = _until(lambda: set(_whoami(stack, key)) == {200}, 60)
    accepted_s = round(time.monotonic() - added_at, 2) if accepted else None
    _keys(stack, "revoke", key_id(key))
    revoked_at = time.monotonic()
    refused = _until(lambda: set(_whoami(stack, key)) == {401}, 60, interval=0.05)
    return {
        "key_id": key_id(key),
        "calls_in_a_row": KEY_CALLS,
        "accepted_after_s": accepted_s,
        "key_revocation_s": round(time.monotonic() - revoked_at, 2) if refused else None,
        "other_keys_ok": set(_whoami(stack, stack.predict_key)) == {200},
    }


# --- a node lost ------------------------------------------------------------------------------
def _min_replicas(stack: ChaosStack) -> int:
    """The Ingress's replica floor in the deployed serve_config.yaml."""
    config = stack.serve_config([MODEL])
    (ingress,) = [d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress"]
    floor = (ingress.get("autoscaling_config") or {}).get("min_replicas")
    return int(floor or ingress.get("num_replicas") or 1)


def _running(stack: ChaosStack, without: frozenset[int] = frozenset()) -> list[str]:
    """The node id of each RUNNING Ingress replica in Serve's view; [] while Serve still counts
    one of the replicas whose pids are `without` (killed ones) as RUNNING."""
    running = [r for r in stack.serve_replicas("Ingress") if r["state"] == "RUNNING"]
    if any(r["pid"] in without for r in running):
        return []
    return [r["node_id"] for r in running]


def _join(stack: ChaosStack) -> tuple[Path, str]:
    temp_dir = join_node(stack, NODE, num_cpus=1, resources={NODE_RESOURCE: 1})

    def joined() -> str | None:
        for node in stack.nodes():
            resources = node.get("resources_total") or {}
            if node.get("state") == "ALIVE" and NODE_RESOURCE in resources:
                return str(node["node_id"])
        return None

    node_id = _until(joined, 90)
    if node_id is None:
        raise RuntimeError(f"the node in {temp_dir} did not join within 90 s")
    return temp_dir, node_id


def _replica_onto(stack: ChaosStack, node_id: str, floor: int, tries: int = 6) -> dict[str, Any]:
    """An Ingress replica on `node_id`: Serve places a replacement replica with Ray's SPREAD
    strategy, so head replicas are SIGKILLed one at a time until one comes back there."""
    kills: list[int] = []
    for attempt in range(tries + 1):
        # Serve's view is complete once the killed replicas are gone and the floor is RUNNING.
        def settled() -> list[str] | None:
            running = _running(stack, frozenset(kills))
            return running if len(running) >= floor else None

        running = _until(settled, 180) or []
        if node_id in running:
            return {"placed": True, "replicas_killed_to_place": len(kills), "running": running}
        if attempt == tries:
            break
        kill = faults.kill_ingress(stack)
        if kill["pid"]:
            kills.append(int(kill["pid"]))
    return {"placed": False, "replicas_killed_to_place": len(kills), "running": _running(stack)}


def kill_node(stack: ChaosStack, temp_dir: Path) -> dict[str, Any]:
    """SIGKILL every process of the node in `temp_dir` at once (raylet, agents, workers,
    replicas), as a machine that loses power; never a process of the head."""
    pids = node_pids(temp_dir)
    head = set(stack.pids())
    if not pids or head & set(pids):
        raise RuntimeError(f"refusing to kill {pids}: not only the node in {temp_dir}")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    gone = _until(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 15, 0.1)
    return {"t": time.time(), "pids": len(pids), "gone": bool(gone)}


async def node_kill_phase(stack: ChaosStack, rate: float, plan: Plan) -> dict[str, Any]:
    """A second node holding an Ingress replica SIGKILLed under load at `rate` from clients
    that do not retry; then the seconds until Ray marks it DEAD and until Serve runs its
    replica floor again on the head alone."""
    t0 = time.monotonic()
    temp_dir, node_id = await asyncio.to_thread(_join, stack)
    floor = await asyncio.to_thread(_min_replicas, stack)
    placed = await asyncio.to_thread(_replica_onto, stack, node_id, floor)
    result: dict[str, Any] = {
        "node_id": node_id,
        "replica_floor": floor,
        "joined_and_placed_s": round(time.monotonic() - t0, 1),
        **placed,
    }
    if not placed["placed"]:
        return {**result, "error": "no Ingress replica could be placed on the second node"}
    url, body, headers = target(stack)
    timeline: dict[str, Any] = {}

    async def killer() -> None:
        await asyncio.sleep(plan.node_kill_at_s)
        timeline["running_before"] = await asyncio.to_thread(_running, stack)
        timeline["kill"] = await asyncio.to_thread(kill_node, stack, temp_dir)
        killed_at = time.monotonic()
        print(f"  node killed: {timeline['kill']}", flush=True)

        def dead() -> bool:
            return any(n["node_id"] == node_id and n.get("state") == "DEAD" for n in stack.nodes())

        def rescheduled() -> list[str] | None:
            running = _running(stack)
            return running if node_id not in running and len(running) >= floor else None

        if await asyncio.to_thread(_until, dead, 180, 1):
            timeline["node_dead_s"] = round(time.monotonic() - killed_at, 2)
        running = await asyncio.to_thread(_until, rescheduled, 240, 0.5)
        if running:
            timeline["rescheduled_s"] = round(time.monotonic() - killed_at, 2)
            timeline["running_after"] = running

    task = asyncio.create_task(killer())
    run = await open_loop(
        url, body, headers, [(rate, plan.node_kill_for_s)], retry=None, timeout_s=30, drain_s=150
    )
    await task
    return {
        **result,
        "rate_rps": rate,
        "seconds": plan.node_kill_for_s,
        "kill_at_s": plan.node_kill_at_s,
        "retry": None,
        **timeline,
        "replicas_rescheduled": "rescheduled_s" in timeline,
        **attempt_figures(run.requests),
        "client_send_lateness": lateness(run),
        "windows_10s": windows(run.requests, 0, plan.node_kill_for_s, 10),
    }


# --- the GCS killed ---------------------------------------------------------------------------
def _state(stack: ChaosStack) -> dict[str, Any]:
    """What must outlive the GCS: every registered model version, every schedule."""
    from mlflow import MlflowClient

    client = MlflowClient(stack.settings.tracking_uri)
    versions = sorted(f"{v.name}/{v.version}" for v in client.search_model_versions())
    status, listed = stack.api("GET", "/v1/schedules")
    names = sorted(s["name"] for s in listed["schedules"]) if status == 200 else None
    return {"model_versions": versions, "schedules": names, "schedules_status": status}


def _job_submits(stack: ChaosStack) -> bool:
    result = stack.run(
        str(BIN / "ray"), "job", "submit", "--address", stack.settings.ray_dashboard_url,
        "--", "python", "-c", TINY_JOB,
        timeout=90, check=False,
    )  # fmt: skip
    return result.returncode == 0 and "nodes " in result.stdout


def _serve_recovered(stack: ChaosStack) -> bool:
    """Serve answers /ready 200 and the scheduler answers (GET /v1/schedules)."""
    return (
        stack.serve_app().get("status") == "RUNNING"
        and stack.http("GET", "/ready", key=None, timeout=10)[0] == 200
        and stack.http("GET", "/v1/schedules", key="predict", timeout=10)[0] == 200
    )


def outage_profile(stack: ChaosStack, ingress: set[int], seconds: float) -> dict[str, Any]:
    """What the stack does while the GCS is down: the processes that used the most CPU over
    `seconds`, and where the Ingress replicas' Python threads are (`py-spy dump`), to find what
    slows predictions without the GCS."""
    pids = stack.pids()
    before = {p: procfs.cpu_seconds(p) for p in pids}
    time.sleep(seconds)
    used = []
    for p in pids:
        start, end = before.get(p), procfs.cpu_seconds(p)
        if start is not None and end is not None:
            used.append((end - start, p))
    used.sort(reverse=True)
    top = [
        {"pid": p, "cpu_share": round(cpu / seconds, 3), "cmdline": procfs.command(p)[:120]}
        for cpu, p in used[:8]
    ]
    dumps = {}
    for replica in sorted(ingress):
        try:
            done = subprocess.run(
                [str(BIN / "py-spy"), "dump", "--nonblocking", "--pid", str(replica)],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:  # py-spy comes with ray[default]
            dumps[str(replica)] = f"py-spy failed: {exc}"
            continue
        dumps[str(replica)] = (done.stdout or done.stderr)[-6000:]
    return {"seconds": seconds, "top_cpu": top, "ingress_stacks": dumps}


async def gcs_kill_phase(stack: ChaosStack, rate: float, plan: Plan) -> dict[str, Any]:
    """The head's gcs_server SIGKILLed under load at `rate` from clients that do not retry,
    started again `gcs_down_s` later with its own argv and environment (what systemd or KubeRay
    would do; it reloads its state from Redis); `gcs_recovery_s` runs from the kill until a
    `ray job submit` of a tiny job succeeds. No model version or schedule may be lost."""
    settings = stack.settings
    if not gcs_fault_tolerant(stack):
        return {"error": "GCS fault tolerance is off: no Redis answered when the stack started"}
    temp_dir = ray_temp_dir(settings)
    found = gcs_process(temp_dir, settings.ray_gcs_port)
    if found is None or found[0] not in stack.pids():
        return {"error": f"no gcs_server of this stack under {temp_dir}"}
    pid, argv, environ, cwd = found
    created = stack.api("POST", "/v1/schedules", SCHEDULE)[0]
    before = await asyncio.to_thread(_state, stack)
    url, body, headers = target(stack)
    timeline: dict[str, Any] = {"schedule_created": created}

    async def outage() -> None:
        await asyncio.sleep(plan.gcs_kill_at_s)
        ingress = stack.replica_pids("Ingress")  # by process title: the state API needs the GCS
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        print(f"  gcs_server {pid} killed", flush=True)
        timeline["outage_profile"] = await asyncio.to_thread(
            outage_profile, stack, ingress, min(10.0, plan.gcs_down_s / 2)
        )
        # The supervisor's restart delay, by design.
        await asyncio.sleep(max(0.0, killed_at + plan.gcs_down_s - time.monotonic()))
        restarted = subprocess.Popen(
            argv, env=environ, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        timeline["restarted_pid"] = restarted.pid
        timeline["restarted_after_s"] = round(time.monotonic() - killed_at, 2)
        print(f"  gcs_server restarted as {restarted.pid}", flush=True)

        async def recovered(name: str, check: Callable[[], bool], seconds: float) -> None:
            if await asyncio.to_thread(_until, check, seconds, 1):
                timeline[name] = round(time.monotonic() - killed_at, 2)

        # Each on its own clock: a job submit takes seconds of CPU, Serve's checks do not.
        await asyncio.gather(
            recovered("gcs_recovery_s", lambda: _job_submits(stack), 240),
            recovered("serve_recovered_s", lambda: _serve_recovered(stack), 180),
        )

    task = asyncio.create_task(outage())
    run = await open_loop(
        url, body, headers, [(rate, plan.gcs_load_s)], retry=None, timeout_s=30, drain_s=150
    )
    await task
    after = await asyncio.to_thread(_state, stack)
    kept = (
        before["schedules"] is not None
        and after["schedules"] is not None
        and set(before["model_versions"]) <= set(after["model_versions"])
        and set(before["schedules"]) <= set(after["schedules"])
        and SCHEDULE["name"] in after["schedules"]
    )
    deleted = stack.http("DELETE", f"/v1/schedules/{SCHEDULE['name']}")[0]
    return {
        "rate_rps": rate,
        "seconds": plan.gcs_load_s,
        "kill_at_s": plan.gcs_kill_at_s,
        "down_s": plan.gcs_down_s,
        "retry": None,
        "killed_pid": pid,
        **timeline,
        "state_before": before,
        "state_after": after,
        "state_kept": kept,
        "serve_recovered": "serve_recovered_s" in timeline,
        "schedule_deleted": deleted,
        **attempt_figures(run.requests),
        "client_send_lateness": lateness(run),
        "windows_5s": windows(run.requests, 0, plan.gcs_load_s, 5),
    }
