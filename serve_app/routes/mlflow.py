"""MLflow's scoring protocol (`mlflow models serve`), so MLflow's clients work unchanged: the
same content types (JSON, CSV, Parquet), request shapes and statuses (input it cannot score is
400), and the same bytes back (tests/integration/test_protocols.py compares the two servers)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from rayline.errors import BadRequest, InvalidRows
from rayline.rows import Rows
from serve_app.http.endpoint import CSV, JSON, PARQUET, Answer, Endpoint, Result, Scalar
from serve_app.routes.predict import predict_rows, served
from serve_app.schemas import MLFLOW_FORMATS, MlflowRequest

if TYPE_CHECKING:
    from serve_app.http.app import Context


class InvocationsResponse(Answer):
    predictions: list[Scalar]


def parse_mlflow(body: MlflowRequest) -> Rows:
    """Whichever of MLflow's formats the body uses, as `Rows`. `params` are refused: MLflow
    passes them only to a model logged with a params schema, and Rayline's are not (MLflow's
    server would drop them with a log line nobody sees)."""
    given = [k for k in MLFLOW_FORMATS if getattr(body, k) is not None]
    if len(given) != 1:
        raise InvalidRows(f"give exactly one of {', '.join(MLFLOW_FORMATS)}")
    if body.params:
        names = ", ".join(sorted(body.params)[:5])
        raise BadRequest(
            f"params ({names}): this model takes no inference parameters (it was logged "
            "without a params schema); send the data alone"
        )
    if body.dataframe_split is not None:
        return Rows(body.dataframe_split.columns, body.dataframe_split.data)
    if body.dataframe_records is not None:
        return Rows.from_records(body.dataframe_records)
    if isinstance(body.inputs, dict):
        return Rows.from_columns(body.inputs)
    return Rows.from_instances(list(body.instances or body.inputs or []))


async def invocations(ctx: Context, request: Request, body: Any) -> Result:
    rows = body if isinstance(body, Rows) else parse_mlflow(body)
    result = await predict_rows(ctx, request, ctx.args.default_model.model_id, rows, False)
    # json.dumps' default separators, as MLflow's server writes its answer.
    text = json.dumps({"predictions": result["predictions"]})
    return Response(text, media_type=JSON), served(result)


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
        (JSON, CSV, PARQUET),
        tag="mlflow",
        response=InvocationsResponse,
        invalid_status=400,
    ),
    Endpoint("GET", "/ping", ping, None, "MLflow scoring health", tag="mlflow"),
    Endpoint("GET", "/version", version, None, "MLflow scoring server version", tag="mlflow"),
)
