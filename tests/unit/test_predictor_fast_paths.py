"""The predictor's fast paths give exactly what the general paths give: the one-array input
frame, the stacked batch frame, and the watcher that asks for the alias's version first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from rayline.registry import ColumnSpec, LoadedModel, RegistryError
from serve_app.predictor import PredictorCore, _numeric_frame, _stack, to_frame
from serve_app.schemas import HttpError, Rows

COLUMNS = ["a", "b", "c", "d"]


def _model(version: str = "1", types: tuple[str, ...] = ("double",) * 4) -> LoadedModel:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = COLUMNS
    return LoadedModel(
        name="iris",
        ref="champion",
        version=version,
        task="classification",
        model=LogisticRegression(max_iter=500).fit(X, y),
        inputs=[ColumnSpec(c, t) for c, t in zip(COLUMNS, types, strict=True)],
        input_example=X.head(2),
    )


def _general(rows: Rows, model: LoadedModel) -> pd.DataFrame:
    """to_frame's column-by-column path, as it was before the fast path."""
    frame = pd.DataFrame(rows.data, columns=rows.columns or COLUMNS)
    return frame.astype("float64")[COLUMNS]


@pytest.mark.parametrize(
    "rows",
    [
        Rows(None, [[5.1, 3.5, 1.4, 0.2]]),
        Rows(None, [[5, 3, 1, 0], [6.5, 2.8, 4.6, 1.5]]),
        Rows(COLUMNS, [[5.1, 3.5, 1.4, 0.2]] * 50),
    ],
)
def test_numeric_rows_take_the_one_array_path_with_the_same_frame(rows: Rows) -> None:
    model = _model()
    fast = _numeric_frame(rows.check(max_rows=100), model)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _general(rows, model))
    pd.testing.assert_frame_equal(to_frame(rows, model), _general(rows, model))


@pytest.mark.parametrize(
    ("rows", "types"),
    [
        (Rows(["d", "c", "b", "a"], [[0.2, 1.4, 3.5, 5.1]]), ("double",) * 4),  # other order
        (Rows(None, [[1, 2, True, 4]]), ("double",) * 4),  # bool is not a number
        (Rows(None, [[1, 2, "3", 4]]), ("double",) * 4),
        (Rows(None, [[1, 2, float("nan"), 4]]), ("double",) * 4),
        (Rows(None, [[1, 2, float("inf"), 4]]), ("double",) * 4),
        (Rows(None, [[1, 2, 1e301, 4]]), ("double",) * 4),
        (Rows(None, [[1, 2, 10**400, 4]]), ("double",) * 4),
        (Rows(None, [[1, 2, 3, 4]]), ("double", "double", "long", "double")),
        (Rows(None, [[1, 2]]), ("double",) * 4),
    ],
)
def test_anything_unusual_takes_the_general_path(rows: Rows, types: tuple[str, ...]) -> None:
    assert _numeric_frame(rows.check(max_rows=100), _model(types=types)) is None


def test_general_path_still_names_the_column() -> None:
    with pytest.raises(HttpError, match="column 'c' row 0: NaN"):
        to_frame(Rows(None, [[1, 2, float("nan"), 4]]), _model())


def test_stacked_batch_frame_equals_concat() -> None:
    model = _model()
    frames = [to_frame(Rows(None, [[5.1, 3.5, 1.4, float(i)]] * (i + 1)), model) for i in range(4)]
    pd.testing.assert_frame_equal(_stack(frames), pd.concat(frames, ignore_index=True))
    mixed = [frames[0], frames[1].astype({"a": "int64"})]
    pd.testing.assert_frame_equal(_stack(mixed), pd.concat(mixed, ignore_index=True))
    assert _stack(frames[:1]) is frames[0]
    assert np.array_equal(
        model.model.predict(_stack(frames)), model.model.predict(pd.concat(frames))
    )


class Counting:
    def __init__(self) -> None:
        self.version = "1"
        self.loads = 0
        self.fail: Exception | None = None

    def load(self, name: str, ref: str) -> LoadedModel:
        self.loads += 1
        return _model(self.version)

    def resolve(self, name: str, ref: str) -> str:
        if self.fail is not None:
            raise self.fail
        return self.version


def test_watcher_loads_only_when_the_alias_moved() -> None:
    registry = Counting()
    core = PredictorCore(registry.load, registry.resolve)
    slot = core.load("iris@champion")
    assert registry.loads == 1
    for _ in range(3):
        assert not core.refresh(slot)
    assert registry.loads == 1  # unchanged alias: no download, no deserialisation
    registry.version = "2"
    assert core.refresh(slot) and slot.current.version == "2" and registry.loads == 2


def test_watcher_keeps_serving_when_the_registry_is_down() -> None:
    registry = Counting()
    core = PredictorCore(registry.load, registry.resolve)
    slot = core.load("iris@champion")
    registry.fail = RegistryError("down")
    assert not core.refresh(slot)
    assert slot.current.version == "1" and "RegistryError" in (slot.last_error or "")


@pytest.mark.parametrize(
    "rows",
    [
        Rows(None, [[5.1, 3.5, 1.4, 0.2]]),
        Rows(None, [[5, 3, 1, 0], [6.5, 2.8, 4.6, 1.5]]),
        Rows(COLUMNS, [[5.1, 3.5, 1.4, 0.2]] * 50),
        Rows(["d", "c", "b", "a"], [[0.2, 1.4, 3.5, 5]]),  # other order: the general path
    ],
)
def test_rows_checked_by_the_ingress_give_the_same_frame(rows: Rows) -> None:
    """The ingress sends checked rows (one float matrix); the frame is what the lists give."""
    checked = rows.check(max_rows=100)
    assert checked.numbers is not None and checked.data == []
    assert len(checked) == len(rows)
    model = _model()
    pd.testing.assert_frame_equal(to_frame(checked, model), to_frame(rows, model))


def test_checked_integers_still_fit_an_integer_column() -> None:
    model = _model(types=("double", "double", "long", "double"))
    rows = Rows(None, [[5.1, 3.5, 2, 0.2], [6.0, 2.0, 3, 1.0]])
    checked = rows.check(max_rows=10)
    assert checked.numbers is not None
    frame = to_frame(checked, model)
    assert frame["c"].dtype == np.int64 and frame["c"].tolist() == [2, 3]
    pd.testing.assert_frame_equal(frame, to_frame(rows, model))
    with pytest.raises(HttpError, match="column 'c' row 0: expects an integer"):
        to_frame(Rows(None, [[5.1, 3.5, 2.5, 0.2]]).check(max_rows=10), model)
