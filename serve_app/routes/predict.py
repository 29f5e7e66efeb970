"""Rayline's own prediction protocol, liveness and readiness, and what the served models are.

The helpers here (`predict_rows`, `status_of`) are the one way every protocol asks the
predictor: MLflow and V2 routes only translate their bodies and answers.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from rayline.errors import MODEL_RETRY_AFTER_S
from rayline.estimators import Task
from rayline.monitoring.live import new_prediction_id
from rayline.rows import Rows
from serve_app.http.endpoint import CSV, JSON, Answer, Endpoint, Query, Result, Scalar, Served
from serve_app.http.errors import HttpError
from serve_app.http.params import ALIAS_PATTERN, check_alias, is_number, requested_model
from serve_app.http.responses import JSONResponse
from serve_app.schemas import PredictRequest

if TYPE_CHECKING:
    from serve_app.http.app import Context

PREDICTION_ID_HEADER = "X-Prediction-Id"
"""Every prediction's answer carries its id in this header; a caller may choose it."""
_PREDICTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
NOT_READY_RETRY_AFTER_S = MODEL_RETRY_AFTER_S
"""Retry-After (seconds) for a served model that is not ready (loading, or failed to load)."""


# --- the contract: query and response models --------------------------------------------
class ModelRef(Query):
    """Which version of the model in the path: by alias, or by version number."""

    # The patterns document the grammar; the validators enforce it with messages that say it.
    alias: str = Field("champion", json_schema_extra={"pattern": f"^{ALIAS_PATTERN}$"})
    """The alias to use (ignored when `version` is given)."""
    version: str | None = Field(None, json_schema_extra={"pattern": "^[0-9]{1,9}$"}, examples=["1"])
    """A version number; wins over `alias`."""

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        return check_alias(alias)

    @field_validator("version")
    @classmethod
    def _version(cls, version: str | None) -> str | None:
        if version is not None and not (is_number(version) and len(version) <= 9):
            raise ValueError("must be a number")
        return version


class ModelInfoQuery(Query):
    model: str | None = Field(
        None, pattern="^[A-Za-z0-9_-]{1,64}[@/][A-Za-z0-9_-]{1,64}$", examples=["iris@champion"]
    )
    """One model, `name@alias` or `name/version`, instead of every served model."""


class Health(Answer):
    status: Literal["ok"]


class ReadyModel(Answer):
    name: str
    alias: str
    """The alias (or version) it is served by."""
    version: str | None
    """The version served; None when it failed to load."""
    status: Literal["ready", "failed"]
    error: str | None
    """Why it failed to load, or why the last swap to a new version failed."""


class Readiness(Answer):
    """Answered with 200 when every served model is ready, 503 otherwise."""

    ready: bool
    models: list[ReadyModel]


class InputColumn(Answer):
    name: str
    type: str
    """The MLflow signature type: double, float, long, integer, boolean, string..."""
    required: bool


class ModelSchema(Answer):
    """What a client needs to call a served version."""

    name: str
    alias: str
    """The alias or version asked for."""
    version: str
    task: Task
    inputs: list[InputColumn]
    input_example: dict[str, Scalar] | None
    """The first row of the input example logged with the model."""
    classes: list[str | int | float | bool] | None
    """The class labels of a classifier, in the order of `probabilities`."""
    probabilities: bool
    """Whether predictions can return probabilities (the model has predict_proba)."""


class ServedModelInfo(ModelSchema):
    model_id: str
    run_id: str | None
    loaded_at: float
    status: Literal["ready"]
    last_error: str | None
    """Why the last swap to a new version failed (the previous version kept serving)."""
    checked_at: float | None
    """When this replica's watcher last asked the registry where the alias points (Unix time)."""


class FailedModelInfo(Answer):
    model_id: str
    name: str
    alias: str
    status: Literal["failed"]
    error: str
    http_status: int
    """The status a prediction with this model gets."""


class ModelInfo(Answer):
    default_model: str
    """The model `/predict` and `/invocations` use, `name@alias`."""
    models: list[Annotated[ServedModelInfo | FailedModelInfo, Field(discriminator="status")]]


class PredictResponse(Answer):
    model: str
    alias: str
    version: str
    predictions: list[Scalar]
    probabilities: list[list[float]] | None
    """One row per prediction, columns in the order of `classes`; None when not asked for or
    the model has no predict_proba."""
    classes: list[str | int | float | bool] | None


def parse_predict(body: PredictRequest) -> Rows:
    """Rayline's own body: records keyed by column, or lists in the signature's order."""
    return Rows.from_instances(list(body.instances))


