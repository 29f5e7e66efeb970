"""The OpenAPI document and the built web UI: plain routes, open, not counted, not documented."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from serve_app.http.endpoint import Endpoint
from serve_app.http.errors import error
from serve_app.http.responses import JSONResponse
from serve_app.openapi import openapi_document

if TYPE_CHECKING:
    from serve_app.http.app import Context


async def openapi(ctx: Context, request: Request) -> Response:
    from serve_app.routes import ENDPOINTS  # the package imports this module first

    return JSONResponse(openapi_document(ENDPOINTS))


async def static(ctx: Context, request: Request) -> Response:
    if request.path_params["path"].startswith(("v1/", "v2/")):
        return error(404, "no such API route; see /openapi.json")
    dist = ctx.settings.web_dist.resolve()
    index = dist / "index.html"
    if not index.exists():
        return error(404, "the web UI is not built: run `make web` (or `make demo`)")
    wanted = (dist / request.path_params["path"]).resolve()
    if wanted.is_file() and wanted.is_relative_to(dist):
        immutable = wanted.parent.name == "assets"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return FileResponse(wanted, headers={"Cache-Control": cache})
    if Path(request.path_params["path"]).suffix:  # a missing file, not an app route
        return error(404, "not found")
    return FileResponse(index, headers={"Cache-Control": "no-cache"})


PLAIN: tuple[Endpoint, ...] = (
    Endpoint("GET", "/openapi.json", openapi, None, "This OpenAPI document", tag="meta"),
    # Last: it answers every GET no other route takes, with the UI's index.html.
    Endpoint("GET", "/{path:path}", static, None, "Web UI files", tag="meta"),
)
