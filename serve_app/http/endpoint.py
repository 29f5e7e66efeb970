"""One row of the ingress's route table: it drives routing, auth, body limits and OpenAPI.

A row names the models of its contract: the request body, the query parameters and the
response. `serve_app.openapi` builds /openapi.json from them, and the web UI's API types are
generated from that document (`npm run gen:api` in web/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from rayline.keys import Role

JSON = "application/json"
CSV = "text/csv"
OCTET = "application/octet-stream"
PARQUET = "application/vnd.apache.parquet"

Served = tuple[str, str, int | None]
"""(model, version, batch size) of a prediction, for the request counters."""
Result = Response | tuple[Response, Served]
Handler = Callable[..., Awaitable[Result]]
"""`handler(ctx, request)`, or `handler(ctx, request, body)` when the row has a body model."""
Scalar = str | int | float | bool | None
"""One JSON value that is not a list or an object: a prediction, a class, a feature value."""


class Answer(BaseModel):
    """Base of the response models: what a handler's JSON body always holds, and nothing else.

    Handlers build their bodies as plain dicts; the route tests validate every answer against
    its row's model (tests/unit/routes/fakes.py), so the two cannot drift apart."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Query(BaseModel):
    """Base of the query models: each field is one optional query parameter and its bounds.
    The request wrapper validates the query string into the row's model (422 for a value out
    of bounds or a parameter the route does not read) and hands it over as
    `request.state.query`."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


@dataclass(frozen=True)
class Endpoint:
    """A route, the role it needs, and its contract: body, query parameters and response."""

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
    query: type[Query] | None = None
    """The query parameters, one field each; None: the route reads none."""
    response: type[Answer] | None = None
    """The JSON body of a success; None: the answer is text (text/plain), not JSON."""
    status: int = 200
    """The status of a success."""
    also: tuple[int, ...] = ()
    """Other statuses whose body is `response` rather than an error (/ready's 503)."""
    untyped: str | None = None
    """The media type of a body sent without Content-Type; None: such a body gets 415."""
    binary: bool = False
    """The body may carry bytes after its JSON header, whose length the
    `Inference-Header-Content-Length` header gives (V2 binary tensor data extension): the
    handler receives a `serve_app.http.body.Framed`."""
    error_key: str = "detail"
    """The key of an error's JSON body (`{"detail": ...}`; V2 clients read `{"error": ...}`)."""
    invalid_status: int = 422
    """The status of input the route cannot score (MLflow's scoring protocol answers 400)."""

    @property
    def audited(self) -> bool:
        """An admin action, recorded in the audit log: a change only an admin key may make."""
        return self.role == "admin" and self.method != "GET"

    @property
    def name(self) -> str:
        """The handler's name: the OpenAPI operationId and the metrics' `route` label."""
        return self.handler.__name__
