"""Protocol parsers: Rayline JSON, MLflow scoring formats, V2 tensors and CSV."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serve_app.schemas import (
    AppArgs,
    HttpError,
    MlflowRequest,
    PredictRequest,
    Rows,
    V2Request,
    parse_csv,
    parse_mlflow,
    parse_predict,
    parse_v2,
)


def test_records_and_lists() -> None:
    rows = parse_predict(PredictRequest(instances=[{"a": 1, "b": 2}, {"b": 3, "a": 4}]))
    assert rows.columns == ["a", "b"] and rows.data == [[1, 2], [4, 3]]
    rows = parse_predict(PredictRequest(instances=[[1, 2]]))
    assert rows.columns is None and rows.data == [[1, 2]]


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}},
        {"dataframe_records": [{"a": 1, "b": 2}]},
        {"instances": [{"a": 1, "b": 2}]},
        {"inputs": {"a": [1], "b": [2]}},
    ],
)
def test_mlflow_formats_agree(body: dict[str, object]) -> None:
    rows = parse_mlflow(MlflowRequest.model_validate(body))
    assert rows.columns == ["a", "b"] and rows.data == [[1, 2]]


def test_mlflow_needs_exactly_one_format() -> None:
    with pytest.raises(HttpError, match="exactly one"):
        parse_mlflow(MlflowRequest.model_validate({}))
    with pytest.raises(HttpError, match="exactly one"):
        parse_mlflow(MlflowRequest.model_validate({"instances": [[1]], "inputs": [[1]]}))


def test_v2_matrix_and_columns() -> None:
    matrix = V2Request.model_validate(
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    )
    assert parse_v2(matrix).data == [[1, 2], [3, 4]]
    columns = V2Request.model_validate(
        {
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 3]},
                {"name": "b", "shape": [2], "datatype": "FP64", "data": [2, 4]},
            ]
        }
    )
    assert parse_v2(columns) == Rows(["a", "b"], [[1, 2], [3, 4]])
    bad = V2Request.model_validate(
        {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP64", "data": [1, 2]}]}
    )
    with pytest.raises(HttpError, match="shape does not match"):
        parse_v2(bad)


def test_csv_types_and_errors() -> None:
    rows = parse_csv("a,b,c\n1,2.5,red\n3,,blue\n")
    assert rows.columns == ["a", "b", "c"]
    assert rows.data == [[1, 2.5, "red"], [3, None, "blue"]]
    with pytest.raises(HttpError, match="line 2: expected 2 fields"):
        parse_csv("a,b\n1\n")
    with pytest.raises(HttpError, match="empty"):
        parse_csv("")


def test_row_checks() -> None:
    with pytest.raises(HttpError, match="too many rows: 3 > 2"):
        Rows(None, [[1], [2], [3]]).check(2)
    with pytest.raises(HttpError, match="row 1: expected a list of 2"):
        Rows(["a", "b"], [[1, 2], [3]]).check(10)
    with pytest.raises(HttpError, match="nested"):
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
    with pytest.raises(HttpError, match="too many rows: 2 > 1"):
        checked.check(1)


def test_request_models_forbid_unknown_keys_and_app_args_validate() -> None:
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"instances": [[1]], "extra": 1})
    args = AppArgs.model_validate({"models": [{"name": "iris"}]})
    assert args.default_model.model_id == "iris@champion"
    with pytest.raises(ValidationError):
        AppArgs.model_validate({"models": []})
