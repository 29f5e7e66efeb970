"""Training benchmark: Rayline's sweep (a real Ray Job, MLflow logging on) vs GridSearchCV.

    python -m bench.run_training          # writes bench/results/training.json (+ .png)

Same data (the sweep's training split), same candidates (`rayline.search.candidates`), same
folds and scorer. Wall times are the search itself on both sides: the job's `sweep` event
(first trial scheduled → Tune finished, every trial logged to MLflow) and `GridSearchCV.fit`
with `refit=False`. Each job's whole submit-to-finish time is kept in the raw numbers too.
Measured as users run sweeps: on the cluster that is serving, with the Serve app deployed and
idle (checked first, recorded in the settings; without it the benchmark refuses to run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.cluster import JobRun, submit_job
from bench.training import run_gridsearch
from rayline import datasets
from rayline.benchmarking.stats import median, ratio
from rayline.config import TrainConfig, load_config
from rayline.settings import Settings, get_settings
from rayline.stack.harness import LocalStack, replica_states

CONFIGS = Path(__file__).resolve().parent / "configs"
GRIDS = {"light": CONFIGS / "sweep_light.yaml", "heavy": CONFIGS / "sweep_heavy.yaml"}
HEADLINE_EARLY_STOPPING = "heavy"
"""The grid whose early-stopping run gives `time_to_best_ratio`: fits dominate there, so the
figure measures the search strategy rather than fixed start-up costs."""


def sweep_figures(job: JobRun) -> dict[str, Any]:
    """Sweep wall time and per-trial scores and times (seconds since sweep start) from events."""
    sweep = next(e for e in reversed(job.events) if e.get("event") == "sweep")
    start = float(sweep["t_start"])
    trials = [
        {
            "trial": e["trial"],
            "params": e["params"],
            "score": e["score"],
            "status": e["status"],
            "completed": e["status"] == "done",
            "fit_time_s": e["fit_time_s"],
            "t_rel_s": round(float(e["t"]) - start, 3),
        }
        for e in job.events
        if e.get("event") == "trial" and e.get("score") is not None
    ]
    completed = [t["score"] for t in trials if t["completed"]]
    return {
        "sweep_s": float(sweep["seconds"]),
        "job_wall_s": round(job.wall_s, 3),
        "best_score": max(completed) if completed else None,
        "trials": trials,
    }


def time_to_reach(trials: list[dict[str, Any]], score: float) -> float | None:
    """Seconds from sweep start until a fully cross-validated trial scored at least `score`."""
    reached = [t["t_rel_s"] for t in trials if t["completed"] and t["score"] >= score - 1e-9]
    return min(reached) if reached else None


def rayline_sweep(settings: Settings, path: Path, early_stopping: bool = False) -> dict[str, Any]:
    if early_stopping:
        config = load_config(path)
        spec = config.model_dump(mode="json")
        spec["name"] = f"{config.name}_es"
        spec["search"]["early_stopping"] = True
        args = ["jobs.train", "--spec", json.dumps(spec), "--force"]
    else:
        args = ["jobs.train", str(path.relative_to(CONFIGS.parent.parent)), "--force"]
    return sweep_figures(submit_job(settings, args).check())


def training_data(config: TrainConfig, settings: Settings) -> tuple[Any, Any]:
    """The sweep's cross-validation data: the training split, exactly as the job makes it."""
    frame = datasets.load(config.dataset, settings)
    split = datasets.split(frame, config.dataset, config.split)
    return split.X_train, split.y_train


def serving_replicas(settings: Settings) -> dict[str, Any]:
    """The Serve app's replicas by deployment and state; an error unless the app is RUNNING.
    Users sweep on the cluster that serves, so the benchmark measures that setup or nothing."""
    app = LocalStack(settings).serve_app()
    if app.get("status") != "RUNNING":
        raise RuntimeError(
            "the training benchmark runs on the cluster that serves, and the Serve app is not "
            f"running ({app.get('status') or 'not deployed'}): `make deploy` first, or run "
            "`make bench`, whose serving part deploys it"
        )
    return {name: replica_states(app, name) for name in app.get("deployments") or {}}


