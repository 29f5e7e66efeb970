"""Driving the ingress app in process: fakes of the deployment handles, the registry and Ray's
job API (a real small model behind the predictor, so predictions are real), `covers`, which
ties each route test to the routes it requests, and `check_contract`, which holds every answer
to the response model its route declares."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from pydantic import ValidationError
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from starlette.routing import compile_path

from rayline.errors import ModelNotFound, RaylineError
from rayline.exposition import exposition, monitoring_families
from rayline.inference import run_model, to_frame
from rayline.keys import KeyRing
from rayline.monitoring.live import Tap
from rayline.monitoring.monitor import FeedbackItem, Monitor
from rayline.monitoring.profile import Profile, reference_profile
from rayline.registry import ColumnSpec, LoadedModel, RegistryError
from rayline.request_metrics import Delta
from rayline.rows import Rows
from rayline.scheduling.engine import Engine
from rayline.settings import Settings
from rayline.state import StateStore, open_store
from rayline.state.access import AuditLog
from rayline.state.predictions import PredictionLog
from serve_app.http.app import Context
from serve_app.http.endpoint import Endpoint
from serve_app.http.errors import HttpError
from serve_app.predictor import Slot, failure_info
from serve_app.routes import ENDPOINTS
from serve_app.scheduler import SchedulesApi, prometheus_text
from serve_app.schemas import AppArgs, BenchmarkRequest, JobRequest
from tests.unit.test_scheduling_engine import FakeRay

ADMIN_KEY = "admin-key"
PREDICT_KEY = "predict-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
PREDICT = {"Authorization": f"Bearer {PREDICT_KEY}"}
COLUMNS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
SETOSA = dict(zip(COLUMNS, [5.1, 3.5, 1.4, 0.2], strict=True))
VIRGINICA = dict(zip(COLUMNS, [6.7, 3.0, 5.2, 2.3], strict=True))


@cache
def _iris_classifier() -> LogisticRegression:
    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = COLUMNS
    return LogisticRegression(max_iter=500).fit(features, target)


@cache
def iris_reference() -> Profile:
    """The reference profile training would log with the iris classifier."""
    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = COLUMNS
    model = _iris_classifier()
    metrics = {"accuracy": float(model.score(features, target)), "f1_macro": 0.97}
    return reference_profile(
        features, model.predict(features), "classification", metrics, [0, 1, 2]
    )


def iris_model(version: str = "1", ref: str = "champion") -> LoadedModel:
    features = load_iris(as_frame=True).frame.drop(columns="target").head(2)
    features.columns = COLUMNS
    return LoadedModel(
        name="iris",
        ref=ref,
        version=version,
        model=_iris_classifier(),
        task="classification",
        inputs=[ColumnSpec(c, "double") for c in COLUMNS],
        input_example=features,
        run_id="run-1",
        reference=iris_reference(),
    )


class Recorder:
    """An estimator that keeps the frame it was asked to predict and predicts 0 for each row."""

    def __init__(self) -> None:
        self.frame = pd.DataFrame()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.frame = frame
        return np.zeros(len(frame), dtype=np.int64)


TYPED_COLUMNS = {"code": "string", "flag": "boolean", "count": "long", "score": "double"}


def typed_model() -> LoadedModel:
    """`typed@champion`: one column of each signature type, behind a `Recorder`."""
    return LoadedModel(
        name="typed",
        ref="champion",
        version="1",
        model=Recorder(),
        task="classification",
        inputs=[ColumnSpec(c, t) for c, t in TYPED_COLUMNS.items()],
    )


class _Method:
    def __init__(self, fn: Callable[..., Coroutine[Any, Any, Any]], model_id: str | None) -> None:
        self.fn = fn
        self.model_id = model_id

    def remote(self, *args: Any) -> Coroutine[Any, Any, Any]:
        return self.fn(*args) if self.model_id is None else self.fn(self.model_id, *args)


class Handle:
    """A DeploymentHandle's shape: `handle.options(multiplexed_model_id=m).method.remote(...)`
    is awaitable; with a model id, the target's method receives it as its first argument (what
    `serve.get_multiplexed_model_id()` gives the real deployment)."""

    def __init__(self, target: Any, model_id: str | None = None) -> None:
        self.target = target
        self.model_id = model_id

    def options(self, *, multiplexed_model_id: str | None = None) -> Handle:
        return Handle(self.target, multiplexed_model_id)

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self.target, name), self.model_id)


class FakePredictor:
    """Answers as `serve_app.predictor.Predictor` does, from a fixed set of models: `status`
    describes a failure, `predict` raises it (a `RaylineError`)."""

    def __init__(self) -> None:
        self.models: dict[str, LoadedModel | RaylineError] = {
            "iris@champion": iris_model("1"),
            "iris@challenger": iris_model("2", "challenger"),
            "iris/1": iris_model("1", "1"),
            "typed@champion": typed_model(),
        }
        self.calls: list[tuple[str, Rows, bool]] = []
        self.hold: threading.Event | None = None
        """When set, `predict` waits for this event before it answers."""
        self.tap = Tap()
        self.unmonitored: set[str] = set()

    def _slot(self, model_id: str) -> Slot:
        found = self.models.get(model_id)
        if found is None:
            name, _, ref = model_id.replace("/", "@").partition("@")
            raise ModelNotFound(f"model {name}@{ref} is not registered")
        if isinstance(found, RaylineError):
            raise found
        return Slot(model_id, found)

    async def status(self, model_id: str) -> dict[str, Any]:
        try:
            return self._slot(model_id).info()
        except RaylineError as exc:
            return failure_info(model_id, exc)

    async def predict(self, model_id: str, rows: Rows, want_proba: bool) -> dict[str, Any]:
        self.calls.append((model_id, rows, want_proba))
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 10)
        slot = self._slot(model_id)
        model = slot.current
        frame = to_frame(rows, model)
        result = run_model(model, frame, want_proba)
        if model.reference is not None and model.name not in self.unmonitored:
            self.tap.fold(
                (model.name, model.version), model.reference, frame, result["predictions"]
            )
        return {**result, "batch_size": len(frame)}


class FakeMetrics:
    """The Metrics deployment's methods; monitoring is the real `Monitor` and the schedules the
    real `SchedulesApi` and engine (Ray faked: `FakeRay`, the clock fixed) over a SQLite state
    database in the test's folder."""

    def __init__(self, home: Path, engine: Engine | None = None) -> None:
        self.ingested: list[Delta] = []
        self.minutes: list[float] = []
        self.fail = False
        store = StateStore(f"sqlite:///{home / 'state.db'}")
        self.monitor = Monitor({}, PredictionLog(store.engine))
        self.engine = engine or Engine(
            store, FakeRay(), Settings(), lambda: datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
        )
        self.schedules_api = SchedulesApi(self.engine)

    async def schedules(
        self, op: str, name: str, body: Any, page: tuple[int, int]
    ) -> tuple[int, Any]:
        return await self.schedules_api.api(op, name, body, page)

    async def ingest(self, delta: Delta) -> None:
        self.ingested.append(delta)
        self.monitor.ingest(delta.live)

    async def monitoring(self, model: str) -> dict[str, Any]:
        return self.monitor.report(model)

    async def feedback(self, model: str, labels: list[tuple[str, int, Any]]) -> dict[str, int]:
        return self.monitor.label(model, [FeedbackItem(*item) for item in labels])

    async def cluster(self) -> dict[str, Any]:
        totals = {
            "cpus_total": 2.0,
            "cpus_used": 1.0,
            "memory_total_bytes": 8 * 2**30,
            "memory_used_bytes": 2 * 2**30,
            "object_store_total_bytes": 2**30,
            "object_store_used_bytes": 0,
        }
        node = {"node_id": "n1", "address": "127.0.0.1", "alive": True, "is_head": True}
        return {
            "nodes": [{**node, **totals, "resources": {"CPU": 2.0}}],
            "totals": totals,
            "serve": {"applications": []},
        }

    async def timeseries(self, minutes: float) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("a bug in the metrics deployment")
        self.minutes.append(minutes)
        return {
            "interval_s": 5.0,
            "points": [],
            "totals": {"requests": 3, "errors": 0},
            "by_model": [],
        }

    async def prometheus(self) -> str:
        """The real exposition of the monitoring families, after a fixed request counter, and
        the schedules' families."""
        return (
            "rayline_requests_total 3\n"
            + exposition(monitoring_families(self.monitor.samples()))
            + prometheus_text(self.engine)
        )


