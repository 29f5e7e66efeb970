"""`make chaos`: Rayline's reliability and security suite (issue #7) against a real local stack.

    python -m bench.chaos [--quick] [--keep] [--reuse]

It starts its own Ray head and MLflow server (`rayline.stack.harness`, its own RAYLINE_HOME, the
`chaos` profile's ports), trains a small model with `ray job submit`, deploys serve_config.yaml
with `serve deploy`, then:

1. load: a step load finds the capacity knee C; 0.7·C for 3 minutes, 2·C for 1 minute, then
   the time until p99 is back within twice the steady p99;
2. faults at 0.5·C with retrying clients: a Predictor replica SIGKILLed every 20 s, a training
   driver SIGKILLed mid-sweep, MLflow stopped for 30 s, 20 racing promotions of one alias;
3. bad input: schemathesis fuzzing of every operation in /openapi.json, and hostile bodies;
4. auth: the role matrix of every protected route, Ray's token, what listens where;
5. model integrity: a tampered artifact is refused and the old version keeps serving.

Load is expressed as C, the knee's concurrency; x·C is offered as an open-loop arrival rate of
x times the knee's throughput (by Little's law the same as x·C clients at the knee's latency),
because a closed loop slows down with the server and cannot overload it. Everything is written
to bench/results/reliability.json; nothing here asserts, the summary says which targets hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import chaos_checks, chaos_env, chaos_faults
from bench import report as report_files
from bench.chaos_load import (
    TRANSPORT_ERROR,
    Request,
    Retry,
    closed_loop,
    lateness,
    open_loop,
    summarize,
    windows,
)
from bench.train_config import write_config
from rayline.benchmarking.stats import finite, percentile
from rayline.stack.profiles import CHAOS, PortsInUse

RESULTS = Path(__file__).resolve().parent / "results" / "reliability.json"
PACKAGES = ("ray", "mlflow", "scikit-learn", "schemathesis", "hypothesis", "aiohttp")
"""Whose versions the report records."""
MODEL = "chaos_iris"
ROW = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}
KNEE_SHARE = 0.9
"""The knee is the first step whose throughput reaches this share of the best step's."""
BLOWUP = 2.5
"""…unless p99 blew up first: grew past this multiple of the previous step's p99 while the
concurrency only doubled (at saturation p99 grows in proportion, about 2x per step)."""


@dataclass(frozen=True)
class Plan:
    """Durations and sizes of one run (`--quick` shrinks them for development)."""

    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    step_s: float = 6.0
    step_warmup_s: float = 2.0
    steady_s: float = 180.0
    overload_s: float = 60.0
    after_s: float = 40.0
    recovery_window_s: float = 2.0
    kill_every_s: float = 20.0
    kill_for_s: float = 120.0
    mlflow_down_s: float = 30.0
    fuzz_examples: int = 250
    """Per generation mode (positive, negative): 500 examples per operation."""


QUICK = Plan(
    steps=(1, 4, 16),
    step_s=3,
    steady_s=20,
    overload_s=10,
    after_s=15,
    kill_every_s=10,
    kill_for_s=25,
    mlflow_down_s=10,
    fuzz_examples=10,
)


