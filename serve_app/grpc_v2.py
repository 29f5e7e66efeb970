"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), answered by the
Ingress replica's methods of the same names (Ray Serve's gRPC proxy calls the method named as
the RPC; serve_config.yaml `grpc_options` registers the service).

Same models, batching, limits, API keys (`authorization: Bearer <key>` metadata) with their rate
limits, and request counters as HTTP: the tensors are `serve_app.open_inference`'s and
predictions go through `serve_app.routes.predict.predict_with_id`. A failure is a gRPC status
with the message HTTP would send (`STATUS_CODES` maps one to the other).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from rayline.errors import BadRequest
from rayline.keys import Role
from rayline.monitoring.live import new_prediction_id
from serve_app.http.auth import authorize
from serve_app.http.errors import HttpError, classify
from serve_app.open_inference import (
    DTYPES,
    EXTENSIONS,
    Tensor,
    available_outputs,
    binary_input,
    dtype_of,
    input_tensor,
    model_metadata,
    output_names,
    outputs_of,
    raw_bytes,
    rows_of,
    wants_proba,
)
from serve_app.routes.predict import PREDICTION_ID_HEADER, predict_with_id, status_of

try:
    from serve_app.protos import open_inference_grpc_pb2 as pb
except ImportError as exc:  # a checkout that skipped `make install`
    raise ImportError(
        "serve_app/protos/open_inference_grpc_pb2.py is missing: the gRPC stubs are generated "
        "at install; run `make install`"
    ) from exc

if TYPE_CHECKING:
    from serve_app.http.app import Context

STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.UNAVAILABLE,
}
"""HTTP status of an error → the gRPC status it is answered with (others: INTERNAL)."""
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""Datatype → the `InferTensorContents` field its typed values travel in."""

Handler = Callable[..., Awaitable[Any]]


async def serve_rpc(
    ctx: Context, rpc: str, handler: Handler, request: Any, grpc_context: Any, role: Role | None
) -> Any:
    """One RPC through the same steps as an HTTP request (inflight limit, API key, handler,
    error mapping, counting); `handler(ctx, request, grpc_context)` returns the response and
    what was served, (model, version) or None."""
    started = time.perf_counter()
    route = f"grpc_{rpc}"
    model, version, status = "", "", 200
    try:
        if ctx.inflight >= ctx.args.max_inflight:
            raise HttpError(429, "too many requests in flight; retry shortly", 1)
        ctx.inflight += 1
        try:
            metadata = dict(grpc_context.invocation_metadata() or ())
            ctx.limiter.check(authorize(metadata.get("authorization"), role, ctx.keys))
            response, served = await handler(ctx, request, grpc_context)
        finally:
            ctx.inflight -= 1
        if served is not None:
            model, version = served
    except Exception as exc:
        # The message HTTP would answer with, the status mapped: one place decides both.
        status, detail, _retry_after = classify(exc, f"gRPC {rpc}")
        grpc_context.set_code(STATUS_CODES.get(status, grpc.StatusCode.INTERNAL))
        grpc_context.set_details(detail)
        response = None
    ctx.delta.add(route, model, version, status, time.perf_counter() - started, None)
    return response


# --- the RPCs --------------------------------------------------------------------------------
async def server_live(ctx: Context, request: Any, grpc_context: Any) -> tuple[Any, None]:
    return pb.ServerLiveResponse(live=True), None


async def server_ready(ctx: Context, request: Any, grpc_context: Any) -> tuple[Any, None]:
    statuses = [await ctx.predictor.status(m.model_id) for m in ctx.args.models]
    return pb.ServerReadyResponse(ready=all(s["status"] == "ready" for s in statuses)), None


async def server_metadata(ctx: Context, request: Any, grpc_context: Any) -> tuple[Any, None]:
    answer = pb.ServerMetadataResponse(
        name="rayline", version=installed_version("rayline"), extensions=list(EXTENSIONS)
    )
    return answer, None


def _model_id(name: str, version: str) -> str:
    if not name:
        raise BadRequest("name: give the model's name")
    if not version:
        return f"{name}@champion"
    if not (version.isascii() and version.isdigit()):
        raise BadRequest(f"version {version[:32]!r}: versions are numbers")
    return f"{name}/{version}"


async def model_ready(ctx: Context, request: Any, grpc_context: Any) -> tuple[Any, None]:
    """Ready or not, never an error: a model that is not (yet) served answers ready=false."""
    status = await ctx.predictor.status(_model_id(request.name, request.version))
    return pb.ModelReadyResponse(ready=status["status"] == "ready"), None


async def model_metadata_rpc(
    ctx: Context, request: Any, grpc_context: Any
) -> tuple[Any, tuple[str, str]]:
    meta = model_metadata(await status_of(ctx, _model_id(request.name, request.version)))
    tensor = pb.ModelMetadataResponse.TensorMetadata
    answer = pb.ModelMetadataResponse(
        name=meta["name"],
        versions=meta["versions"],
        platform=meta["platform"],
        inputs=[tensor(**t) for t in meta["inputs"]],
        outputs=[tensor(**t) for t in meta["outputs"]],
    )
    return answer, (meta["name"], meta["versions"][0])


async def model_infer(ctx: Context, request: Any, grpc_context: Any) -> tuple[Any, tuple[str, str]]:
    rows = rows_of(input_tensors(request))
    requested = [o.name for o in request.outputs] or None
    want_proba = wants_proba(requested)
    offered = request.id or None
    pid = offered if offered and len(offered) <= 128 else new_prediction_id()
    model_id = _model_id(request.model_name, request.model_version)
    result = await predict_with_id(ctx, model_id, rows, want_proba, pid)
    names = output_names(requested, available_outputs(result["probabilities"] is not None))
    answer = pb.ModelInferResponse(
        model_name=result["model"], model_version=result["version"], id=request.id
    )
    raw = bool(request.raw_input_contents)  # answer in kind, as Triton's clients expect
    for tensor in outputs_of(result, names):
        output = answer.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        if raw:
            answer.raw_output_contents.append(raw_bytes(tensor))
        else:
            _fill(output.contents, tensor)
    grpc_context.set_trailing_metadata([(PREDICTION_ID_HEADER.lower(), pid)])
    return answer, (result["model"], result["version"])


# --- tensors ---------------------------------------------------------------------------------
def input_tensors(request: Any) -> list[Tensor]:
    """The inputs of a ModelInferRequest: all typed `contents`, or all `raw_input_contents`
    (one bytes entry per input, in order), as the protocol allows."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"raw_input_contents: {len(raw)} entries for {len(request.inputs)} inputs")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        shape = list(tensor.shape)
        parameters = _parameters(tensor.parameters)
        if raw:
            tensors.append(
                binary_input(tensor.name, tensor.datatype, shape, raw[index], parameters)
            )
            continue
        dtype_of(tensor.name, tensor.datatype)  # an unknown datatype: 400 naming the input
        values: list[Any] = list(getattr(tensor.contents, CONTENTS[tensor.datatype]))
        if tensor.datatype == "BYTES":
            try:
                values = [v.decode("utf-8") for v in values]
            except UnicodeDecodeError:
                raise BadRequest(f"input {tensor.name}: BYTES elements must be UTF-8") from None
        tensors.append(input_tensor(tensor.name, tensor.datatype, shape, values, parameters))
    return tensors


def _fill(contents: Any, tensor: Tensor) -> None:
    field = getattr(contents, CONTENTS[tensor.datatype])
    if DTYPES[tensor.datatype] is None:
        field.extend(str(v).encode() for v in tensor.values)
    else:
        field.extend(np.asarray(tensor.values).tolist())


def _parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """InferParameter map → plain values."""
    return {
        k: getattr(v, v.WhichOneof("parameter_choice") or "bool_param")
        for k, v in parameters.items()
    }
