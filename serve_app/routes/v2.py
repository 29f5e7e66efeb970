"""The Open Inference Protocol (KServe V2): health, model metadata and inference."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rayline.errors import InvalidRows
from rayline.registry import CHAMPION
from rayline.rows import Rows
from serve_app.http.endpoint import Answer, Endpoint, Result, Scalar
from serve_app.routes.predict import predict_rows, ready, served, status_of
from serve_app.schemas import V2Request

if TYPE_CHECKING:
    from serve_app.http.app import Context

V2_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "string": "BYTES",
    "boolean": "BOOL",
}
"""MLflow signature type → the V2 tensor datatype the metadata route reports."""
Datatype = Literal["FP64", "FP32", "INT64", "INT32", "BYTES", "BOOL"]


class V2Live(Answer):
    live: bool


class V2Ready(Answer):
    """Answered with 200 when every served model is ready, 503 otherwise."""

    ready: bool


class V2ModelReady(Answer):
    name: str
    ready: bool


class V2TensorMetadata(Answer):
    name: str
    datatype: Datatype
    shape: list[int]
    """-1 for a dimension of any size."""


class V2ModelMetadata(Answer):
    name: str
    versions: list[str]
    """The version the champion alias points at."""
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


class V2OutputTensor(Answer):
    name: Literal["predict", "predict_proba"]
    shape: list[int]
    datatype: Datatype
    data: list[Scalar]
    """Row-major, flattened."""


class V2InferenceResponse(Answer):
    model_name: str
    model_version: str
    id: str
    """The request's id; "" when it had none."""
    outputs: list[V2OutputTensor]


def parse_v2(body: V2Request) -> Rows:
    """One tensor of shape [n, k] (columns in signature order) or one [n] tensor per column."""
    if len(body.inputs) == 1 and len(body.inputs[0].shape) == 2:
        tensor = body.inputs[0]
        rows, width = tensor.shape
        if rows * width != len(tensor.data) or rows < 1 or width < 1:
            raise InvalidRows(f"input {tensor.name}: shape does not match its data length")
        flat = tensor.data
        return Rows(None, [flat[i * width : (i + 1) * width] for i in range(rows)])
    columns = {}
    for tensor in body.inputs:
        if math.prod(tensor.shape) != len(tensor.data):
            raise InvalidRows(f"input {tensor.name}: shape does not match its data length")
        columns[tensor.name] = tensor.data
    return Rows.from_columns(columns)


def _datatype(predictions: list[Any]) -> str:
    if predictions and isinstance(predictions[0], float):
        return "FP64"
    return "INT64" if predictions and isinstance(predictions[0], int) else "BYTES"


async def v2_infer(ctx: Context, request: Request, body: V2Request) -> Result:
    name = request.path_params["name"]
    result = await predict_rows(
        ctx, request, f"{name}@{CHAMPION}", parse_v2(body), True, body.id or None
    )
    predictions = result["predictions"]
    outputs = [
        {
            "name": "predict",
            "shape": [len(predictions)],
            "datatype": _datatype(predictions),
            "data": predictions,
        }
    ]
    if result["probabilities"] is not None:
        proba = result["probabilities"]
        outputs.append(
            {
                "name": "predict_proba",
                "shape": [len(proba), len(proba[0])],
                "datatype": "FP64",
                "data": [p for row in proba for p in row],
            }
        )
    answer = {
        "model_name": name,
        "model_version": result["version"],
        "id": body.id or "",
        "outputs": outputs,
    }
    return JSONResponse(answer), served(result, name)


async def v2_live(ctx: Context, request: Request) -> Response:
    return JSONResponse({"live": True})


async def v2_ready(ctx: Context, request: Request) -> Response:
    response = await ready(ctx, request)
    return JSONResponse({"ready": response.status_code == 200}, status_code=response.status_code)


async def v2_metadata(ctx: Context, request: Request) -> Response:
    name = request.path_params["name"]
    status = await status_of(ctx, f"{name}@{CHAMPION}")
    inputs = [
        {"name": c["name"], "datatype": V2_DATATYPES.get(c["type"], "BYTES"), "shape": [-1]}
        for c in status["inputs"]
    ]
    return JSONResponse(
        {
            "name": name,
            "versions": [status["version"]],
            "platform": "sklearn",
            "inputs": inputs,
            "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}],
        }
    )


async def v2_model_ready(ctx: Context, request: Request) -> Response:
    name = request.path_params["name"]
    await status_of(ctx, f"{name}@{CHAMPION}")
    return JSONResponse({"name": name, "ready": True})


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/v2/health/live", v2_live, None, "V2 liveness", tag="v2", response=V2Live),
    Endpoint(
        "GET",
        "/v2/health/ready",
        v2_ready,
        None,
        "V2 readiness",
        tag="v2",
        response=V2Ready,
        also=(503,),
    ),
    Endpoint(
        "GET",
        "/v2/models/{name}",
        v2_metadata,
        "predict",
        "V2 model metadata",
        tag="v2",
        response=V2ModelMetadata,
    ),
    Endpoint(
        "GET",
        "/v2/models/{name}/ready",
        v2_model_ready,
        "predict",
        "V2 model readiness",
        tag="v2",
        response=V2ModelReady,
    ),
    Endpoint(
        "POST",
        "/v2/models/{name}/infer",
        v2_infer,
        "predict",
        "V2 inference",
        V2Request,
        tag="v2",
        response=V2InferenceResponse,
    ),
)
