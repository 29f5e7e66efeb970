"""Request and configuration schemas of the Serve application (pydantic).

The builder's args and the Ingress's `user_config` (serve_config.yaml), and the request
bodies, which are also the OpenAPI document's schemas. The routes turn bodies into
`rayline.rows.Rows`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from rayline.config import Strict
from rayline.monitoring.drift import MonitoringConfig
from rayline.scheduling import ScheduleSpec
from serve_app.open_inference import DTYPES


class ServedModel(Strict):
    """A registered model the application serves, by alias."""

    name: str = Field(min_length=1)
    alias: str = "champion"
    monitoring: MonitoringConfig = MonitoringConfig()
    """Drift, feedback and live-quality settings (README "Monitoring")."""

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.alias}"


class AppArgs(Strict):
    """Typed builder arguments (`applications[].args` in serve_config.yaml)."""

    models: list[ServedModel] = Field(min_length=1)
    """Models served by alias; the first is the default for `/predict` and `/invocations`."""
    max_body_bytes: int = Field(5_000_000, ge=1_000)
    """Larger request bodies get 413."""
    max_rows: int = Field(10_000, ge=1)
    """Most rows one prediction request may carry (422 beyond)."""
    max_inflight: int = Field(256, ge=1)
    """Concurrent requests one ingress replica accepts before answering 429 with Retry-After."""
    flush_interval_s: float = Field(1.0, gt=0)
    """How often the ingress hands its request counters to the Metrics deployment."""
    schedules: list[ScheduleSpec] = []
    """Training runs that start by themselves (cron, interval, new data); see README Schedules."""
    scheduler_tick_s: float = Field(5.0, gt=0, le=60)
    """How often the scheduler looks for due schedules and follows running ones."""

    @property
    def default_model(self) -> ServedModel:
        return self.models[0]


class PredictorConfig(Strict):
    """The predictor's live knobs (`serve_app.predictor`), one per Ingress replica."""

    poll_interval_s: float = Field(5.0, gt=0, le=3600)
    """How often each replica asks the registry where the aliases it serves point."""
    max_batch_size: int = Field(256, ge=1, le=100_000)
    """Most rows one predict call scores together; a larger request is scored on its own."""
    batch_wait_timeout_s: float = Field(0.0, ge=0, le=10)
    """How long a request waits for others to join its batch. 0: no wait; the requests that
    arrive while one batch is scored form the next (lowest latency alone, full batches under
    load)."""


class IngressConfig(Strict):
    """`user_config` of the Ingress deployment in serve_config.yaml, applied by
    `reconfigure()` without restarting replicas."""

    predictor: PredictorConfig = PredictorConfig()

    @classmethod
    def from_user_config(cls, user_config: dict[str, Any]) -> IngressConfig:
        """Validated `user_config`; a ValueError naming the key and the file otherwise."""
        try:
            return cls.model_validate(user_config)
        except ValidationError as exc:
            problems = []
            for item in exc.errors(include_input=False, include_url=False):
                key = ".".join(str(p) for p in item["loc"]) or "user_config"
                if item["type"] == "extra_forbidden":
                    section = cls if len(item["loc"]) == 1 else PredictorConfig
                    allowed = ", ".join(section.model_fields)
                    problems.append(f"unknown key '{key}' (allowed: {allowed})")
                else:
                    problems.append(f"'{key}': {item['msg']}")
            raise ValueError(
                "serve_config.yaml, deployment Ingress, user_config: " + "; ".join(problems)
            ) from None


# --- request bodies (also the OpenAPI schemas) -------------------------------------------
class PredictRequest(Strict):
    """Rayline's own prediction body."""

    # Lists first: pydantic tries the members in order, and a body of lists failing every row
    # as an object first took 1.97 ms to validate for 1000 rows instead of 1.33.
    instances: (
        Annotated[list[list[Any]], Field(min_length=1)]
        | Annotated[list[dict[str, Any]], Field(min_length=1)]
    )
    """Rows as lists in the signature's column order, or as objects keyed by column."""
    return_proba: bool = True
    """Also return class probabilities (classification models)."""


class DataframeSplit(Strict):
    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The body keys of MLflow's scoring protocol; a request gives exactly one."""


class MlflowRequest(Strict):
    """MLflow scoring protocol: exactly one of these keys."""

    # Each format absent or given, never null (as the schema says).
    dataframe_split: DataframeSplit | SkipJsonSchema[None] = None
    dataframe_records: list[dict[str, Any]] | SkipJsonSchema[None] = None
    instances: list[Any] | SkipJsonSchema[None] = None
    inputs: list[Any] | dict[str, list[Any]] | SkipJsonSchema[None] = None
    params: dict[str, Any] | None = None
    """Refused unless empty: Rayline's models take no inference parameters."""


class V2Tensor(Strict):
    """An input tensor: `data` in JSON (flat or nested, row-major), or its bytes after the
    JSON header (binary tensor data extension: `parameters.binary_data_size`, sent as
    application/octet-stream; the JSON body, documented here, always carries `data`)."""

    model_config = ConfigDict(json_schema_extra={"required": ["name", "shape", "datatype", "data"]})

    name: str = Field(min_length=1, max_length=256)
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=8)
    datatype: str = Field(json_schema_extra={"enum": list(DTYPES)})
    """BOOL, UINT8-64, INT8-64, FP16/32/64 or BYTES."""
    data: list[Any] | SkipJsonSchema[None] = None
    parameters: dict[str, Any] | None = None


class V2RequestedOutput(Strict):
    name: str
    """`predict`, or `predict_proba` for a classifier with probabilities."""
    parameters: dict[str, Any] | None = None
    """`binary_data: true` answers this output as bytes after the JSON header."""


class V2Request(Strict):
    """Open Inference Protocol (KServe V2) inference request."""

    id: str | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[V2RequestedOutput] | None = None
    """The outputs to answer; all of them when absent."""
    parameters: dict[str, Any] | None = None
    """`binary_data_output: true` answers every output as bytes after the JSON header."""


class AliasRequest(Strict):
    version: str = Field(pattern=r"^[0-9]{1,9}$")


class JobRequest(Strict):
    """Train a shipped config by name, or an inline spec (the config's schema)."""

    config: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    spec: dict[str, Any] | None = None


class BenchmarkRequest(Strict):
    kind: Literal["serving", "training"]
    model: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    alias: str = Field("champion", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    duration_s: float = Field(10, ge=1, le=300)
    concurrency: int = Field(8, ge=1, le=256)
    rows_per_request: int = Field(1, ge=1, le=10_000)
    dataset: str = Field("breast_cancer", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    n_configs: int = Field(24, ge=2, le=200)
