"""The training baseline of `make bench`: scikit-learn's GridSearchCV on Rayline's grid, with the
same candidates, CV folds and scorer as the sweep.

- `gridsearch_param_grid` turns Rayline's candidates (`rayline.search.candidates`) into a
  GridSearchCV `param_grid` that enumerates exactly the same configurations, in the same order.
- `run_gridsearch` times scikit-learn's GridSearchCV on it.

The web UI's training benchmark (sequential scikit-learn vs Ray tasks) is
`rayline.benchmarking.training`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV

from rayline.config import TrainConfig
from rayline.estimators import Task, make_estimator, make_pipeline_for
from rayline.scoring import METRICS, cv_splitter
from rayline.search import Candidate, candidates


def gridsearch_param_grid(
    found: Sequence[Candidate], task: Task, seed: int
) -> list[dict[str, Any]]:
    """One single-point grid per candidate: GridSearchCV then tries exactly these, in order.

    The pipeline's `model` step is replaced by the candidate's estimator, built by the same
    catalog function Rayline's trials use, so family, parameters and seed are identical."""
    return [{"model": [make_estimator(c.family, task, c.params, seed)]} for c in found]


def base_pipeline(found: Sequence[Candidate], task: Task, seed: int) -> BaseEstimator:
    """The preprocessing + model pipeline GridSearchCV starts from (its model is replaced)."""
    first = found[0]
    return make_pipeline_for(first.family, task, first.params, seed)


@dataclass
class GridSearchResult:
    wall_s: float
    best_score: float
    best_index: int
    mean_scores: list[float]
    fit_times_s: list[float]
    n_jobs: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "best_score": self.best_score,
            "best_index": self.best_index,
            "n_jobs": self.n_jobs,
            "mean_scores": self.mean_scores,
            "mean_fit_time_s": [round(t, 4) for t in self.fit_times_s],
        }


def run_gridsearch(
    config: TrainConfig, X: pd.DataFrame, y: pd.Series, n_jobs: int = 2
) -> GridSearchResult:
    """GridSearchCV over the config's candidates with the sweep's folds and scorer; search only
    (`refit=False`), as the sweep's wall time excludes the final refit too."""
    found = candidates(config)
    search = GridSearchCV(
        base_pipeline(found, config.task, config.split.seed),
        gridsearch_param_grid(found, config.task, config.split.seed),
        scoring=METRICS[config.task][config.metric],
        cv=cv_splitter(config.task, config.split.cv_folds, config.split.seed),
        n_jobs=n_jobs,
        refit=False,
        error_score="raise",
    )
    started = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - started
    scores = [float(s) for s in search.cv_results_["mean_test_score"]]
    best = max(range(len(scores)), key=lambda i: scores[i])
    return GridSearchResult(
        wall_s=wall,
        best_score=scores[best],
        best_index=best,
        mean_scores=scores,
        fit_times_s=[float(t) for t in search.cv_results_["mean_fit_time"]],
        n_jobs=n_jobs,
    )
