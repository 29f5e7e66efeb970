"""The estimator catalog: families, their default search spaces, and the model pipeline.

A family names one scikit-learn estimator per task. The preprocessing (imputation, scaling,
one-hot encoding) is part of every pipeline, so a served model applies exactly what training did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


@dataclass(frozen=True)
class Family:
    """One estimator family: a factory per task and a default search space."""

    factories: dict[Task, Callable[..., BaseEstimator]]
    space: dict[Task, dict[str, Any]] = field(default_factory=dict)
    seeded: bool = True
    params_from: dict[Task, Callable[..., BaseEstimator]] = field(default_factory=dict)
    """The estimator whose parameters the search space sets, where a factory wraps it."""


CATALOG: dict[str, Family] = {
    "random_forest": Family(
        factories={"classification": RandomForestClassifier, "regression": RandomForestRegressor},
        space={
            "classification": {
                "n_estimators": [50, 100, 200],
                "max_depth": [None, 6, 12],
                "min_samples_leaf": [1, 2, 4],
                "max_features": ["sqrt", 0.5],
            },
            "regression": {
                "n_estimators": [50, 100, 200],
                "max_depth": [None, 6, 12],
                "min_samples_leaf": [1, 2, 4],
                "max_features": [1.0, 0.5],
            },
        },
    ),
    "extra_trees": Family(
        factories={"classification": ExtraTreesClassifier, "regression": ExtraTreesRegressor},
        space={
            task: {
                "n_estimators": [100, 200],
                "max_depth": [None, 8],
                "min_samples_leaf": [1, 2],
            }
            for task in TASKS
        },
    ),
    "gradient_boosting": Family(
        factories={
            "classification": HistGradientBoostingClassifier,
            "regression": HistGradientBoostingRegressor,
        },
        space={
            task: {
                "learning_rate": {"loguniform": [0.02, 0.3]},
                "max_iter": [100, 200],
                "max_leaf_nodes": [15, 31],
                "l2_regularization": [0.0, 1.0],
            }
            for task in TASKS
        },
    ),
    "linear": Family(
        factories={
            "classification": lambda **kw: LogisticRegression(max_iter=2000, **kw),
            "regression": Ridge,
        },
        space={
            "classification": {"C": {"loguniform": [0.01, 100.0]}},
            "regression": {"alpha": {"loguniform": [0.01, 100.0]}},
        },
        seeded=False,
    ),
    "svm": Family(
        factories={
            # Calibration gives SVC class probabilities (its `probability=True` is deprecated).
            "classification": lambda **kw: CalibratedClassifierCV(SVC(**kw), ensemble=False),
            "regression": SVR,
        },
        params_from={"classification": SVC},
        space={
            "classification": {"C": {"loguniform": [0.1, 100.0]}, "gamma": ["scale", 0.01]},
            "regression": {"C": {"loguniform": [0.1, 100.0]}, "epsilon": [0.01, 0.1]},
        },
        seeded=False,
    ),
    "knn": Family(
        factories={"classification": KNeighborsClassifier, "regression": KNeighborsRegressor},
        space={
            task: {"n_neighbors": [3, 5, 9, 15], "weights": ["uniform", "distance"]}
            for task in TASKS
        },
        seeded=False,
    ),
}


def families_for(task: Task) -> list[str]:
    """Names of the families that have an estimator for `task`."""
    return [name for name, family in CATALOG.items() if task in family.factories]


def estimator_params(family: str, task: Task) -> set[str]:
    """Hyperparameter names the family's estimator accepts."""
    spec = CATALOG[family]
    return set(spec.params_from.get(task, spec.factories[task])().get_params(deep=False))


def make_estimator(family: str, task: Task, params: dict[str, Any], seed: int) -> BaseEstimator:
    """The bare estimator of `family` for `task` with `params` (and a seed where it has one)."""
    spec = CATALOG[family]
    kwargs = dict(params)
    if spec.seeded:
        kwargs.setdefault("random_state", seed)
    return spec.factories[task](**kwargs)


def make_preprocessor() -> ColumnTransformer:
    """Impute and scale numeric columns; impute and one-hot encode the others."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_exclude="number")),
        ],
        verbose_feature_names_out=False,
    )


@dataclass(frozen=True)
class CompiledPipeline:
    """A fitted `make_pipeline_for` pipeline whose inputs are all numbers, with its
    preprocessing as the numpy arithmetic it amounts to: impute (median), then standardise;
    a forest predicts tree by tree (`TreeByTree`).

    scikit-learn's own path (ColumnTransformer, per-column pandas indexing, input validation at
    every step) costs ~2.5 ms per call whatever the rows, 5 to 20 times the estimator's own
    predict on one row; served requests are small batches, so that fixed cost was most of a
    prediction's CPU. The results are identical (the same operations in the same order), and
    `compiled_for` checks that before anything is served from it.
    """

    columns: pd.Index
    """The input columns, in the order the preprocessing reads them."""
    fill: np.ndarray
    """The imputer's statistics: the value of a missing cell, per column."""
    mean: np.ndarray | None
    scale: np.ndarray | None
    estimator: Any

    @property
    def classes_(self) -> Any:
        return self.estimator.classes_

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        ordered = frame if frame.columns.equals(self.columns) else frame[self.columns]
        x: np.ndarray = ordered.to_numpy(dtype=np.float64)
        missing = np.isnan(x)
        if missing.any():
            x = np.where(missing, self.fill, x)
        if self.mean is not None:
            x = x - self.mean
        if self.scale is not None:
            x = x / self.scale
        return x

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict(self.transform(frame))

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict_proba(self.transform(frame))


