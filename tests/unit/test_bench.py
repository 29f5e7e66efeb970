"""bench/, rayline.benchmarking and jobs.benchmark: the pure parts (statistics, grids, result
files, event parsing) and the load generator against a real in-process HTTP server. No timing is
asserted."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from aiohttp import web
from sklearn.datasets import load_iris
from sklearn.model_selection import ParameterGrid

from bench import report
from bench.cluster import SERVE_CONFIG, JobRun, parse_event_lines, serve_config
from bench.run_training import GRIDS, sweep_figures, time_to_reach
from bench.training import base_pipeline, gridsearch_param_grid, run_gridsearch
from jobs import benchmark
from rayline.benchmarking.loadgen import Run, Target, measure
from rayline.benchmarking.stats import finite, latency_summary, percentile, ratio
from rayline.benchmarking.training import benchmark_config, fold_score, sequential_scores
from rayline.config import load_config, parse_config
from rayline.estimators import make_pipeline_for
from rayline.scoring import cross_validate
from rayline.search import candidates
from serve_app.schemas import BenchmarkRequest


# --- statistics ------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear_interpolation(q: float) -> None:
    values = list(np.random.default_rng(0).exponential(10.0, size=257))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter
    with pytest.raises(ValueError, match="within"):
        percentile([1.0], 101)


def test_latency_summary_counts_only_successes_as_throughput() -> None:
    summary = latency_summary(
        [10.0, 20.0, 30.0, 40.0], duration_s=2.0, rows_per_request=5, errors=3
    )
    assert summary["throughput_rps"] == 2.0
    assert summary["rows_per_s"] == 10.0
    assert summary["p50_ms"] == 25.0 and summary["mean_ms"] == 25.0
    assert summary["requests"] == 7 and summary["errors"] == 3
    empty = latency_summary([], duration_s=1.0, rows_per_request=1, errors=4)
    assert empty["throughput_rps"] == 0 and math.isnan(empty["p99_ms"])


def test_ratio_and_finite() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None and ratio(None, 1.0) is None and ratio(math.nan, 1.0) is None
    assert finite({"a": [math.nan, 1.0], "b": math.inf}) == {"a": [None, 1.0], "b": None}


# --- grids: GridSearchCV gets exactly Rayline's candidates --------------------------------------
@pytest.mark.parametrize("grid", ["light", "heavy"])
def test_gridsearch_grid_enumerates_the_sweep_candidates_in_order(grid: str) -> None:
    config = load_config(GRIDS[grid])
    found = candidates(config)
    assert len(found) >= 24
    points = list(ParameterGrid(gridsearch_param_grid(found, config.task, config.split.seed)))
    assert len(points) == len(found)
    for point, candidate in zip(points, found, strict=True):
        expected = make_pipeline_for(
            candidate.family, config.task, candidate.params, config.split.seed
        ).named_steps["model"]
        assert type(point["model"]) is type(expected)
        assert point["model"].get_params() == expected.get_params()


def _tiny_config() -> dict[str, object]:
    return {
        "name": "tiny",
        "dataset": {"source": "iris"},
        "split": {"cv_folds": 3, "seed": 7},
        "search": {"algorithm": "grid"},
        "estimators": {
            "knn": {"n_neighbors": [1, 15], "weights": ["uniform"]},
            "random_forest": {"n_estimators": [5], "max_depth": [2]},
        },
        "ensemble": {"enabled": False},
    }


def test_gridsearch_scores_equal_the_sweeps_cross_validation() -> None:
    config = parse_config(_tiny_config(), "tiny")
    X, y = load_iris(return_X_y=True, as_frame=True)
    result = run_gridsearch(config, X, y, n_jobs=1)
    ours = [
        cross_validate(
            make_pipeline_for(c.family, config.task, c.params, 7),
            X,
            y,
            config.task,
            config.metric,
            3,
            7,
        )[0]
        for c in candidates(config)
    ]
    assert result.mean_scores == pytest.approx(ours, abs=1e-12)
    assert result.best_score == max(ours) and result.mean_scores[result.best_index] == max(ours)
    assert sequential_scores(config, X, y) == pytest.approx(ours, abs=1e-12)


def test_fold_score_is_the_sweeps_fold() -> None:
    config = parse_config(_tiny_config(), "tiny")
    X, y = load_iris(return_X_y=True, as_frame=True)
    pipeline = make_pipeline_for("knn", "classification", {"n_neighbors": 15}, 7)
    folds = [fold_score(pipeline, X, y, "classification", config.metric, 3, 7, k) for k in range(3)]
    assert sum(folds) / 3 == pytest.approx(
        cross_validate(pipeline, X, y, "classification", config.metric, 3, 7)[0]
    )


def test_base_pipeline_keeps_the_preprocessing() -> None:
    config = parse_config(_tiny_config(), "tiny")
    pipeline = base_pipeline(candidates(config), config.task, 7)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "model"]  # type: ignore[attr-defined]


def test_benchmark_config_gives_distinct_deterministic_configurations() -> None:
    first = candidates(benchmark_config("wine", 40))
    assert len(first) == 40
    assert len({json.dumps(c.params, sort_keys=True) for c in first}) == 40
    assert first == candidates(benchmark_config("wine", 40))
    assert benchmark_config("diabetes", 3).task == "regression"
    with pytest.raises(ValueError, match="not a built-in dataset"):
        benchmark_config("nope", 3)


# --- job events ------------------------------------------------------------------------------
def _job_log() -> str:
    lines = [
        {"event": "progress", "trials_done": 0, "t": 100.0},
        {
            "event": "trial",
            "trial": 0,
            "params": {},
            "score": 0.90,
            "status": "done",
            "fit_time_s": 1.0,
            "t": 103.0,
        },
        {
            "event": "trial",
            "trial": 1,
            "params": {},
            "score": 0.97,
            "status": "stopped",
            "fit_time_s": 0.2,
            "t": 104.0,
        },
        {
            "event": "trial",
            "trial": 2,
            "params": {},
            "score": 0.95,
            "status": "done",
            "fit_time_s": 1.0,
            "t": 107.5,
        },
        {"event": "sweep", "trials": 3, "t_start": 100.0, "t_end": 108.0, "seconds": 8.0},
    ]
    return "noise\n" + "\n".join("@rayline " + json.dumps(line) for line in lines) + "\n"


def test_sweep_figures_and_time_to_reach_a_score() -> None:
    events = parse_event_lines(_job_log())
    figures = sweep_figures(JobRun(["jobs.train"], 0, _job_log(), 12.0, events))
    assert figures["sweep_s"] == 8.0 and figures["best_score"] == 0.95
    assert [t["t_rel_s"] for t in figures["trials"]] == [3.0, 4.0, 7.5]
    assert time_to_reach(figures["trials"], 0.90) == 3.0
    assert time_to_reach(figures["trials"], 0.93) == 7.5
    # A trial stopped early scored on fewer folds: it never counts as reaching a score.
    assert time_to_reach(figures["trials"], 0.96) is None


def test_failed_job_raises_with_its_log_tail() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        JobRun(["jobs.train", "x"], 1, "line\nboom\n", 1.0).check()


def test_serve_config_serves_only_the_benchmark_models_with_the_shipped_settings() -> None:
    config = serve_config([{"name": "bench_rf", "alias": "champion"}], port=8100)
    app = config["applications"][0]
    assert app["args"]["models"] == [{"name": "bench_rf", "alias": "champion"}]
    assert app["import_path"] == "serve_app.app:build_app"
    shipped = yaml.safe_load(SERVE_CONFIG.read_text())["applications"][0]["deployments"]
    assert app["deployments"] == shipped  # replicas, batch sizes, user_config as shipped
    assert {"Ingress", "Metrics"} == {d["name"] for d in app["deployments"]}
    assert config["http_options"]["port"] == 8100


# --- jobs.benchmark ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["serving", "training"])
def test_benchmark_job_accepts_every_request_field(kind: str) -> None:
    # Built exactly as serve_app.jobs.Jobs.submit_benchmark builds the entrypoint.
    request = BenchmarkRequest.model_validate({"kind": kind, "model": "iris"})
    options = request.model_dump(exclude_none=True)
    options.pop("kind")
    argv = [
        kind,
        *shlex.split(
            " ".join(
                f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in sorted(options.items())
            )
        ),
    ]
    args = benchmark.parser().parse_args(argv)
    assert args.kind == kind and args.model == "iris" and args.n_configs == 24
    assert args.duration_s == 10.0 and args.rows_per_request == 1


def test_benchmark_result_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    # What Ray Jobs gives the driver it starts (test_training_job.py checks it on a real job).
    job_config = {"metadata": {"job_submission_id": "raysubmit_abc"}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job_config))
    ident = benchmark.result_id("serving")
    assert ident.endswith("-serving-abc")
    document = {"id": ident, "kind": "serving", "created_at": 1.0, "settings": {}, "summary": {}}
    path = benchmark.write_result(benchmark.get_settings(), document)
    assert path == tmp_path / "benchmarks" / f"{ident}.json"
    assert json.loads(path.read_text()) == document
    assert list(path.parent.iterdir()) == [path]


def test_serving_benchmark_calls_the_ingress_with_the_admin_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production: keys only in RAYLINE_API_KEYS (no keys file); the job must still find one.
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAYLINE_API_KEYS", "predict:p1, admin:a1")
    used: list[str | None] = []

    def schema_call(url: str, key: str | None = None, **_: object) -> object:
        used.append(key)
        raise ValueError("stop after the first call")

    monkeypatch.setattr(benchmark, "http_json", schema_call)
    assert benchmark.main(["serving", "--model", "iris", "--id", "x"]) == 2
    assert used == ["a1"]


def test_serving_benchmark_without_an_admin_key_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAYLINE_API_KEYS", "predict:p1")
    assert benchmark.main(["serving", "--model", "iris", "--id", "x"]) == 2
    assert "no admin API key in RAYLINE_API_KEYS" in capsys.readouterr().err
    assert not (tmp_path / "benchmarks").exists()


# --- results and the README table ------------------------------------------------------------
def test_results_document_and_table(tmp_path: Path) -> None:
    report.write(
        "training",
        {"wall_ratio_heavy": 1.04, "wall_ratio_light": 1.4},
        {},
        {},
        0.0,
        folder=tmp_path,
    )
    document = report.load("training", tmp_path)
    assert document is not None
    assert {"summary", "raw", "settings", "versions", "machine", "created_at"} <= set(document)
    assert "scikit-learn" in document["versions"]
    table = report.markdown_table(tmp_path)
    assert "| training | `wall_ratio_heavy` | 1.04 | <= 1.05 | holds |" in table
    assert "| training | `wall_ratio_light` | 1.4 | <= 1.1 | misses |" in table
    assert "| serving | `throughput_ratio_c32` | n/a | >= 3 | no data |" in table
    assert "| serving | `lean_ratio_c32_lr` | n/a | >= 1 | no data |" in table


# --- the load generator against a real server ------------------------------------------------
def test_closed_loop_counts_successes_and_errors() -> None:
    ticks = itertools.count()

    def clock() -> float:
        """10 ms per reading, however slow the machine: two readings a request."""
        return next(ticks) * 0.01

    async def scenario() -> tuple[Run, Run]:
        async def ok(request: web.Request) -> web.Response:
            assert await request.read() == b'{"x": 1}'
            return web.json_response({"ok": True})

        async def fail(request: web.Request) -> web.Response:
            return web.json_response({"detail": "no"}, status=503)

        app = web.Application()
        app.router.add_post("/ok", ok)
        app.router.add_post("/fail", fail)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            good = await measure(
                Target("ok", f"http://127.0.0.1:{port}/ok", b'{"x": 1}', rows_per_request=10),
                concurrency=4,
                duration_s=0.3,
                warmup_s=0.1,
                clock=clock,
            )
            bad = await measure(
                Target("fail", f"http://127.0.0.1:{port}/fail", b"{}"),
                concurrency=2,
                duration_s=0.2,
                warmup_s=0.05,
                clock=clock,
            )
        finally:
            await runner.cleanup()
        return good, bad

    good, bad = asyncio.run(scenario())
    assert good.errors == 0 and good.latencies_ms and set(good.statuses) == {"200"}
    assert good.summary()["rows_per_s"] == pytest.approx(good.summary()["throughput_rps"] * 10)
    assert not bad.latencies_ms and bad.errors > 0 and set(bad.statuses) == {"503"}
