"""The Starlette app of the ingress: every `Endpoint` row wrapped in the same request flow
(inflight limit, auth, body, handler, error mapping, counting), built from a `Context`, so it
runs in process with fake handles as well as inside the Serve replica."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rayline.keys import Identity, KeyRing
from rayline.registry import Registry
from rayline.request_metrics import Delta
from rayline.settings import Settings
from rayline.state.access import AuditLog
from serve_app.http.auth import RateLimiter, authorize, identify
from serve_app.http.body import read_body
from serve_app.http.endpoint import Endpoint
from serve_app.http.errors import error, error_response
from serve_app.http.params import check_path, read_query
from serve_app.jobs import Jobs
from serve_app.routes import ENDPOINTS, PLAIN
from serve_app.routes.predict import PREDICTION_ID_HEADER
from serve_app.schemas import AppArgs


@dataclass
class Context:
    """What the handlers work with; the Ingress replica builds one, a test another."""

    args: AppArgs
    """Validated builder args: served models, body and row limits, inflight limit."""
    settings: Settings
    """Environment settings: tracking URI, dashboard URL, web UI and benchmark folders."""
    keys: KeyRing
    """The API keys this replica accepts; the Ingress swaps in a fresh ring every
    `rayline.keys.KEYS_REFRESH_S`."""
    registry: Registry
    """The MLflow registry (a test hands in a fake with the same methods)."""
    jobs: Jobs
    """Ray's job API (a test hands in a fake with the same methods)."""
    predictor: Any
    """This replica's models (`serve_app.predictor.Predictor`): `.predict(...)`, `.status(...)`."""
    metrics: Any
    """Metrics handle: `.ingest`, `.cluster`, `.timeseries`, `.prometheus`, `.schedules`
    (`.remote()`)."""
    audit: AuditLog | None = None
    """Where admin actions are recorded (the state database); None: nowhere."""
    limiter: RateLimiter = field(default_factory=RateLimiter)
    """The per-key rate limits' token buckets of this replica."""
    delta: Delta = field(default_factory=Delta)
    """Request counters since the last flush to the Metrics deployment."""
    inflight: int = 0
    """Requests this replica is answering now."""


log = logging.getLogger("ray.serve")

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(context: Context) -> Starlette:
    """Every row of `ENDPOINTS` through the request wrapper, one route per path taking any
    method (a method the path lacks gets its 405 there, whose Allow lists all the path has,
    rather than falling through to the web UI's catch-all); then the plain routes (the
    OpenAPI document and the web UI), whose catch-all comes last."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for e in ENDPOINTS:
        by_path.setdefault(e.path, {})[e.method] = e
    return Starlette(
        routes=[
            *(
                Route(path, _by_method(context, rows), methods=ANY_METHOD)
                for path, rows in by_path.items()
            ),
            *(Route(e.path, _plain(context, e), methods=[e.method]) for e in PLAIN),
        ]
    )


def _by_method(
    context: Context, rows: dict[str, Endpoint]
) -> Callable[[Request], Awaitable[Response]]:
    handlers = {method: _wrap(context, e) for method, e in rows.items()}
    allow = sorted({*rows, *(["HEAD"] if "GET" in rows else [])})
    key = next(iter(rows.values())).error_key

    async def dispatch(request: Request) -> Response:
        # HEAD is GET without a body (Starlette drops the body).
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            response = error(405, f"this path takes {', '.join(allow)}", key=key)
            response.headers["Allow"] = ", ".join(allow)
            return response
        return await handler(request)

    return dispatch


def _plain(context: Context, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def plain(request: Request) -> Response:
        result = await endpoint.handler(context, request)
        # Plain routes count nothing: of a (response, served) result only the response is sent.
        return result[0] if isinstance(result, tuple) else result

    return plain


def _wrap(context: Context, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    route = f"{endpoint.method} {endpoint.path}"

    async def wrapped(request: Request) -> Response:
        started = time.perf_counter()
        model, version, batch = "", "", None
        if context.inflight >= context.args.max_inflight:
            response: Response = error(
                429, "too many requests in flight; retry shortly", 1, endpoint.error_key
            )
            context.delta.add(endpoint.name, "", "", 429, 0.0, None)
            return response
        context.inflight += 1
        identity: Identity | None = None
        try:
            identity = authorize(request.headers.get("authorization"), endpoint.role, context.keys)
            context.limiter.check(identity)
            check_path(request)
            request.state.query = read_query(request, endpoint.query)
            if endpoint.body:
                body = await read_body(request, endpoint, context.args.max_body_bytes)
                result = await endpoint.handler(context, request, body)
            else:
                result = await endpoint.handler(context, request)
            if isinstance(result, tuple):
                response, (model, version, batch) = result
            else:
                response = result
        except Exception as exc:
            response = error_response(exc, route, endpoint.error_key, endpoint.invalid_status)
        finally:
            context.inflight -= 1
        if endpoint.audited:
            await _audit(context, request, endpoint, identity, response.status_code)
        prediction_id = getattr(request.state, "prediction_id", None)
        if prediction_id is not None and response.status_code < 400:
            response.headers[PREDICTION_ID_HEADER] = prediction_id
        # Read at the end: the flusher swaps `context.delta` for a fresh one meanwhile.
        context.delta.add(
            endpoint.name,
            model,
            version,
            response.status_code,
            time.perf_counter() - started,
            batch,
        )
        return response

    return wrapped


async def _audit(
    context: Context,
    request: Request,
    endpoint: Endpoint,
    identity: Identity | None,
    status: int,
) -> None:
    """Record an admin action (`Endpoint.audited`) before it is answered: who, what, on what,
    how it ended, and what the handler noted (`request.state.audit`). A request without a key
    the ring knows (401) names nobody and is not recorded; a write that fails is logged, and
    the action, done already, still answered."""
    if context.audit is None:
        return
    if identity is None:
        identity = identify(request.headers.get("authorization"), context.keys)
        if identity is None:
            return
    outcome = "ok" if status < 400 else "denied" if status in (403, 429) else "failed"
    detail = getattr(request.state, "audit", None)
    try:
        await asyncio.to_thread(
            context.audit.append,
            identity.id,
            endpoint.name,
            request.url.path,
            outcome,
            status,
            detail,
        )
    except Exception:
        log.exception("could not record %s %s in the audit log", endpoint.name, request.url.path)
