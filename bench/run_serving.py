"""Serving benchmark: one registered model served by Rayline and by the servers a user would
pick instead, side by side in one run.

    python -m bench.run_serving           # writes bench/results/serving.json (+ .png)

For each benchmark model (bench/configs/bench_rf.yaml: 100-tree random forest; bench_lr.yaml:
logistic regression; both on breast_cancer, trained by a real `ray job submit`), the same rows
go to four servers:
- `rayline`: the Serve ingress as serve_config.yaml deploys it (its models plus the benchmark
  models), `POST /v1/models/<name>/predict?alias=champion`, `instances`, probabilities on;
- `mlflow`: `mlflow models serve --env-manager local -w 2` on `models:/<name>@champion`,
  `POST /invocations` with `dataframe_split` (its pyfunc answers predictions only);
- `lean`: the hand-rolled `uvicorn --workers 2` + starlette server of `bench/lean_server.py`,
  the same model from `mlflow.sklearn.load_model`, `instances`, one `predict_proba`;
- `rayline_unmonitored` (c32 only): the same model registered again as `<name>_unmonitored`
  and served by the same deployment with `monitoring: {enabled: false}`; Rayline ÷ it is
  `monitoring_ratio_c32`, what drift profiles and the prediction log cost;
- `mlserver`: Seldon MLServer with mlserver-sklearn (its own venv, `.rayline/mlserver`, which
  `make bench` builds; two worker processes), the same model as `model.joblib`, adaptive
  batching on, a V2 request with one input per column, `predict_proba` asked for.
Closed-loop scenarios run `wrk` (C; `make bench` installs it) in short segments, alternating
the servers (A B C D, D C B A, ...) so drift in the machine's load hits each alike. The open-
loop p99 (arrivals at half MLflow's c32 throughput, which wrk cannot express) uses the Python
open-loop generator of `bench.chaos.load`. The floor is `predict_proba` in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from bench import report, wrk
from bench.chaos.load import open_loop, summarize
from bench.cluster import BIN, deploy, serve_config, train
from rayline.benchmarking.stats import ratio
from rayline.datasets import load_builtin
from rayline.keys import admin_key
from rayline.registry import Registry
from rayline.settings import PROJECT_ROOT, Settings, get_settings
from rayline.stack import free_ports

CONFIGS = Path(__file__).resolve().parent / "configs"
MODELS = {"bench_rf": CONFIGS / "bench_rf.yaml", "bench_lr": CONFIGS / "bench_lr.yaml"}
HEADLINE = "bench_rf"
SERVERS = ("rayline", "mlflow", "lean", "mlserver")
UNMONITORED = "rayline_unmonitored"
"""Rayline serving the same model with `monitoring: {enabled: false}` (no live profile, no
prediction log), in the c32 scenario only: `monitoring_ratio_c32` is what monitoring costs."""
MONITORING_SCENARIO = "rows1_c32"
MLSERVER_VENV = PROJECT_ROOT / ".rayline" / "mlserver"
"""MLServer's own venv, which `make bench` builds (Makefile, `MLSERVER_PINS`)."""
MLSERVER_WORKERS = 2
"""MLServer's `parallel_workers`, one inference process per core. Its workers die on start
("There is no current event loop in thread 'MainThread'") under uvloop 0.22+, which raises
from `asyncio.get_event_loop()`; the venv pins uvloop 0.21."""


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


