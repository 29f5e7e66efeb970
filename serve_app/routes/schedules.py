"""Schedules: training runs that start by themselves. Every route asks the cluster's one
scheduler, which the Metrics deployment runs (`serve_app/scheduler.py`); it answers
(status, body) with its domain errors mapped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from rayline.scheduling import ScheduleSpec
from rayline.state import RunRecord
from serve_app.http.endpoint import Answer, Endpoint, Query
from serve_app.http.errors import HttpError
from serve_app.http.responses import JSONResponse

if TYPE_CHECKING:
    from serve_app.http.app import Context

MAX_PAGE = 200


class ScheduleChanges(RootModel[dict[str, Any]]):
    """Any fields of a schedule but its name; a new trigger replaces the old one."""


# --- the contract: query and response models (the scheduler's `SchedulesApi` builds the bodies)
class RecentRunsQuery(Query):
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    """How many runs."""


class RunsPageQuery(RecentRunsQuery):
    offset: int = Field(0, ge=0, le=10**9)
    """How many of the newest runs to skip."""


class ScheduleRun(RunRecord, Answer):
    """One run of a schedule as stored (`rayline.state.RunRecord`), with its MLflow link."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    mlflow_run_url: str | None


class Schedule(Answer):
    name: str
    spec: ScheduleSpec
    source: Literal["config", "api"]
    """Declared in serve_config.yaml (not changeable through the API) or created through it."""
    paused: bool
    description: str
    """The trigger in words, e.g. "every day at 02:00 UTC"."""
    next_fire: float | None
    """None when paused or started by new data."""
    last_fire: float | None
    last_run: ScheduleRun | None


class Schedules(Answer):
    schedules: list[Schedule]


class ScheduleRunPage(Answer):
    """Newest first."""

    runs: list[ScheduleRun]
    total: int
    """Runs of the schedule in all."""


class RecentRuns(Answer):
    """Newest first."""

    runs: list[ScheduleRun]


class ScheduleDeleted(Answer):
    deleted: bool


def _page(request: Request) -> tuple[int, int]:
    query = request.state.query
    return query.limit, getattr(query, "offset", 0)


async def _ask(
    request: Request, ctx: Context, op: str, body: Any = None, page: tuple[int, int] = (50, 0)
) -> Response:
    name = request.path_params.get("name", "")
    status, payload = await ctx.metrics.schedules.remote(op, name, body, page)
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
             tag="schedules", response=Schedules),
    Endpoint("POST", "/v1/schedules", create_schedule, "admin", "Create a schedule",
             ScheduleSpec, tag="schedules", response=Schedule, status=201),
    Endpoint("GET", ONE, get_schedule, "predict", "One schedule", tag="schedules",
             response=Schedule),
    Endpoint("PATCH", ONE, update_schedule, "admin", "Change a schedule made through the API",
             ScheduleChanges, tag="schedules", response=Schedule),
    Endpoint("DELETE", ONE, delete_schedule, "admin", "Delete a schedule made through the API",
             tag="schedules", response=ScheduleDeleted),
    Endpoint("POST", ONE + "/run", run_schedule, "admin", "Start a run now", tag="schedules",
             response=ScheduleRun, status=202),
    Endpoint("POST", ONE + "/pause", pause_schedule, "admin", "Pause", tag="schedules",
             response=Schedule),
    Endpoint("POST", ONE + "/resume", resume_schedule, "admin", "Resume", tag="schedules",
             response=Schedule),
    Endpoint("GET", ONE + "/runs", schedule_runs, "predict", "Run history, newest first",
             tag="schedules", query=RunsPageQuery, response=ScheduleRunPage),
    Endpoint("GET", "/v1/schedule-runs", recent_schedule_runs, "predict",
             "Recent runs of every schedule", tag="schedules", query=RecentRunsQuery,
             response=RecentRuns),
)  # fmt: skip
