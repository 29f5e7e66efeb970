"""Platform benchmark: cold start, deploy time, idle memory and job-submission overhead.

    python -m bench.run_platform          # writes bench/results/platform.json (+ .png)

All on a separate stack with its own RAYLINE_HOME and ports (never the one `make demo` runs):
1. once: `make up`, train the benchmark models there (real `ray job submit`), `make down`;
2. cold start, timed: `make up` on the stopped stack → `serve deploy` → /ready → first
   successful prediction (`cold_start_s`; `deploy_s` is the `serve deploy` → ready part);
3. idle memory after a quiet pause: RSS of every Ray, Serve and MLflow process of that stack,
   object-store (shared-memory) mappings excluded; `idle_pss_mb` (PSS: a page shared by n
   processes counts 1/n in each) is the figure with a target, `idle_rss_mb` kept beside it;
4. `job_submit_overhead_s`: a trivial job (`python -c pass`) from submit to SUCCEEDED;
5. `make down`, always.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.cluster import deploy, serve_config, train
from rayline import procfs
from rayline.benchmarking.loadgen import http_json
from rayline.benchmarking.stats import median
from rayline.config import load_config
from rayline.keys import admin_key
from rayline.registry import Registry, RegistryError
from rayline.settings import PROJECT_ROOT, Settings
from rayline.stack import ray_temp_dir, read_started, stack_pids, stop_ray
from rayline.stack.profiles import BENCH_PLATFORM

CONFIGS = Path(__file__).resolve().parent / "configs"
COLD_HOME = Path("/tmp/rl-bench")  # noqa: S108 - a throwaway stack's state
COLD_ENV = {"RAYLINE_HOME": str(COLD_HOME), **BENCH_PLATFORM.env()}
"""All the separate stack's settings: `make` runs with these and no other RAYLINE_* variable."""
MODELS = ("bench_rf", "bench_lr")
_RAY_SCRUB = ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")


def cold_settings() -> Settings:
    return BENCH_PLATFORM.settings(home=COLD_HOME)


def make(target: str) -> float:
    """`make <target>` for the separate stack; seconds taken."""
    env = {
        k: v for k, v in os.environ.items() if k not in _RAY_SCRUB and not k.startswith("RAYLINE_")
    }
    env.update(COLD_ENV)
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", target],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"make {target} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - started


# --- process memory ----------------------------------------------------------------------
def stack_processes(settings: Settings) -> dict[int, str]:
    """pid → component for every process of the separate stack (`rayline.stack.stack_pids`):
    the MLflow server's session (it starts as a session leader) and Ray's processes."""
    mlflow_pid = read_started(settings).get("mlflow_pid")
    found = {}
    for pid in stack_pids(settings):
        try:
            kind = "mlflow" if os.getsid(pid) == mlflow_pid else "ray"
        except ProcessLookupError:
            continue
        found[pid] = _component(kind, procfs.command(pid))
    return found


def _component(kind: str, cmdline: str) -> str:
    if kind == "mlflow":
        if "huey" in cmdline or "_job_runner" in cmdline:
            return "mlflow job runners (huey)"
        return "mlflow server"
    if "ServeReplica" in cmdline:
        return "serve replicas"
    if "ServeController" in cmdline or "ProxyActor" in cmdline or "haproxy" in cmdline:
        return "serve controller + proxy (haproxy)"
    return "ray core (gcs, raylet, dashboard, agents, idle workers)"


