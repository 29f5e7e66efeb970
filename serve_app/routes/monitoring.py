"""Monitoring: drift of live traffic from each version's training reference, live quality from
the labels users send back (feedback), per served model.

The Metrics deployment holds the windows and the prediction log (`rayline.monitoring.monitor`);
these routes ask it. Every prediction answer carries its id in the `X-Prediction-Id` header;
feedback names that id (and the row of a multi-row request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from rayline.config import Strict
from serve_app.http.endpoint import Answer, Endpoint, Scalar
from serve_app.http.errors import HttpError
from serve_app.http.responses import JSONResponse

if TYPE_CHECKING:
    from serve_app.http.app import Context

FEEDBACK_RETRY_AFTER_S = 5
"""Retry-After (seconds) while the state database cannot take feedback."""
MAX_LABELS = 10_000
"""Labels one feedback request may carry."""
MAX_ROW = 2**31 - 1
"""The largest row index the prediction log stores (a 32-bit integer column)."""


# --- the contract ------------------------------------------------------------------------
class Label(Strict):
    prediction_id: str = Field(min_length=1, max_length=128)
    """The `X-Prediction-Id` of the prediction's answer."""
    row: int = Field(0, ge=0, le=MAX_ROW)
    """Which row of that request (0 for single-row requests)."""
    label: str | int | float | bool
    """The true class (classification) or value (regression)."""


class FeedbackRequest(Strict):
    """True labels of earlier predictions."""

    labels: list[Label] = Field(min_length=1, max_length=MAX_LABELS)


class FeedbackResult(Answer):
    received: int
    joined: int
    """Labels attached to a kept prediction."""
    unknown: int
    """Labels whose prediction id (and row) this model never answered, or that were not kept."""
    expired: int
    """Labels for predictions older than the model's retention (`retention_s`)."""


class ColumnDrift(Answer):
    name: str
    kind: Literal["numeric", "categorical"]
    method: Literal["psi", "wasserstein", "js", "ks", "chi2"]
    """The distance (psi, wasserstein, js) or, for small windows, the test (ks, chi2)."""
    score: float
    """The distance, or the test statistic."""
    threshold: float
    """Drifted above this distance, or below this p-value for a test."""
    p_value: float | None
    drifted: bool
    bins: list[str]
    """The bins of the reference: value ranges (numeric) or categories."""
    reference: list[float]
    """Share of the training rows in each bin."""
    live: list[float]
    """Share of the live window's rows in each bin."""


class Drift(Answer):
    verdict: Literal["drift", "no_drift", "insufficient_data", "no_reference"]
    """`insufficient_data` below `min_rows` live rows; `no_reference` for a model logged
    without a training profile (trained before monitoring existed)."""
    rows: int
    drifted_share: float
    """Share of the features that drifted."""
    features: list[ColumnDrift]
    """Drifted features first, then by distance."""
    prediction: ColumnDrift | None


class QualityPoint(Answer):
    t: float
    rows: int
    accuracy: float | None = None
    f1_macro: float | None = None
    rmse: float | None = None
    mae: float | None = None


class Quality(Answer):
    task: Literal["classification", "regression"]
    labelled: int
    """Labelled rows the live metrics are computed on (at most `quality_window_rows`)."""
    live: dict[str, float]
    training: dict[str, float]
    """The held-out test metrics recorded at training."""
    alarm: bool | None
    """None until `min_labels` rows are labelled."""
    drop: float | None
    """Accuracy points lost (classification) or RMSE gained as a share of the test RMSE."""
    max_drop: float
    min_labels: int
    series: list[QualityPoint]
    """Live quality over time, oldest first."""


class Window(Answer):
    rows: int
    since: float | None
    window_s: float
    min_rows: int


class VersionMonitoring(Answer):
    version: str
    window: Window
    drift: Drift
    quality: Quality
    feedback: dict[str, int]


class FeedbackCounts(Answer):
    joined: int
    unknown: int
    expired: int


class Monitoring(Answer):
    model: str
    config: dict[str, Scalar]
    """The model's monitoring settings (`args.models[].monitoring` in serve_config.yaml)."""
    versions: list[VersionMonitoring]
    """Versions with live rows in the window or labelled predictions, newest first."""
    feedback: FeedbackCounts
    dropped_rows: int
    """Predicted rows not kept for feedback (the prediction log was full or unavailable)."""


# --- handlers ------------------------------------------------------------------------------
async def monitoring(ctx: Context, request: Request) -> Response:
    name = request.path_params["name"]
    report: dict[str, Any] = await ctx.metrics.monitoring.remote(name)
    served = {m.name for m in ctx.args.models}
    # Any registered model can be asked for by name (it loads on first use); one that is
    # neither in serve_config.yaml nor has answered anything is most likely a typo.
    if not report["versions"] and name not in served:
        raise HttpError(
            404,
            f"no monitoring data for model '{name}': it is not in this application's models "
            f"({', '.join(sorted(served))}) and has answered no prediction",
        )
    return JSONResponse(report)


async def feedback(ctx: Context, request: Request, body: FeedbackRequest) -> Response:
    name = request.path_params["name"]
    items = [(item.prediction_id, item.row, item.label) for item in body.labels]
    counts: dict[str, int] | None = await ctx.metrics.feedback.remote(name, items)
    if counts is None:
        raise HttpError(
            503,
            "predictions are kept in the state database, which is not reachable yet; retry shortly",
            FEEDBACK_RETRY_AFTER_S,
        )
    return JSONResponse(counts)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/models/{name}/monitoring",
        monitoring,
        "predict",
        "Drift of live traffic from the training reference, and live quality from feedback",
        tag="monitoring",
        response=Monitoring,
    ),
    Endpoint(
        "POST",
        "/v1/models/{name}/feedback",
        feedback,
        "predict",
        "True labels of earlier predictions, by the X-Prediction-Id of their answers",
        FeedbackRequest,
        tag="monitoring",
        response=FeedbackResult,
    ),
)
