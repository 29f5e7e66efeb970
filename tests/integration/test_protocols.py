"""Standard clients against the real stack, unchanged but for the API key: the same requests
to a real `mlflow models serve` of the same model answered with the same status and bytes
(MLflow's scoring client itself: test_serving.py); the Open Inference Protocol's official
client (tritonclient) over HTTP, JSON and binary, and over gRPC through Ray Serve's gRPC port
(HAProxy in front of the Ingress replicas)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from bench.run_serving import mlflow_server
from rayline.settings import PROJECT_ROOT
from tests.stack import Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

MODEL = "iris_it"
SETOSA_VIRGINICA = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [dict(zip(COLUMNS, row, strict=True)) for row in SETOSA_VIRGINICA.tolist()]
JSON_TYPE = "application/json"
SPLIT = {"columns": COLUMNS, "data": SETOSA_VIRGINICA.tolist()}
BY_COLUMN = {c: SETOSA_VIRGINICA[:, i].tolist() for i, c in enumerate(COLUMNS)}
SAME_AS_MLFLOW: list[tuple[str, str | bytes, str]] = [
    ("dataframe_split", json.dumps({"dataframe_split": SPLIT}), JSON_TYPE),
    ("dataframe_records", json.dumps({"dataframe_records": ROWS}), JSON_TYPE),
    ("instances", json.dumps({"instances": ROWS}), JSON_TYPE),
    ("inputs", json.dumps({"inputs": BY_COLUMN}), JSON_TYPE),
    ("utf-8", json.dumps({"instances": ROWS}), "application/json; charset=utf-8"),
    ("csv", pd.DataFrame(ROWS).to_csv(index=False), "text/csv"),
    ("parquet", pd.DataFrame(ROWS).to_parquet(), "application/vnd.apache.parquet"),
    ("not json", "{", JSON_TYPE),
    ("two formats", json.dumps({"instances": ROWS, "dataframe_records": ROWS}), JSON_TYPE),
    ("no format", json.dumps({"rows": ROWS}), JSON_TYPE),
    ("missing column", json.dumps({"dataframe_records": [{COLUMNS[0]: 5.1}]}), JSON_TYPE),
    ("latin-1", json.dumps({"instances": ROWS}), "application/json; charset=latin-1"),
    ("format", json.dumps({"instances": ROWS}), "application/json; format=pandas-split"),
    ("xml", "<rows/>", "application/xml"),
]
"""(what, body, Content-Type): each sent to both servers."""


def _post(url: str, body: str | bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_invocations_answer_as_mlflow_models_serve_does(serving: Stack, tmp_path: Path) -> None:
    rayline = f"{serving.settings.serve_url}/invocations"
    auth = {"Authorization": f"Bearer {serving.predict_key}"}
    with mlflow_server(serving.settings, MODEL, tmp_path / "mlflow.log", workers=1) as port:
        mlflow_url = f"http://127.0.0.1:{port}/invocations"
        statuses = []
        for what, body, content_type in SAME_AS_MLFLOW:
            headers = {"Content-Type": content_type}
            theirs = _post(mlflow_url, body, headers)
            ours = _post(rayline, body, {**headers, **auth})
            assert ours[0] == theirs[0], (what, ours, theirs[1][:300])
            if theirs[0] == 200:
                assert ours[1] == theirs[1], what  # the same bytes
            statuses.append(ours[0])
    assert statuses == [200] * 7 + [400] * 4 + [415] * 3


@pytest.fixture
def client(serving: Stack) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(url=f"127.0.0.1:{serving.settings.serve_port}")


def test_the_v2_http_client_infers_in_json_and_binary(
    serving: Stack, client: httpclient.InferenceServerClient
) -> None:
    def auth() -> dict[str, str]:
        # A new dict each call: tritonclient writes Inference-Header-Content-Length into the
        # headers it is given, and a reused dict would send one call's length with the next.
        return {"Authorization": f"Bearer {serving.predict_key}"}

    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert client.is_model_ready(MODEL, headers=auth())
    assert client.is_model_ready(MODEL, "1", headers=auth())
    meta = client.get_model_metadata(MODEL, headers=auth())
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert meta["outputs"][0]["datatype"] == "INT64"

    # The client's defaults: binary inputs, binary outputs, no Content-Type.
    matrix = httpclient.InferInput("x", [2, 4], "FP32")
    matrix.set_data_from_numpy(SETOSA_VIRGINICA.astype(np.float32))
    result = client.infer(MODEL, [matrix], headers=auth(), request_id="http-1")
    assert result.get_response()["id"] == "http-1"
    assert result.as_numpy("predict").tolist() == [0, 2]
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1)

    # JSON both ways, one tensor per column as the metadata lists them, one output asked for.
    columns = []
    for index, column in enumerate(meta["inputs"]):
        tensor = httpclient.InferInput(column["name"], [2], column["datatype"])
        tensor.set_data_from_numpy(SETOSA_VIRGINICA[:, index].copy(), binary_data=False)
        columns.append(tensor)
    asked = [httpclient.InferRequestedOutput("predict_proba", binary_data=False)]
    result = client.infer(MODEL, columns, outputs=asked, model_version="1", headers=auth())
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_proba"]
    # Full precision: the same probabilities whichever way they travel.
    assert result.as_numpy("predict_proba").tolist() == proba.tolist()

    # Errors arrive as the client's exception with the server's message and status.
    with pytest.raises(InferenceServerException) as refused:
        client.get_model_metadata("nope", headers=auth())
    assert refused.value.status() == "404" and "nope" in refused.value.message()
    with pytest.raises(InferenceServerException) as unauthorized:
        client.infer(MODEL, [matrix])
    assert unauthorized.value.status() == "401"
    assert unauthorized.value.message().startswith("missing API key")


def test_the_v2_grpc_client_infers_through_the_grpc_port(serving: Stack) -> None:
    settings = serving.settings
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.triton_grpc_client",
         settings.grpc_target, serving.predict_key, MODEL],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen: dict[str, Any] = json.loads(done.stdout)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["server"]["name"] == "rayline"
    assert seen["server"]["extensions"] == ["binary_tensor_data"]
    metadata = seen["metadata"]
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
    assert metadata["outputs"][0]["datatype"] == "INT64"
    assert metadata["outputs"][1]["shape"] == ["-1", "3"]  # int64 as JSON strings, protobuf's way
    assert seen["versioned_metadata"]["versions"] == ["1"]
    infer = seen["infer"]
    assert infer["id"] == "grpc-1" and infer["version"] == "1"
    assert infer["predict"] == [0, 2]
    assert seen["columns"]["outputs"] == ["predict_proba"]
    assert np.allclose(seen["columns"]["predict_proba"], infer["predict_proba"])
    errors = seen["errors"]
    assert errors["no_key"] == {
        "status": "StatusCode.UNAUTHENTICATED",
        "message": "missing API key: send 'Authorization: Bearer <key>'",
    }
    assert errors["wrong_key"]["status"] == "StatusCode.UNAUTHENTICATED"
    assert errors["unknown_model"]["status"] == "StatusCode.NOT_FOUND"
    assert errors["unknown_output"] == {
        "status": "StatusCode.INVALID_ARGUMENT",
        "message": "output scores: this model's outputs are predict, predict_proba",
    }


def test_grpc_answers_carry_the_prediction_id_and_count_in_the_metrics(serving: Stack) -> None:
    from serve_app.protos import open_inference_grpc_pb2 as pb
    from serve_app.protos import open_inference_grpc_pb2_grpc as pb_grpc

    request = pb.ModelInferRequest(model_name=MODEL, id="typed-1")
    for index, name in enumerate(
        ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    ):
        tensor = request.inputs.add(name=name, datatype="FP64", shape=[1])
        tensor.contents.fp64_contents.append(float(SETOSA_VIRGINICA[0, index]))
    metadata = [("authorization", f"Bearer {serving.predict_key}")]
    with grpc.insecure_channel(serving.settings.grpc_target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        answer, call = stub.ModelInfer.with_call(request, metadata=metadata, timeout=30)
        # Typed contents in, typed contents out.
        assert [o.name for o in answer.outputs] == ["predict", "predict_proba"]
        assert list(answer.outputs[0].contents.int64_contents) == [0]
        assert len(answer.outputs[1].contents.fp64_contents) == 3
        assert ("x-prediction-id", "typed-1") in list(call.trailing_metadata())
        with pytest.raises(grpc.RpcError) as bad:
            stub.ModelInfer(
                pb.ModelInferRequest(model_name=MODEL, inputs=[request.inputs[0]]),
                metadata=metadata,
                timeout=30,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "sepal width (cm)" in (bad.value.details() or "")

    # Counted with the HTTP requests (each replica hands its counters over every second).
    def counted() -> bool:
        status, text, _ = serving.http("GET", "/metrics", key="predict")
        return status == 200 and 'route="grpc_ModelInfer"' in text

    wait_until(counted, 30, "gRPC inferences in /metrics")
