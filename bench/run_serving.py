"""Serving benchmark: one registered model served by Rayline and by `mlflow models serve`.

    python -m bench.run_serving           # writes bench/results/serving.json (+ .png)

For each benchmark model (bench/configs/bench_rf.yaml: 100-tree random forest; bench_lr.yaml:
logistic regression; both on breast_cancer, trained by a real `ray job submit`):
(a) the Rayline ingress, `POST /v1/models/<name>/predict?alias=champion`, with the repository's
serve_config.yaml deployed (its models plus the benchmark models);
(b) `mlflow models serve --env-manager local -w 2` on the same `models:/<name>@champion`,
`POST /invocations` with `dataframe_split`;
(c) in-process `model.predict` on the same verified model: the floor.
The same rows go to both servers, predictions only. One closed-loop client
(rayline.benchmarking.loadgen), warm-up then fixed-length segments, alternating A B B A.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench import report
from bench.cluster import BIN, deploy, serve_config, train
from rayline.benchmarking.loadgen import Target, alternate, http_json, run_sync
from rayline.benchmarking.stats import ratio
from rayline.datasets import load_builtin
from rayline.keys import admin_key
from rayline.registry import Registry
from rayline.settings import Settings, get_settings
from rayline.stack import free_ports

CONFIGS = Path(__file__).resolve().parent / "configs"
MODELS = {"bench_rf": CONFIGS / "bench_rf.yaml", "bench_lr": CONFIGS / "bench_lr.yaml"}
HEADLINE = "bench_rf"


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: int
    concurrency: int


SCENARIOS = (
    Scenario("rows1_c1", 1, 1),
    Scenario("rows1_c32", 1, 32),
    Scenario("rows1000_c4", 1000, 4),
)


@contextlib.contextmanager
def mlflow_server(settings: Settings, model: str, log: Path) -> Any:
    """`mlflow models serve` for `models:/<model>@champion` on a free loopback port; stopped
    (its whole process group, nothing else) on exit."""
    (port,) = free_ports(1)
    env = {
        **os.environ,
        **settings.storage_env,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # it execs `uvicorn`
        # MLflow 3 refuses to deserialise sklearn models without this (skops included).
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
    }
    cmd = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{model}@champion",
        "--env-manager",
        "local",
        "-w",
        "2",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow models serve did not start; see {log}") from None
                time.sleep(0.5)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def request_rows(columns: list[str], n: int) -> list[list[float]]:
    """`n` real rows of breast_cancer in the signature's column order (cycled past 569)."""
    frame = load_builtin("breast_cancer")[columns]
    return [frame.iloc[i % len(frame)].astype(float).tolist() for i in range(n)]


