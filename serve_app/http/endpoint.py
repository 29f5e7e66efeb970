"""One row of the ingress's route table: it drives routing, auth, body limits and OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel
from starlette.responses import Response

from rayline.keys import Role

JSON = "application/json"
CSV = "text/csv"

Served = tuple[str, str, int | None]
"""(model, version, batch size) of a prediction, for the request counters."""
Result = Response | tuple[Response, Served]
Handler = Callable[..., Awaitable[Result]]
"""`handler(ctx, request)`, or `handler(ctx, request, body)` when the row has a body model."""


@dataclass(frozen=True)
class Endpoint:
    """A route, the role it needs, its body, and how OpenAPI describes it."""

    method: str
    path: str
    handler: Handler
    role: Role | None
    """Least role a key needs ("predict" or "admin"); None: open to anyone."""
    summary: str
    body: type[BaseModel] | None = None
    """The request body's model; the handler receives it validated (or CSV as `Rows`)."""
    media: tuple[str, ...] = (JSON,)
    tag: str = "predict"
    query: tuple[str, ...] = ()
    """Query parameters, described in OpenAPI by `serve_app.openapi.QUERY_SCHEMAS`."""

    @property
    def name(self) -> str:
        """The handler's name: the OpenAPI operationId and the metrics' `route` label."""
        return self.handler.__name__
