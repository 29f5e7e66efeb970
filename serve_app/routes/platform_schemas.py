"""The contract of the platform routes (`serve_app.routes.platform`): their query and response
models, apart from the handlers only for length. Training jobs, the catalog and the shipped
configs; the cluster, request metrics and benchmarks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from rayline.config import TrainConfig
from rayline.estimators import Task
from serve_app.http.endpoint import Answer, Query

JobStatus = Literal["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
"""Ray's job statuses."""
JobKind = Literal["train", "benchmark", "batch_predict", "other"]


# --- training: catalog, configs, jobs -----------------------------------------------------
class BuiltinDataset(Answer):
    name: str
    task: Task
    target: str


class TaskLists(Answer):
    classification: list[str]
    regression: list[str]


class Catalog(Answer):
    families: TaskLists
    """The estimator families a config may sweep, per task."""
    builtin_datasets: list[BuiltinDataset]
    metrics: TaskLists
    """The metrics a sweep may optimise, per task."""


class ShippedConfig(Answer):
    name: str
    yaml: str
    """The file as shipped."""
    spec: TrainConfig
    """The file validated, every default filled in."""


class ShippedConfigs(Answer):
    configs: list[ShippedConfig]


class JobSubmitted(Answer):
    job_id: str
    """The Ray Jobs submission id."""


class Job(Answer):
    job_id: str
    status: JobStatus
    kind: JobKind
    name: str
    """The training config's name, or the benchmark's kind."""
    entrypoint: str
    start_time: float | None
    end_time: float | None
    message: str


class Jobs(Answer):
    """Newest first."""

    jobs: list[Job]


class JobProgress(Answer):
    trials_done: int
    trials_total: int
    best_score: float | None
    metric: str
    t: float | None = None
    """When the sweep started; only until the first trial ends."""


class Trial(Answer):
    trial: int
    family: str
    params: dict[str, Any]
    score: float | None
    """The mean cross-validated score; None for a trial that failed."""
    score_std: float | None
    fit_time_s: float | None
    status: Literal["done", "stopped", "error"]
    """`stopped`: ended by early stopping before its last fold; `error`: failed."""
    t: float | None = None
    """When it ended (not given for a failed trial)."""


class JobResult(Answer):
    model: str
    version: str
    aliases: list[str]
    test_metrics: dict[str, float]
    metric: str | None = None
    score: float | None = None
    """The new version's held-out score on `metric`."""
    run_id: str | None = None
    reused: bool = False
    """Nothing was trained: this config and data had registered `version` already."""


class JobDetail(Job):
    progress: JobProgress | None
    trials: list[Trial]
    mlflow_run_url: str | None
    result: JobResult | None


class LogsQuery(Query):
    tail: int = Field(200, ge=0, le=5000)
    """Lines from the end of the log; 0 for the whole log."""


class JobLogs(Answer):
    logs: str


class JobStopped(Answer):
    stopped: bool


# --- the cluster and its metrics ------------------------------------------------------------
class ClusterTotals(Answer):
    cpus_total: float
    cpus_used: float
    memory_total_bytes: float
    memory_used_bytes: float
    object_store_total_bytes: float
    object_store_used_bytes: float


class ClusterNode(ClusterTotals):
    node_id: str
    address: str
    alive: bool
    is_head: bool
    resources: dict[str, float]
    """Ray's resources of the node (CPU, memory, custom ones)."""


class ServeDeployment(Answer):
    name: str
    status: str
    replicas_running: int
    replicas_target: int
    message: str


class ServeApplication(Answer):
    name: str
    status: str
    message: str
    deployments: list[ServeDeployment]


class ServeState(Answer):
    applications: list[ServeApplication]


class Links(Answer):
    ray_dashboard: str
    mlflow: str


class ClusterInfo(Answer):
    nodes: list[ClusterNode]
    totals: ClusterTotals
    """Of the alive nodes."""
    serve: ServeState
    jobs: list[Job]
    """The ten newest."""
    links: Links


class TimeseriesQuery(Query):
    minutes: float = Field(10, ge=0.1, le=60)
    """How far back."""


class TimePoint(Answer):
    t: float
    """Start of the bin, epoch seconds."""
    requests_per_s: float
    errors_per_s: float
    """5xx and 429 answers per second."""
    p50_ms: float | None
    p99_ms: float | None


class RequestTotals(Answer):
    requests: int
    errors: int


class ModelTraffic(Answer):
    model: str
    version: str
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None


class TimeSeries(Answer):
    interval_s: float
    """The width of a bin."""
    points: list[TimePoint]
    totals: RequestTotals
    by_model: list[ModelTraffic]


# --- benchmarks ----------------------------------------------------------------------------
class ServingSummary(Answer):
    throughput_rps: float
    rows_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    requests: int


class TrainingSummary(Answer):
    sequential_s: float
    parallel_s: float
    speedup: float | None
    n_configs: int
    best_score_sequential: float
    best_score_parallel: float


class ServingBenchmark(Answer):
    """A result file of `python -m jobs.benchmark serving`."""

    id: str
    kind: Literal["serving"]
    created_at: float
    settings: dict[str, Any]
    summary: ServingSummary
    raw: dict[str, Any]


class TrainingBenchmark(Answer):
    """A result file of `python -m jobs.benchmark training`."""

    id: str
    kind: Literal["training"]
    created_at: float
    settings: dict[str, Any]
    summary: TrainingSummary
    raw: dict[str, Any]


class BenchmarkResults(Answer):
    """Newest first, at most 100."""

    results: list[Annotated[ServingBenchmark | TrainingBenchmark, Field(discriminator="kind")]]
