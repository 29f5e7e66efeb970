"""Schedules: training runs that start by themselves. Every route asks the Scheduler deployment,
the one owner of the state database; it answers (status, body) with its domain errors mapped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import RootModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rayline.scheduling import ScheduleSpec
from serve_app.http.endpoint import Endpoint
from serve_app.http.errors import HttpError

if TYPE_CHECKING:
    from serve_app.http.app import Context

MAX_PAGE = 200


class ScheduleChanges(RootModel[dict[str, Any]]):
    """Any fields of a schedule but its name; a new trigger replaces the old one."""


def _page(request: Request) -> tuple[int, int]:
    values = []
    for key, default, top in (("limit", "50", MAX_PAGE), ("offset", "0", 10**9)):
        text = request.query_params.get(key, default)
        if not text.isdigit() or int(text) > top or (key == "limit" and int(text) == 0):
            raise HttpError(422, f"{key}: a whole number from {int(key == 'limit')} to {top}")
        values.append(int(text))
    return values[0], values[1]


async def _ask(
    request: Request, ctx: Context, op: str, body: Any = None, page: tuple[int, int] = (50, 0)
) -> Response:
    if ctx.scheduler is None:
        raise HttpError(404, "this application runs no scheduler")
    name = request.path_params.get("name", "")
    status, payload = await ctx.scheduler.api.remote(op, name, body, page)
    if status >= 400:
        raise HttpError(status, payload["detail"])
    return JSONResponse(payload, status_code=status)


async def list_schedules(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "list")


async def create_schedule(ctx: Context, request: Request, body: ScheduleSpec) -> Response:
    return await _ask(request, ctx, "create", body.model_dump(mode="json", exclude_unset=True))


async def get_schedule(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "get")


async def update_schedule(ctx: Context, request: Request, body: ScheduleChanges) -> Response:
    return await _ask(request, ctx, "update", body.root)


async def delete_schedule(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "delete")


async def run_schedule(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "run")


async def pause_schedule(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "pause")


async def resume_schedule(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "resume")


async def schedule_runs(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "runs", page=_page(request))


async def recent_schedule_runs(ctx: Context, request: Request) -> Response:
    return await _ask(request, ctx, "recent", page=_page(request))


ONE = "/v1/schedules/{name}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/v1/schedules", list_schedules, "predict", "Schedules, next fire, last run",
             tag="schedules"),
    Endpoint("POST", "/v1/schedules", create_schedule, "admin", "Create a schedule",
             ScheduleSpec, tag="schedules"),
    Endpoint("GET", ONE, get_schedule, "predict", "One schedule", tag="schedules"),
    Endpoint("PATCH", ONE, update_schedule, "admin", "Change a schedule made through the API",
             ScheduleChanges, tag="schedules"),
    Endpoint("DELETE", ONE, delete_schedule, "admin", "Delete a schedule made through the API",
             tag="schedules"),
    Endpoint("POST", ONE + "/run", run_schedule, "admin", "Start a run now", tag="schedules"),
    Endpoint("POST", ONE + "/pause", pause_schedule, "admin", "Pause", tag="schedules"),
    Endpoint("POST", ONE + "/resume", resume_schedule, "admin", "Resume", tag="schedules"),
    Endpoint("GET", ONE + "/runs", schedule_runs, "predict", "Run history, newest first",
             tag="schedules", query=("limit", "offset")),
    Endpoint("GET", "/v1/schedule-runs", recent_schedule_runs, "predict",
             "Recent runs of every schedule", tag="schedules", query=("limit",)),
)  # fmt: skip