def process_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes, leaving out shared-memory mappings (Ray's object store)."""
    rss = pss = 0
    skip = False
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        head = line.split(None, 1)[0]
        if "-" in head and not head.endswith(":"):  # a mapping header line
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            skip = path.startswith("/dev/shm/") or "plasma" in path  # noqa: S108 - only read
        elif head == "Rss:" and not skip:
            rss += int(line.split()[1]) * 1024
        elif head == "Pss:" and not skip:
            pss += int(line.split()[1]) * 1024
    return rss, pss


def idle_memory(settings: Settings) -> dict[str, Any]:
    by_component: dict[str, dict[str, float]] = {}
    processes = stack_processes(settings)
    listing = []
    for pid, component in processes.items():
        rss, pss = process_memory(pid)
        name = procfs.command(pid).split(" --")[0][-90:]
        listing.append({"component": component, "process": name, "rss_mb": round(rss / 2**20, 1)})
        entry = by_component.setdefault(component, {"rss_mb": 0.0, "pss_mb": 0.0, "processes": 0})
        entry["rss_mb"] += rss / 2**20
        entry["pss_mb"] += pss / 2**20
        entry["processes"] += 1
    for entry in by_component.values():
        entry["rss_mb"] = round(entry["rss_mb"], 1)
        entry["pss_mb"] = round(entry["pss_mb"], 1)
    return {
        "rss_mb": round(sum(e["rss_mb"] for e in by_component.values()), 1),
        "pss_mb": round(sum(e["pss_mb"] for e in by_component.values()), 1),
        "processes": len(processes),
        "by_component": by_component,
        "by_process": sorted(listing, key=lambda p: -p["rss_mb"]),
    }


def stop(settings: Settings) -> None:
    """`make down`, then end any process still naming the separate stack's Ray temp dir (a
    `ray start` that failed half-way is not recorded for `make down` to stop)."""
    try:
        make("down")
    finally:
        stop_ray(str(ray_temp_dir(settings)))


# --- jobs --------------------------------------------------------------------------------
def trivial_job_seconds(settings: Settings, repeats: int) -> list[float]:
    os.environ["RAY_AUTH_MODE"] = "token"  # read when Ray's client modules load
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(settings.ray_dashboard_url)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        job = client.submit_job(entrypoint="python -c pass")
        while client.get_job_status(job) not in {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.STOPPED,
        }:
            time.sleep(0.05)
        if client.get_job_status(job) != JobStatus.SUCCEEDED:
            raise RuntimeError(f"trivial job {job} did not succeed")
        times.append(round(time.perf_counter() - started, 3))
    return times


def prepare(settings: Settings) -> list[str]:
    """Bring the separate stack's registry to having the benchmark models, then stop it."""
    try:
        make("up")
        registry = Registry(settings.tracking_uri)
        trained = []
        for name in MODELS:
            try:
                registry.resolve(name, "champion")
            except RegistryError:
                train(settings, CONFIGS / f"{name}.yaml")
                trained.append(name)
        return trained
    finally:
        stop(settings)


def first_prediction(settings: Settings, key: str | None) -> None:
    schema = http_json(f"{settings.serve_url}/v1/models/{MODELS[0]}/schema", key)
    body = {"instances": [schema["input_example"]], "return_proba": False}
    http_json(f"{settings.serve_url}/v1/models/{MODELS[0]}/predict", key, body)


def run(
    settings_unused: Settings | None = None, idle_s: float = 20, jobs: int = 3
) -> dict[str, Any]:
    started = time.time()
    settings = cold_settings()
    for name in MODELS:  # configs must validate before anything starts
        load_config(CONFIGS / f"{name}.yaml")
    print("[bench] platform: preparing the separate stack (/tmp/rl-bench)", flush=True)
    trained = prepare(settings)
    config = serve_config([{"name": m, "alias": "champion"} for m in MODELS], settings.serve_port)
    config["applications"][0]["args"]["models"] = [{"name": m, "alias": "champion"} for m in MODELS]
    try:
        print("[bench] platform: cold start (make up → serve deploy → prediction)", flush=True)
        make("install")  # untimed: only the stack's start-up is measured, never a rebuild
        t0 = time.perf_counter()
        up_s = make("up")
        deploy_s = deploy(settings, config)
        first_prediction(settings, admin_key(settings))
        cold_start_s = time.perf_counter() - t0
        print(f"[bench] platform: idle {idle_s:.0f}s, then memory", flush=True)
        time.sleep(idle_s)
        memory = idle_memory(settings)
        job_times = trivial_job_seconds(settings, jobs)
    finally:
        stop(settings)
    summary = {
        "cold_start_s": round(cold_start_s, 2),
        "deploy_s": round(deploy_s, 2),
        "idle_rss_mb": memory["rss_mb"],
        "idle_pss_mb": memory["pss_mb"],
        "job_submit_overhead_s": median(job_times),
    }
    raw = {
        "cold_start_phases_s": {
            "make up (Ray head + MLflow)": round(up_s, 2),
            "serve deploy → /ready": round(deploy_s, 2),
            "first prediction": round(cold_start_s - up_s - deploy_s, 2),
        },
        "idle_memory_by_component_mb": memory["by_component"],
        "idle_processes": memory["processes"],
        "idle_memory_by_process_mb": memory["by_process"],
        "job_submit_s": job_times,
        "models_trained_in_preparation": trained,
    }
    settings_used = {
        "stack_env": COLD_ENV,
        "served_models": list(MODELS),
        "idle_wait_s": idle_s,
        "trivial_job": "python -c pass",
        "memory": "RSS and PSS from /proc/<pid>/smaps; /dev/shm and plasma mappings excluded",
    }
    path = report.write("platform", summary, raw, settings_used, started)
    document = report.load("platform")
    assert document is not None
    report.chart_platform(document)
    print(f"[bench] wrote {path}: {json.dumps(summary)}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_platform", description=__doc__)
    parser.add_argument("--idle-s", type=float, default=20)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args(argv)
    run(None, args.idle_s, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
