"""The scoring core without Ray: `Rows` and their shapes (rayline.rows), the signature check,
coercion of JSON values and of CSV cells by the signature's types, the one-array fast paths
and predict / predict_proba (rayline.inference), and the domain errors' statuses."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from rayline import inference
from rayline.errors import (
    InvalidRows,
    ModelNotFound,
    ModelUnavailable,
    RaylineError,
    SignatureError,
)
from rayline.estimators import (
    FORESTS,
    TreeByTree,
    compile_pipeline,
    families_for,
    make_ensemble,
    make_pipeline_for,
)
from rayline.inference import (
    _numeric_frame,
    compiled_for,
    predict,
    run_model,
    stack_frames,
    to_frame,
    warm_up,
)
from rayline.registry import ColumnSpec, LoadedModel
from rayline.rows import Rows

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


class Seen:
    """An estimator that keeps the frame it was asked to predict."""

    def __init__(self) -> None:
        self.frame = pd.DataFrame()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.frame = frame
        return np.zeros(len(frame), dtype=np.int64)


TYPED = [
    ColumnSpec("code", "string"),
    ColumnSpec("flag", "boolean"),
    ColumnSpec("count", "long"),
    ColumnSpec("small", "integer"),
    ColumnSpec("score", "double"),
    ColumnSpec("ratio", "float"),
]


def _typed() -> LoadedModel:
    return LoadedModel(
        name="typed", ref="champion", version="1", model=Seen(), task="x", inputs=TYPED
    )


def _csv(*rows: list[str], columns: list[str] | None = None) -> Rows:
    return Rows(columns or [c.name for c in TYPED], [list(r) for r in rows], text=True)


ROW = ["007", "true", "3", "4", "2.5", "0.5"]


# --- rayline.rows ---------------------------------------------------------------------------
def test_records_columns_and_instances() -> None:
    rows = Rows.from_instances([{"a": 1, "b": 2}, {"b": 3, "a": 4}])
    assert rows.columns == ["a", "b"] and rows.data == [[1, 2], [4, 3]]
    assert Rows.from_records([{"a": 1}, {"b": 2}]).data == [[1, None], [None, 2]]
    rows = Rows.from_instances([[1, 2]])
    assert rows.columns is None and rows.data == [[1, 2]]
    assert Rows.from_columns({"a": [1, 3], "b": [2, 4]}) == Rows(["a", "b"], [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Rows.from_instances([{"a": 1}, [1]]), "list of objects or a list of lists"),
        (lambda: Rows.from_records([{"a": 1}, [1]]), "objects keyed by column"),
        (lambda: Rows.from_columns({"a": [1], "b": [1, 2]}), "same length"),
        (lambda: Rows.from_columns({"a": 1}), "same length"),
    ],
)
def test_shapes_that_are_not_tables_are_422(build: Any, message: str) -> None:
    with pytest.raises(InvalidRows, match=message) as caught:
        build()
    assert caught.value.status == 422


def test_row_checks() -> None:
    with pytest.raises(InvalidRows, match="no rows to predict"):
        Rows(None, []).check(2)
    with pytest.raises(InvalidRows, match="too many rows: 3 > 2"):
        Rows(None, [[1], [2], [3]]).check(2)
    with pytest.raises(InvalidRows, match="row 1: expected a list of 2"):
        Rows(["a", "b"], [[1, 2], [3]]).check(10)
    with pytest.raises(InvalidRows, match="nested"):
        Rows(None, [[{"x": 1}]]).check(10)


@pytest.mark.parametrize(
    "data",
    [
        [[1, 2, True]],  # bool is not a number
        [[1, 2, "3"]],
        [[1, 2, None]],
        [[1, 2, float("nan")]],
        [[1, 2, float("inf")]],
        [[1, 2, 2**53 + 1]],  # not exact as a float
        [[1, 2, 10**400]],
    ],
)
def test_only_plain_finite_numbers_become_a_matrix(data: list[list[object]]) -> None:
    checked = Rows(None, data).check(10)
    assert checked.numbers is None and checked.data == data


def test_numeric_rows_become_one_float_matrix() -> None:
    checked = Rows(["a", "b"], [[1, 2.5], [3, 4]]).check(10)
    assert checked.data == [] and checked.numbers is not None
    assert checked.numbers.dtype.name == "float64"
    assert checked.numbers.tolist() == [[1.0, 2.5], [3.0, 4.0]] == checked.lists()
    with pytest.raises(InvalidRows, match="too many rows: 2 > 1"):
        checked.check(1)


def test_csv_cells_stay_text_when_checked() -> None:
    checked = Rows(["a", "b"], [["1", "2"]], text=True).check(10)
    assert checked.numbers is None and checked.data == [["1", "2"]] and checked.text


# --- JSON values against the signature ------------------------------------------------------
def test_to_frame_orders_columns_and_types_values() -> None:
    frame = to_frame(Rows(["d", "c", "b", "a"], [[0.2, 1.4, 3.5, 5]]), _model())
    assert list(frame.columns) == COLUMNS and frame["a"].dtype == "float64"
    assert to_frame(Rows(None, [[5.1, 3.5, 1.4, 0.2]]), _model())["d"].tolist() == [0.2]


@pytest.mark.parametrize(
    ("rows", "message", "column"),
    [
        (Rows(["a", "b", "c"], [[1, 2, 3]]), "missing column", "d"),
        (Rows([*COLUMNS, "e"], [[1, 2, 3, 4, 5]]), "unknown column", "e"),
        (Rows(COLUMNS, [[1, 2, "x", 4]]), "column 'c' row 0: expects a number", "c"),
        (Rows(COLUMNS, [[1, 2, float("nan"), 4]]), "NaN", "c"),
        (Rows(COLUMNS, [[1, 2, float("inf"), 4]]), "infinite", "c"),
        (Rows(COLUMNS, [[1, 2, True, 4]]), "expects a number", "c"),
        (Rows(None, [[1, 2]]), "needs 4 values", None),
    ],
)
def test_invalid_rows_are_422_naming_the_column(
    rows: Rows, message: str, column: str | None
) -> None:
    with pytest.raises(SignatureError, match=message) as caught:
        to_frame(rows, _model())
    assert caught.value.status == 422 and caught.value.column == column


def test_json_values_of_other_types() -> None:
    model = _typed()
    frame = to_frame(Rows([c.name for c in TYPED], [["007", True, 3, 4.0, 2, 0.5]]), model)
    assert frame["code"].tolist() == ["007"] and frame["flag"].dtype == bool
    assert frame["count"].dtype == np.int64 and frame["score"].dtype == np.float64
    for row, message in [
        ([7, True, 3, 4, 2.5, 0.5], "column 'code': expects text"),
        (["007", "true", 3, 4, 2.5, 0.5], "column 'flag': expects true or false"),
        (["007", True, 3.5, 4, 2.5, 0.5], "column 'count' row 0: expects an integer"),
        (["007", True, 2**63, 4, 2.5, 0.5], "column 'count' row 0: NaN, infinite or out-of"),
    ]:
        with pytest.raises(SignatureError, match=message):
            to_frame(Rows([c.name for c in TYPED], [row]), model)


# --- CSV cells typed by the signature -------------------------------------------------------
def test_csv_cells_take_the_signatures_types() -> None:
    model = _typed()
    frame = to_frame(_csv(ROW, ["042", "0", "-12", "5.0", "1e3", "7"]), model)
    assert frame["code"].tolist() == ["007", "042"]  # text stays as written
    assert frame["flag"].tolist() == [True, False] and frame["flag"].dtype == bool
    assert frame["count"].tolist() == [3, -12] and frame["count"].dtype == np.int64
    assert frame["small"].tolist() == [4, 5] and frame["small"].dtype == np.int64
    assert frame["score"].tolist() == [2.5, 1000.0] and frame["score"].dtype == np.float64
    assert frame["ratio"].tolist() == [0.5, 7.0] and frame["ratio"].dtype == np.float64


def test_a_text_column_keeps_the_cell_as_written() -> None:
    cells = ["007", "", " padded ", "1e3", "TRUE"]
    frame = to_frame(_csv(*([c, *ROW[1:]] for c in cells)), _typed())
    assert frame["code"].tolist() == cells


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        *[(cell, True) for cell in ("true", "TRUE", "True", "1", " tRuE ")],
        *[(cell, False) for cell in ("false", "FALSE", "False", "0")],
    ],
)
def test_boolean_cells_are_true_false_1_or_0_in_any_case(cell: str, value: bool) -> None:
    frame = to_frame(_csv([ROW[0], cell, *ROW[2:]]), _typed())
    assert frame["flag"].tolist() == [value]


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("flag", "yes", "column 'flag' row 1: expects true, false, 1 or 0"),
        ("flag", "", "column 'flag' row 1: expects true, false, 1 or 0"),
        ("flag", "2", "column 'flag' row 1: expects true, false, 1 or 0"),
        ("count", "3.5", "column 'count' row 1: expects an integer"),
        ("count", "three", "column 'count' row 1: expects a number"),
        ("count", "", "column 'count' row 1: expects a number, the cell is empty"),
        ("count", "9" * 400, "column 'count' row 1: NaN, infinite or out-of-range"),
        ("count", str(2**63), "column 'count' row 1: NaN, infinite or out-of-range"),
        ("small", "0x10", "column 'small' row 1: expects a number"),
        ("score", "abc", "column 'score' row 1: expects a number"),
        ("score", "  ", "column 'score' row 1: expects a number, the cell is empty"),
        ("score", "nan", "column 'score' row 1: NaN, infinite or out-of-range"),
        ("score", "-inf", "column 'score' row 1: NaN, infinite or out-of-range"),
        ("ratio", "1e400", "column 'ratio' row 1: NaN, infinite or out-of-range"),
    ],
)
def test_a_bad_cell_is_422_naming_the_column_and_row(column: str, cell: str, message: str) -> None:
    bad = list(ROW)
    bad[[c.name for c in TYPED].index(column)] = cell
    with pytest.raises(SignatureError, match=message) as caught:
        to_frame(_csv(ROW, bad), _typed())
    error = caught.value
    assert (error.status, error.column, error.row) == (422, column, 1)
    assert cell.strip() == "" or cell not in error.detail  # the value is never echoed


def test_numeric_csv_gives_the_frame_json_numbers_give() -> None:
    model = _model(types=("double", "double", "long", "double"))
    text = Rows(COLUMNS, [["5.1", "3.5", "2", "0.2"], ["6", " 2 ", "3.0", "1"]], text=True)
    numbers = Rows(COLUMNS, [[5.1, 3.5, 2, 0.2], [6, 2, 3, 1]]).check(10)
    pd.testing.assert_frame_equal(to_frame(text, model), to_frame(numbers, model))


def test_csv_for_a_model_without_a_signature_reads_numbers_as_numbers() -> None:
    model = LoadedModel(name="m", ref="champion", version="1", model=Seen(), task="x")
    rows = Rows(["a", "b", "c"], [["007", "2.5", "red"], ["", "1e2", "7"]], text=True)
    frame = to_frame(rows, model)
    assert frame["a"][0] == 7 and pd.isna(frame["a"][1])  # an empty cell is a missing value
    assert frame["b"].tolist() == [2.5, 100.0] and frame["c"].tolist() == ["red", 7]


def test_csv_rows_predict_like_json_rows() -> None:
    model = _model()
    text = Rows(COLUMNS, [["5.1", "3.5", "1.4", "0.2"], ["6.7", "3.0", "5.2", "2.3"]], text=True)
    assert predict(model, text, False)["predictions"] == [0, 2]


# --- the one-array fast paths ---------------------------------------------------------------
def _general(rows: Rows) -> pd.DataFrame:
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
    pd.testing.assert_frame_equal(fast, _general(rows))
    pd.testing.assert_frame_equal(to_frame(rows, model), _general(rows))


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
        (Rows(COLUMNS, [["1", "2", "3", "4"]], text=True), ("double",) * 4),
    ],
)
def test_anything_unusual_takes_the_general_path(rows: Rows, types: tuple[str, ...]) -> None:
    assert _numeric_frame(rows.check(max_rows=100), _model(types=types)) is None


def test_general_path_still_names_the_column() -> None:
    with pytest.raises(SignatureError, match="column 'c' row 0: NaN"):
        to_frame(Rows(None, [[1, 2, float("nan"), 4]]), _model())


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
    with pytest.raises(SignatureError, match="column 'c' row 0: expects an integer"):
        to_frame(Rows(None, [[5.1, 3.5, 2.5, 0.2]]).check(max_rows=10), model)


def test_stacked_batch_frame_equals_concat() -> None:
    model = _model()
    frames = [to_frame(Rows(None, [[5.1, 3.5, 1.4, float(i)]] * (i + 1)), model) for i in range(4)]
    pd.testing.assert_frame_equal(stack_frames(frames), pd.concat(frames, ignore_index=True))
    mixed = [frames[0], frames[1].astype({"a": "int64"})]
    pd.testing.assert_frame_equal(stack_frames(mixed), pd.concat(mixed, ignore_index=True))
    assert stack_frames(frames[:1]) is frames[0]
    assert np.array_equal(
        model.model.predict(stack_frames(frames)), model.model.predict(pd.concat(frames))
    )


# --- predicting -----------------------------------------------------------------------------
def test_run_model_returns_probabilities_per_class() -> None:
    model = _model("3")
    result = run_model(model, pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=COLUMNS), True)
    assert result["predictions"] == [0] and result["version"] == "3"
    assert result["classes"] == [0, 1, 2] and sum(result["probabilities"][0]) == pytest.approx(
        1.0, abs=1e-5
    )
    assert run_model(model, model.input_example, False)["probabilities"] is None


def test_predict_checks_the_rows_first() -> None:
    with pytest.raises(SignatureError, match="missing column"):
        predict(_model(), Rows(["a"], [[1.0]]), True)


# --- rayline.errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (InvalidRows("no rows"), 422, None),
        (SignatureError("column 'a' row 2: expects a number", "a", 2), 422, None),
        (ModelNotFound("model x@champion is not registered"), 404, None),
        (ModelUnavailable("registry down"), 503, 5),
        (ModelUnavailable("failed its integrity check", retry_after=30), 503, 30),
    ],
)
def test_domain_errors_carry_their_status_and_survive_pickling(
    error: RaylineError, status: int, retry_after: int | None
) -> None:
    """They cross Ray (a batch job's actors, the predictor's replicas) as pickles."""
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(copy) is type(error)
    assert (copy.status, copy.detail, copy.retry_after) == (status, error.detail, retry_after)
    assert vars(copy) == vars(error)


# --- the compiled path ----------------------------------------------------------------------
def _data(task: str, missing: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    load = load_breast_cancer if task == "classification" else load_diabetes
    X, y = load(return_X_y=True, as_frame=True)
    if missing:  # cells the imputer fills, in training and in the rows predicted
        X = X.mask(np.random.default_rng(0).random(X.shape) < 0.05)
    return X, y


@pytest.mark.parametrize(
    ("family", "task"),
    [(f, t) for t in ("classification", "regression") for f in families_for(t)],  # type: ignore[arg-type]
)
def test_the_compiled_path_answers_exactly_as_scikit_learn(family: str, task: str) -> None:
    X, y = _data(task)
    pipeline = make_pipeline_for(family, task, {}, seed=0).fit(X.iloc[:300], y.iloc[:300])  # type: ignore[arg-type]
    compiled = compiled_for(pipeline, X.head(3))
    assert compiled is not None
    forest = isinstance(pipeline.named_steps["model"], FORESTS)
    assert isinstance(compiled.estimator, TreeByTree) == forest
    rows = X.iloc[300:]
    assert rows.isna().any().any()
    assert np.array_equal(compiled.predict(rows), pipeline.predict(rows))
    if hasattr(pipeline, "predict_proba"):
        assert np.array_equal(compiled.predict_proba(rows), pipeline.predict_proba(rows))
    shuffled = rows[list(reversed(rows.columns))]  # columns in another order are put in order
    assert np.array_equal(compiled.predict(shuffled), pipeline.predict(rows))


def test_warm_up_sets_the_compiled_path_and_run_model_takes_it() -> None:
    X, y = _data("classification")
    pipeline = make_pipeline_for("linear", "classification", {}, seed=0).fit(X, y)
    model = LoadedModel(
        name="bc",
        ref="champion",
        version="1",
        model=pipeline,
        task="classification",
        input_example=X.head(2),
    )
    assert model.compiled is None
    warm_up(model)
    assert model.compiled is not None
    calls: list[int] = []

    class Counting:
        classes_ = pipeline.classes_

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            calls.append(len(x))
            return pipeline.named_steps["model"].predict_proba(x)

    model.compiled = dataclasses.replace(model.compiled, estimator=Counting())
    answer = run_model(model, X.tail(4), want_proba=True)
    assert calls == [4]  # one predict_proba pass, on the compiled path
    assert answer["probabilities"] == pipeline.predict_proba(X.tail(4)).tolist()
    assert answer["predictions"] == pipeline.predict(X.tail(4)).tolist()


def test_what_does_not_compile_keeps_scikit_learns_path() -> None:
    X, y = _data("classification", missing=False)
    with_text = X.assign(kind=np.where(X.iloc[:, 0] > X.iloc[:, 0].median(), "big", "small"))
    categorical = make_pipeline_for("linear", "classification", {}, seed=0).fit(with_text, y)
    assert compile_pipeline(categorical) is None
    empty = X.assign(blank=np.nan)  # the imputer drops a column it never saw a value in
    dropped = make_pipeline_for("linear", "classification", {}, seed=0).fit(empty, y)
    assert compile_pipeline(dropped) is None
    assert compile_pipeline(LogisticRegression(max_iter=5000).fit(X, y)) is None
    members = [(f, make_pipeline_for(f, "classification", {}, seed=0)) for f in ("linear", "knn")]
    assert compile_pipeline(make_ensemble(members, "classification", "voting").fit(X, y)) is None


def test_a_compiled_path_that_answers_otherwise_is_not_used(monkeypatch: Any) -> None:
    X, y = _data("classification")
    pipeline = make_pipeline_for("linear", "classification", {}, seed=0).fit(X, y)
    honest = compile_pipeline(pipeline)
    assert honest is not None and compiled_for(pipeline, X.head(3)) is not None
    skewed = dataclasses.replace(honest, fill=honest.fill + 1.0)  # wrong only for missing cells
    monkeypatch.setattr(inference, "compile_pipeline", lambda _: skewed)
    assert compiled_for(pipeline, X.head(3)) is None