# --- pure figures (unit-tested) --------------------------------------------------------------
def find_knee(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The capacity knee of a step load: the lightest step whose throughput reaches KNEE_SHARE
    of the best step's (more clients stop buying throughput), moved back to the last step before
    p99 blew past BLOWUP times the previous step's p99 if that came first."""
    usable = [s for s in steps if s.get("throughput_rps") and s["throughput_rps"] > 0]
    if not usable:
        return {"concurrency": None, "throughput_rps": None, "reason": "no successful step"}
    usable.sort(key=lambda s: s["concurrency"])
    peak = max(s["throughput_rps"] for s in usable)
    for index, step in enumerate(usable):
        if index > 0 and step["p99_ms"] > BLOWUP * usable[index - 1]["p99_ms"]:
            knee, reason = usable[index - 1], f"p99 grew over {BLOWUP:g}x at the next step"
            break
        if step["throughput_rps"] >= KNEE_SHARE * peak:
            knee, reason = step, f"throughput within {1 - KNEE_SHARE:.0%} of the peak"
            break
    else:  # unreachable: the peak step itself qualifies
        knee, reason = usable[-1], "last step"
    return {
        "concurrency": knee["concurrency"],
        "throughput_rps": knee["throughput_rps"],
        "p99_ms": knee["p99_ms"],
        "peak_throughput_rps": peak,
        # Little's law: the concurrency the knee's throughput and mean latency amount to.
        "little_concurrency": round(knee["throughput_rps"] * knee.get("mean_ms", 0) / 1000, 2),
        "reason": reason,
    }


def recovery_time(
    points: list[dict[str, Any]], since_s: float, limit_ms: float, hold: int = 2
) -> float | None:
    """Seconds from `since_s` until the first of `hold` consecutive windows in which p99 is
    within `limit_ms` and at least 99 % of requests succeeded (a refusal is not service);
    None if that never happens."""
    later = [p for p in points if p["t"] >= since_s - 1e-9]
    good = [
        p["requests"] > 0 and p["ok"] >= 0.99 * p["requests"] and p["p99_ms"] <= limit_ms
        for p in later
    ]
    for index in range(len(later) - hold + 1):
        if all(good[index : index + hold]):
            return round(float(later[index]["t"]) - since_s, 2)
    return None


def overload_figures(requests: list[Request]) -> dict[str, Any]:
    """Under overload only 200, 429 and 503 are acceptable, and refusals carry Retry-After."""
    finals: dict[str, int] = {}
    for r in requests:
        finals[str(r.final)] = finals.get(str(r.final), 0) + 1
    other = sum(1 for r in requests if r.final not in (200, 429, 503))
    no_retry_after = sum(r.refusals_without_retry_after for r in requests)
    return {
        "requests": len(requests),
        "statuses": finals,
        "refusals": sum(1 for r in requests if r.final in (429, 503)),
        "refusals_without_retry_after": no_retry_after,
        "transport_errors": sum(1 for r in requests if r.final == TRANSPORT_ERROR),
        "overload_other_errors": other + no_retry_after,
    }


def _get(parts: dict[str, Any], *keys: str) -> Any:
    value: Any = parts
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


TARGETS: dict[str, Callable[[Any], bool]] = {
    "steady_5xx": lambda v: v == 0,
    "replica_restarts": lambda v: v == 0,
    "memory_growth_pct": lambda v: v is not None and v < 10,
    "overload_other_errors": lambda v: v == 0,
    "recovery_s": lambda v: v is not None and v <= 30,
    "replica_kill_success_rate": lambda v: v is not None and v >= 0.999,
    "killed_job_clean": lambda v: v is True,
    "mlflow_down_predict_success_rate": lambda v: v == 1.0,
    "mlflow_down_registry_fast_503": lambda v: v is True,
    "mlflow_recovered": lambda v: v is True,
    "concurrent_promotions_ok": lambda v: v is True,
    "fuzz_5xx": lambda v: v == 0,
    "bad_input_failures": lambda v: v == 0,
    "error_echo": lambda v: v == 0,
    "auth_matrix_failures": lambda v: v == 0,
    "ray_api_refuses_without_token": lambda v: v is True,
    "tampered_model_refused": lambda v: v is True,
}


def build_summary(parts: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of every part, and which targets hold (a missing part fails)."""
    echo = [_get(parts, "fuzz", "error_echo"), _get(parts, "bad_input", "error_echo")]
    figures: dict[str, Any] = {
        "capacity_knee_concurrency": _get(parts, "load", "knee", "concurrency"),
        "knee_throughput_rps": _get(parts, "load", "knee", "throughput_rps"),
        "steady_rate_rps": _get(parts, "load", "steady", "rate_rps"),
        "steady_5xx": _get(parts, "load", "steady", "server_errors"),
        "steady_p99_ms": _get(parts, "load", "steady", "p99_ms"),
        "replica_restarts": _get(parts, "load", "replicas", "replica_restarts"),
        "memory_growth_pct": _get(parts, "load", "replicas", "memory_growth_pct"),
        "overload_rate_rps": _get(parts, "load", "overload", "rate_rps"),
        "overload_statuses": _get(parts, "load", "overload", "statuses"),
        "overload_other_errors": _get(parts, "load", "overload", "overload_other_errors"),
        "recovery_s": _get(parts, "load", "recovery", "recovery_s"),
        "replica_kills": _get(parts, "replica_kill", "kills_done"),
        "replica_kill_success_rate": _get(parts, "replica_kill", "success_rate"),
        "killed_job_clean": _get(parts, "killed_job", "killed_job_clean"),
        "killed_run_failed_after_s": _get(parts, "killed_job", "run_failed_after_s"),
        "mlflow_down_predict_success_rate": _get(parts, "mlflow_outage", "success_rate"),
        "mlflow_down_registry_statuses": _get(parts, "mlflow_outage", "registry_statuses"),
        "mlflow_down_registry_max_s": _get(parts, "mlflow_outage", "registry_max_s"),
        "mlflow_down_registry_fast_503": _get(parts, "mlflow_outage", "registry_fast_503"),
        "mlflow_recovered": _get(parts, "mlflow_outage", "recovered"),
        "concurrent_promotions_ok": _get(parts, "promotions", "concurrent_promotions_ok"),
        "fuzz_operations": _get(parts, "fuzz", "operations"),
        "fuzz_requests": _get(parts, "fuzz", "requests"),
        "fuzz_5xx": _get(parts, "fuzz", "fuzz_5xx"),
        "fuzz_503": _get(parts, "fuzz", "fuzz_503"),
        "bad_input_failures": _get(parts, "bad_input", "failures"),
        "error_echo": None if None in echo else sum(echo),
        "auth_matrix_failures": _get(parts, "auth", "auth_matrix_failures"),
        "ray_api_refuses_without_token": _get(parts, "ray_token", "refused_without_token"),
        "listening_beyond_loopback": _get(parts, "listeners", "beyond_loopback_by_process"),
        "tampered_model_refused": _get(parts, "integrity", "tampered_model_refused"),
    }
    targets = {name: bool(check(figures.get(name))) for name, check in TARGETS.items()}
    failed_parts = sorted(k for k, v in parts.items() if isinstance(v, dict) and "error" in v)
    return {
        **figures,
        "targets": targets,
        "targets_held": sum(targets.values()),
        "targets_total": len(targets),
        "parts_with_errors": failed_parts,
    }


# --- phases ----------------------------------------------------------------------------------
def _target(stack: chaos_env.ChaosStack) -> tuple[str, bytes, dict[str, str]]:
    url = f"{stack.url}/v1/models/{MODEL}/predict"
    headers = {"Authorization": f"Bearer {stack.predict_key}", "Content-Type": "application/json"}
    return url, json.dumps({"instances": [ROW]}).encode(), headers


def _between(requests: list[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.start < end]


async def load_phase(stack: chaos_env.ChaosStack, plan: Plan) -> dict[str, Any]:
    url, body, headers = _target(stack)
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
    steady_rate = round(0.7 * knee["throughput_rps"], 2)
    over_rate = round(2.0 * knee["throughput_rps"], 2)
    print(f"  knee C={knee['concurrency']} ({knee['throughput_rps']} rps); ", end="")
    print(f"steady {steady_rate} rps, overload {over_rate} rps", flush=True)
    before = await asyncio.to_thread(chaos_faults.replica_snapshot, stack)

    async def snapshot_later() -> dict[str, Any]:
        await asyncio.sleep(plan.steady_s - 1)
        return await asyncio.to_thread(chaos_faults.replica_snapshot, stack)

    snapshot = asyncio.create_task(snapshot_later())
    run = await open_loop(
        url,
        body,
        headers,
        [(steady_rate, plan.steady_s), (over_rate, plan.overload_s), (steady_rate, plan.after_s)],
        max_outstanding=8000,
        connections=6000,
        timeout_s=90,
        drain_s=100,
    )
    after = await snapshot
    steady = _between(run.requests, 0, plan.steady_s)
    steady_ok = [r.latency_s * 1000 for r in steady if r.ok]
    over_end = plan.steady_s + plan.overload_s
    overload = _between(run.requests, plan.steady_s, over_end)
    steady_p99 = round(percentile(steady_ok, 99), 2)
    points = windows(run.requests, over_end, over_end + plan.after_s, plan.recovery_window_s)
    limit = 2 * steady_p99
    result.update(
        steady={
            "rate_rps": steady_rate,
            "seconds": plan.steady_s,
            "requests": len(steady),
            "statuses": _counts(steady),
            "server_errors": sum(1 for r in steady if r.final >= 500),
            "transport_errors": sum(1 for r in steady if r.final == TRANSPORT_ERROR),
            "p50_ms": round(percentile(steady_ok, 50), 2),
            "p99_ms": steady_p99,
            "windows_30s": windows(run.requests, 0, plan.steady_s, 30),
        },
        replicas={
            **chaos_faults.replica_changes(before, after),
            "start": before,
            "end": after,
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


def _counts(requests: list[Request]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        counts[str(r.final)] = counts.get(str(r.final), 0) + 1
    return dict(sorted(counts.items()))


def _retried(requests: list[Request]) -> dict[str, Any]:
    ok = sum(r.ok for r in requests)
    attempts: dict[str, int] = {}
    for r in requests:
        for s in r.statuses:
            attempts[str(s)] = attempts.get(str(s), 0) + 1
    return {
        "requests": len(requests),
        "succeeded": ok,
        "success_rate": round(ok / len(requests), 5) if requests else None,
        "first_attempt_success_rate": (
            round(sum(r.statuses[0] == 200 for r in requests) / len(requests), 5)
            if requests
            else None
        ),
        "final_statuses": _counts(requests),
        "attempt_statuses": dict(sorted(attempts.items())),
        "max_attempts_used": max((len(r.statuses) for r in requests), default=0),
        "p99_ms": round(percentile([r.latency_s * 1000 for r in requests if r.ok], 99), 2),
    }


RETRY = Retry(attempts=8, base_s=0.25, cap_s=4.0)


async def replica_kill_phase(
    stack: chaos_env.ChaosStack, rate: float, plan: Plan
) -> dict[str, Any]:
    url, body, headers = _target(stack)
    kills: list[dict[str, Any]] = []
    count = int(plan.kill_for_s // plan.kill_every_s)

    async def killer() -> None:
        t0 = time.monotonic()
        for index in range(count):
            await asyncio.sleep(max(0.0, t0 + plan.kill_every_s * (index + 0.5) - time.monotonic()))
            try:
                kills.append(await asyncio.to_thread(chaos_faults.kill_predictor, stack))
            except OSError as exc:  # Ray's state API did not answer: record it, go on
                kills.append({"t": time.time(), "pid": None, "error": str(exc)[:200]})
            print(f"  kill {index + 1}/{count}: {kills[-1]}", flush=True)

    task = asyncio.create_task(killer())
    run = await open_loop(
        url, body, headers, [(rate, plan.kill_for_s)], retry=RETRY, timeout_s=30, drain_s=150
    )
    await task
    return {
        "rate_rps": rate,
        "seconds": plan.kill_for_s,
        "retry": {"attempts": RETRY.attempts, "base_s": RETRY.base_s, "cap_s": RETRY.cap_s},
        "kills": kills,
        "kills_done": sum(1 for k in kills if k["pid"]),
        **_retried(run.requests),
        "client_send_lateness": lateness(run),
        "windows_10s": windows(run.requests, 0, plan.kill_for_s, 10),
    }


async def mlflow_outage_phase(
    stack: chaos_env.ChaosStack, rate: float, plan: Plan
) -> dict[str, Any]:
    url, body, headers = _target(stack)
    stopped = await asyncio.to_thread(chaos_faults.stop_mlflow, stack)
    probes: list[dict[str, Any]] = []
    ready: list[int] = []

    async def probe() -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < plan.mlflow_down_s - 3:
            probes.append(await asyncio.to_thread(chaos_faults.registry_probe, stack))
            answer = await asyncio.to_thread(lambda: stack.http("GET", "/ready", key=None))
            ready.append(answer[0])
            await asyncio.sleep(3)

    task = asyncio.create_task(probe())
    try:
        run = await open_loop(
            url, body, headers, [(rate, plan.mlflow_down_s)], retry=RETRY, timeout_s=30
        )
        await task
    finally:
        started = await asyncio.to_thread(chaos_faults.start_mlflow, stack)
    t0 = time.monotonic()
    recovered_probe: dict[str, Any] = {}
    while time.monotonic() - t0 < 90:
        recovered_probe = await asyncio.to_thread(chaos_faults.registry_probe, stack)
        if recovered_probe["status"] == 200:
            break
        await asyncio.sleep(1)
    registry_recovered_s = round(time.monotonic() - t0, 2)
    after = await open_loop(url, body, headers, [(rate, 5)], retry=None, timeout_s=30)
    statuses = sorted({p["status"] for p in probes})
    max_s = max((p["seconds"] for p in probes), default=None)
    fast = bool(probes) and statuses == [503] and all(p["retry_after"] for p in probes)
    return {
        "rate_rps": rate,
        "down_s": plan.mlflow_down_s,
        "stopped": stopped,
        **_retried(run.requests),
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


def setup(stack: chaos_env.ChaosStack) -> dict[str, Any]:
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


def second_version_then_killed_job(stack: chaos_env.ChaosStack, parts: dict[str, Any]) -> None:
    """Background work during fuzzing: version 2 (never promoted), then the killed driver."""
    config = write_config(
        stack.configs, MODEL, search={"num_samples": 2}, registration={"promote": "never"}
    )
    parts["second_version"] = _guard(
        lambda: {
            "registered": "version 2" in stack.train(config, "--force").stdout,
        }
    )
    parts["killed_job"] = _guard(lambda: chaos_faults.killed_driver(stack))


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one part; a part that breaks is recorded with its traceback, the suite goes on."""
    started = time.monotonic()
    try:
        result = fn()
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["part_seconds"] = round(time.monotonic() - started, 1)
    return result


def write(report: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")


def run_suite(
    stack: chaos_env.ChaosStack, plan: Plan, parts: dict[str, Any], only: frozenset[str]
) -> None:
    def phase(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if only and name not in only:
            return {}
        print(f"[chaos] {name} …", flush=True)
        result = parts[name] = _guard(fn)
        shown = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
        print(f"[chaos] {name}: {json.dumps(finite(shown), default=str)[:600]}", flush=True)
        return result

    phase("listeners", lambda: chaos_checks.listeners(stack))
    phase("ray_token", lambda: chaos_checks.ray_token_required(stack))
    load = phase("load", lambda: asyncio.run(load_phase(stack, plan)))
    knee_rps = _get(load, "knee", "throughput_rps") or 20.0
    half = round(0.5 * knee_rps, 2)
    phase("replica_kill", lambda: asyncio.run(replica_kill_phase(stack, half, plan)))
    phase("ready_after_kills", lambda: _ready(stack))
    background = threading.Thread(
        target=second_version_then_killed_job, args=(stack, parts), daemon=True
    )
    if not only or "killed_job" in only:
        background.start()
    phase("fuzz", lambda: chaos_checks.fuzz(stack, plan.fuzz_examples))
    phase("bad_input", lambda: chaos_checks.hostile_inputs(stack, 5_000_000))
    phase("auth", lambda: chaos_checks.auth_matrix(stack))
    if background.is_alive():
        print("[chaos] waiting for version 2 and the killed-driver check …", flush=True)
        background.join(timeout=600)
        for name in ("second_version", "killed_job"):
            print(f"[chaos] {name}: {json.dumps(finite(parts.get(name)), default=str)[:600]}")
    phase("mlflow_outage", lambda: asyncio.run(mlflow_outage_phase(stack, half, plan)))
    phase("promotions", lambda: chaos_faults.concurrent_promotions(stack, MODEL))
    phase("integrity", lambda: chaos_faults.tampered_model(stack, MODEL))


def _ready(stack: chaos_env.ChaosStack) -> dict[str, Any]:
    t0 = time.monotonic()
    stack.wait_ready(seconds=180)
    return {"ready_after_s": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases (development only)")
    parser.add_argument("--keep", action="store_true", help="leave the chaos stack running")
    parser.add_argument("--reuse", action="store_true", help="use a stack --keep left running")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--only", help="comma-separated parts to run (development; default: all)", default=""
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    started_at, t0 = time.time(), time.monotonic()
    report: dict[str, Any] = {
        "suite": "make chaos (issue #7: reliability and security)",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at)),
        "quick": args.quick,
        "machine_at_start": report_files.machine(),
        "versions": report_files.versions(PACKAGES),
        "settings": {
            "home": str(chaos_env.HOME),
            "ports": CHAOS.ports(),
            "model": MODEL,
            "plan": plan.__dict__,
            "knee_rule": {"share_of_peak": KNEE_SHARE, "p99_blowup": BLOWUP},
            "retry": RETRY.__dict__,
            "bind": "127.0.0.1 (Serve's HAProxy, Ray dashboard, MLflow)",
        },
    }
    parts: dict[str, Any] = {}
    stacks: list[chaos_env.ChaosStack] = []
    try:
        if args.reuse:
            stacks.append(chaos_env.attach())
        else:
            print(f"[chaos] starting the chaos stack in {chaos_env.HOME} …", flush=True)
            try:
                stacks.append(chaos_env.start())
            except (SystemExit, PortsInUse) as exc:  # how a start that failed is reported
                parts["setup"] = {"error": f"the chaos stack did not start: {exc}"}
                raise
            parts["setup"] = _guard(lambda: setup(stacks[0]))
            print(f"[chaos] setup: {parts['setup']}", flush=True)
        if "error" not in parts.get("setup", {}):
            only = frozenset(p for p in args.only.split(",") if p)
            run_suite(stacks[0], plan, parts, only)
    finally:
        if stacks and not args.keep:
            print("[chaos] stopping the chaos stack …", flush=True)
            with contextlib.suppress(Exception):
                chaos_env.stop(stacks[0])
        report["duration_s"] = round(time.monotonic() - t0, 1)
        report["machine_at_end"] = report_files.machine()
        report["summary"] = build_summary(parts)
        report["parts"] = parts
        write(finite(report), args.output)
        print(f"[chaos] wrote {args.output} after {report['duration_s']:.0f}s")
        print(json.dumps(finite(report["summary"]), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