class FakeMlflowClient:
    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry

    def search_registered_models(self, max_results: int) -> list[Any]:
        self.registry.check_up()
        versions = [SimpleNamespace(version=v.version) for v in self.registry.stored]
        return [
            SimpleNamespace(
                name="iris",
                description=None,
                aliases=dict(self.registry.aliases),
                latest_versions=versions[:1],
                last_updated_timestamp=1_700_000_000_000,
            )
        ]

    def get_registered_model(self, name: str) -> Any:
        return SimpleNamespace(name=name, aliases=dict(self.registry.aliases))


class FakeRegistry:
    """`rayline.registry.Registry`'s methods and `client` for one model, iris, versions 1 and 2."""

    def __init__(self) -> None:
        self.aliases = {"champion": "1", "challenger": "2"}
        self.stored = [
            SimpleNamespace(
                version=str(v),
                run_id=f"run-{v}",
                creation_timestamp=1_700_000_000_000 + v,
                tags={"rayline.family": "linear"},
                status="READY",
            )
            for v in (2, 1)
        ]
        self.down = False
        self.client = FakeMlflowClient(self)

    def check_up(self) -> None:
        if self.down:
            raise MlflowException("API request to http://127.0.0.1:5050 failed")

    def versions(self, name: str) -> list[Any]:
        self.check_up()
        return self.stored if name == "iris" else []

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        return {"test_accuracy": 0.96, "train_accuracy": 0.99}

    def set_alias(self, name: str, alias: str, version: str) -> str | None:
        self.check_up()
        if name != "iris" or version not in {v.version for v in self.stored}:
            raise RegistryError(f"model {name}@{version} is not registered", 404)
        previous = self.aliases.get(alias)
        self.aliases[alias] = version
        return previous


