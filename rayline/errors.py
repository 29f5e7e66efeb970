"""Domain errors of scoring, each carrying the HTTP status a server answers it with.

The core raises these without knowing about HTTP; `serve_app.http.errors.error_response` is the
one place that turns them (and `RegistryError`) into responses, and the batch job prints their
`detail`. A `detail` names the field, column or row at fault and never echoes the input.
"""

from __future__ import annotations

MODEL_RETRY_AFTER_S = 5
"""Retry-After (seconds) for a model the registry cannot resolve right now (MLflow down)."""


class RaylineError(Exception):
    """An error a client caused or must wait out; `status` is its HTTP status."""

    status: int = 500
    """The HTTP status a server answers with."""
    retry_after: int | None = None
    """Seconds a client should wait before retrying (sent as Retry-After); None: do not."""

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequest(RaylineError):
    """A request names something in a form that cannot be right (a model id without @ or /)."""

    status = 400


class InvalidRows(RaylineError):
    """The rows cannot be scored whatever the model: none, too many, ragged or nested."""

    status = 422


class SignatureError(InvalidRows):
    """The rows do not fit the model's input signature; `column` (and `row`) say where."""

    def __init__(self, detail: str, column: str | None = None, row: int | None = None) -> None:
        super().__init__(detail)
        self.column = column
        """The offending column, if one column is at fault."""
        self.row = row
        """The offending row (0-based among the request's rows), if one row is at fault."""


class ModelNotFound(RaylineError):
    """No registered model answers to that name and alias or version."""

    status = 404


class ModelUnavailable(RaylineError):
    """The model exists but cannot answer now (loading failed, registry down): retry later."""

    status = 503
    retry_after = MODEL_RETRY_AFTER_S


class RegistryUnavailable(ModelUnavailable):
    """The model registry (MLflow) does not answer, so the model cannot be looked up: a wait
    that ends when MLflow is back, unlike a model that fails to load."""
