"""The platform around the models: training jobs, the catalog and shipped configs, the
cluster's state, request metrics and benchmarks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from rayline.config import BUILTIN_DATASETS
from rayline.estimators import TASKS, families_for
from rayline.scoring import METRICS
from serve_app.http.endpoint import Endpoint
from serve_app.http.errors import HttpError
from serve_app.http.responses import JSONResponse
from serve_app.jobs import shipped_configs
from serve_app.routes.platform_schemas import (
    BenchmarkResults,
    Catalog,
    ClusterInfo,
    JobDetail,
    JobLogs,
    Jobs,
    JobStopped,
    JobSubmitted,
    LogsQuery,
    ShippedConfigs,
    TimeSeries,
    TimeseriesQuery,
)
from serve_app.schemas import BenchmarkRequest, JobRequest

if TYPE_CHECKING:
    from serve_app.http.app import Context


async def _ray(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` off the event loop; 503 with Retry-After when Ray's job API does not answer."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=20)
    except (ConnectionError, TimeoutError) as exc:
        raise HttpError(
            503, f"the Ray Jobs API is not reachable ({type(exc).__name__})", 5
        ) from None


async def catalog(ctx: Context, request: Request) -> Response:
    return JSONResponse(
        {
            "families": {task: families_for(task) for task in TASKS},
            "builtin_datasets": [
                {"name": n, "task": t, "target": "target"} for n, t in BUILTIN_DATASETS.items()
            ],
            "metrics": {task: list(METRICS[task]) for task in TASKS},
        }
    )


async def configs(ctx: Context, request: Request) -> Response:
    return JSONResponse({"configs": await asyncio.to_thread(shipped_configs)})


async def submit_job(ctx: Context, request: Request, body: JobRequest) -> Response:
    job_id = await _ray(ctx.jobs.submit_train, body)
    request.state.audit = f"job {job_id}"
    return JSONResponse({"job_id": job_id}, 201)


async def list_jobs(ctx: Context, request: Request) -> Response:
    return JSONResponse({"jobs": await _ray(ctx.jobs.list)})


async def job_detail(ctx: Context, request: Request) -> Response:
    return JSONResponse(await _ray(ctx.jobs.detail, request.path_params["job_id"]))


async def job_logs(ctx: Context, request: Request) -> Response:
    logs = await _ray(ctx.jobs.logs, request.path_params["job_id"], request.state.query.tail)
    return JSONResponse({"logs": logs})


async def stop_job(ctx: Context, request: Request) -> Response:
    stopped = await _ray(ctx.jobs.stop, request.path_params["job_id"])
    return JSONResponse({"stopped": stopped})


async def cluster(ctx: Context, request: Request) -> Response:
    state, jobs = await asyncio.gather(ctx.metrics.cluster.remote(), _ray(ctx.jobs.list, 10))
    links = {"ray_dashboard": ctx.settings.ray_dashboard_url, "mlflow": ctx.settings.tracking_uri}
    return JSONResponse({**state, "jobs": jobs, "links": links})


async def timeseries(ctx: Context, request: Request) -> Response:
    return JSONResponse(await ctx.metrics.timeseries.remote(request.state.query.minutes))


async def prometheus(ctx: Context, request: Request) -> Response:
    text = await ctx.metrics.prometheus.remote()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def submit_benchmark(ctx: Context, request: Request, body: BenchmarkRequest) -> Response:
    if body.kind == "serving" and body.model is None:
        body = body.model_copy(update={"model": ctx.args.default_model.name})
    job_id = await _ray(ctx.jobs.submit_benchmark, body)
    request.state.audit = f"job {job_id}"
    return JSONResponse({"job_id": job_id}, 202)


async def list_benchmarks(ctx: Context, request: Request) -> Response:
    def read() -> list[dict[str, Any]]:
        results = []
        for path in sorted(ctx.settings.benchmarks_dir.glob("*.json"), reverse=True)[:100]:
            try:
                results.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return results

    return JSONResponse({"results": await asyncio.to_thread(read)})


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/catalog",
        catalog,
        "predict",
        "Estimator families, datasets, metrics",
        tag="jobs",
        response=Catalog,
    ),
    Endpoint(
        "GET",
        "/v1/configs",
        configs,
        "predict",
        "Shipped training configs",
        tag="jobs",
        response=ShippedConfigs,
    ),
    Endpoint(
        "POST",
        "/v1/jobs",
        submit_job,
        "admin",
        "Submit a training Ray Job",
        JobRequest,
        tag="jobs",
        response=JobSubmitted,
        status=201,
    ),
    Endpoint(
        "GET", "/v1/jobs", list_jobs, "predict", "Ray Jobs, newest first", tag="jobs", response=Jobs
    ),
    Endpoint(
        "GET",
        "/v1/jobs/{job_id}",
        job_detail,
        "predict",
        "A job with its sweep progress, trials and result",
        tag="jobs",
        response=JobDetail,
    ),
    Endpoint(
        "GET",
        "/v1/jobs/{job_id}/logs",
        job_logs,
        "admin",
        "The tail of a job's log",
        tag="jobs",
        query=LogsQuery,
        response=JobLogs,
    ),
    Endpoint(
        "POST",
        "/v1/jobs/{job_id}/stop",
        stop_job,
        "admin",
        "Stop a job",
        tag="jobs",
        response=JobStopped,
    ),
    Endpoint(
        "GET",
        "/v1/cluster",
        cluster,
        "predict",
        "Nodes, Serve apps, recent jobs",
        tag="platform",
        response=ClusterInfo,
    ),
    Endpoint(
        "GET",
        "/v1/metrics/timeseries",
        timeseries,
        "predict",
        "Request rate, errors and latency over time",
        tag="platform",
        query=TimeseriesQuery,
        response=TimeSeries,
    ),
    Endpoint("GET", "/metrics", prometheus, "predict", "Prometheus text metrics", tag="platform"),
    Endpoint(
        "POST",
        "/v1/benchmarks",
        submit_benchmark,
        "admin",
        "Run a serving or training benchmark as a Ray Job",
        BenchmarkRequest,
        tag="platform",
        response=JobSubmitted,
        status=202,
    ),
    Endpoint(
        "GET",
        "/v1/benchmarks",
        list_benchmarks,
        "predict",
        "Past benchmark results",
        tag="platform",
        response=BenchmarkResults,
    ),
)