class FakeJobs:
    """`serve_app.jobs.Jobs`' methods over an in-memory list of jobs."""

    def __init__(self) -> None:
        self.submitted: list[Any] = []
        self.stopped: list[str] = []
        self.unreachable = False

    def _job(self, job_id: str) -> dict[str, Any]:
        if self.unreachable:
            raise ConnectionError("connection refused")
        if job_id != "raysubmit_1":
            raise HttpError(404, f"no job {job_id}")
        return {
            "job_id": job_id,
            "status": "RUNNING",
            "kind": "train",
            "name": "iris",
            "entrypoint": "python -m jobs.train iris",
            "start_time": 1_700_000_000.0,
            "end_time": None,
            "message": "",
        }

    def submit_train(self, request: JobRequest) -> str:
        self.submitted.append(request)
        return "raysubmit_1"

    def submit_benchmark(self, request: BenchmarkRequest) -> str:
        self.submitted.append(request)
        return "raysubmit_2"

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return [self._job("raysubmit_1")][:limit]

    def detail(self, job_id: str) -> dict[str, Any]:
        progress = {"trials_done": 1, "trials_total": 4, "best_score": 0.9, "metric": "accuracy"}
        return {
            **self._job(job_id),
            "progress": progress,
            "trials": [],
            "mlflow_run_url": None,
            "result": None,
        }

    def logs(self, job_id: str, tail: int) -> str:
        self._job(job_id)
        lines = [f"line {i}" for i in range(1, 11)]
        return "\n".join(lines[-tail:])

    def stop(self, job_id: str) -> bool:
        self._job(job_id)
        self.stopped.append(job_id)
        return True


