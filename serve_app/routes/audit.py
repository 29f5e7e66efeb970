"""The audit trail: every admin action (`Endpoint.audited`: promotions, alias changes, job
submits and stops, schedule changes) and every key change of the stack CLI, newest first, from
the state database (`rayline.state.access.AuditLog`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from serve_app.http.endpoint import Answer, Endpoint, Query
from serve_app.http.errors import HttpError
from serve_app.http.responses import JSONResponse

if TYPE_CHECKING:
    from serve_app.http.app import Context

MAX_PAGE = 200
MAX_ID = 2**31 - 1
"""The largest entry id: PostgreSQL's INTEGER (a larger `before` is a 422, not a 500)."""


class AuditQuery(Query):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    """How many entries."""
    before: int | None = Field(None, ge=1, le=MAX_ID, examples=[100])
    """Entries older than this entry id: the previous page's `next_before`."""
    action: str | None = Field(None, max_length=64, examples=["set_alias"])
    """Only this action, e.g. set_alias, submit_job, keys_revoke."""
    key_id: str | None = Field(None, max_length=16, examples=["3f9a1c0b2d4e"])
    """Only what this key did (its id, as `python -m rayline.stack keys list` shows it)."""
    outcome: Literal["ok", "denied", "failed"] | None = Field(None, examples=["ok"])
    since: float | None = Field(None, ge=0, examples=[1_700_000_000.0])
    """Only entries at or after this time (epoch seconds)."""


class AuditEntry(Answer):
    id: int
    time: float
    """Epoch seconds (UTC)."""
    key_id: str | None
    """The API key's id (never the key), or `cli:<user>` for the stack CLI."""
    action: str
    target: str
    """The path acted on, or the key id a key change concerns."""
    outcome: Literal["ok", "denied", "failed"]
    status: int | None
    """The HTTP status answered (None for the CLI)."""
    detail: str | None


class AuditPage(Answer):
    entries: list[AuditEntry]
    """Newest first."""
    next_before: int | None
    """Pass as `before` for the next page; None when this page is not full (the last one)."""


async def audit_log(ctx: Context, request: Request) -> Response:
    if ctx.audit is None:
        raise HttpError(503, "this application keeps no audit log")
    query: AuditQuery = request.state.query
    entries = await asyncio.to_thread(ctx.audit.read, **query.model_dump())
    more = len(entries) == query.limit
    return JSONResponse(
        {
            "entries": [e.as_dict() for e in entries],
            "next_before": entries[-1].id if more else None,
        }
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/audit",
        audit_log,
        "admin",
        "Admin actions, newest first",
        tag="platform",
        query=AuditQuery,
        response=AuditPage,
    ),
)
