"""The one mapping from an error to the JSON response a client sees.

Handlers raise `HttpError` (or let a `RegistryError` through); they never build error
responses themselves. Anything else is a bug: logged with its traceback, answered with a 500
that carries none.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from rayline.registry import RegistryError
from serve_app.schemas import HttpError

log = logging.getLogger("ray.serve")


def error(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def error_response(exc: Exception, route: str) -> JSONResponse:
    """The response for an exception a handler of `route` ("METHOD /path") raised."""
    if isinstance(exc, HttpError):
        return error(exc.status, exc.detail, exc.retry_after)
    if isinstance(exc, RegistryError):
        return error(exc.status, str(exc), 5 if exc.status == 503 else None)
    if isinstance(exc, ClientDisconnect):
        return error(499, "the client closed the request")  # nobody reads this
    log.error("unhandled error in %s", route, exc_info=exc)
    return error(500, "internal error; see the Ingress replica logs")