def make_context(home: Path, **args: Any) -> Context:
    """A Context over the fakes; `args` override the builder args (AppArgs)."""
    settings = Settings(
        home=home, api_keys=f"admin:{ADMIN_KEY},predict:{PREDICT_KEY}", web_dist=home / "dist"
    )
    app_args = {
        "models": [{"name": "iris"}, {"name": "iris", "alias": "challenger"}],
        "max_body_bytes": 2_000,
        **args,
    }
    return Context(
        args=AppArgs.model_validate(app_args),
        settings=settings,
        keys=KeyRing.from_env(settings),
        audit=AuditLog(open_store(settings).engine),
        registry=FakeRegistry(),  # type: ignore[arg-type]
        jobs=FakeJobs(),  # type: ignore[arg-type]
        predictor=FakePredictor(),
        metrics=Handle(FakeMetrics(home)),
    )


# --- route coverage ---------------------------------------------------------------------------
T = TypeVar("T", bound=Callable[..., Any])
ROUTE_NAMES = {(e.method, e.path): e.name for e in ENDPOINTS}
"""(method, path) → the handler's name, the `route` the request counters record."""
COVERED: set[tuple[str, str]] = set()
"""Every (method, path) some test is marked with `covers`."""


def covers(*routes: str) -> Callable[[T], T]:
    """Mark a test as covering routes, each "METHOD /path" with the path as in ENDPOINTS."""

    def mark(test: T) -> T:
        pairs = {(method, path) for method, _, path in (r.partition(" ") for r in routes)}
        test.covers = pairs  # type: ignore[attr-defined]
        COVERED.update(pairs)
        return test

    return mark


def check_covered(test: Callable[..., Any], ctx: Context) -> None:
    """Fail unless `test` requested every route it claims to cover (the counters saw it)."""
    requested = {route for route, *_ in ctx.delta.requests}
    for pair in getattr(test, "covers", ()):
        assert ROUTE_NAMES[pair] in requested, f"{test.__name__} never requested {pair}"


# --- the response contract --------------------------------------------------------------------
_PATTERNS = [(e, compile_path(e.path)[0]) for e in ENDPOINTS]


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """The row of ENDPOINTS that answers `method path` (None for the plain routes)."""
    return next((e for e, regex in _PATTERNS if e.method == method and regex.match(path)), None)


def check_contract(response: httpx.Response) -> None:
    """Fail unless a success of a route is what its row declares: its status, and a JSON body
    that validates (strictly) against the row's response model, or text for a row without one.
    An httpx response hook: the route tests' clients call it on every answer."""
    request = response.request
    endpoint = endpoint_for(request.method, request.url.path)
    status = response.status_code
    if endpoint is None:
        return
    label = f"{endpoint.method} {endpoint.path}"
    response.read()
    if not (status < 300 or status in endpoint.also):
        body = response.json()
        assert list(body) == [endpoint.error_key], f"{label}: error body {body}"
        return
    assert status in (endpoint.status, *endpoint.also), f"{label} answered {status}"
    if endpoint.response is None:
        assert response.headers["content-type"].startswith("text/plain"), label
        return
    content = response.content
    if "inference-header-content-length" in response.headers:  # then the outputs' bytes
        assert endpoint.binary, label
        content = content[: int(response.headers["inference-header-content-length"])]
    try:
        endpoint.response.model_validate_json(content, strict=True)
    except ValidationError as exc:
        model = endpoint.response.__name__
        raise AssertionError(f"{label}: the answer is not a {model}:\n{exc}") from None
