"""Monitoring routes in process: prediction ids on every protocol, feedback joined by them, the
monitoring report after shifted traffic, and drift in /metrics."""

from __future__ import annotations

import asyncio

import numpy as np
from sklearn.datasets import load_iris
from starlette.testclient import TestClient

from rayline.request_metrics import Delta
from serve_app.http.app import Context
from tests.promtext import samples, value
from tests.unit.routes.fakes import COLUMNS, PREDICT, SETOSA, covers


def _flush(ctx: Context) -> None:
    """What the ingress's flusher does every second."""
    delta = Delta()
    delta.live = ctx.predictor.tap.drain()
    asyncio.run(ctx.metrics.ingest.remote(delta))


def _iris_rows(shift: dict[str, float] | None = None) -> list[dict[str, float]]:
    frame = load_iris(as_frame=True).data
    frame.columns = COLUMNS
    for name, by in (shift or {}).items():
        frame[name] += by * frame[name].std()
    return frame.to_dict(orient="records")


@covers("POST /predict", "POST /invocations", "POST /v2/models/{name}/infer")
def test_every_prediction_answers_with_an_id_and_a_caller_may_choose_it(
    client: TestClient,
) -> None:
    answer = client.post("/predict", json={"instances": [SETOSA]}, headers=PREDICT)
    generated = answer.headers["X-Prediction-Id"]
    assert len(generated) == 25
    mlflow = client.post("/invocations", json={"dataframe_records": [SETOSA]}, headers=PREDICT)
    assert mlflow.headers["X-Prediction-Id"] not in ("", generated)
    assert mlflow.json() == {"predictions": [0]}  # the body stays MLflow's
    chosen = {**PREDICT, "X-Prediction-Id": "order-42"}
    assert (
        client.post("/predict", json={"instances": [SETOSA]}, headers=chosen).headers[
            "X-Prediction-Id"
        ]
        == "order-42"
    )
    bad = {**PREDICT, "X-Prediction-Id": "no spaces please"}
    refused = client.post("/predict", json={"instances": [SETOSA]}, headers=bad)
    assert refused.status_code == 400 and "X-Prediction-Id" in refused.json()["detail"]
    v2 = {
        "id": "v2-request-7",
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [v]} for c, v in SETOSA.items()
        ],
    }
    infer = client.post("/v2/models/iris/infer", json=v2, headers=PREDICT)
    assert infer.status_code == 200 and infer.headers["X-Prediction-Id"] == "v2-request-7"


@covers("POST /v1/models/{name}/predict", "POST /v1/models/{name}/feedback")
def test_feedback_joins_labels_to_earlier_predictions(ctx: Context, client: TestClient) -> None:
    rows = _iris_rows()[:3]  # three setosas: all predicted 0
    answer = client.post("/v1/models/iris/predict", json={"instances": rows}, headers=PREDICT)
    pid = answer.headers["X-Prediction-Id"]
    _flush(ctx)
    labels = [
        {"prediction_id": pid, "row": 0, "label": 0},
        {"prediction_id": pid, "row": 2, "label": 1},
        {"prediction_id": "never-issued", "label": 0},
    ]
    result = client.post("/v1/models/iris/feedback", json={"labels": labels}, headers=PREDICT)
    assert result.status_code == 200
    assert result.json() == {"received": 3, "joined": 2, "unknown": 1, "expired": 0}
    unserved = client.post("/v1/models/nope/feedback", json={"labels": labels}, headers=PREDICT)
    assert unserved.json() == {"received": 3, "joined": 0, "unknown": 3, "expired": 0}
    empty = client.post("/v1/models/iris/feedback", json={"labels": []}, headers=PREDICT)
    assert empty.status_code == 422
    # A row index the database cannot hold is refused, not a 500.
    huge = {"labels": [{"prediction_id": pid, "row": 10**30, "label": 0}]}
    refused = client.post("/v1/models/iris/feedback", json=huge, headers=PREDICT)
    assert refused.status_code == 422 and "row" in refused.json()["detail"]
    assert client.post("/v1/models/iris/feedback", json={"labels": labels}).status_code == 401


@covers("POST /v1/models/{name}/predict", "GET /v1/models/{name}/monitoring", "GET /metrics")
def test_shifted_traffic_shows_as_drift_in_the_report_and_in_metrics(
    ctx: Context, client: TestClient
) -> None:
    quiet = client.get("/v1/models/iris/monitoring", headers=PREDICT).json()
    assert quiet["versions"] == [] and quiet["config"]["min_rows"] == 100
    shifted = _iris_rows({"petal_length_cm": 2.0, "sepal_width_cm": 2.0})
    for start in range(0, 600, 10):  # 600 rows, in bodies under the test's 2,000-byte limit
        chunk = shifted[start % 150 : start % 150 + 10]
        answer = client.post("/v1/models/iris/predict", json={"instances": chunk}, headers=PREDICT)
        assert answer.status_code == 200
    _flush(ctx)
    report = client.get("/v1/models/iris/monitoring", headers=PREDICT).json()
    version = report["versions"][0]
    assert version["version"] == "1" and version["window"]["rows"] == 600
    drift = version["drift"]
    flagged = {f["name"] for f in drift["features"] if f["drifted"]}
    assert {"petal_length_cm", "sepal_width_cm"} <= flagged
    assert drift["verdict"] == "drift"
    first = drift["features"][0]
    assert first["drifted"] and len(first["bins"]) == len(first["reference"]) == len(first["live"])
    assert np.isclose(sum(first["live"]), 1.0)
    found = samples(client.get("/metrics", headers=PREDICT).text)
    labels = {"model": "iris", "version": "1"}
    assert value(found, "rayline_model_drifted", **labels) == 1
    assert value(found, "rayline_feature_drifted", **labels, feature="petal_length_cm") == 1
    assert value(found, "rayline_monitoring_window_rows", **labels) == 600
    typo = client.get("/v1/models/nope/monitoring", headers=PREDICT)
    assert typo.status_code == 404 and "models (iris)" in typo.json()["detail"]
