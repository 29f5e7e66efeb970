"""Live quality: a model's predictions scored against the labels users sent back (feedback),
compared with the test metrics recorded at training.

Classification: accuracy and macro F1 (alarm: accuracy more than `max_quality_drop` below the
test accuracy). Regression: RMSE and MAE (alarm: RMSE more than `max_quality_drop` times the
test RMSE above it). Training logs `neg_rmse`/`neg_mae` (greater is better); they are compared
here as positive errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from rayline.monitoring.drift import MonitoringConfig


def live_metrics(task: str, predicted: list[Any], labels: list[Any]) -> dict[str, float]:
    """The live metrics of labelled predictions (empty lists: no metrics)."""
    if not predicted:
        return {}
    if task == "classification":
        truth = [str(v) for v in labels]
        guess = [str(v) for v in predicted]
        return {
            "accuracy": float(skm.accuracy_score(truth, guess)),
            "f1_macro": float(skm.f1_score(truth, guess, average="macro")),
        }
    y, p = np.asarray(labels, dtype=float), np.asarray(predicted, dtype=float)
    return {
        "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
        "mae": float(np.mean(np.abs(y - p))),
    }


def training_metrics(task: str, test_metrics: dict[str, float]) -> dict[str, float]:
    """The test metrics recorded at training, named as `live_metrics` names them."""
    if task == "classification":
        return {k: test_metrics[k] for k in ("accuracy", "f1_macro") if k in test_metrics}
    return {k[4:]: -v for k, v in test_metrics.items() if k in ("neg_rmse", "neg_mae")}


def quality_alarm(
    task: str,
    live: dict[str, float],
    training: dict[str, float],
    labelled: int,
    config: MonitoringConfig,
) -> tuple[bool | None, float | None]:
    """(alarm, drop): None while fewer than `min_labels` rows are labelled or there is nothing
    to compare with. `drop` is how much worse live is than training (accuracy points, or RMSE
    as a share of the test RMSE)."""
    key = "accuracy" if task == "classification" else "rmse"
    if labelled < config.min_labels or key not in live or key not in training:
        return None, None
    if task == "classification":
        drop = training[key] - live[key]
    else:
        drop = (live[key] - training[key]) / training[key] if training[key] > 0 else live[key]
    return bool(drop > config.max_quality_drop), round(float(drop), 6)
