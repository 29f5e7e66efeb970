"""Request and configuration schemas of the Serve application, and the protocol parsers.

Every prediction protocol (Rayline JSON, MLflow scoring, Open Inference Protocol V2, CSV) is
parsed here into one `Rows` value; the predictor validates rows against the model signature.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rayline.scheduling import ScheduleSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServedModel(Strict):
    """A registered model the application serves, by alias."""

    name: str = Field(min_length=1)
    alias: str = "champion"

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


class HttpError(Exception):
    """An error a client caused or must wait out; `detail` never echoes their input."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


_PLAIN_NUMBERS = frozenset({int, float})
_EXACT_INT = 2**53
"""Larger integers are not exact as float64; such rows keep their Python values."""


def numeric_matrix(data: list[list[Any]]) -> np.ndarray | None:
    """`data` as one float64 matrix when every row is a list of the same length and every value
    a finite int or float (ints within +-2**53, exact as floats); None otherwise."""
    try:
        kinds = {type(value) for row in data for value in row}
    except TypeError:  # a row that is not a list
        return None
    if not kinds <= _PLAIN_NUMBERS:  # bool is its own type: True/False never pass as numbers
        return None
    if int in kinds and any(
        type(value) is int and abs(value) > _EXACT_INT for row in data for value in row
    ):
        return None
    try:
        values = np.array(data, dtype=np.float64)
    except ValueError:  # ragged or nested rows
        return None
    if values.ndim != 2 or not np.all(np.abs(values) <= 1e300):  # NaN fails this too
        return None
    return values


@dataclass
class Rows:
    """Tabular input: optional column names and row-major values."""

    columns: list[str] | None
    data: list[list[Any]]
    numbers: np.ndarray | None = None
    """The rows as one float64 matrix when all values are plain finite numbers; `check` sets
    it and drops `data`, so the predictor receives one buffer instead of a list per row."""

    def __len__(self) -> int:
        return len(self.data) if self.numbers is None else len(self.numbers)

    def lists(self) -> list[list[Any]]:
        """The rows as lists of values, whichever form they are held in."""
        return self.data if self.numbers is None else self.numbers.tolist()

    def check(self, max_rows: int) -> Rows:
        """Validate the shape; returns the rows to send on (as a matrix when all numeric)."""
        if len(self) == 0:
            raise HttpError(422, "no rows to predict")
        if len(self) > max_rows:
            raise HttpError(422, f"too many rows: {len(self)} > {max_rows} per request")
        if self.numbers is not None:
            return self
        width = len(self.columns) if self.columns is not None else len(self.data[0])
        numbers = numeric_matrix(self.data)
        if numbers is not None and numbers.shape[1] == width:
            return Rows(self.columns, [], numbers)
        for index, row in enumerate(self.data):
            if not isinstance(row, list) or len(row) != width:
                raise HttpError(422, f"row {index}: expected a list of {width} values")
            for value in row:
                if isinstance(value, (list, dict)):
                    raise HttpError(422, f"row {index}: values must be scalars, not nested")
        return self


# --- request bodies (also the OpenAPI schemas) -------------------------------------------
class PredictRequest(Strict):
    """Rayline's own prediction body."""

    instances: list[dict[str, Any]] | list[list[Any]] = Field(min_length=1)
    """Rows as objects keyed by column, or as lists in the signature's column order."""
    return_proba: bool = True
    """Also return class probabilities (classification models)."""


class DataframeSplit(Strict):
    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


class MlflowRequest(BaseModel):
    """MLflow scoring protocol: exactly one of these keys."""

    model_config = ConfigDict(extra="forbid")
    dataframe_split: DataframeSplit | None = None
    dataframe_records: list[dict[str, Any]] | None = None
    instances: list[Any] | None = None
    inputs: list[Any] | dict[str, list[Any]] | None = None
    params: dict[str, Any] | None = None


class V2Tensor(Strict):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class V2Request(Strict):
    """Open Inference Protocol (KServe V2) inference request."""

    id: str | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


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


# --- protocol parsers ---------------------------------------------------------------------
def _records(records: list[dict[str, Any]]) -> Rows:
    columns: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            raise HttpError(422, "records must all be objects keyed by column")
        for key in record:
            if key not in columns:
                columns.append(key)
    return Rows(columns, [[record.get(c) for c in columns] for record in records])


def _columnar(inputs: dict[str, list[Any]]) -> Rows:
    columns = list(inputs)
    lengths = {len(v) if isinstance(v, list) else -1 for v in inputs.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise HttpError(422, "inputs: every column needs a list of the same length")
    return Rows(columns, [list(row) for row in zip(*inputs.values(), strict=True)])


def _instances(instances: list[Any]) -> Rows:
    if all(isinstance(row, dict) for row in instances):
        return _records(instances)
    if all(isinstance(row, list) for row in instances):
        return Rows(None, instances)
    raise HttpError(422, "instances: use a list of objects or a list of lists")


def parse_predict(body: PredictRequest) -> Rows:
    return _instances(list(body.instances))


def parse_mlflow(body: MlflowRequest) -> Rows:
    given = [
        k
        for k in ("dataframe_split", "dataframe_records", "instances", "inputs")
        if getattr(body, k) is not None
    ]
    if len(given) != 1:
        raise HttpError(
            422, "give exactly one of dataframe_split, dataframe_records, instances, inputs"
        )
    if body.dataframe_split is not None:
        return Rows(body.dataframe_split.columns, body.dataframe_split.data)
    if body.dataframe_records is not None:
        return _records(body.dataframe_records)
    if isinstance(body.inputs, dict):
        return _columnar(body.inputs)
    return _instances(list(body.instances or body.inputs or []))


def parse_csv(text: str) -> Rows:
    try:
        return _read_csv(text)
    except csv.Error as exc:  # e.g. a bare carriage return inside an unquoted field
        raise HttpError(400, f"CSV body is malformed: {exc}") from None


def _read_csv(text: str) -> Rows:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise HttpError(422, "CSV body is empty; the first line must name the columns") from None
    data: list[list[Any]] = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise HttpError(422, f"CSV line {line_no}: expected {len(header)} fields")
        data.append([_csv_value(cell) for cell in row])
    return Rows([h.strip() for h in header], data)


def _csv_value(cell: str) -> Any:
    text = cell.strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return (
        int(number)
        if number.is_integer() and "." not in text and "e" not in text.lower()
        else number
    )


def parse_v2(body: V2Request) -> Rows:
    """One tensor of shape [n, k] (columns in signature order) or one [n] tensor per column."""
    if len(body.inputs) == 1 and len(body.inputs[0].shape) == 2:
        tensor = body.inputs[0]
        rows, width = tensor.shape
        if rows * width != len(tensor.data) or rows < 1 or width < 1:
            raise HttpError(422, f"input {tensor.name}: shape does not match its data length")
        flat = tensor.data
        return Rows(None, [flat[i * width : (i + 1) * width] for i in range(rows)])
    columns = {}
    for tensor in body.inputs:
        if math.prod(tensor.shape) != len(tensor.data):
            raise HttpError(422, f"input {tensor.name}: shape does not match its data length")
        columns[tensor.name] = tensor.data
    return _columnar(columns)


V2_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "string": "BYTES",
    "boolean": "BOOL",
}
