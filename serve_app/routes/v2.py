"""The Open Inference Protocol (KServe V2) over HTTP: health, server and model metadata,
inference, by alias (champion) or by version, in JSON or with the binary tensor data extension.

To the letter of https://github.com/kserve/open-inference-protocol: a body without
Content-Type is JSON, errors are `{"error": "..."}`. The tensors themselves are
`serve_app.open_inference`'s, shared with gRPC.
"""

from __future__ import annotations

import json
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from rayline.errors import BadRequest
from rayline.registry import CHAMPION
from serve_app.http.body import HEADER_LENGTH, Framed
from serve_app.http.endpoint import JSON, OCTET, Answer, Endpoint, Result, Scalar
from serve_app.http.responses import JSONResponse
from serve_app.open_inference import (
    EXTENSIONS,
    Datatype,
    Tensor,
    available_outputs,
    binary_input,
    input_tensor,
    json_data,
    model_metadata,
    output_names,
    outputs_of,
    raw_bytes,
    rows_of,
    wants_proba,
)
from serve_app.routes.predict import predict_rows, ready, served, status_of
from serve_app.schemas import V2Request

if TYPE_CHECKING:
    from serve_app.http.app import Context


class V2Live(Answer):
    live: bool


class V2Ready(Answer):
    """Answered with 200 when every served model is ready, 503 otherwise."""

    ready: bool


class V2Server(Answer):
    name: str
    version: str
    extensions: list[str]


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
    """The version the route names: the champion's, or the one in the path."""
    platform: str
    inputs: list[V2TensorMetadata]
    """One [N] tensor per signature column; a single [N, F] tensor in this order works too."""
    outputs: list[V2TensorMetadata]
    """Exactly what inference returns: `predict`, and `predict_proba` where the model has it."""


class V2OutputTensor(Answer):
    name: Literal["predict", "predict_proba"]
    shape: list[int]
    datatype: Datatype
    data: list[Scalar] | None = None
    """Row-major, flattened; absent when the output is sent as binary data."""
    parameters: dict[str, int] | None = None
    """`binary_data_size`: the output's bytes after the JSON header."""


class V2InferenceResponse(Answer):
    model_name: str
    model_version: str
    id: str | None = None
    """The request's id, when it had one."""
    outputs: list[V2OutputTensor]


def _model_id(request: Request) -> str:
    """`name/version` on a versioned route, else `name@champion`."""
    name = request.path_params["name"]
    version = request.path_params.get("version")
    # The request wrapper has checked the version's grammar (digits).
    return f"{name}@{CHAMPION}" if version is None else f"{name}/{version}"


def input_tensors(body: V2Request, data: bytes) -> list[Tensor]:
    """The request's inputs, each from JSON `data` or from its slice of the binary data."""
    tensors, offset = [], 0
    for tensor in body.inputs:
        parameters = tensor.parameters or {}
        size = parameters.get("binary_data_size")
        if size is None:
            if tensor.data is None:
                raise BadRequest(f"input {tensor.name}: give data, or binary_data_size")
            tensors.append(
                input_tensor(tensor.name, tensor.datatype, tensor.shape, tensor.data, parameters)
            )
            continue
        if tensor.data is not None:
            raise BadRequest(f"input {tensor.name}: give data or binary_data_size, not both")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"input {tensor.name}: binary_data_size must be a whole number")
        if offset + size > len(data):
            raise BadRequest(f"input {tensor.name}: binary_data_size runs past the body's end")
        raw = data[offset : offset + size]
        tensors.append(binary_input(tensor.name, tensor.datatype, tensor.shape, raw, parameters))
        offset += size
    if offset != len(data):
        raise BadRequest("the body holds binary data that no input's binary_data_size claims")
    return tensors


def _binary(body: V2Request) -> dict[str, bool]:
    """Output name → whether to send it as binary data: its own `binary_data`, else the
    request's `binary_data_output`."""
    default = bool((body.parameters or {}).get("binary_data_output", False))
    chosen = {
        o.name: bool((o.parameters or {}).get("binary_data", default)) for o in body.outputs or ()
    }
    return {name: chosen.get(name, default) for name in ("predict", "predict_proba")}


