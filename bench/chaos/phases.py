"""The chaos suite's phases against the running chaos stack: setup, the load phase (knee,
soak, overload, recovery), and the faults under retrying load (a killed replica, MLflow down,
a killed training driver in the background)."""

from __future__ import annotations

import asyncio
import json
import math
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.chaos import faults, soak
from bench.chaos.env import ChaosStack
from bench.chaos.figures import (
    Plan,
    attempt_figures,
    find_knee,
    overload_figures,
    recovery_time,
)
from bench.chaos.load import (
    Request,
    Retry,
    closed_loop,
    lateness,
    open_loop,
    summarize,
    windows,
)
from bench.train_config import write_config
from rayline.benchmarking.stats import percentile

MODEL = "chaos_iris"
ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}
SOAK_SHARE = 0.5
"""The soak's prediction rate, as a share of the knee's throughput (bench/chaos/soak.py)."""
OVERLOAD_CONNECTIONS = 4000
"""The load phase's client: at most this many requests outstanding, each on its own connection."""
RETRY = Retry(attempts=8, base_s=0.25, cap_s=4.0)
"""How the fault phases' clients retry."""


def target(stack: ChaosStack) -> tuple[str, bytes, dict[str, str]]:
    url = f"{stack.url}/v1/models/{MODEL}/predict"
    headers = {"Authorization": f"Bearer {stack.predict_key}", "Content-Type": "application/json"}
    return url, json.dumps({"instances": [ROW]}).encode(), headers


