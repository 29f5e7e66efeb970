"""Ingress deployment: the HTTP API (starlette). Every route is one row of `ENDPOINTS`, which
also drives authentication, body limits and the OpenAPI document.

Request flow: HAProxy (Ray Serve's) → `Ingress` (auth, limits, parsing) → `Predictor` (by model id)
for predictions, MLflow for the registry, Ray's job API for jobs, `Metrics` for metrics.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.config import BackpressureConfig
from ray.serve.exceptions import BackPressureError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rayline.config import BUILTIN_DATASETS
from rayline.estimators import TASKS, families_for
from rayline.registry import (
    CHALLENGER,
    CHAMPION,
    FAMILY_TAG,
    Registry,
    RegistryError,
    parse_ref,
)
from rayline.scoring import METRICS
from rayline.settings import Settings, get_settings
from serve_app.jobs import Jobs, shipped_configs
from serve_app.metrics import Delta
from serve_app.openapi import openapi_document
from serve_app.schemas import (
    V2_DATATYPES,
    AliasRequest,
    AppArgs,
    BenchmarkRequest,
    HttpError,
    JobRequest,
    MlflowRequest,
    PredictRequest,
    Rows,
    V2Request,
    parse_csv,
    parse_mlflow,
    parse_predict,
    parse_v2,
)

log = logging.getLogger("ray.serve")
JSON = "application/json"
CSV = "text/csv"
ROLES = {"predict": 1, "admin": 2}
_DRAIN_FACTOR = 4
"""Bodies up to this many times `max_body_bytes` are read to the end before their 413."""


def _too_large(limit: int) -> HttpError:
    return HttpError(413, f"body larger than {limit} bytes")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: str
    role: str | None
    summary: str
    body: type[BaseModel] | None = None
    media: tuple[str, ...] = (JSON,)
    tag: str = "predict"
    query: tuple[str, ...] = ()


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/health", "health", None, "Liveness", tag="health"),
    Endpoint("GET", "/ready", "ready", None, "Readiness: every served model loaded", tag="health"),
    Endpoint(
        "GET",
        "/model-info",
        "model_info",
        "predict",
        "Served models (or ?model=name@alias): version, inputs, last swap error",
        query=("model",),
    ),
    Endpoint(
        "POST",
        "/predict",
        "predict_default",
        "predict",
        "Predict with the default model",
        PredictRequest,
        (JSON, CSV),
    ),
    Endpoint(
        "POST",
        "/v1/models/{name}/predict",
        "predict_model",
        "predict",
        "Predict with a model by alias (?alias=) or version (?version=)",
        PredictRequest,
        (JSON, CSV),
        query=("alias", "version"),
    ),
    Endpoint(
        "POST",
        "/invocations",
        "invocations",
        "predict",
        "MLflow scoring protocol",
        MlflowRequest,
        (JSON, CSV),
        tag="mlflow",
    ),
    Endpoint("GET", "/ping", "ping", None, "MLflow scoring health", tag="mlflow"),
    Endpoint("GET", "/version", "version", None, "MLflow scoring server version", tag="mlflow"),
    Endpoint("GET", "/v2/health/live", "v2_live", None, "V2 liveness", tag="v2"),
    Endpoint("GET", "/v2/health/ready", "v2_ready", None, "V2 readiness", tag="v2"),
    Endpoint("GET", "/v2/models/{name}", "v2_metadata", "predict", "V2 model metadata", tag="v2"),
    Endpoint(
        "GET",
        "/v2/models/{name}/ready",
        "v2_model_ready",
        "predict",
        "V2 model readiness",
        tag="v2",
    ),
    Endpoint(
        "POST",
        "/v2/models/{name}/infer",
        "v2_infer",
        "predict",
        "V2 inference",
        V2Request,
        tag="v2",
    ),
    Endpoint(
        "GET", "/v1/whoami", "whoami", "predict", "The role of the presented key", tag="platform"
    ),
    Endpoint(
        "GET",
        "/v1/models",
        "list_models",
        "predict",
        "Registered models and aliases",
        tag="registry",
    ),
    Endpoint(
        "GET",
        "/v1/models/{name}/versions",
        "list_versions",
        "predict",
        "Versions with test metrics and aliases",
        tag="registry",
    ),
    Endpoint(
        "GET",
        "/v1/models/{name}/schema",
        "model_schema",
        "predict",
        "Input columns, example and classes of a served version",
        tag="registry",
        query=("alias", "version"),
    ),
    Endpoint(
        "POST",
        "/v1/models/{name}/aliases/{alias}",
        "set_alias",
        "admin",
        "Promote or roll back: point an alias at a version",
        AliasRequest,
        tag="registry",
    ),
    Endpoint(
        "GET",
        "/v1/catalog",
        "catalog",
        "predict",
        "Estimator families, datasets, metrics",
        tag="jobs",
    ),
    Endpoint("GET", "/v1/configs", "configs", "predict", "Shipped training configs", tag="jobs"),
    Endpoint(
        "POST",
        "/v1/jobs",
        "submit_job",
        "admin",
        "Submit a training Ray Job",
        JobRequest,
        tag="jobs",
    ),
    Endpoint("GET", "/v1/jobs", "list_jobs", "predict", "Ray Jobs, newest first", tag="jobs"),
    Endpoint(
        "GET",
        "/v1/jobs/{job_id}",
        "job_detail",
        "predict",
        "A job with its sweep progress, trials and result",
        tag="jobs",
    ),
    Endpoint(
        "GET",
        "/v1/jobs/{job_id}/logs",
        "job_logs",
        "admin",
        "The tail of a job's log",
        tag="jobs",
        query=("tail",),
    ),
    Endpoint("POST", "/v1/jobs/{job_id}/stop", "stop_job", "admin", "Stop a job", tag="jobs"),
    Endpoint(
        "GET", "/v1/cluster", "cluster", "predict", "Nodes, Serve apps, recent jobs", tag="platform"
    ),
    Endpoint(
        "GET",
        "/v1/metrics/timeseries",
        "timeseries",
        "predict",
        "Request rate, errors and latency over time",
        tag="platform",
        query=("minutes",),
    ),
    Endpoint("GET", "/metrics", "prometheus", "predict", "Prometheus text metrics", tag="platform"),
    Endpoint(
        "POST",
        "/v1/benchmarks",
        "submit_benchmark",
        "admin",
        "Run a serving or training benchmark as a Ray Job",
        BenchmarkRequest,
        tag="platform",
    ),
    Endpoint(
        "GET",
        "/v1/benchmarks",
        "list_benchmarks",
        "predict",
        "Past benchmark results",
        tag="platform",
    ),
)


def load_keys(settings: Settings) -> dict[str, str]:
    """SHA-256 of each API key → its role."""
    text = (
        settings.api_keys.get_secret_value().replace(",", "\n")
        if settings.api_keys is not None
        else settings.keys_file.read_text()
        if settings.keys_file.exists()
        else ""
    )
    keys = {}
    for line in text.splitlines():
        role, _, key = line.strip().partition(":")
        if role in ROLES and key:
            keys[hashlib.sha256(key.encode()).hexdigest()] = role
    return keys


def error(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class _HugeNumber(ValueError):
    pass


def _bounded_int(text: str) -> int:
    """JSON integers as Python ints, refusing ones no model could use before `int()` runs:
    past 4300 digits it raises, and past ~300 digits no float holds them."""
    if len(text) > 301:
        raise _HugeNumber
    return int(text)


def _validation_detail(exc: ValidationError) -> str:
    """Name the fields, never repeat their values."""
    parts = []
    for item in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{loc}: {item['msg']}")
    return "invalid request: " + "; ".join(parts)


# Beyond max_ongoing_requests requests queue for the ingress replica; without a bound that
# queue grows until requests time out (408) under overload. Bounded, the replica answers 503
# with Retry-After at once. serve_config.yaml may override both.
@serve.deployment(
    name="Ingress",
    max_queued_requests=128,
    backpressure_config=BackpressureConfig(status_code=503, retry_after_s=1),
)
@serve.ingress()
class Ingress:
    def __init__(self, predictor: Any, metrics: Any, args: dict[str, Any]) -> None:
        self.args = AppArgs.model_validate(args)
        # Handles create their router on first use, which asks the GCS; do it now, so that no
        # request waits on it (during a GCS outage that first use stalls for ~40 s).
        self.predictor = predictor.options()
        self.metrics = metrics.options()
        self.settings = get_settings()
        self.keys = load_keys(self.settings)
        self.registry = Registry(self.settings.tracking_uri)
        self.jobs = Jobs(self.settings)
        self.delta = Delta()
        self.inflight = 0
        self._asgi = Starlette(
            routes=[
                *(Route(e.path, self._wrap(e), methods=[e.method]) for e in ENDPOINTS),
                Route("/openapi.json", self.openapi, methods=["GET"]),
                Route("/{path:path}", self.static, methods=["GET", "HEAD"]),
            ]
        )
        self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def __serve_build_asgi_app__(self) -> Starlette:
        return self._asgi

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(self.args.flush_interval_s)
            if not self.delta.empty():
                delta, self.delta = self.delta, Delta()
                self.metrics.ingest.remote(delta)

    # --- the request wrapper: auth, limits, parsing, errors, counting -------------------------
    def _wrap(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        handler = getattr(self, endpoint.handler)

        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            model, version, batch = "", "", None
            if self.inflight >= self.args.max_inflight:
                response: Response = error(429, "too many requests in flight; retry shortly", 1)
                self.delta.add(endpoint.handler, "", "", 429, 0.0, None)
                return response
            self.inflight += 1
            try:
                self._authorize(request, endpoint.role)
                body = await self._body(request, endpoint) if endpoint.body else None
                result = await handler(request, body) if endpoint.body else await handler(request)
                if isinstance(result, tuple):
                    response, (model, version, batch) = result
                else:
                    response = result
            except HttpError as exc:
                response = error(exc.status, exc.detail, exc.retry_after)
            except RegistryError as exc:
                response = error(exc.status, str(exc), 5 if exc.status == 503 else None)
            except ClientDisconnect:
                response = error(499, "the client closed the request")  # nobody reads this
            except Exception:
                log.exception("unhandled error in %s %s", endpoint.method, endpoint.path)
                response = error(500, "internal error; see the Ingress replica logs")
            finally:
                self.inflight -= 1
            self.delta.add(
                endpoint.handler,
                model,
                version,
                response.status_code,
                time.perf_counter() - started,
                batch,
            )
            return response

        return wrapped

    def _role_of(self, request: Request) -> str | None:
        """Bearer key, or HTTP Basic with the key as password (so netrc-aware clients such as
        MLflow's scoring client work unchanged)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        key = credentials.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key, validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
        elif scheme.lower() != "bearer":
            return None
        return self.keys.get(hashlib.sha256(key.encode()).hexdigest()) if key else None

    def _authorize(self, request: Request, role: str | None) -> str | None:
        if role is None:
            return None
        if not request.headers.get("authorization"):
            raise HttpError(401, "missing API key: send 'Authorization: Bearer <key>'")
        granted = self._role_of(request)
        if granted is None:
            raise HttpError(401, "unknown API key")
        if ROLES[granted] < ROLES[role]:
            raise HttpError(403, f"this key has role '{granted}'; this route needs '{role}'")
        return granted

    async def _body(self, request: Request, endpoint: Endpoint) -> Any:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in endpoint.media:
            raise HttpError(415, f"send the body as {' or '.join(endpoint.media)}")
        length = request.headers.get("content-length")
        limit = self.args.max_body_bytes
        # A body somewhat over the limit is read to its end and dropped before the 413: a
        # server that answers and closes while the client still sends makes the kernel reset
        # the connection, and many clients then lose the 413. Far larger bodies are cut off.
        drain = _DRAIN_FACTOR * limit
        if length is not None and (not length.isdigit() or int(length) > drain):
            raise _too_large(limit)
        raw = bytearray()
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > drain:
                raise _too_large(limit)
            if received <= limit:
                raw.extend(chunk)
        if received > limit:
            raise _too_large(limit)
        if media == CSV:
            try:
                return parse_csv(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise HttpError(400, "CSV body is not UTF-8") from None
        try:
            data = json.loads(raw, parse_int=_bounded_int)
        except _HugeNumber:
            raise HttpError(422, "body holds an integer beyond 1e300") from None
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
            raise HttpError(400, "body is not valid JSON") from None
        try:
            return endpoint.body.model_validate(data) if endpoint.body else data
        except ValidationError as exc:
            raise HttpError(422, _validation_detail(exc)) from None
        except RecursionError:
            raise HttpError(422, "body is nested too deeply") from None

    # --- predictions -----------------------------------------------------------------------
    async def _predict(self, model_id: str, rows: Rows, want_proba: bool) -> dict[str, Any]:
        rows = rows.check(self.args.max_rows)
        try:
            result: dict[str, Any] = await self.predictor.options(
                multiplexed_model_id=model_id
            ).predict.remote(rows, want_proba)
        except BackPressureError:
            raise HttpError(503, "the predictors are busy; retry shortly", 1) from None
        except RayActorError:  # the replica died mid-request; Serve is replacing it
            raise HttpError(503, "a predictor replica was lost; retry shortly", 1) from None
        if "status" in result:
            raise HttpError(result["status"], result["detail"], result.get("retry_after"))
        return result

    @staticmethod
    def _model_id(request: Request, name: str) -> str:
        version = request.query_params.get("version")
        if version:
            if not version.isdigit():
                raise HttpError(422, "version: must be a number")
            return f"{name}/{version}"
        alias = request.query_params.get("alias", CHAMPION)
        if not alias.replace("-", "").replace("_", "").isalnum() or len(alias) > 64:
            raise HttpError(422, "alias: letters, digits, - and _ only")
        return f"{name}@{alias}"

    async def _rayline_predict(self, model_id: str, body: Any) -> Any:
        if isinstance(body, Rows):
            rows, proba = body, True
        else:
            rows, proba = parse_predict(body), body.return_proba
        result = await self._predict(model_id, rows, proba)
        meta = (result["model"], result["version"], result.pop("batch_size", None))
        return JSONResponse(result), meta

    async def predict_default(self, request: Request, body: Any) -> Any:
        return await self._rayline_predict(self.args.default_model.model_id, body)

    async def predict_model(self, request: Request, body: Any) -> Any:
        return await self._rayline_predict(
            self._model_id(request, request.path_params["name"]), body
        )

    async def invocations(self, request: Request, body: Any) -> Any:
        rows = body if isinstance(body, Rows) else parse_mlflow(body)
        result = await self._predict(self.args.default_model.model_id, rows, False)
        return JSONResponse({"predictions": result["predictions"]}), (
            result["model"],
            result["version"],
            result.pop("batch_size", None),
        )

    async def v2_infer(self, request: Request, body: V2Request) -> Any:
        name = request.path_params["name"]
        result = await self._predict(f"{name}@{CHAMPION}", parse_v2(body), True)
        predictions = result["predictions"]
        kind = (
            "FP64"
            if predictions and isinstance(predictions[0], float)
            else ("INT64" if predictions and isinstance(predictions[0], int) else "BYTES")
        )
        outputs = [
            {"name": "predict", "shape": [len(predictions)], "datatype": kind, "data": predictions}
        ]
        if result["probabilities"] is not None:
            proba = result["probabilities"]
            outputs.append(
                {
                    "name": "predict_proba",
                    "shape": [len(proba), len(proba[0])],
                    "datatype": "FP64",
                    "data": [p for row in proba for p in row],
                }
            )
        return JSONResponse(
            {
                "model_name": name,
                "model_version": result["version"],
                "id": body.id or "",
                "outputs": outputs,
            }
        ), (name, result["version"], result.pop("batch_size", None))

    # --- health and model info ---------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _statuses(self) -> list[dict[str, Any]]:
        calls = [
            self.predictor.options(multiplexed_model_id=m.model_id).status.remote()
            for m in self.args.models
        ]
        return list(await asyncio.gather(*calls))

    async def ready(self, request: Request) -> Response:
        models = await self._statuses()
        ready = all(m["status"] == "ready" for m in models)
        summary = [
            {
                "name": m["name"],
                "alias": m["alias"],
                "version": m.get("version"),
                "status": m["status"],
                "error": m.get("error") or m.get("last_error"),
            }
            for m in models
        ]
        return JSONResponse({"ready": ready, "models": summary}, status_code=200 if ready else 503)

    async def model_info(self, request: Request) -> Response:
        wanted = request.query_params.get("model")
        if wanted is None:
            models = await self._statuses()
        else:
            parse_ref(wanted)  # 400 for anything but name@alias or name/version
            models = [await self.predictor.options(multiplexed_model_id=wanted).status.remote()]
        return JSONResponse({"default_model": self.args.default_model.model_id, "models": models})

    async def _status_of(self, model_id: str) -> dict[str, Any]:
        status: dict[str, Any] = await self.predictor.options(
            multiplexed_model_id=model_id
        ).status.remote()
        if status["status"] != "ready":
            raise HttpError(
                status.get("http_status", 503),
                status["error"],
                5 if status.get("http_status", 503) == 503 else None,
            )
        return status

    async def model_schema(self, request: Request) -> Response:
        status = await self._status_of(self._model_id(request, request.path_params["name"]))
        keys = ("name", "alias", "version", "task", "inputs", "input_example", "classes")
        return JSONResponse({k: status[k] for k in keys})

    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("\n")

    async def version(self, request: Request) -> Response:
        import mlflow

        return PlainTextResponse(mlflow.__version__)

    async def v2_live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        response = await self.ready(request)
        return JSONResponse(
            {"ready": response.status_code == 200}, status_code=response.status_code
        )

    async def v2_metadata(self, request: Request) -> Response:
        name = request.path_params["name"]
        status = await self._status_of(f"{name}@{CHAMPION}")
        return JSONResponse(
            {
                "name": name,
                "versions": [status["version"]],
                "platform": "sklearn",
                "inputs": [
                    {
                        "name": c["name"],
                        "datatype": V2_DATATYPES.get(c["type"], "BYTES"),
                        "shape": [-1],
                    }
                    for c in status["inputs"]
                ],
                "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}],
            }
        )

    async def v2_model_ready(self, request: Request) -> Response:
        name = request.path_params["name"]
        await self._status_of(f"{name}@{CHAMPION}")
        return JSONResponse({"name": name, "ready": True})

    # --- registry ----------------------------------------------------------------------------
    async def whoami(self, request: Request) -> Response:
        return JSONResponse({"role": self._role_of(request)})

    def _models(self) -> list[dict[str, Any]]:
        found = []
        for model in self.registry.client.search_registered_models(max_results=1000):
            versions = [int(v.version) for v in (model.latest_versions or [])]
            found.append(
                {
                    "name": model.name,
                    "description": model.description or "",
                    "aliases": {a: str(v) for a, v in (model.aliases or {}).items()},
                    "latest_version": str(max(versions)) if versions else None,
                    "updated_at": (model.last_updated_timestamp or 0) / 1000.0,
                }
            )
        return found

    def _versions(self, name: str) -> list[dict[str, Any]]:
        versions = self.registry.versions(name)
        if not versions:
            raise HttpError(404, f"model {name} is not registered")
        aliases: dict[str, list[str]] = {}
        for alias, version in (
            self.registry.client.get_registered_model(name).aliases or {}
        ).items():
            aliases.setdefault(str(version), []).append(alias)
        result = []
        for v in versions:
            metrics = self.registry.run_metrics(v.run_id)
            result.append(
                {
                    "version": str(v.version),
                    "created_at": (v.creation_timestamp or 0) / 1000.0,
                    "run_id": v.run_id,
                    "aliases": sorted(aliases.get(str(v.version), [])),
                    "metrics": {
                        k.removeprefix("test_"): val
                        for k, val in metrics.items()
                        if k.startswith("test_")
                    },
                    "family": v.tags.get(FAMILY_TAG),
                    "status": v.status,
                }
            )
        return result

    async def _mlflow(self, fn: Callable[..., Any], *args: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=15)
        except (MlflowException, OSError, TimeoutError) as exc:
            if isinstance(exc, HttpError):
                raise
            raise HttpError(503, "the MLflow registry is not reachable; retry shortly", 5) from None

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"models": await self._mlflow(self._models)})

    async def list_versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse({"versions": await self._mlflow(self._versions, name)})

    async def set_alias(self, request: Request, body: AliasRequest) -> Response:
        name, alias = request.path_params["name"], request.path_params["alias"]
        if alias not in (CHAMPION, CHALLENGER) and not alias.isidentifier():
            raise HttpError(422, "alias: letters, digits and _ only")
        previous = await self._mlflow(self.registry.set_alias, name, alias, body.version)
        log.info("alias %s@%s: %s -> %s", name, alias, previous, body.version)
        return JSONResponse(
            {"name": name, "alias": alias, "version": body.version, "previous_version": previous}
        )

    # --- jobs, cluster, metrics, benchmarks -------------------------------------------------
    async def _ray(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=20)
        except (ConnectionError, TimeoutError) as exc:
            raise HttpError(
                503, f"the Ray Jobs API is not reachable ({type(exc).__name__})", 5
            ) from None

    async def catalog(self, request: Request) -> Response:
        return JSONResponse(
            {
                "families": {task: families_for(task) for task in TASKS},
                "builtin_datasets": [
                    {"name": n, "task": t, "target": "target"} for n, t in BUILTIN_DATASETS.items()
                ],
                "metrics": {task: list(METRICS[task]) for task in TASKS},
            }
        )

    async def configs(self, request: Request) -> Response:
        return JSONResponse({"configs": await asyncio.to_thread(shipped_configs)})

    async def submit_job(self, request: Request, body: JobRequest) -> Response:
        return JSONResponse({"job_id": await self._ray(self.jobs.submit_train, body)}, 201)

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": await self._ray(self.jobs.list)})

    async def job_detail(self, request: Request) -> Response:
        return JSONResponse(await self._ray(self.jobs.detail, request.path_params["job_id"]))

    async def job_logs(self, request: Request) -> Response:
        tail = request.query_params.get("tail", "200")
        if not tail.isdigit():
            raise HttpError(422, "tail: must be a number of lines")
        logs = await self._ray(self.jobs.logs, request.path_params["job_id"], min(int(tail), 5000))
        return JSONResponse({"logs": logs})

    async def stop_job(self, request: Request) -> Response:
        stopped = await self._ray(self.jobs.stop, request.path_params["job_id"])
        return JSONResponse({"stopped": stopped})

    async def cluster(self, request: Request) -> Response:
        state, jobs = await asyncio.gather(
            self.metrics.cluster.remote(), self._ray(self.jobs.list, 10)
        )
        return JSONResponse(
            {
                **state,
                "jobs": jobs,
                "links": {
                    "ray_dashboard": self.settings.ray_dashboard_url,
                    "mlflow": self.settings.tracking_uri,
                },
            }
        )

    async def timeseries(self, request: Request) -> Response:
        try:
            minutes = min(max(float(request.query_params.get("minutes", "10")), 0.1), 60.0)
        except ValueError:
            raise HttpError(422, "minutes: must be a number") from None
        return JSONResponse(await self.metrics.timeseries.remote(minutes))

    async def prometheus(self, request: Request) -> Response:
        text = await self.metrics.prometheus.remote()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def submit_benchmark(self, request: Request, body: BenchmarkRequest) -> Response:
        if body.kind == "serving" and body.model is None:
            body = body.model_copy(update={"model": self.args.default_model.name})
        return JSONResponse({"job_id": await self._ray(self.jobs.submit_benchmark, body)}, 202)

    async def list_benchmarks(self, request: Request) -> Response:
        def read() -> list[dict[str, Any]]:
            folder = self.settings.benchmarks_dir
            results = []
            for path in sorted(folder.glob("*.json"), reverse=True)[:100]:
                try:
                    results.append(json.loads(path.read_text()))
                except (OSError, json.JSONDecodeError):
                    continue
            return results

        return JSONResponse({"results": await asyncio.to_thread(read)})

    # --- OpenAPI and the web UI --------------------------------------------------------------
    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(ENDPOINTS))

    async def static(self, request: Request) -> Response:
        if request.path_params["path"].startswith(("v1/", "v2/")):
            return error(404, "no such API route; see /openapi.json")
        dist = self.settings.web_dist.resolve()
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
