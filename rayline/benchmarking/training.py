"""The web UI's training benchmark (`jobs.benchmark training`): sequential scikit-learn against
Ray tasks on one grid.

Every configuration is cross-validated one at a time in this process, then as Ray tasks (one per
configuration and fold) across the cluster, with the data put in the object store once. Both use
the sweep's folds and scorer (`rayline.scoring`), so their scores are equal and only time differs.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from rayline.config import BUILTIN_DATASETS, TrainConfig, parse_config
from rayline.estimators import make_pipeline_for
from rayline.scoring import CrossValidation, default_metric
from rayline.search import candidates


def benchmark_config(dataset: str, n_configs: int, folds: int = 5, seed: int = 42) -> TrainConfig:
    """`n_configs` distinct random-forest configurations for a built-in dataset."""
    if dataset not in BUILTIN_DATASETS:
        raise ValueError(
            f"dataset: {dataset!r} is not a built-in dataset; use one of "
            + ", ".join(BUILTIN_DATASETS)
        )
    task = BUILTIN_DATASETS[dataset]
    return parse_config(
        {
            "name": f"bench_{dataset}",
            "dataset": {"source": dataset},
            "split": {"cv_folds": folds, "seed": seed},
            "search": {"algorithm": "random", "num_samples": n_configs},
            "estimators": {
                "random_forest": {
                    "n_estimators": {"randint": [20, 120]},
                    "max_depth": [None, 4, 6, 8, 12, 16],
                    "min_samples_leaf": {"randint": [1, 8]},
                    "max_features": ["sqrt", 0.3, 0.5, 0.8]
                    if task == "classification"
                    else [
                        1.0,
                        0.3,
                        0.5,
                        0.8,
                    ],
                }
            },
            "ensemble": {"enabled": False},
        },
        f"benchmark grid for {dataset}",
    )


def fold_score(
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    metric: str,
    folds: int,
    seed: int,
    fold: int,
) -> float:
    """Fit and score one CV fold (the same splits as `rayline.scoring.iter_fold_scores`)."""
    return CrossValidation(task, metric, folds, seed).fold_score(estimator, X, y, fold).score


def sequential_scores(config: TrainConfig, X: pd.DataFrame, y: pd.Series) -> list[float]:
    """Every candidate cross-validated in this process, one configuration at a time."""
    task, metric, folds, seed = config.task, config.metric, config.split.cv_folds, config.split.seed
    scores = []
    for c in candidates(config):
        pipeline = make_pipeline_for(c.family, task, c.params, seed)
        per_fold = [fold_score(pipeline, X, y, task, metric, folds, seed, k) for k in range(folds)]
        scores.append(sum(per_fold) / folds)
    return scores


def parallel_scores(config: TrainConfig, X: pd.DataFrame, y: pd.Series) -> list[float]:
    """The same, as one Ray task per configuration and fold; X and y go to the object store
    once and every task reads them from there (zero-copy for the numeric blocks)."""
    import ray

    task, metric, folds, seed = config.task, config.metric, config.split.cv_folds, config.split.seed
    remote_fold = ray.remote(num_cpus=1)(fold_score)
    X_ref, y_ref = ray.put(X), ray.put(y)
    found = candidates(config)
    refs = [
        remote_fold.remote(
            make_pipeline_for(c.family, task, c.params, seed),
            X_ref,
            y_ref,
            task,
            metric,
            folds,
            seed,
            k,
        )
        for c in found
        for k in range(folds)
    ]
    values: list[float] = ray.get(refs)
    return [sum(values[i * folds : (i + 1) * folds]) / folds for i in range(len(found))]


def compare_sequential_parallel(
    dataset: str, n_configs: int, folds: int = 5, seed: int = 42
) -> dict[str, Any]:
    """Time both ways on the same grid; the summary the web UI's Benchmark page shows."""
    from rayline.datasets import load_builtin

    config = benchmark_config(dataset, n_configs, folds, seed)
    frame = load_builtin(dataset)
    X, y = frame.drop(columns=["target"]), frame["target"]
    started = time.perf_counter()
    sequential = sequential_scores(config, X, y)
    sequential_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = parallel_scores(config, X, y)
    parallel_s = time.perf_counter() - started
    return {
        "summary": {
            "sequential_s": round(sequential_s, 3),
            "parallel_s": round(parallel_s, 3),
            "speedup": round(sequential_s / parallel_s, 3) if parallel_s > 0 else None,
            "n_configs": len(sequential),
            "best_score_sequential": max(sequential),
            "best_score_parallel": max(parallel),
        },
        "raw": {
            "metric": config.metric or default_metric(config.task),
            "folds": folds,
            "candidates": [c.as_dict() for c in candidates(config)],
            "scores_sequential": sequential,
            "scores_parallel": parallel,
        },
    }