def in_process_floor(model: Any, frame: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """`model.predict` on an already-typed frame in a loop, one thread: the floor."""
    model.predict(frame)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.predict(frame)
        calls += 1
    elapsed = time.perf_counter() - started
    return {
        "calls": calls,
        "seconds": round(elapsed, 3),
        "ms_per_call": round(elapsed / calls * 1000, 3),
        "rows_per_s": round(calls * len(frame) / elapsed, 1),
    }


def run(
    settings: Settings, rounds: int = 4, segment_s: float = 6.0, warmup_s: float = 2.0
) -> dict[str, Any]:
    started = time.time()
    print("[bench] serving: registering the benchmark models (ray job submit)", flush=True)
    registered = {name: train(settings, path).events[-1] for name, path in MODELS.items()}
    models = [{"name": name, "alias": "champion"} for name in MODELS]
    print("[bench] serving: serve deploy (serve_config.yaml + benchmark models)", flush=True)
    deploy_s = deploy(settings, serve_config(models, settings.serve_port))
    key = admin_key(settings)
    registry = Registry(settings.tracking_uri)
    scenarios: list[dict[str, Any]] = []
    for name in MODELS:
        schema = http_json(f"{settings.serve_url}/v1/models/{name}/schema", key)
        columns = [c["name"] for c in schema["inputs"]]
        loaded = registry.load(name, "champion")
        with mlflow_server(settings, name, settings.logs_dir / f"bench-mlflow-{name}.log") as port:
            mlflow_version = registry.resolve(name, "champion").version
            for scenario in SCENARIOS:
                rows = request_rows(columns, scenario.rows)
                ours = Target(
                    "rayline",
                    f"{settings.serve_url}/v1/models/{name}/predict?alias=champion",
                    json.dumps({"instances": rows, "return_proba": False}).encode(),
                    {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    scenario.rows,
                )
                theirs = Target(
                    "mlflow",
                    f"http://127.0.0.1:{port}/invocations",
                    json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode(),
                    {"Content-Type": "application/json"},
                    scenario.rows,
                )
                agree = _same_predictions(ours, theirs)
                print(f"[bench] serving {name} {scenario.name}", flush=True)
                runs = run_sync(
                    alternate([ours, theirs], scenario.concurrency, rounds, segment_s, warmup_s)
                )
                frame = pd.DataFrame(rows, columns=columns)
                floor = in_process_floor(loaded.model, frame, min(segment_s, 5.0))
                scenarios.append(
                    {
                        "model": name,
                        "scenario": scenario.name,
                        "rows_per_request": scenario.rows,
                        "concurrency": scenario.concurrency,
                        "predictions_agree": agree,
                        "version": {"rayline": loaded.version, "mlflow": str(mlflow_version)},
                        "floor_rows_per_s": floor["rows_per_s"],
                        "floor": floor,
                        "servers": {
                            server: {
                                "summary": r.summary(),
                                "statuses": r.statuses,
                                "segments": r.segments,
                                "latencies_ms_sample": [
                                    round(v, 3)
                                    for v in r.latencies_ms[:: max(1, len(r.latencies_ms) // 500)]
                                ],
                            }
                            for server, r in runs.items()
                        },
                    }
                )
    summary = _summary(scenarios)
    settings_used = {
        "scenarios": [s.__dict__ for s in SCENARIOS],
        "rounds_per_server": rounds,
        "segment_s": segment_s,
        "warmup_s": warmup_s,
        "order": "A B, B A, ... (alternating)",
        "rayline": {
            "url": "/v1/models/<name>/predict?alias=champion",
            "body": "instances (lists), return_proba false",
            "serve_config": serve_config(models, settings.serve_port),
            "deploy_s": round(deploy_s, 2),
        },
        "mlflow": {
            "cmd": "mlflow models serve -m models:/<name>@champion --env-manager local -w 2",
            "body": "dataframe_split",
        },
        "floor": "model.predict on a typed DataFrame, one thread, in the benchmark process",
        "registered": registered,
    }
    path = report.write("serving", summary, {"scenarios": scenarios}, settings_used, started)
    document = report.load("serving")
    assert document is not None
    report.chart_serving(document)
    print(f"[bench] wrote {path}: {json.dumps(summary)}", flush=True)
    return summary


def _same_predictions(ours: Target, theirs: Target) -> bool:
    """Both servers answer the same rows with the same predictions (same model version)."""
    mine = json.loads(_post(ours))["predictions"]
    other = json.loads(_post(theirs))["predictions"]
    return bool(mine == other)


def _post(target: Target) -> bytes:
    request = urllib.request.Request(target.url, data=target.body, headers=target.headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


def _pick(scenarios: list[dict[str, Any]], model: str, name: str) -> dict[str, Any]:
    return next(s for s in scenarios if s["model"] == model and s["scenario"] == name)


def _figures(scenarios: list[dict[str, Any]], model: str) -> dict[str, Any]:
    c1, c32, big = (_pick(scenarios, model, s.name) for s in SCENARIOS)

    def get(s: dict[str, Any], server: str, key: str) -> Any:
        return s["servers"][server]["summary"][key]

    return {
        "throughput_ratio_c1": ratio(
            get(c1, "rayline", "throughput_rps"), get(c1, "mlflow", "throughput_rps")
        ),
        "throughput_ratio_c32": ratio(
            get(c32, "rayline", "throughput_rps"), get(c32, "mlflow", "throughput_rps")
        ),
        "p50_ms_c1": get(c1, "rayline", "p50_ms"),
        "p99_ms_c32": get(c32, "rayline", "p99_ms"),
        "rows_ratio_1000": ratio(
            get(big, "rayline", "rows_per_s"), get(big, "mlflow", "rows_per_s")
        ),
        "floor_fraction_1000": ratio(get(big, "rayline", "rows_per_s"), big["floor_rows_per_s"]),
        "rayline_rps_c32": get(c32, "rayline", "throughput_rps"),
        "mlflow_rps_c32": get(c32, "mlflow", "throughput_rps"),
        "mlflow_p99_ms_c32": get(c32, "mlflow", "p99_ms"),
        "errors": sum(
            s["servers"][server]["summary"]["errors"]
            for s in (c1, c32, big)
            for server in ("rayline", "mlflow")
        ),
    }


def _summary(scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline figures for the random forest; the same for the logistic regression `_lr`."""
    summary = {"model": HEADLINE, **_figures(scenarios, HEADLINE)}
    for key, value in _figures(scenarios, "bench_lr").items():
        summary[f"{key}_lr"] = value
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_serving", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4, help="segments per server per scenario")
    parser.add_argument("--segment-s", type=float, default=6.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    run(get_settings(), args.rounds, args.segment_s, args.warmup_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