FORESTS = (RandomForestClassifier, ExtraTreesClassifier, RandomForestRegressor, ExtraTreesRegressor)


@dataclass(frozen=True)
class TreeByTree:
    """A fitted single-output forest (`FORESTS`) answering as its own predict does, tree after
    tree in the calling thread. scikit-learn hands each tree to joblib even with `n_jobs=None`,
    ~70 µs a tree: 7 ms of a 100-tree forest's ~9 ms on one row. Same sum, same order."""

    forest: Any

    @property
    def classes_(self) -> Any:
        return self.forest.classes_

    def _total(self, x: np.ndarray, method: str, shape: tuple[int, ...]) -> np.ndarray:
        rows = np.asarray(x, dtype=np.float32)
        total = np.zeros(shape, dtype=np.float64)
        for tree in self.forest.estimators_:
            total += getattr(tree, method)(rows, check_input=False)
        total /= len(self.forest.estimators_)
        return total

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._total(x, "predict_proba", (len(x), len(self.forest.classes_)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        if hasattr(self.forest, "classes_"):
            return self.forest.classes_.take(np.argmax(self.predict_proba(x), axis=1), axis=0)  # type: ignore[no-any-return]
        return self._total(x, "predict", (len(x),))


def _in_process(estimator: Any) -> Any:
    """`estimator`, or a `TreeByTree` of it where that answers the same way."""
    if (
        isinstance(estimator, FORESTS)
        and estimator.n_outputs_ == 1
        and estimator.n_jobs in (None, 1)
    ):
        return TreeByTree(estimator)
    return estimator


def compile_pipeline(model: Any) -> CompiledPipeline | None:
    """`model` as a `CompiledPipeline` if it is a fitted `make_pipeline_for` pipeline over
    numeric columns only; None for anything else (categorical columns, ensembles, a user's own
    pipeline), which keeps scikit-learn's path. Structure only: `compiled_for` (rayline.inference)
    also checks the results."""
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    (_, preprocess), (_, estimator) = model.steps
    if not isinstance(preprocess, ColumnTransformer) or hasattr(estimator, "feature_names_in_"):
        return None
    used = [
        (name, step, columns) for name, step, columns in preprocess.transformers_ if len(columns)
    ]
    if len(used) != 1 or used[0][0] != "numeric" or not isinstance(used[0][1], Pipeline):
        return None
    columns = list(used[0][2])
    steps = [step for _, step in used[0][1].steps]
    if not all(isinstance(c, str) for c in columns) or len(steps) != 2:
        return None
    imputer, scaler = steps
    if not isinstance(imputer, SimpleImputer) or not isinstance(scaler, StandardScaler):
        return None
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and math.isnan(missing)):
        return None
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(fill).any():  # a column all missing at fit time: the imputer drops it
        return None
    return CompiledPipeline(
        columns=pd.Index(columns),
        fill=fill,
        mean=scaler.mean_ if scaler.with_mean else None,
        scale=scaler.scale_ if scaler.with_std else None,
        estimator=_in_process(estimator),
    )


def make_pipeline_for(family: str, task: Task, params: dict[str, Any], seed: int) -> Pipeline:
    """The full model: preprocessing followed by the family's estimator."""
    return Pipeline(
        [
            ("preprocess", make_preprocessor()),
            ("model", make_estimator(family, task, params, seed)),
        ]
    )


def make_ensemble(
    members: Sequence[tuple[str, Pipeline]], task: Task, method: str
) -> BaseEstimator:
    """A voting or stacking ensemble over already-configured member pipelines."""
    from sklearn.ensemble import (
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
        VotingRegressor,
    )

    estimators = list(members)
    if task == "classification":
        if method == "stacking":
            return StackingClassifier(estimators, cv=3)
        soft = all(hasattr(pipe, "predict_proba") for _, pipe in estimators)
        return VotingClassifier(estimators, voting="soft" if soft else "hard")
    if method == "stacking":
        return StackingRegressor(estimators, cv=3)
    return VotingRegressor(estimators)


ARGMAX_CLASSIFIERS: tuple[type, ...] = (
    RandomForestClassifier,
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    LogisticRegression,
    CalibratedClassifierCV,
    KNeighborsClassifier,
)
"""Classifiers whose `predict(X)` is `classes_[argmax(predict_proba(X))]` in scikit-learn's own
code (ties included), so one `predict_proba` pass answers both."""


def predicts_argmax(model: Any) -> bool:
    """Whether `model` predicts the class of highest probability by construction: a pipeline
    ending in one of `ARGMAX_CLASSIFIERS`, a soft voting or a stacking ensemble of them."""
    from sklearn.ensemble import StackingClassifier, VotingClassifier

    if isinstance(model, Pipeline):
        return predicts_argmax(model.steps[-1][1])
    if isinstance(model, VotingClassifier):
        return bool(model.voting == "soft")
    if isinstance(model, StackingClassifier):
        return predicts_argmax(getattr(model, "final_estimator_", None))
    return type(model) in ARGMAX_CLASSIFIERS
