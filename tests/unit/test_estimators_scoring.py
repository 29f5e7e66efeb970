"""Every family fits both tasks inside the preprocessing pipeline; scoring is consistent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from rayline.estimators import (
    CATALOG,
    TASKS,
    families_for,
    make_ensemble,
    make_pipeline_for,
    predicts_argmax,
)
from rayline.scoring import cross_validate, holdout_metrics, iter_fold_scores


def _data(task: str) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=120),
            "x2": rng.normal(size=120),
            "colour": rng.choice(["red", "green", None], size=120),
        }
    )
    X.loc[::7, "x1"] = np.nan  # the pipeline imputes
    signal = X["x2"] * 2 + (X["colour"] == "red")
    y = (signal > 0).astype(int) if task == "classification" else signal
    return X, y


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", list(CATALOG))
def test_family_fits_with_categoricals_and_missing_values(family: str, task: str) -> None:
    if family not in families_for(task):
        pytest.skip(f"{family} has no {task} estimator")
    X, y = _data(task)
    model = make_pipeline_for(family, task, {}, seed=0).fit(X, y)
    assert len(model.predict(X.head(5))) == 5
    if task == "classification":
        assert model.predict_proba(X.head(5)).shape == (5, 2)


def test_cross_validate_reports_each_fold_and_a_good_score() -> None:
    X, y = _data("classification")
    pipe = make_pipeline_for("linear", "classification", {"C": 1.0}, seed=0)
    folds = list(iter_fold_scores(pipe, X, y, "classification", "accuracy", 4, 0))
    assert [f.fold for f in folds] == [0, 1, 2, 3]
    mean, std, fit_time = cross_validate(pipe, X, y, "classification", "accuracy", 4, 0)
    assert mean == pytest.approx(np.mean([f.score for f in folds]))
    assert mean > 0.8 and std >= 0 and fit_time > 0


@pytest.mark.parametrize("task", TASKS)
def test_holdout_metrics_and_ensembles(task: str) -> None:
    X, y = _data(task)
    members = [(f, make_pipeline_for(f, task, {}, 0)) for f in ("linear", "knn")]
    for method in ("voting", "stacking"):
        model = make_ensemble(members, task, method).fit(X, y)
        metrics = holdout_metrics(model, X, y, task)
        key = "accuracy" if task == "classification" else "r2"
        assert metrics[key] > 0.7
        if task == "regression":
            assert metrics["neg_rmse"] < 0


def _multiclass() -> tuple[pd.DataFrame, pd.Series]:
    X, _ = _data("classification")
    return X, pd.Series(np.digitize(X["x2"], [-0.5, 0.5]))  # three classes


@pytest.mark.parametrize("family", families_for("classification"))
@pytest.mark.parametrize(
    "data", [lambda: _data("classification"), _multiclass], ids=["binary", "multiclass"]
)
def test_shipped_classifiers_predict_the_most_probable_class(family: str, data: Any) -> None:
    """Serving answers `predict` from the `predict_proba` it computes anyway for these: the
    two must agree row for row, or a family does not belong in `ARGMAX_CLASSIFIERS`."""
    X, y = data()
    model = make_pipeline_for(family, "classification", {}, seed=0).fit(X, y)
    assert predicts_argmax(model)
    proba = model.predict_proba(X)
    assert (model.classes_[proba.argmax(axis=1)] == model.predict(X)).all()


@pytest.mark.parametrize("method", ["voting", "stacking"])
def test_soft_voting_and_stacking_ensembles_predict_the_most_probable_class(method: str) -> None:
    X, y = _multiclass()
    members = [
        (f, make_pipeline_for(f, "classification", {}, seed=0)) for f in ("linear", "random_forest")
    ]
    model = make_ensemble(members, "classification", method).fit(X, y)
    assert predicts_argmax(model)
    assert (model.classes_[model.predict_proba(X).argmax(axis=1)] == model.predict(X)).all()


def test_other_models_are_not_assumed_to_predict_the_most_probable_class() -> None:
    from sklearn.ensemble import VotingClassifier
    from sklearn.svm import SVC

    X, y = _data("classification")
    hard = VotingClassifier([("svc", SVC())], voting="hard").fit(X[["x1", "x2"]].fillna(0), y)
    assert not predicts_argmax(hard)
    assert not predicts_argmax(SVC(probability=True))  # Platt scaling: predict may differ
    assert not predicts_argmax(make_pipeline_for("random_forest", "regression", {}, seed=0))