def prediction_id(request: Request, offered: str | None = None) -> str:
    """The id a prediction answers under: the caller's `X-Prediction-Id` header, else an id
    the body offered (V2's `id`, where it fits the header's grammar), else a new one."""
    given = request.headers.get(PREDICTION_ID_HEADER)
    if given is not None:
        if not _PREDICTION_ID.fullmatch(given):
            raise HttpError(
                400, f"{PREDICTION_ID_HEADER}: 1 to 128 letters, digits, '.', '_', ':' or '-'"
            )
        return given
    if offered is not None and _PREDICTION_ID.fullmatch(offered):
        return offered
    return new_prediction_id()


async def predict_rows(
    ctx: Context,
    request: Request,
    model_id: str,
    rows: Rows,
    want_proba: bool,
    offered_id: str | None = None,
) -> dict[str, Any]:
    """`predict_with_id` under the request's prediction id (`prediction_id`), which goes in
    `request.state` for the request wrapper to send as the `X-Prediction-Id` header."""
    pid = prediction_id(request, offered_id)
    result = await predict_with_id(ctx, model_id, rows, want_proba, pid)
    request.state.prediction_id = pid
    return result


async def predict_with_id(
    ctx: Context, model_id: str, rows: Rows, want_proba: bool, pid: str
) -> dict[str, Any]:
    """This replica's predictor's answer for `rows` (its errors raise `RaylineError`s); the
    predicted rows are kept under `pid` for feedback. Every protocol predicts through here."""
    result: dict[str, Any] = await ctx.predictor.predict(
        model_id, rows.check(ctx.args.max_rows), want_proba
    )
    name = result["model"]
    if name not in ctx.predictor.unmonitored:
        ctx.predictor.tap.keep((name, result["version"]), pid, result["predictions"], time.time())
    return result


def served(result: dict[str, Any], model: str | None = None) -> Served:
    """What the counters record of a prediction; takes the batch size out of `result`."""
    return (model or result["model"], result["version"], result.pop("batch_size", None))


async def statuses(ctx: Context) -> list[dict[str, Any]]:
    """The status of every served model (loading it where needed)."""
    return list(await asyncio.gather(*(ctx.predictor.status(m.model_id) for m in ctx.args.models)))


async def status_of(ctx: Context, model_id: str) -> dict[str, Any]:
    """The status of a ready model; the predictor's error (503 with Retry-After) otherwise."""
    status: dict[str, Any] = await ctx.predictor.status(model_id)
    if status["status"] != "ready":
        code = status.get("http_status", 503)
        raise HttpError(code, status["error"], NOT_READY_RETRY_AFTER_S if code == 503 else None)
    return status


async def _rayline_predict(ctx: Context, request: Request, model_id: str, body: Any) -> Result:
    if isinstance(body, Rows):
        rows, proba = body, True
    else:
        rows, proba = parse_predict(body), body.return_proba
    result = await predict_rows(ctx, request, model_id, rows, proba)
    meta = served(result)
    return JSONResponse(result), meta


async def predict_default(ctx: Context, request: Request, body: Any) -> Result:
    return await _rayline_predict(ctx, request, ctx.args.default_model.model_id, body)


async def predict_model(ctx: Context, request: Request, body: Any) -> Result:
    model_id = requested_model(request, request.path_params["name"])
    return await _rayline_predict(ctx, request, model_id, body)


async def health(ctx: Context, request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def ready(ctx: Context, request: Request) -> Response:
    models = await statuses(ctx)
    all_ready = all(m["status"] == "ready" for m in models)
    summary = [
        {
            "name": m["name"],
            "alias": m["alias"],
            "version": m.get("version"),
            "status": m["status"],
            "error": m.get("error") or m.get("last_error"),
        }
        for m in models
    ]
    return JSONResponse(
        {"ready": all_ready, "models": summary}, status_code=200 if all_ready else 503
    )


async def model_info(ctx: Context, request: Request) -> Response:
    wanted = request.state.query.model
    if wanted is None:
        models = await statuses(ctx)
    else:  # name@alias or name/version, as the query's pattern says
        models = [await ctx.predictor.status(wanted)]
    return JSONResponse({"default_model": ctx.args.default_model.model_id, "models": models})


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/health", health, None, "Liveness", tag="health", response=Health),
    Endpoint(
        "GET",
        "/ready",
        ready,
        None,
        "Readiness: every served model loaded",
        tag="health",
        response=Readiness,
        also=(503,),
    ),
    Endpoint(
        "GET",
        "/model-info",
        model_info,
        "predict",
        "Served models (or ?model=name@alias): version, inputs, last swap error",
        query=ModelInfoQuery,
        response=ModelInfo,
    ),
    Endpoint(
        "POST",
        "/predict",
        predict_default,
        "predict",
        "Predict with the default model",
        PredictRequest,
        (JSON, CSV),
        response=PredictResponse,
    ),
    Endpoint(
        "POST",
        "/v1/models/{name}/predict",
        predict_model,
        "predict",
        "Predict with a model by alias (?alias=) or version (?version=)",
        PredictRequest,
        (JSON, CSV),
        query=ModelRef,
        response=PredictResponse,
    ),
)