def run(settings: Settings, repeats_light: int = 2, repeats_heavy: int = 1) -> dict[str, Any]:
    started = time.time()
    serving = serving_replicas(settings)
    grids: dict[str, Any] = {}
    for grid, path in GRIDS.items():
        config = load_config(path)
        X, y = training_data(config, settings)
        repeats = repeats_light if grid == "light" else repeats_heavy
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for index in range(repeats):  # A B, then B A: drift in machine load hits both alike
            order = ("rayline", "gridsearch") if index % 2 == 0 else ("gridsearch", "rayline")
            for side in order:
                print(f"[bench] training {grid} #{index + 1}: {side}", flush=True)
                if side == "rayline":
                    ours.append(rayline_sweep(settings, path))
                else:
                    theirs.append(run_gridsearch(config, X, y, n_jobs=2).as_dict())
        print(f"[bench] training {grid}: rayline with early stopping", flush=True)
        early = rayline_sweep(settings, path, early_stopping=True)
        gs_best = theirs[0]["best_score"]
        gs_s = median(t["wall_s"] for t in theirs)
        reach = time_to_reach(early["trials"], gs_best)
        grids[grid] = {
            "config": str(path.name),
            "n_configs": len(theirs[0]["mean_scores"]),
            "folds": config.split.cv_folds,
            "rows": len(X),
            "mean_fit_time_s": round(
                sum(theirs[0]["mean_fit_time_s"]) / len(theirs[0]["mean_fit_time_s"]), 4
            ),
            "rayline_sweep_s": median(r["sweep_s"] for r in ours),
            "rayline_job_wall_s": median(r["job_wall_s"] for r in ours),
            "gridsearch_s": gs_s,
            "rayline_best": ours[0]["best_score"],
            "gridsearch_best": gs_best,
            "wall_ratio": ratio(median(r["sweep_s"] for r in ours), gs_s),
            "early_stopping": {
                **early,
                "time_to_gridsearch_best_s": reach,
                "time_to_best_ratio": ratio(reach, gs_s),
                "trials_stopped_early": sum(1 for t in early["trials"] if not t["completed"]),
            },
            "rayline_runs": ours,
            "gridsearch_runs": theirs,
        }
    light, heavy = grids["light"], grids["heavy"]
    summary = {
        "wall_ratio_light": light["wall_ratio"],
        "wall_ratio_heavy": heavy["wall_ratio"],
        "best_score_delta": round(
            min(g["rayline_best"] - g["gridsearch_best"] for g in grids.values()), 9
        ),
        "time_to_best_ratio": grids[HEADLINE_EARLY_STOPPING]["early_stopping"][
            "time_to_best_ratio"
        ],
        "time_to_best_ratio_light": light["early_stopping"]["time_to_best_ratio"],
        "rayline_sweep_s_light": light["rayline_sweep_s"],
        "gridsearch_s_light": light["gridsearch_s"],
        "rayline_sweep_s_heavy": heavy["rayline_sweep_s"],
        "gridsearch_s_heavy": heavy["gridsearch_s"],
    }
    settings_used = {
        "gridsearch": {"n_jobs": 2, "refit": False},
        "rayline": {"cpus_per_trial": 1, "mlflow_logging": True, "submission": "ray job submit"},
        "early_stopping": "ASHA over CV folds (grace 1, reduction factor 2)",
        "headline_early_stopping_grid": HEADLINE_EARLY_STOPPING,
        "repeats": {"light": repeats_light, "heavy": repeats_heavy},
        "ray_num_cpus": settings.ray_num_cpus,
        "serve_deployed": True,
        "serve_replicas": serving,
    }
    path = report.write("training", summary, {"grids": grids}, settings_used, started)
    document = report.load("training")
    assert document is not None
    report.chart_training(document)
    print(f"[bench] wrote {path}: {json.dumps(summary)}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_training", description=__doc__)
    parser.add_argument("--repeats-light", type=int, default=2)
    parser.add_argument("--repeats-heavy", type=int, default=1)
    args = parser.parse_args(argv)
    run(get_settings(), args.repeats_light, args.repeats_heavy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