async def v2_infer(ctx: Context, request: Request, framed: Framed) -> Result:
    body: V2Request = framed.header
    rows = rows_of(input_tensors(body, framed.data))
    requested = None if body.outputs is None else [o.name for o in body.outputs]
    want_proba = wants_proba(requested)
    result = await predict_rows(ctx, request, _model_id(request), rows, want_proba, body.id)
    names = output_names(requested, available_outputs(result["probabilities"] is not None))
    binary = _binary(body)
    outputs, tail = [], []
    for tensor in outputs_of(result, names):
        output: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
        }
        if binary[tensor.name]:
            chunk = raw_bytes(tensor)
            output["parameters"] = {"binary_data_size": len(chunk)}
            tail.append(chunk)
        else:
            output["data"] = json_data(tensor)
        outputs.append(output)
    answer = {
        "model_name": result["model"],
        "model_version": result["version"],
        **({"id": body.id} if body.id is not None else {}),
        "outputs": outputs,
    }
    return _answer(answer, b"".join(tail)), served(result)


def _answer(answer: dict[str, Any], tail: bytes) -> Response:
    """JSON, or the JSON header followed by the outputs' bytes."""
    if not tail:
        return JSONResponse(answer)
    header = json.dumps(answer, separators=(",", ":")).encode()
    return Response(header + tail, media_type=OCTET, headers={HEADER_LENGTH: str(len(header))})


async def v2_live(ctx: Context, request: Request) -> Response:
    return JSONResponse({"live": True})


async def v2_ready(ctx: Context, request: Request) -> Response:
    response = await ready(ctx, request)
    return JSONResponse({"ready": response.status_code == 200}, status_code=response.status_code)


async def v2_server(ctx: Context, request: Request) -> Response:
    return JSONResponse(
        {"name": "rayline", "version": installed_version("rayline"), "extensions": list(EXTENSIONS)}
    )


async def v2_metadata(ctx: Context, request: Request) -> Response:
    return JSONResponse(model_metadata(await status_of(ctx, _model_id(request))))


async def v2_model_ready(ctx: Context, request: Request) -> Response:
    await status_of(ctx, _model_id(request))
    return JSONResponse({"name": request.path_params["name"], "ready": True})


async def v2_version_metadata(ctx: Context, request: Request) -> Response:
    return await v2_metadata(ctx, request)


async def v2_version_ready(ctx: Context, request: Request) -> Response:
    return await v2_model_ready(ctx, request)


async def v2_version_infer(ctx: Context, request: Request, framed: Framed) -> Result:
    return await v2_infer(ctx, request, framed)


def _v2(method: str, path: str, handler: Any, role: Any, summary: str, **more: Any) -> Endpoint:
    return Endpoint(method, path, handler, role, summary, tag="v2", error_key="error", **more)


_INFER = {
    "body": V2Request,
    "media": (JSON, OCTET),
    "untyped": JSON,
    "binary": True,
    "response": V2InferenceResponse,
}
ENDPOINTS: tuple[Endpoint, ...] = (
    _v2("GET", "/v2", v2_server, None, "V2 server metadata", response=V2Server),
    _v2("GET", "/v2/health/live", v2_live, None, "V2 liveness", response=V2Live),
    _v2(
        "GET", "/v2/health/ready", v2_ready, None, "V2 readiness", response=V2Ready, also=(503,)
    ),
    _v2(
        "GET", "/v2/models/{name}", v2_metadata, "predict", "V2 model metadata (champion)",
        response=V2ModelMetadata,
    ),
    _v2(
        "GET", "/v2/models/{name}/ready", v2_model_ready, "predict", "V2 model readiness",
        response=V2ModelReady,
    ),
    _v2("POST", "/v2/models/{name}/infer", v2_infer, "predict", "V2 inference", **_INFER),
    _v2(
        "GET", "/v2/models/{name}/versions/{version}", v2_version_metadata, "predict",
        "V2 model metadata of one version", response=V2ModelMetadata,
    ),
    _v2(
        "GET", "/v2/models/{name}/versions/{version}/ready", v2_version_ready, "predict",
        "V2 readiness of one version", response=V2ModelReady,
    ),
    _v2(
        "POST", "/v2/models/{name}/versions/{version}/infer", v2_version_infer, "predict",
        "V2 inference with one version", **_INFER,
    ),
)  # fmt: skip