def _between(requests: list[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.start < end]


async def load_phase(stack: ChaosStack, plan: Plan) -> dict[str, Any]:
    url, body, headers = target(stack)
    steps = []
    for concurrency in plan.steps:
        run = await closed_loop(url, body, headers, concurrency, plan.step_s, plan.step_warmup_s)
        steps.append(
            {
                "concurrency": concurrency,
                **summarize(run.requests, run.duration_s),
                "statuses": run.status_counts(),
            }
        )
        print(f"  step c={concurrency}: {steps[-1]}", flush=True)
    knee = find_knee(steps)
    result: dict[str, Any] = {"steps": steps, "knee": knee}
    if knee["throughput_rps"] is None:
        result["error"] = "no capacity knee: no step succeeded"
        return result
    steady_rate = round(SOAK_SHARE * knee["throughput_rps"], 2)
    over_rate = round(2.0 * knee["throughput_rps"], 2)
    print(f"  knee C={knee['concurrency']} ({knee['throughput_rps']} rps); ", end="")
    print(f"soak {steady_rate} rps for {plan.soak_s:.0f} s, overload {over_rate} rps", flush=True)
    side = asyncio.create_task(soak.side_traffic(stack, plan, MODEL))
    run = await open_loop(
        url,
        body,
        headers,
        [(steady_rate, plan.soak_s), (over_rate, plan.overload_s), (steady_rate, plan.after_s)],
        # Every outstanding request on a connection of its own, and fewer connections than
        # HAProxy accepts (RAY_SERVE_HAPROXY_MAXCONN, 4096): past that, connections wait
        # unaccepted in the kernel (README "Reliability") and the run would time the client's
        # and the kernel's queues, not Rayline's. Arrivals beyond are not sent (client_dropped).
        max_outstanding=OVERLOAD_CONNECTIONS,
        connections=OVERLOAD_CONNECTIONS,
        timeout_s=90,
        drain_s=100,
    )
    steady = _between(run.requests, 0, plan.soak_s)
    steady_ok = [r.latency_s * 1000 for r in steady if r.ok]
    over_end = plan.soak_s + plan.overload_s
    overload = _between(run.requests, plan.soak_s, over_end)
    steady_p99 = round(percentile(steady_ok, 99), 2)
    points = windows(run.requests, over_end, over_end + plan.after_s, plan.recovery_window_s)
    limit = 2 * steady_p99
    result.update(
        soak={
            "rate_rps": steady_rate,
            **soak.soak_figures(steady, await side, plan),
            "p50_ms": round(percentile(steady_ok, 50), 2),
            "p99_ms": steady_p99,
            "windows_60s": windows(run.requests, 0, plan.soak_s, 60),
        },
        overload={
            "rate_rps": over_rate,
            "seconds": plan.overload_s,
            **overload_figures(overload),
            "p99_ms_of_admitted": round(
                percentile([r.latency_s * 1000 for r in overload if r.ok], 99), 2
            ),
        },
        recovery={
            "limit_ms": round(limit, 2),
            "recovery_s": recovery_time(points, over_end, limit) if math.isfinite(limit) else None,
            "observed_s": plan.after_s,
            "windows": points,
        },
        client_dropped=run.client_dropped,
        client_send_lateness=lateness(run),
    )
    return result


async def ingress_kill_phase(stack: ChaosStack, rate: float, plan: Plan) -> dict[str, Any]:
    url, body, headers = target(stack)
    kills: list[dict[str, Any]] = []
    count = int(plan.kill_for_s // plan.kill_every_s)

    async def killer() -> None:
        t0 = time.monotonic()
        for index in range(count):
            await asyncio.sleep(max(0.0, t0 + plan.kill_every_s * (index + 0.5) - time.monotonic()))
            try:
                kills.append(await asyncio.to_thread(faults.kill_ingress, stack))
            except OSError as exc:  # Ray's state API did not answer: record it, go on
                kills.append({"t": time.time(), "pid": None, "error": str(exc)[:200]})
            print(f"  kill {index + 1}/{count}: {kills[-1]}", flush=True)

    task = asyncio.create_task(killer())
    # Clients that never retry: a request the killed replica dropped must be replayed by HAProxy.
    run = await open_loop(
        url, body, headers, [(rate, plan.kill_for_s)], retry=None, timeout_s=30, drain_s=150
    )
    await task
    return {
        "rate_rps": rate,
        "seconds": plan.kill_for_s,
        "retry": None,
        "kills": kills,
        "kills_done": sum(1 for k in kills if k["pid"]),
        **attempt_figures(run.requests),
        "client_send_lateness": lateness(run),
        "windows_10s": windows(run.requests, 0, plan.kill_for_s, 10),
    }


async def mlflow_outage_phase(
    stack: ChaosStack, rate: float, plan: Plan, seed: int
) -> dict[str, Any]:
    """MLflow stopped under load from clients that retry (RETRY, their jitter drawn under
    `seed`): predictions must all succeed, the registry answer 503 fast, both recover."""
    url, body, headers = target(stack)
    stopped = await asyncio.to_thread(faults.stop_mlflow, stack)
    probes: list[dict[str, Any]] = []
    ready: list[int] = []

    async def probe() -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < plan.mlflow_down_s - 3:
            probes.append(await asyncio.to_thread(faults.registry_probe, stack))
            answer = await asyncio.to_thread(lambda: stack.http("GET", "/ready", key=None))
            ready.append(answer[0])
            await asyncio.sleep(3)

    task = asyncio.create_task(probe())
    try:
        run = await open_loop(
            url, body, headers, [(rate, plan.mlflow_down_s)], retry=RETRY, timeout_s=30, seed=seed
        )
        await task
    finally:
        started = await asyncio.to_thread(faults.start_mlflow, stack)
    t0 = time.monotonic()
    recovered_probe: dict[str, Any] = {}
    while time.monotonic() - t0 < 90:
        recovered_probe = await asyncio.to_thread(faults.registry_probe, stack)
        if recovered_probe["status"] == 200:
            break
        await asyncio.sleep(1)
    registry_recovered_s = round(time.monotonic() - t0, 2)
    after = await open_loop(url, body, headers, [(rate, 5)], retry=None, timeout_s=30)
    statuses = sorted({p["status"] for p in probes})
    max_s = max((p["seconds"] for p in probes), default=None)
    fast = bool(probes) and statuses == [503] and all(p["retry_after"] for p in probes)
    return {
        "seed": seed,
        "rate_rps": rate,
        "down_s": plan.mlflow_down_s,
        "stopped": stopped,
        **attempt_figures(run.requests),
        "registry_probes": probes,
        "registry_statuses": statuses,
        "registry_max_s": max_s,
        "registry_fast_503": fast and max_s is not None and max_s <= 10,
        "ready_statuses_during": sorted(set(ready)),
        "restarted": started,
        "registry_recovered_after_s": registry_recovered_s,
        "predictions_after": summarize(after.requests, 5),
        "recovered": recovered_probe.get("status") == 200 and all(r.ok for r in after.requests),
    }


def setup(stack: ChaosStack) -> dict[str, Any]:
    t0 = time.monotonic()
    config = write_config(stack.configs, MODEL, search={"num_samples": 2})
    output = stack.train(config).stdout
    trained = time.monotonic()
    stack.deploy([MODEL], seconds=300)
    return {
        "model": MODEL,
        "registered": "registered chaos_iris version 1" in output,
        "train_s": round(trained - t0, 1),
        "deploy_s": round(time.monotonic() - trained, 1),
    }


def killed_job(stack: ChaosStack, parts: dict[str, Any]) -> None:
    """Background work during fuzzing: a training driver killed mid-sweep."""
    parts["killed_job"] = guard(lambda: faults.killed_driver(stack))


def guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one part; a part that breaks is recorded with its traceback, the suite goes on."""
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["part_seconds"] = round(time.monotonic() - started, 1)
    return result


def ready(stack: ChaosStack) -> dict[str, Any]:
    t0 = time.monotonic()
    stack.wait_ready(seconds=180)
    return {"ready_after_s": round(time.monotonic() - t0, 1)}
