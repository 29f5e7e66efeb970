"""The Open Inference Protocol (KServe V2) over HTTP in process: health and server metadata,
model metadata that describes exactly what inference answers, inference by alias and by
version, JSON and binary tensors both ways, outputs chosen, datatypes checked, and every error
as V2's `{"error": ...}`. The tensor helpers without HTTP are in tests/unit/test_open_inference.py;
a real V2 client against a real stack in tests/integration/test_protocols.py."""

from __future__ import annotations

import json
import struct
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from rayline.errors import ModelUnavailable
from rayline.registry import LoadedModel
from serve_app.http.app import Context
from tests.unit.routes.fakes import COLUMNS, PREDICT, SETOSA, VIRGINICA, covers

INFER = "/v2/models/iris/infer"


def _columns(*rows: dict[str, float], datatype: str = "FP64") -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": datatype, "data": [r[c] for r in rows]}
            for c in COLUMNS
        ]
    }


def _outputs(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in answer["outputs"]}


def _binary_answer(response: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The JSON header of a binary answer and each binary output's bytes, as a client splits
    them (`Inference-Header-Content-Length`, then `binary_data_size` in output order)."""
    size = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.content[:size])
    chunks, offset = {}, size
    for output in header["outputs"]:
        length = (output.get("parameters") or {}).get("binary_data_size")
        if length is not None:
            chunks[output["name"]] = response.content[offset : offset + length]
            offset += length
    assert offset == len(response.content)
    return header, chunks


@covers("GET /v2/health/live", "GET /v2/health/ready", "GET /v2")
def test_health_and_server_metadata(ctx: Context, client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json() == {
        "name": "rayline",
        "version": version("rayline"),
        "extensions": ["binary_tensor_data"],
    }
    ctx.predictor.models["iris@champion"] = ModelUnavailable("loading", retry_after=10)
    response = client.get("/v2/health/ready")
    assert (response.status_code, response.json()) == (503, {"ready": False})


@covers(
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "GET /v2/models/{name}/versions/{version}",
    "GET /v2/models/{name}/versions/{version}/ready",
)
def test_metadata_describes_what_inference_answers(ctx: Context, client: TestClient) -> None:
    meta = client.get("/v2/models/iris", headers=PREDICT).json()
    assert meta == {
        "name": "iris",
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": c, "datatype": "FP64", "shape": [-1]} for c in COLUMNS],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    answer = client.post(INFER, json=_columns(SETOSA), headers=PREDICT).json()
    described = {o["name"]: o for o in meta["outputs"]}
    for output in answer["outputs"]:
        assert output["datatype"] == described[output["name"]]["datatype"]
        assert len(output["shape"]) == len(described[output["name"]]["shape"])
    assert client.get("/v2/models/iris/versions/1", headers=PREDICT).json() == meta
    ready = client.get("/v2/models/iris/versions/1/ready", headers=PREDICT)
    assert ready.json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/ready", headers=PREDICT).json()["ready"] is True
    # A model without predict_proba (the typed model's estimator) lists `predict` only.
    typed = client.get("/v2/models/typed", headers=PREDICT).json()
    assert [o["name"] for o in typed["outputs"]] == ["predict"]
    assert {i["name"]: i["datatype"] for i in typed["inputs"]} == {
        "code": "BYTES",
        "flag": "BOOL",
        "count": "INT64",
        "score": "FP64",
    }

    missing = client.get("/v2/models/nope", headers=PREDICT)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    unknown_version = client.get("/v2/models/iris/versions/7/ready", headers=PREDICT)
    assert unknown_version.status_code == 404, unknown_version.text
    not_a_version = client.get("/v2/models/iris/versions/latest", headers=PREDICT)
    assert not_a_version.status_code == 422
    assert not_a_version.json() == {"error": "path parameter version: must match ^[0-9]{1,9}$"}
    ctx.predictor.models["iris@champion"] = ModelUnavailable("loading", retry_after=10)
    loading = client.get("/v2/models/iris/ready", headers=PREDICT)
    assert (loading.status_code, loading.headers["Retry-After"]) == (503, "5")
    assert "error" in loading.json()


@covers("POST /v2/models/{name}/infer", "POST /v2/models/{name}/versions/{version}/infer")
def test_infer_by_column_by_matrix_and_by_version(ctx: Context, client: TestClient) -> None:
    # A body without Content-Type is JSON, as V2 clients send it.
    raw = json.dumps({"id": "r1", **_columns(SETOSA, VIRGINICA)}).encode()
    response = client.post(INFER, content=raw, headers=PREDICT)
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("iris", "1", "r1")
    outputs = _outputs(body)
    assert outputs["predict"] == {
        "name": "predict",
        "shape": [2],
        "datatype": "INT64",
        "data": [0, 2],
    }
    # Probabilities at full precision: exactly the model's predict_proba.
    model = ctx.predictor.models["iris@champion"]
    assert isinstance(model, LoadedModel)
    expected = model.model.predict_proba(pd.DataFrame([SETOSA, VIRGINICA]))
    assert outputs["predict_proba"]["shape"] == [2, 3]
    assert outputs["predict_proba"]["data"] == expected.reshape(-1).tolist()
    assert any(p < 1e-4 for p in outputs["predict_proba"]["data"])  # 6 decimals would lose it

    # One [N, F] tensor in signature order; nested data as the spec allows; no id, none back.
    matrix = [list(SETOSA.values()), list(VIRGINICA.values())]
    tensor = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": matrix}]}
    answer = client.post(INFER, json=tensor, headers=PREDICT).json()
    assert _outputs(answer)["predict"]["data"] == [0, 2] and "id" not in answer
    versioned = client.post("/v2/models/iris/versions/1/infer", json=tensor, headers=PREDICT)
    assert versioned.json()["model_version"] == "1"
    assert ctx.predictor.calls[-1][0] == "iris/1"


@covers("POST /v2/models/{name}/infer")
def test_requested_outputs_and_checked_datatypes(client: TestClient) -> None:
    only = {**_columns(SETOSA), "outputs": [{"name": "predict_proba"}]}
    answer = client.post(INFER, json=only, headers=PREDICT).json()
    assert [o["name"] for o in answer["outputs"]] == ["predict_proba"]
    unknown = client.post(
        INFER, json={**_columns(SETOSA), "outputs": [{"name": "scores"}]}, headers=PREDICT
    )
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": "output scores: this model's outputs are predict, predict_proba"
    }
    no_proba = {
        "inputs": [
            {"name": "code", "shape": [1], "datatype": "BYTES", "data": ["007"]},
            {"name": "flag", "shape": [1], "datatype": "BOOL", "data": [True]},
            {"name": "count", "shape": [1], "datatype": "INT64", "data": [3]},
            {"name": "score", "shape": [1], "datatype": "FP64", "data": [2.5]},
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    refused = client.post("/v2/models/typed/infer", json=no_proba, headers=PREDICT)
    assert refused.status_code == 400 and refused.json()["error"].endswith("outputs are predict")

    cases = [
        ("INT64", [5.1], 422, "input sepal_length_cm: datatype INT64 expects integers"),
        ("BOOL", [1], 422, "input sepal_length_cm: datatype BOOL expects booleans"),
        ("UINT8", [300], 422, "input sepal_length_cm: datatype UINT8 expects integers"),
        ("BYTES", [5.1], 422, "input sepal_length_cm: datatype BYTES expects strings"),
        ("FP64", ["5.1"], 422, "input sepal_length_cm: datatype FP64 expects numbers"),
        ("DOUBLE", [5.1], 400, "input sepal_length_cm: datatype must be one of BOOL"),
    ]
    for datatype, data, status, message in cases:
        body = _columns(SETOSA)
        body["inputs"][0].update(datatype=datatype, data=data)
        response = client.post(INFER, json=body, headers=PREDICT)
        assert response.status_code == status, (datatype, response.text)
        assert response.json()["error"].startswith(message), response.json()
    short = _columns(SETOSA)
    short["inputs"][0]["shape"] = [2]
    response = client.post(INFER, json=short, headers=PREDICT)
    assert response.status_code == 400
    assert response.json() == {"error": "input sepal_length_cm: shape [2] needs 2 values, got 1"}


@covers("POST /v2/models/{name}/infer")
def test_binary_tensors_in_and_out(client: TestClient) -> None:
    values = np.array([list(SETOSA.values()), list(VIRGINICA.values())], dtype="<f4")
    header = {
        "inputs": [
            {
                "name": "x",
                "shape": [2, 4],
                "datatype": "FP32",
                "parameters": {"binary_data_size": values.nbytes},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    head = json.dumps(header).encode()
    headers = {**PREDICT, "Inference-Header-Content-Length": str(len(head))}
    response = client.post(INFER, content=head + values.tobytes(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    answer, chunks = _binary_answer(response)
    outputs = _outputs(answer)
    assert outputs["predict"]["parameters"] == {"binary_data_size": 16}
    assert "data" not in outputs["predict"]
    assert np.frombuffer(chunks["predict"], dtype="<i8").tolist() == [0, 2]
    proba = np.frombuffer(chunks["predict_proba"], dtype="<f8").reshape(
        outputs["predict_proba"]["shape"]
    )
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1)

    # Per output: `binary_data` wins over the request's default; JSON for the other.
    header["outputs"] = [
        {"name": "predict", "parameters": {"binary_data": False}},
        {"name": "predict_proba"},
    ]
    head = json.dumps(header).encode()
    headers = {**PREDICT, "Inference-Header-Content-Length": str(len(head))}
    answer, chunks = _binary_answer(
        client.post(INFER, content=head + values.tobytes(), headers=headers)
    )
    assert _outputs(answer)["predict"]["data"] == [0, 2] and list(chunks) == ["predict_proba"]

    # BYTES go length-prefixed; a JSON answer when no output asks for binary.
    code = struct.pack("<I", 3) + b"007"
    typed = {
        "inputs": [
            {
                "name": "code",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(code)},
            },
            {"name": "flag", "shape": [1], "datatype": "BOOL", "data": [False]},
            {"name": "count", "shape": [1], "datatype": "INT64", "data": [3]},
            {"name": "score", "shape": [1], "datatype": "FP64", "data": [2.5]},
        ]
    }
    head = json.dumps(typed).encode()
    headers = {**PREDICT, "Inference-Header-Content-Length": str(len(head))}
    plain = client.post("/v2/models/typed/infer", content=head + code, headers=headers)
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("size", "tail", "message"),
    [
        (64, 32, "input x: binary_data_size runs past the body's end"),
        (32, 48, "the body holds binary data that no input's binary_data_size claims"),
        (12, 12, "input x: shape [2, 4] of FP32 needs 32 bytes, got 12"),
    ],
)
@covers("POST /v2/models/{name}/infer")
def test_binary_sizes_that_do_not_add_up_are_refused(
    client: TestClient, size: int, tail: int, message: str
) -> None:
    header = {
        "inputs": [
            {
                "name": "x",
                "shape": [2, 4],
                "datatype": "FP32",
                "parameters": {"binary_data_size": size},
            }
        ]
    }
    head = json.dumps(header).encode()
    headers = {**PREDICT, "Inference-Header-Content-Length": str(len(head))}
    response = client.post(INFER, content=head + b"\0" * tail, headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": message})


@covers("POST /v2/models/{name}/infer", "GET /v2/models/{name}")
def test_every_v2_error_is_an_error_object(client: TestClient) -> None:
    body = json.dumps(_columns(SETOSA))
    no_key = client.post(INFER, content=body)
    assert no_key.status_code == 401 and list(no_key.json()) == ["error"]
    as_csv = client.post(INFER, content=body, headers={**PREDICT, "Content-Type": "text/csv"})
    assert as_csv.status_code == 415
    assert as_csv.json() == {
        "error": "send the body as application/json or application/octet-stream"
    }
    broken = client.post(INFER, content=b"{", headers=PREDICT)
    assert broken.json() == {"error": "body is not valid JSON"}
    bad_length = client.post(
        INFER, content=body, headers={**PREDICT, "Inference-Header-Content-Length": "99999"}
    )
    assert (
        bad_length.status_code == 400
        and "Inference-Header-Content-Length" in bad_length.json()["error"]
    )
    empty = client.post(INFER, json={"inputs": []}, headers=PREDICT)
    assert empty.status_code == 422 and empty.json()["error"].startswith("invalid request: inputs")
    assert client.get(
        "/v2/models/nope", headers={"Authorization": "Bearer wrong"}
    ).json().keys() == {"error"}
