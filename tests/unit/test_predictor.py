"""Predictor core with a real small model and an in-memory loader: validation, batching of
results, and the live swap that keeps the old version when the new one fails."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from rayline.integrity import IntegrityError
from rayline.registry import ColumnSpec, LoadedModel, RegistryError
from serve_app.predictor import PredictorCore, run_model, to_frame
from serve_app.schemas import HttpError, Rows

COLUMNS = ["a", "b", "c", "d"]


def _model(version: str, ref: str = "champion") -> LoadedModel:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = COLUMNS
    return LoadedModel(
        name="iris",
        ref=ref,
        version=version,
        task="classification",
        model=LogisticRegression(max_iter=500).fit(X, y),
        inputs=[ColumnSpec(c, "double") for c in COLUMNS],
        input_example=X.head(2),
    )


class Loader:
    def __init__(self) -> None:
        self.version = "1"
        self.fail: Exception | None = None
        self.calls = 0

    def __call__(self, name: str, ref: str) -> LoadedModel:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return _model(self.version, ref)


def test_to_frame_orders_columns_and_types_values() -> None:
    frame = to_frame(Rows(["d", "c", "b", "a"], [[0.2, 1.4, 3.5, 5]]), _model("1"))
    assert list(frame.columns) == COLUMNS and frame["a"].dtype == "float64"
    assert to_frame(Rows(None, [[5.1, 3.5, 1.4, 0.2]]), _model("1"))["d"].tolist() == [0.2]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (Rows(["a", "b", "c"], [[1, 2, 3]]), "missing column"),
        (Rows([*COLUMNS, "e"], [[1, 2, 3, 4, 5]]), "unknown column"),
        (Rows(COLUMNS, [[1, 2, "x", 4]]), "column 'c' row 0: expects a number"),
        (Rows(COLUMNS, [[1, 2, float("nan"), 4]]), "NaN"),
        (Rows(COLUMNS, [[1, 2, float("inf"), 4]]), "infinite"),
        (Rows(COLUMNS, [[1, 2, True, 4]]), "expects a number"),
        (Rows(None, [[1, 2]]), "needs 4 values"),
    ],
)
def test_invalid_rows_are_422_naming_the_column(rows: Rows, message: str) -> None:
    with pytest.raises(HttpError, match=message) as caught:
        to_frame(rows, _model("1"))
    assert caught.value.status == 422


def test_run_model_returns_probabilities_per_class() -> None:
    model = _model("3")
    result = run_model(model, pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=COLUMNS), True)
    assert result["predictions"] == [0] and result["version"] == "3"
    assert result["classes"] == [0, 1, 2] and sum(result["probabilities"][0]) == pytest.approx(
        1.0, abs=1e-5
    )
    assert run_model(model, model.input_example, False)["probabilities"] is None


def test_refresh_swaps_to_the_new_version() -> None:
    loader = Loader()
    core = PredictorCore(loader)
    slot = core.load("iris@champion")
    assert not core.refresh(slot)
    loader.version = "2"
    assert core.refresh(slot)
    assert slot.current.version == "2" and slot.last_error is None


@pytest.mark.parametrize("failure", [IntegrityError("tampered"), RegistryError("down")])
def test_failed_switch_keeps_serving_the_old_version(failure: Exception) -> None:
    loader = Loader()
    core = PredictorCore(loader)
    slot = core.load("iris@champion")
    loader.version, loader.fail = "2", failure
    assert not core.refresh(slot)
    assert slot.current.version == "1"
    assert slot.last_error is not None and type(failure).__name__ in slot.last_error
    assert slot.info()["last_error"] == slot.last_error


def test_model_ids_by_version_and_bad_ids() -> None:
    core = PredictorCore(Loader())
    assert core.load("iris/1").current.ref == "1"
    with pytest.raises(RegistryError, match="use name@alias"):
        core.load("iris")
