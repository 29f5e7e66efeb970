"""The one mapping from an error to the JSON response a client sees.

Handlers and the core raise `rayline.errors` types (each carries its status and Retry-After;
`HttpError` is the serving layer's own, for transport errors such as 401 or 415), or let a
`RegistryError` through; they never build error responses themselves. Anything else is a bug:
logged with its traceback, answered with a 500 that carries none.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import ClientDisconnect

from rayline.errors import MODEL_RETRY_AFTER_S, RaylineError
from rayline.registry import RegistryError
from serve_app.http.responses import JSONResponse

log = logging.getLogger("ray.serve")

REGISTRY_RETRY_AFTER_S = MODEL_RETRY_AFTER_S
"""Retry-After (seconds) when the MLflow registry does not answer."""


class HttpError(RaylineError):
    """An error of the HTTP layer (auth, body, limits, parameters) with its status chosen by
    the handler; `detail` never echoes the client's input."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:  # crosses Ray handles: keep the status
        return (type(self), (self.status, self.detail, self.retry_after))


def error(
    status: int, detail: str, retry_after: int | None = None, key: str = "detail"
) -> JSONResponse:
    """`{key: detail}` with `status`, Retry-After where given, WWW-Authenticate on a 401."""
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({key: detail}, status_code=status, headers=headers)


def classify(exc: Exception, route: str) -> tuple[int, str, int | None]:
    """(status, message, Retry-After) for an exception a handler of `route` raised; logs a
    bug's traceback. HTTP and gRPC answers both come from here."""
    if isinstance(exc, RaylineError):
        return exc.status, exc.detail, exc.retry_after
    if isinstance(exc, RegistryError):
        return exc.status, str(exc), REGISTRY_RETRY_AFTER_S if exc.status == 503 else None
    if isinstance(exc, ClientDisconnect):
        return 499, "the client closed the request", None  # nobody reads this
    log.error("unhandled error in %s", route, exc_info=exc)
    return 500, "internal error; see the Ingress replica logs", None


def error_response(
    exc: Exception, route: str, key: str = "detail", invalid_status: int = 422
) -> JSONResponse:
    """The response for an exception a handler of `route` ("METHOD /path") raised, its
    message under `key` (`Endpoint.error_key`), a 422 answered as `invalid_status`."""
    status, detail, retry_after = classify(exc, route)
    return error(invalid_status if status == 422 else status, detail, retry_after, key)
