"""Scoring: the metrics a sweep can maximise, cross-validation of one candidate, test metrics."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold

# Metric name → scikit-learn scorer name; every one is "higher is better".
METRICS: dict[str, dict[str, str]] = {
    "classification": {
        "accuracy": "accuracy",
        "balanced_accuracy": "balanced_accuracy",
        "f1_macro": "f1_macro",
        "roc_auc": "roc_auc_ovr",
    },
    "regression": {
        "r2": "r2",
        "neg_rmse": "neg_root_mean_squared_error",
        "neg_mae": "neg_mean_absolute_error",
    },
}


def default_metric(task: str) -> str:
    return "accuracy" if task == "classification" else "r2"


@dataclass(frozen=True)
class FoldScore:
    fold: int
    score: float
    fit_time_s: float


def cv_splitter(
    task: Literal["classification", "regression"] | str, folds: int, seed: int
) -> KFold | StratifiedKFold:
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


@dataclass(frozen=True)
class CrossValidation:
    """How a sweep scores a candidate: `folds` folds of the task's splitter from `seed`, and one
    metric. The sweep's trials, its ensemble and the training benchmark all score with one, so
    a candidate gets the same folds and the same score wherever it is scored."""

    task: str
    metric: str
    folds: int
    seed: int

    def splits(self, X: pd.DataFrame, y: pd.Series) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train rows, validation rows) of each fold, in order."""
        splits: Iterator[tuple[np.ndarray, np.ndarray]] = cv_splitter(
            self.task, self.folds, self.seed
        ).split(X, y)
        return splits

    def fold_scores(
        self, estimator: BaseEstimator, X: pd.DataFrame, y: pd.Series
    ) -> Iterator[FoldScore]:
        """Fit and score a clone of `estimator` fold by fold, yielding each fold as it ends."""
        for fold, (train, valid) in enumerate(self.splits(X, y)):
            yield self._fit_and_score(estimator, X, y, fold, train, valid)

    def fold_score(
        self, estimator: BaseEstimator, X: pd.DataFrame, y: pd.Series, fold: int
    ) -> FoldScore:
        """Fit and score one fold alone (the split `fold_scores` gives it)."""
        train, valid = next(itertools.islice(self.splits(X, y), fold, None))
        return self._fit_and_score(estimator, X, y, fold, train, valid)

    def _fit_and_score(
        self,
        estimator: BaseEstimator,
        X: pd.DataFrame,
        y: pd.Series,
        fold: int,
        train: np.ndarray,
        valid: np.ndarray,
    ) -> FoldScore:
        model = clone(estimator)
        start = time.perf_counter()
        model.fit(X.iloc[train], y.iloc[train])
        fit_time = time.perf_counter() - start
        score = get_scorer(METRICS[self.task][self.metric])(model, X.iloc[valid], y.iloc[valid])
        return FoldScore(fold, float(score), fit_time)


CVArgs = tuple[str, str, int, int]
"""A `CrossValidation` as positional arguments: task, metric, folds, seed."""


def iter_fold_scores(
    estimator: BaseEstimator, X: pd.DataFrame, y: pd.Series, *cv: *CVArgs
) -> Iterator[FoldScore]:
    """Fit and score `estimator` fold by fold, yielding each fold's score as it finishes."""
    return CrossValidation(*cv).fold_scores(estimator, X, y)


def cross_validate(
    estimator: BaseEstimator, X: pd.DataFrame, y: pd.Series, *cv: *CVArgs
) -> tuple[float, float, float]:
    """Mean and standard deviation of the CV score, and total fit time in seconds."""
    scores = list(CrossValidation(*cv).fold_scores(estimator, X, y))
    values = np.array([s.score for s in scores])
    return float(values.mean()), float(values.std()), sum(s.fit_time_s for s in scores)


def holdout_metrics(model: Any, X: pd.DataFrame, y: pd.Series, task: str) -> dict[str, float]:
    """The held-out metrics logged and compared for every registered version."""
    predicted = model.predict(X)
    if task == "classification":
        result = {
            "accuracy": skm.accuracy_score(y, predicted),
            "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
            "f1_macro": skm.f1_score(y, predicted, average="macro"),
        }
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            if proba.shape[1] == 2:
                result["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
            else:
                result["roc_auc"] = skm.roc_auc_score(
                    y, proba, multi_class="ovr", labels=model.classes_
                )
        return {k: float(v) for k, v in result.items()}
    return {
        "r2": float(skm.r2_score(y, predicted)),
        "neg_rmse": -float(np.sqrt(skm.mean_squared_error(y, predicted))),
        "neg_mae": -float(skm.mean_absolute_error(y, predicted)),
    }
