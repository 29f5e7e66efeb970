"""The Serve application over real HTTP: every protocol, errors, live alias promotion (the
auth matrix is in test_security.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import mlflow
import pytest
from sklearn.datasets import load_iris

from serve_app.routes import ENDPOINTS
from tests.promtext import samples, value
from tests.stack import Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}
COLUMNS = list(ROW)


def test_health_and_readiness_are_open(serving: Stack) -> None:
    assert serving.http("GET", "/health", key=None)[:2] == (200, {"status": "ok"})
    status, body, _ = serving.http("GET", "/ready", key=None)
    assert status == 200 and body["ready"] is True
    assert body["models"][0]["name"] == "iris_it"
    assert serving.http("GET", "/v2/health/ready", key=None)[1] == {"ready": True}
    assert serving.http("GET", "/ping", key=None)[0] == 200


def test_rayline_predict_returns_labels_probabilities_and_version(serving: Stack) -> None:
    status, body, _ = serving.http(
        "POST",
        "/v1/models/iris_it/predict",
        {"instances": [ROW, dict(zip(COLUMNS, [6.7, 3.0, 5.2, 2.3], strict=True))]},
        key="predict",
    )
    assert status == 200, body
    assert body["predictions"] == [0, 2]
    assert body["classes"] == [0, 1, 2]
    assert len(body["probabilities"]) == 2 and body["probabilities"][0][0] > 0.5
    assert body["version"] == "1" and body["alias"] == "champion"
    # The default model answers /predict.
    assert serving.http("POST", "/predict", {"instances": [ROW]})[1]["predictions"] == [0]


def test_csv_body_predicts_every_row(serving: Stack) -> None:
    csv = (
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n"
        "6.7,3.0,5.2,2.3\n"
    )
    status, body, _ = serving.http(
        "POST", "/v1/models/iris_it/predict", raw=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert status == 200 and body["predictions"] == [0, 2]


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": [list(ROW.values())]}},
        {"dataframe_records": [ROW]},
        {"instances": [ROW]},
        {"inputs": {k: [v] for k, v in ROW.items()}},
    ],
)
def test_mlflow_scoring_protocol_formats(serving: Stack, payload: dict[str, Any]) -> None:
    status, body, _ = serving.http("POST", "/invocations", payload, key="predict")
    assert (status, body) == (200, {"predictions": [0]})


def test_mlflow_scoring_client_works_unchanged(
    serving: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login rayline password {serving.predict_key}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = ScoringServerClient("127.0.0.1", serving.settings.serve_port)
    client.wait_server_ready(timeout=10)
    # scikit-learn's own DataFrame, its column names as they come ("sepal length (cm)").
    frame = load_iris(as_frame=True).frame.drop(columns="target").head(5)
    response = client.invoke(frame)
    assert response["predictions"] == [0] * 5
    assert response.get_predictions()[0].tolist() == [0] * 5
    assert client.get_version() == mlflow.__version__


def test_open_inference_protocol_v2(serving: Stack) -> None:
    status, meta, _ = serving.http("GET", "/v2/models/iris_it")
    assert status == 200 and [i["name"] for i in meta["inputs"]] == COLUMNS
    assert serving.http("GET", "/v2/models/iris_it/ready")[1] == {"name": "iris_it", "ready": True}
    by_column = {
        "id": "r1",
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [v]} for c, v in ROW.items()
        ],
    }
    status, body, _ = serving.http("POST", "/v2/models/iris_it/infer", by_column)
    assert status == 200 and body["id"] == "r1" and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == [0]
    assert outputs["predict_proba"]["shape"] == [1, 3]
    tensor = {
        "inputs": [
            {
                "name": "x",
                "shape": [2, 4],
                "datatype": "FP64",
                "data": [*ROW.values(), 6.7, 3.0, 5.2, 2.3],
            }
        ]
    }
    assert serving.http("POST", "/v2/models/iris_it/infer", tensor)[1]["outputs"][0]["data"] == [
        0,
        2,
    ]


@pytest.mark.parametrize(
    ("payload", "status", "names"),
    [
        (
            {"instances": [{k: v for k, v in ROW.items() if k != "petal width (cm)"}]},
            422,
            "petal width (cm)",
        ),
        ({"instances": [{**ROW, "colour": 1.0}]}, 422, "colour"),
        ({"instances": [{**ROW, "sepal length (cm)": "wide"}]}, 422, "sepal length (cm)"),
        ({"instances": [[1.0, 2.0]]}, 422, "4 values"),
        ({"instances": [[[1.0, 2.0, 3.0, 4.0]]]}, 422, "nested"),
        ({"rows": [ROW]}, 422, "rows"),
    ],
)
def test_bad_input_is_rejected_naming_the_field(
    serving: Stack, payload: dict[str, Any], status: int, names: str
) -> None:
    got, body, _ = serving.http("POST", "/v1/models/iris_it/predict", payload)
    assert got == status
    assert names in body["detail"]
    assert "wide" not in body["detail"] and "Traceback" not in body["detail"]


def test_nan_and_infinity_are_rejected(serving: Stack) -> None:
    raw = b'{"instances": [[NaN, 3.5, 1.4, Infinity]]}'
    status, body, _ = serving.http(
        "POST", "/v1/models/iris_it/predict", raw=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422 and "sepal length (cm)" in body["detail"]


def test_transport_errors(serving: Stack) -> None:
    assert (
        serving.http(
            "POST", "/predict", raw=b"{not json", headers={"Content-Type": "application/json"}
        )[0]
        == 400
    )
    assert (
        serving.http("POST", "/predict", raw=b"<x/>", headers={"Content-Type": "application/xml"})[
            0
        ]
        == 415
    )
    huge = b'{"instances": [' + b"[1.0, 2.0, 3.0, 4.0]," * 300_000 + b"[1,2,3,4]]}"
    status, body, _ = serving.http(
        "POST", "/predict", raw=huge, headers={"Content-Type": "application/json"}
    )
    assert status == 413 and "bytes" in body["detail"]
    status, body, _ = serving.http("POST", "/v1/models/nope/predict", {"instances": [ROW]})
    assert status == 404 and "nope" in body["detail"]


def test_openapi_describes_every_route(serving: Stack) -> None:
    status, doc, _ = serving.http("GET", "/openapi.json", key=None)
    assert status == 200
    for endpoint in ENDPOINTS:
        assert endpoint.method.lower() in doc["paths"][endpoint.path]


def test_registry_routes_and_metrics(serving: Stack) -> None:
    models = {m["name"]: m for m in serving.http("GET", "/v1/models")[1]["models"]}
    assert models["iris_it"]["aliases"]["champion"] == "1"
    versions = serving.http("GET", "/v1/models/iris_it/versions")[1]["versions"]
    assert versions[-1]["metrics"]["accuracy"] >= 0.9
    assert "champion" in versions[-1]["aliases"]
    schema = serving.http("GET", "/v1/models/iris_it/schema")[1]
    assert [c["name"] for c in schema["inputs"]] == COLUMNS
    assert set(schema["input_example"]) == set(COLUMNS)
    serving.http("POST", "/v1/models/iris_it/predict", {"instances": [ROW]})
    counted = {"route": "predict_model", "model": "iris_it", "version": "1", "status": "200"}

    def metrics_with_it() -> str | None:
        text: str = serving.http("GET", "/metrics")[1]
        return text if value(samples(text), "rayline_requests_total", **counted) else None

    # The ingress hands its counters to the Metrics deployment once a second.
    text = wait_until(metrics_with_it, 30, "the prediction in /metrics")
    assert "rayline_request_latency_seconds_bucket" in text
    series = serving.http("GET", "/v1/metrics/timeseries?minutes=5")[1]
    assert series["totals"]["requests"] > 0 and any(
        m["model"] == "iris_it" for m in series["by_model"]
    )
    cluster = serving.http("GET", "/v1/cluster")[1]
    assert cluster["totals"]["cpus_total"] == 2
    assert cluster["serve"]["applications"][0]["status"] == "RUNNING"
    assert any(j["kind"] == "train" for j in cluster["jobs"])


def test_promotion_under_load_switches_version_without_failed_requests(
    serving: Stack, two_versions: str
) -> None:
    name = two_versions
    promoted = serving.http("POST", f"/v1/models/{name}/aliases/champion", {"version": "1"})
    assert promoted[0] == 200  # v1 is champion while load starts

    def served_version() -> str:
        info = serving.http("GET", f"/model-info?model={name}@champion")[1]
        return str(info["models"][0].get("version"))

    wait_until(lambda: served_version() == "1", 60, f"{name}@champion to serve v1")
    stop = threading.Event()
    outcomes: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            status, body, _ = serving.http(
                "POST",
                f"/v1/models/{name}/predict",
                {"instances": [ROW]},
                key="predict",
                timeout=30,
            )
            with lock:
                outcomes[(status, body.get("version", "") if isinstance(body, dict) else "")] += 1

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: outcomes[(200, "1")] >= 10, 60, "predictions from v1 under load")
        status, body, _ = serving.http(
            "POST", f"/v1/models/{name}/aliases/champion", {"version": "2"}
        )
        assert status == 200, body
        assert body["previous_version"] == "1", body
        wait_until(lambda: outcomes[(200, "2")] >= 20, 60, "predictions from v2 under load")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert set(status for status, _ in outcomes) == {200}, outcomes
    # Each Ingress replica swaps on its own watcher poll; one that got no traffic may still
    # be loading v2 when the busy one answers.
    wait_until(lambda: served_version() == "2", 60, "/model-info to report v2")


def test_unknown_alias_is_404_and_bad_version_is_422(serving: Stack) -> None:
    assert (
        serving.http("POST", "/v1/models/iris_it/predict?alias=nope", {"instances": [ROW]})[0]
        == 404
    )
    assert serving.http("POST", "/v1/models/iris_it/aliases/champion", {"version": "99"})[0] == 404
    assert serving.http("POST", "/v1/models/iris_it/aliases/champion", {"version": "x"})[0] == 422


def test_jobs_routes_submit_follow_and_list(serving: Stack) -> None:
    spec = json.loads(
        json.dumps(
            {
                "name": "iris_ui",
                "dataset": {"source": "iris"},
                "split": {"cv_folds": 3},
                "search": {"num_samples": 2},
                "estimators": {"knn": {}},
                "ensemble": {"enabled": False},
            }
        )
    )
    status, body, _ = serving.http("POST", "/v1/jobs", {"spec": spec})
    assert status == 201, body
    job_id = body["job_id"]

    def finished() -> dict[str, Any] | None:
        detail: dict[str, Any] = serving.http("GET", f"/v1/jobs/{job_id}")[1]
        return detail if detail["status"] in ("SUCCEEDED", "FAILED", "STOPPED") else None

    detail = wait_until(finished, 180, f"job {job_id} to end")
    assert detail["status"] == "SUCCEEDED", detail
    assert detail["progress"]["trials_done"] == detail["progress"]["trials_total"] == 2
    assert len(detail["trials"]) == 2 and detail["result"]["model"] == "iris_ui"
    assert detail["mlflow_run_url"].startswith(serving.settings.tracking_uri)
    logs = serving.http("GET", f"/v1/jobs/{job_id}/logs?tail=50")[1]["logs"]
    assert "registered iris_ui version 1" in logs
    assert any(j["job_id"] == job_id for j in serving.http("GET", "/v1/jobs")[1]["jobs"])
    bad = serving.http("POST", "/v1/jobs", {"spec": {**spec, "estimators": {"nope": {}}}})
    assert bad[0] == 422 and "estimators.nope" in bad[1]["detail"]