@dataclass(frozen=True)
class Target:
    """One server under test with the exact request it receives."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]


@contextlib.contextmanager
def server_process(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    ready_url: str,
    log: Path,
    cwd: Path | None = None,
) -> Iterator[None]:
    """Start `cmd` in its own process group, wait (≤ 180 s) until `ready_url` answers 200, and
    stop the whole group (nothing else) on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {log}") from None
                time.sleep(0.5)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _model_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        **settings.storage_env,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn`
        # MLflow 3 refuses to deserialise sklearn models without this (skops included).
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
    }


@contextlib.contextmanager
def mlflow_server(settings: Settings, model: str, log: Path, workers: int = 2) -> Iterator[int]:
    """`mlflow models serve` for `models:/<model>@champion` on a free loopback port."""
    (port,) = free_ports(1)
    cmd = [
        str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{model}@champion",
        "--env-manager", "local", "-w", str(workers), "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    with server_process("mlflow models serve", cmd, _model_env(settings), _url(port, "/ping"), log):
        yield port


@contextlib.contextmanager
def lean_server(settings: Settings, model: str, log: Path) -> Iterator[int]:
    """bench/lean_server.py under `uvicorn --workers 2` on a free loopback port."""
    (port,) = free_ports(1)
    env = {**_model_env(settings), "LEAN_MODEL_URI": f"models:/{model}@champion"}
    cmd = [
        str(BIN / "uvicorn"), "bench.lean_server:app", "--workers", "2",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with server_process("the lean server", cmd, env, _url(port, "/ping"), log, cwd=PROJECT_ROOT):
        yield port


@contextlib.contextmanager
def mlserver_server(settings: Settings, model: str, estimator: Any, log: Path) -> Iterator[int]:
    """MLServer (mlserver-sklearn) serving `estimator` as `model.joblib`, adaptive batching on
    (32 requests / 2 ms), on free loopback ports."""
    venv = MLSERVER_VENV
    binary = venv / "bin" / "mlserver"
    if not binary.exists():
        raise RuntimeError(f"MLServer is not installed in {venv}: run `make bench` (it builds it)")
    http_port, grpc_port, metrics_port = free_ports(3)
    folder = settings.home / "bench" / "mlserver" / model
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, folder / "model.joblib")
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": http_port,
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
                "parallel_workers": MLSERVER_WORKERS,
                "debug": False,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": model,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "max_batch_size": 32,
                "max_batch_time": 0.002,
                "parameters": {"uri": "./model.joblib", "version": "v1"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ready = _url(http_port, f"/v2/models/{model}/ready")
    with server_process("MLServer", [str(binary), "start", str(folder)], env, ready, log):
        yield http_port


def _url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def request_rows(columns: list[str], n: int) -> list[list[float]]:
    """`n` real rows of breast_cancer in the signature's column order (cycled past 569)."""
    frame = load_builtin("breast_cancer")[columns]
    return [frame.iloc[i % len(frame)].astype(float).tolist() for i in range(n)]


def in_process_floor(model: Any, frame: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """`predict_proba` on an already-typed frame in a loop, one thread: the floor."""
    model.predict_proba(frame)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.predict_proba(frame)
        calls += 1
    elapsed = time.perf_counter() - started
    return {
        "rows": len(frame),
        "calls": calls,
        "ms_per_call": round(elapsed / calls * 1000, 3),
        "rows_per_s": round(calls * len(frame) / elapsed, 1),
    }


def targets(
    ports: dict[str, int],
    serve_url: str,
    key: str | None,
    model: str,
    columns: list[str],
    rows: list[list[float]],
) -> list[Target]:
    """The same rows as each server's own request, asking each for probabilities where it can."""
    json_headers = {"Content-Type": "application/json"}
    v2 = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[i] for r in rows]}
            for i, c in enumerate(columns)
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    return [
        Target(
            "rayline",
            f"{serve_url}/v1/models/{model}/predict?alias=champion",
            json.dumps({"instances": rows, "return_proba": True}).encode(),
            {"Authorization": f"Bearer {key}", **json_headers},
        ),
        Target(
            "mlflow",
            _url(ports["mlflow"], "/invocations"),
            json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode(),
            json_headers,
        ),
        Target(
            "lean",
            _url(ports["lean"], "/predict"),
            json.dumps({"instances": rows}).encode(),
            json_headers,
        ),
        Target(
            "mlserver",
            _url(ports["mlserver"], f"/v2/models/{model}/infer"),
            json.dumps(v2).encode(),
            json_headers,
        ),
    ]


def unmonitored(name: str) -> str:
    return f"{name}_unmonitored"


def unmonitored_copy(registry: Registry, name: str) -> None:
    """The champion of `name` registered again as `<name>_unmonitored` (same files, same tags,
    its own champion alias), which the benchmark serves with `monitoring: {enabled: false}`: the
    same model with and without monitoring, side by side in one deployment."""
    source = registry.resolve(name, "champion")
    target = unmonitored(name)
    current = registry.alias_version(target, "champion")
    if current is not None and registry.resolve(target, current).tags == source.tags:
        return
    copy = registry.client.copy_model_version(f"models:/{name}/{source.version}", target)
    for key, value in source.tags.items():
        registry.client.set_model_version_tag(target, copy.version, key, value)
    registry.set_alias(target, "champion", str(copy.version))


def unmonitored_target(rayline: Target, name: str) -> Target:
    """The Rayline request, to the unmonitored copy of the model."""
    url = rayline.url.replace(f"/v1/models/{name}/", f"/v1/models/{unmonitored(name)}/")
    return Target(UNMONITORED, url, rayline.body, rayline.headers)


def predicted_classes(target: Target, classes: list[Any]) -> list[Any]:
    """What `target` answers for its rows, as class labels."""
    request = urllib.request.Request(target.url, data=target.body, headers=target.headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if target.name == "mlserver":
        (output,) = answer["outputs"]
        width = len(classes)
        data = output["data"]
        rows = [data[i : i + width] for i in range(0, len(data), width)]
        return [classes[max(range(width), key=row.__getitem__)] for row in rows]
    return list(answer["predictions"])


def closed_loop(
    servers: list[Target], scenario: Scenario, rounds: int, segment_s: float, warmup_s: float
) -> dict[str, dict[str, Any]]:
    """wrk segments per server, alternating the order each round; a discarded warm-up first."""
    load = wrk.Load(scenario.concurrency, segment_s, threads=min(2, scenario.concurrency))
    for target in servers:
        wrk.run(target.url, target.body, target.headers, wrk.Load(load.connections, warmup_s))
    segments: dict[str, list[dict[str, Any]]] = {t.name: [] for t in servers}
    for index in range(rounds):
        for target in servers if index % 2 == 0 else list(reversed(servers)):
            segments[target.name].append(wrk.run(target.url, target.body, target.headers, load))
    result = {}
    for name, runs in segments.items():
        requests = sum(r["requests"] for r in runs)
        seconds = sum(r["duration_s"] for r in runs)
        rps = requests / seconds
        result[name] = {
            "summary": {
                "throughput_rps": round(rps, 1),
                "rows_per_s": round(rps * scenario.rows, 1),
                "p50_ms": round(sorted(r["p50_ms"] for r in runs)[len(runs) // 2], 3),
                "p99_ms": round(max(r["p99_ms"] for r in runs), 3),
                "errors": sum(r["errors"] for r in runs),
            },
            "segments": runs,
        }
    return result


def open_loop_p99(servers: list[Target], rate: float, seconds: float) -> dict[str, dict[str, Any]]:
    """Arrivals at `rate` per second for `seconds` (twice, A B B A), no retries."""
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in servers}
    for target in [*servers, *reversed(servers)]:
        run = asyncio.run(
            open_loop(target.url, target.body, target.headers, [(rate, seconds)], timeout_s=30)
        )
        runs[target.name].append(summarize(run.requests, seconds))
    return {
        name: {
            "rate_rps": rate,
            "p99_ms": max(r["p99_ms"] for r in parts),
            "p50_ms": max(r["p50_ms"] for r in parts),
            "failed": sum(r["requests"] - r["ok"] for r in parts),
            "segments": parts,
        }
        for name, parts in runs.items()
    }


def run(
    settings: Settings, rounds: int = 3, segment_s: float = 5.0, warmup_s: float = 2.0
) -> dict[str, Any]:
    started = time.time()
    wrk.binary()  # fail now, not after training, if wrk is missing
    print("[bench] serving: registering the benchmark models (ray job submit)", flush=True)
    registered = {name: train(settings, path).events[-1] for name, path in MODELS.items()}
    for name in MODELS:
        unmonitored_copy(Registry(settings.tracking_uri), name)
    models: list[dict[str, Any]] = [{"name": name, "alias": "champion"} for name in MODELS]
    models += [
        {"name": unmonitored(name), "alias": "champion", "monitoring": {"enabled": False}}
        for name in MODELS
    ]
    print("[bench] serving: serve deploy (serve_config.yaml + benchmark models)", flush=True)
    deploy_s = deploy(settings, serve_config(models, settings.serve_port))
    key = admin_key(settings)
    if key is None:
        raise RuntimeError(f"no admin API key in {settings.credentials_file}; run `make up` first")
    registry = Registry(settings.tracking_uri)
    results: dict[str, Any] = {}
    for name in MODELS:
        loaded = registry.load(name, "champion")
        columns = [c.name for c in loaded.inputs]
        logs = settings.logs_dir
        with contextlib.ExitStack() as servers:
            ports = {
                "mlflow": servers.enter_context(
                    mlflow_server(settings, name, logs / f"bench-mlflow-{name}.log")
                ),
                "lean": servers.enter_context(
                    lean_server(settings, name, logs / f"bench-lean-{name}.log")
                ),
                "mlserver": servers.enter_context(
                    mlserver_server(
                        settings, name, loaded.model, logs / f"bench-mlserver-{name}.log"
                    )
                ),
            }
            scenarios: dict[str, Any] = {}
            for scenario in SCENARIOS:
                rows = request_rows(columns, scenario.rows)
                servers_now = targets(ports, settings.serve_url, key, name, columns, rows)
                if scenario.name == MONITORING_SCENARIO:
                    servers_now.append(unmonitored_target(servers_now[0], name))
                answers = {t.name: predicted_classes(t, loaded.classes or []) for t in servers_now}
                print(f"[bench] serving {name} {scenario.name}", flush=True)
                frame = pd.DataFrame(rows, columns=columns)
                scenarios[scenario.name] = {
                    "rows_per_request": scenario.rows,
                    "concurrency": scenario.concurrency,
                    "predictions_agree": all(a == answers["rayline"] for a in answers.values()),
                    "servers": closed_loop(servers_now, scenario, rounds, segment_s, warmup_s),
                    "floor": in_process_floor(loaded.model, frame, min(segment_s, 5.0)),
                }
            one = request_rows(columns, 1)
            pair = [t for t in targets(ports, settings.serve_url, key, name, columns, one)]
            pair = [t for t in pair if t.name in ("rayline", "mlflow")]
            rate = round(
                scenarios["rows1_c32"]["servers"]["mlflow"]["summary"]["throughput_rps"] / 2, 1
            )
            print(f"[bench] serving {name} open loop at {rate} req/s", flush=True)
            batch32 = pd.DataFrame(request_rows(columns, 32), columns=columns)
            results[name] = {
                "version": loaded.version,
                "scenarios": scenarios,
                "open_loop": open_loop_p99(pair, rate, max(segment_s * 2, 10.0)),
                "floor_batch32": in_process_floor(loaded.model, batch32, min(segment_s, 5.0)),
            }
    summary = _summary(results)
    settings_used = {
        "scenarios": [s.__dict__ for s in SCENARIOS],
        "rounds_per_server": rounds,
        "segment_s": segment_s,
        "warmup_s": warmup_s,
        "order": "A B C D, D C B A, ... (alternating)",
        "load_generator": "wrk -t2 -c<concurrency> (keep-alive); open loop: bench.chaos.load",
        "rayline": {
            "url": "/v1/models/<name>/predict?alias=champion",
            "body": "instances (lists), return_proba true",
            "serve_config": serve_config(models, settings.serve_port),
            "deploy_s": round(deploy_s, 2),
        },
        "mlflow": {
            "cmd": "mlflow models serve -m models:/<name>@champion --env-manager local -w 2",
            "body": "dataframe_split (predictions only)",
        },
        "lean": {
            "cmd": "uvicorn bench.lean_server:app --workers 2",
            "body": "instances; predictions and probabilities from one predict_proba",
        },
        "mlserver": {
            "cmd": "mlserver start <dir> (mlserver-sklearn, model.joblib)",
            "parallel_workers": MLSERVER_WORKERS,
            "adaptive_batching": {"max_batch_size": 32, "max_batch_time": 0.002},
            "body": "V2, one FP64 input per column, content_type pd, outputs predict_proba",
            "versions": _mlserver_versions(),
        },
        "floor": "predict_proba on a typed DataFrame, one thread, in the benchmark process",
        "registered": registered,
    }
    path = report.write("serving", summary, {"models": results}, settings_used, started)
    document = report.load("serving")
    assert document is not None
    report.chart_serving(document)
    print(f"[bench] wrote {path}: {json.dumps(summary)}", flush=True)
    return summary


def _mlserver_versions() -> dict[str, str]:
    python = MLSERVER_VENV / "bin" / "python"
    code = (
        "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
        "('mlserver', 'mlserver-sklearn', 'scikit-learn', 'pandas', 'numpy', 'uvloop')}))"
    )
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return dict(json.loads(found.stdout)) if found.returncode == 0 else {}


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    scenarios = result["scenarios"]

    def rps(scenario: str, server: str) -> float:
        value: float = scenarios[scenario]["servers"][server]["summary"]["throughput_rps"]
        return value

    c1, c32, big = "rows1_c1", "rows1_c32", "rows1000_c4"
    opened = result["open_loop"]
    return {
        "throughput_ratio_c1": ratio(rps(c1, "rayline"), rps(c1, "mlflow")),
        "throughput_ratio_c32": ratio(rps(c32, "rayline"), rps(c32, "mlflow")),
        "lean_ratio_c32": ratio(rps(c32, "rayline"), rps(c32, "lean")),
        "mlserver_ratio_c32": ratio(rps(c32, "rayline"), rps(c32, "mlserver")),
        "p99_ratio_open": ratio(opened["rayline"]["p99_ms"], opened["mlflow"]["p99_ms"]),
        "floor_fraction_c32": ratio(rps(c32, "rayline"), result["floor_batch32"]["rows_per_s"]),
        "monitoring_ratio_c32": ratio(rps(c32, "rayline"), rps(c32, UNMONITORED)),
        "rows_ratio_1000": ratio(rps(big, "rayline"), rps(big, "mlflow")),
        "floor_fraction_1000": ratio(
            rps(big, "rayline") * 1000, scenarios[big]["floor"]["rows_per_s"]
        ),
        "p50_ms_c1": scenarios[c1]["servers"]["rayline"]["summary"]["p50_ms"],
        "p99_ms_open": opened["rayline"]["p99_ms"],
        **{f"{server}_rps_c32": rps(c32, server) for server in SERVERS},
        "predictions_agree": all(s["predictions_agree"] for s in scenarios.values()),
        "errors": sum(
            measured["summary"]["errors"]
            for s in scenarios.values()
            for measured in s["servers"].values()
        )
        + sum(o["failed"] for o in opened.values()),
    }


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    """Headline figures for the random forest; the same for the logistic regression `_lr`."""
    summary = {"model": HEADLINE, **_figures(results[HEADLINE])}
    for key, value in _figures(results["bench_lr"]).items():
        summary[f"{key}_lr"] = value
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_serving", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="segments per server per scenario")
    parser.add_argument("--segment-s", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    run(get_settings(), args.rounds, args.segment_s, args.warmup_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
