"""The prediction routes in process (no Ray): Rayline's own and MLflow's scoring protocol
(their parsers too; V2 is in test_v2.py), CSV bodies typed by the model's signature,
health and model info, the OpenAPI document and the web UI.

Each test is marked with the routes it covers (`covers`) and fails if it never requested one;
`test_every_route_is_covered_by_a_test` fails if a row of `ENDPOINTS` is covered by none, here
or in the other modules here."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
import pytest
from starlette.testclient import TestClient

from rayline.errors import InvalidRows, ModelUnavailable
from serve_app.http.app import Context
from serve_app.http.body import parse_csv
from serve_app.routes import ENDPOINTS
from serve_app.routes.mlflow import parse_mlflow
from serve_app.routes.predict import parse_predict
from serve_app.schemas import MlflowRequest, PredictRequest
from tests.unit.routes.fakes import (
    COLUMNS,
    COVERED,
    PREDICT,
    ROUTE_NAMES,
    SETOSA,
    TYPED_COLUMNS,
    VIRGINICA,
    covers,
)


def test_every_route_is_covered_by_a_test() -> None:
    # Their tests mark routes on import.
    from tests.unit.routes import test_monitoring, test_platform, test_schedules, test_v2  # noqa: F401

    table = set(ROUTE_NAMES)
    assert table - COVERED == set(), "routes no test covers"
    assert COVERED - table == set(), "covered routes that are not in ENDPOINTS"


# --- Rayline predictions, health, model info --------------------------------------------------
@covers("GET /health", "GET /ready")
def test_health_and_readiness(ctx: Context, client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "models": [
            {"name": "iris", "alias": "champion", "version": "1", "status": "ready", "error": None},
            {
                "name": "iris",
                "alias": "challenger",
                "version": "2",
                "status": "ready",
                "error": None,
            },
        ],
    }
    ctx.predictor.models["iris@challenger"] = ModelUnavailable(
        "model failed to load", retry_after=10
    )
    not_ready = client.get("/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["ready"] is False
    assert not_ready.json()["models"][1]["error"] == "model failed to load"


@covers("GET /model-info")
def test_model_info_describes_the_served_models(client: TestClient) -> None:
    info = client.get("/model-info", headers=PREDICT).json()
    assert info["default_model"] == "iris@champion"
    assert [(m["alias"], m["version"]) for m in info["models"]] == [
        ("champion", "1"),
        ("challenger", "2"),
    ]
    assert [c["name"] for c in info["models"][0]["inputs"]] == COLUMNS
    one = client.get("/model-info?model=iris/1", headers=PREDICT).json()
    assert [m["model_id"] for m in one["models"]] == ["iris/1"]
    unknown = client.get("/model-info?model=nope@champion", headers=PREDICT).json()
    assert unknown["models"][0]["status"] == "failed"
    by_version = client.get("/model-info?model=nope/7", headers=PREDICT).json()["models"][0]
    assert (by_version["name"], by_version["alias"]) == ("nope", "7")
    assert client.get("/model-info?model=nope", headers=PREDICT).status_code == 422


@covers("POST /predict")
def test_predict_uses_the_default_model(ctx: Context, client: TestClient) -> None:
    response = client.post("/predict", json={"instances": [SETOSA, VIRGINICA]}, headers=PREDICT)
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == [0, 2] and body["classes"] == [0, 1, 2]
    assert (body["model"], body["alias"], body["version"]) == ("iris", "champion", "1")
    assert len(body["probabilities"]) == 2 and body["probabilities"][0][0] > 0.5
    as_lists = {"instances": [list(SETOSA.values())], "return_proba": False}
    plain = client.post("/predict", json=as_lists, headers=PREDICT).json()
    assert plain["predictions"] == [0] and plain["probabilities"] is None
    assert ctx.predictor.calls[0][0] == "iris@champion"


@covers("POST /predict")
def test_predict_errors_name_the_column(ctx: Context, client: TestClient) -> None:
    missing = {"instances": [{k: v for k, v in SETOSA.items() if k != "petal_width_cm"}]}
    response = client.post("/predict", json=missing, headers=PREDICT)
    assert response.status_code == 422 and "petal_width_cm" in response.json()["detail"]
    word = {"instances": [{**SETOSA, "sepal_length_cm": "wide"}]}
    detail = client.post("/predict", json=word, headers=PREDICT).json()["detail"]
    assert "sepal_length_cm" in detail and "wide" not in detail
    ctx.args.max_rows = 1
    too_many = client.post("/predict", json={"instances": [SETOSA, SETOSA]}, headers=PREDICT)
    assert (too_many.status_code, too_many.json()) == (
        422,
        {"detail": "too many rows: 2 > 1 per request"},
    )


@covers("POST /v1/models/{name}/predict")
def test_predict_by_alias_or_version(ctx: Context, client: TestClient) -> None:
    url = "/v1/models/iris/predict"
    body = {"instances": [SETOSA]}
    assert client.post(url, json=body, headers=PREDICT).json()["version"] == "1"
    challenger = client.post(url + "?alias=challenger", json=body, headers=PREDICT).json()
    assert challenger["version"] == "2"
    assert client.post(url + "?version=1", json=body, headers=PREDICT).json()["version"] == "1"
    assert [call[0] for call in ctx.predictor.calls] == [
        "iris@champion",
        "iris@challenger",
        "iris/1",
    ]
    unknown = client.post("/v1/models/nope/predict", json=body, headers=PREDICT)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "model nope@champion is not registered"},
    )
    bad_version = client.post(url + "?version=x", json=body, headers=PREDICT)
    assert bad_version.status_code == 422
    assert bad_version.json() == {"detail": "version: must be a number"}


@pytest.mark.parametrize("alias", ["my-alias", "v2_rc", "A1", "x" * 64])
@covers("POST /v1/models/{name}/predict")
def test_served_aliases_follow_the_alias_grammar(client: TestClient, alias: str) -> None:
    url = f"/v1/models/iris/predict?alias={alias}"
    response = client.post(url, json={"instances": [SETOSA]}, headers=PREDICT)
    assert response.status_code == 404  # valid, just not registered


@pytest.mark.parametrize("alias", ["-x", "_x", "a b", "a.b", "é", "x" * 65, ""])
@covers("POST /v1/models/{name}/predict")
def test_served_aliases_outside_the_grammar_are_422(client: TestClient, alias: str) -> None:
    url = "/v1/models/iris/predict"
    response = client.post(
        url, params={"alias": alias}, json={"instances": [SETOSA]}, headers=PREDICT
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "alias: 1 to 64 letters, digits, - or _, starting with a letter or digit"
    }


# --- MLflow scoring protocol ----------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [list(SETOSA.values())]}},
        {"dataframe_records": [SETOSA]},
        {"instances": [SETOSA]},
        {"inputs": {k: [v] for k, v in SETOSA.items()}},
    ],
)
@covers("POST /invocations")
def test_invocations_takes_every_mlflow_format(client: TestClient, payload: dict[str, Any]) -> None:
    response = client.post("/invocations", json=payload, headers=PREDICT)
    assert (response.status_code, response.json()) == (200, {"predictions": [0]})


@covers("POST /invocations")
def test_invocations_wants_exactly_one_format(client: TestClient) -> None:
    both = {"instances": [SETOSA], "dataframe_records": [SETOSA]}
    response = client.post("/invocations", json=both, headers=PREDICT)
    assert response.status_code == 400  # MLflow's server answers 400 to input it cannot score
    assert "exactly one of" in response.json()["detail"]
    csv = "\n".join([",".join(COLUMNS), ",".join(map(str, VIRGINICA.values()))])
    headers = {**PREDICT, "Content-Type": "text/csv"}
    assert client.post("/invocations", content=csv, headers=headers).json() == {"predictions": [2]}


@covers("POST /invocations")
def test_invocations_answers_as_mlflow_writes_and_takes_parquet(
    ctx: Context, client: TestClient
) -> None:
    ctx.args.max_body_bytes = 10_000  # a DataFrame's to_parquet() is ~3 kB, with its metadata
    response = client.post("/invocations", json={"instances": [SETOSA]}, headers=PREDICT)
    assert response.content == b'{"predictions": [0]}'  # json.dumps' separators, as MLflow's
    frame = pd.DataFrame([SETOSA, VIRGINICA])
    parquet = {**PREDICT, "Content-Type": "application/vnd.apache.parquet"}
    answer = client.post("/invocations", content=frame.to_parquet(), headers=parquet)
    assert answer.json() == {"predictions": [0, 2]}
    broken = client.post("/invocations", content=b"PAR1 not really", headers=parquet)
    assert (broken.status_code, broken.json()) == (400, {"detail": "body is not a Parquet file"})


@covers("POST /invocations")
def test_invocations_refuses_params_and_content_types_mlflow_refuses(client: TestClient) -> None:
    with_params = {"instances": [SETOSA], "params": {"temperature": 0.5}}
    refused = client.post("/invocations", json=with_params, headers=PREDICT)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("params (temperature): this model takes no")
    empty = {"instances": [SETOSA], "params": {}}
    assert client.post("/invocations", json=empty, headers=PREDICT).status_code == 200
    body = json.dumps({"instances": [SETOSA]})
    for content_type, status in [
        ("application/json; charset=utf-8", 200),
        ("application/json; charset=UTF-8", 200),
        ("application/json; charset=latin-1", 415),
        ("application/json; format=pandas-split", 415),
        ("application/xml", 415),
    ]:
        headers = {**PREDICT, "Content-Type": content_type}
        response = client.post("/invocations", content=body, headers=headers)
        assert response.status_code == status, (content_type, response.text)
    no_type = client.post("/invocations", content=body, headers=PREDICT)
    assert no_type.status_code == 415  # MLflow's server, too, wants a Content-Type


@covers("GET /ping", "GET /version")
def test_mlflow_ping_and_version(client: TestClient) -> None:
    ping = client.get("/ping")
    assert ping.status_code == 200 and ping.text == "\n"
    assert ping.headers["content-type"].startswith("text/plain")
    assert client.get("/version").text == mlflow.__version__


# --- CSV bodies: cells typed by the model's signature ---------------------------------------
def _typed_csv(*rows: str) -> str:
    return "\n".join([",".join(TYPED_COLUMNS), *rows]) + "\n"


CSV_HEADERS = {**PREDICT, "Content-Type": "text/csv"}


@covers("POST /v1/models/{name}/predict")
def test_csv_cells_take_the_types_of_the_signature(ctx: Context, client: TestClient) -> None:
    body = _typed_csv("007,TRUE,3,2.5", "042,0,-12,1e3", '" 7 ",False,5.0,7')
    response = client.post("/v1/models/typed/predict", content=body, headers=CSV_HEADERS)
    assert response.status_code == 200 and response.json()["predictions"] == [0, 0, 0]
    seen = ctx.predictor.models["typed@champion"].model.frame
    assert list(seen.columns) == list(TYPED_COLUMNS)
    assert seen["code"].tolist() == ["007", "042", " 7 "]  # a string column keeps the text
    assert seen["flag"].tolist() == [True, False, False] and seen["flag"].dtype == bool
    assert seen["count"].tolist() == [3, -12, 5] and seen["count"].dtype == "int64"
    assert seen["score"].tolist() == [2.5, 1000.0, 7.0] and seen["score"].dtype == "float64"


@pytest.mark.parametrize(
    ("row", "detail"),
    [
        ("007,yes,3,2.5", "column 'flag' row 1: expects true, false, 1 or 0"),
        ("007,1,3.5,2.5", "column 'count' row 1: expects an integer"),
        ("007,1,many,2.5", "column 'count' row 1: expects a number"),
        ("007,1,3,", "column 'score' row 1: expects a number, the cell is empty"),
        ("007,1,3,NaN", "column 'score' row 1: NaN, infinite or out-of-range numbers are not"),
    ],
)
@covers("POST /v1/models/{name}/predict")
def test_a_csv_cell_that_does_not_fit_its_type_is_422_naming_column_and_row(
    client: TestClient, row: str, detail: str
) -> None:
    body = _typed_csv("008,true,1,1.0", row)
    response = client.post("/v1/models/typed/predict", content=body, headers=CSV_HEADERS)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    assert "many" not in response.json()["detail"]  # the value is never echoed


@covers("POST /v1/models/{name}/predict", "POST /invocations")
def test_csv_shape_errors(client: TestClient) -> None:
    url = "/v1/models/typed/predict"
    ragged = client.post(url, content="code,flag\n007\n", headers=CSV_HEADERS)
    assert (ragged.status_code, ragged.json()) == (
        422,
        {"detail": "CSV line 2: expected 2 fields"},
    )
    renamed = _typed_csv("1,1,1,1").replace("code", "kode")
    unknown = client.post(url, content=renamed, headers=CSV_HEADERS)
    assert unknown.status_code == 422 and "code" in unknown.json()["detail"]
    empty = client.post("/invocations", content="", headers=CSV_HEADERS)
    assert (empty.status_code, empty.json()) == (
        400,
        {"detail": "CSV body is empty; the first line must name the columns"},
    )
    header_only = client.post("/invocations", content=",".join(COLUMNS), headers=CSV_HEADERS)
    assert (header_only.status_code, header_only.json()) == (400, {"detail": "no rows to predict"})


# --- the protocol parsers, directly ---------------------------------------------------------
def test_rayline_records_and_lists() -> None:
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
    with pytest.raises(InvalidRows, match="exactly one"):
        parse_mlflow(MlflowRequest.model_validate({}))
    with pytest.raises(InvalidRows, match="exactly one"):
        parse_mlflow(MlflowRequest.model_validate({"instances": [[1]], "inputs": [[1]]}))


def test_csv_is_parsed_into_text_cells() -> None:
    rows = parse_csv("a, b ,c\n007,2.5,red\n\n3,,true\n")
    assert rows.columns == ["a", "b", "c"] and rows.text
    assert rows.data == [["007", "2.5", "red"], ["3", "", "true"]]  # nothing guessed yet
    with pytest.raises(InvalidRows, match="line 2: expected 2 fields"):
        parse_csv("a,b\n1\n")
    with pytest.raises(InvalidRows, match="empty"):
        parse_csv("")


# --- OpenAPI and the web UI (plain routes: open, not counted) -------------------------------
def test_openapi_describes_every_endpoint(ctx: Context, client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for endpoint in ENDPOINTS:
        operation = doc["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["operationId"] == endpoint.name
        assert operation.get("x-role") == endpoint.role
    alias = doc["paths"]["/v1/models/{name}/predict"]["post"]["parameters"][1]
    assert alias["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert "/openapi.json" not in doc["paths"]
    assert ctx.delta.requests == {}


def test_the_web_ui_is_served_with_its_cache_headers(ctx: Context, client: TestClient) -> None:
    assert client.get("/").json() == {
        "detail": "the web UI is not built: run `make web` (or `make demo`)"
    }
    dist = ctx.settings.web_dist
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>ui</html>")
    (dist / "assets" / "app.1234.js").write_text("js")
    page = client.get("/models/iris")  # an app route: the UI's index
    assert page.text == "<html>ui</html>" and page.headers["Cache-Control"] == "no-cache"
    asset = client.get("/assets/app.1234.js")
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/missing.png").status_code == 404
    api = client.get("/v1/nothing")
    assert (api.status_code, api.json()) == (
        404,
        {"detail": "no such API route; see /openapi.json"},
    )
    assert client.post("/v1/whoami", headers=PREDICT).status_code == 405
