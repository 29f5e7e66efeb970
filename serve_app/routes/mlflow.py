"""MLflow's scoring protocol (`mlflow models serve`), so MLflow's clients work unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from serve_app.http.endpoint import CSV, JSON, Endpoint, Result
from serve_app.routes.predict import predict_rows, served
from serve_app.schemas import MlflowRequest, Rows, parse_mlflow

if TYPE_CHECKING:
    from serve_app.http.app import Context


async def invocations(ctx: Context, request: Request, body: Any) -> Result:
    rows = body if isinstance(body, Rows) else parse_mlflow(body)
    result = await predict_rows(ctx, ctx.args.default_model.model_id, rows, False)
    return JSONResponse({"predictions": result["predictions"]}), served(result)


async def ping(ctx: Context, request: Request) -> Response:
    return PlainTextResponse("\n")


async def version(ctx: Context, request: Request) -> Response:
    import mlflow

    return PlainTextResponse(mlflow.__version__)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/invocations",
        invocations,
        "predict",
        "MLflow scoring protocol",
        MlflowRequest,
        (JSON, CSV),
        tag="mlflow",
    ),
    Endpoint("GET", "/ping", ping, None, "MLflow scoring health", tag="mlflow"),
    Endpoint("GET", "/version", version, None, "MLflow scoring server version", tag="mlflow"),
)
