"""The sweep's Tune trainable: what every trial's worker imports (`jobs.train` hands it to Ray
Tune), so only what a fit needs: scikit-learn, the scoring core and Tune, not MLflow or the
job's driver code. A trial worker started 1.6 s of imports lighter than one that imported
`jobs.train`, and each sweep starts one per CPU before its first result."""

from __future__ import annotations

from typing import Any

import pandas as pd
import ray
from ray import tune

from rayline.estimators import make_pipeline_for
from rayline.priority import lower_priority
from rayline.scoring import CrossValidation


def trial(
    config: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    cv: CrossValidation,
    every_fold: bool = True,
    niceness: int = 0,
) -> None:
    """Tune trainable: cross-validate one candidate. With `every_fold` (early stopping) the
    running mean is reported after each fold; otherwise once, after the last fold: each report
    is a round trip through the driver, and only the scheduler needs the intermediate ones.
    The trial's worker runs at `niceness` (`Settings.training_niceness`); each report names the
    Ray node it ran on."""
    lower_priority(niceness)
    node_id = ray.get_runtime_context().get_node_id()
    candidate = config["candidate"]
    estimator = make_pipeline_for(candidate["family"], cv.task, candidate["params"], cv.seed)  # type: ignore[arg-type]
    scores: list[float] = []
    fit_time = 0.0
    for fold in cv.fold_scores(estimator, X, y):
        scores.append(fold.score)
        fit_time += fold.fit_time_s
        if every_fold or len(scores) == cv.folds:
            mean = sum(scores) / len(scores)
            std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
            tune.report(
                {
                    "score": mean,
                    "score_std": std,
                    "fit_time_s": fit_time,
                    "folds_done": len(scores),
                    "node_id": node_id,
                }
            )
