"""Data profiles: a compact, mergeable summary of a table's columns and of a model's predictions.

Training builds a *reference* profile from the training rows and the held-out predictions and
stores it with the model; serving folds every predicted row into a *live* profile of the same
shape (same bin edges, same categories), so the two compare bin by bin. A profile is a few
kilobytes whatever the rows folded: numbers as fixed-bin counts plus count, missing, sum, sum of
squares, min and max; categories as counts of the reference's most frequent values plus one
`OTHER` bin. Merging adds counts, so windows of several replicas and minutes combine in any order.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

NUMERIC_BINS = 10
"""Bins of a numeric column: the reference's deciles (fewer for columns of few values)."""
TOP_K = 20
"""Categories kept by name; rarer ones, and any unseen in training, count as `OTHER`."""
OTHER = "__other__"
REFERENCE_FILE = "monitoring_reference.json"
"""The reference profile's file name among the model's extra files (under the integrity
manifest like every other file of the model)."""
PREDICTION = "prediction"
"""The name of the prediction column in a profile."""
Kind = Literal["numeric", "categorical"]


@dataclass
class Column:
    """One column's counts. Numeric: `edges` split the line into len(edges)+1 bins (the first
    and last open-ended). Categorical: `categories` name the bins, the last one is `OTHER`."""

    kind: Kind
    counts: np.ndarray
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    missing: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    @property
    def n(self) -> int:
        """Rows counted in the bins (missing values excluded)."""
        return int(self.counts.sum())

    def empty_like(self) -> Column:
        return Column(
            self.kind, np.zeros_like(self.counts), list(self.edges), list(self.categories)
        )

    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def std(self) -> float:
        if not self.n:
            return 0.0
        mean = self.mean()
        return float(np.sqrt(max(self.squares / self.n - mean * mean, 0.0)))

    def fold(self, values: np.ndarray) -> None:
        """Count `values` (a 1-D array of this column's values) into the bins."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=np.float64)
            present = numbers[~np.isnan(numbers)]
            self.missing += len(numbers) - len(present)
            if not len(present):
                return
            where = np.searchsorted(self.edges, present, side="right")
            self.counts += np.bincount(where, minlength=len(self.counts))
            self.total += float(present.sum())
            self.squares += float(np.dot(present, present))
            self.low = min(self.low, float(present.min()))
            self.high = max(self.high, float(present.max()))
            return
        index = {name: i for i, name in enumerate(self.categories)}
        other = len(self.categories) - 1
        for value, count in Counter(_label(v) for v in np.asarray(values).tolist()).items():
            if value is None:
                self.missing += count
            else:
                self.counts[index.get(value, other)] += count

    def merge(self, other: Column) -> None:
        """Add `other`'s counts (a column of the same edges or categories)."""
        self.counts += other.counts
        self.missing += other.missing
        self.total += other.total
        self.squares += other.squares
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def proportions(self) -> np.ndarray:
        n = self.n
        return self.counts / n if n else np.zeros(len(self.counts))

    def bin_labels(self) -> list[str]:
        """A short name per bin, for charts: `< 3.1`, `3.1 - 4.5`, `>= 9`, or the category."""
        if self.kind == "categorical":
            return list(self.categories)
        edges = [f"{e:.4g}" for e in self.edges]
        if not edges:
            return ["all"]
        middle = [f"{a} - {b}" for a, b in itertools.pairwise(edges)]
        return [f"< {edges[0]}", *middle, f">= {edges[-1]}"]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "counts": [int(c) for c in self.counts]}
        data["missing"] = self.missing
        if self.kind == "numeric":
            data |= {
                "edges": self.edges,
                "total": self.total,
                "squares": self.squares,
                "low": self.low if self.n else None,
                "high": self.high if self.n else None,
            }
        else:
            data["categories"] = self.categories
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Column:
        low, high = data.get("low"), data.get("high")
        return cls(
            kind=data["kind"],
            counts=np.asarray(data["counts"], dtype=np.int64),
            edges=[float(e) for e in data.get("edges", [])],
            categories=[str(c) for c in data.get("categories", [])],
            missing=int(data.get("missing", 0)),
            total=float(data.get("total", 0.0)),
            squares=float(data.get("squares", 0.0)),
            low=float("inf") if low is None else float(low),
            high=float("-inf") if high is None else float(high),
        )


@dataclass
class Profile:
    """Columns by name, in the model's input order, plus `PREDICTION`; `rows` folded in all."""

    columns: dict[str, Column]
    rows: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    """Of a reference: the model's held-out test metrics, to compare live quality with."""
    task: str = "classification"

    def empty_like(self) -> Profile:
        """A live profile with this one's bins, nothing counted."""
        return Profile({k: c.empty_like() for k, c in self.columns.items()}, 0, {}, self.task)

    @property
    def features(self) -> list[str]:
        return [name for name in self.columns if name != PREDICTION]

    def merge(self, other: Profile) -> Profile:
        """Add `other` (a profile of the same reference) into this one; returns self."""
        for name, column in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(column)
        self.rows += other.rows
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "task": self.task,
            "rows": self.rows,
            "metrics": self.metrics,
            "columns": {name: column.to_json() for name, column in self.columns.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        if data.get("format") != 1:
            raise ValueError(f"unknown profile format {data.get('format')!r} (expected 1)")
        return cls(
            columns={k: Column.from_json(v) for k, v in data["columns"].items()},
            rows=int(data.get("rows", 0)),
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            task=str(data.get("task", "classification")),
        )


def reference_profile(
    features: pd.DataFrame,
    predictions: Any,
    task: str,
    metrics: dict[str, float] | None = None,
    classes: list[Any] | None = None,
) -> Profile:
    """The reference of a model: bins from `features` (the training rows), every training row
    counted, and the distribution of `predictions` (on the held-out split). A classifier's
    prediction bins are its `classes`."""
    columns = {str(name): _column_for(features[name]) for name in features.columns}
    for name, column in columns.items():
        column.fold(features[name].to_numpy())
    predicted = np.asarray(predictions)
    if task == "classification":
        labels = [str(c) for c in (classes if classes is not None else np.unique(predicted))]
        bins = np.zeros(len(labels) + 1, np.int64)
        prediction = Column("categorical", bins, [], [*labels, OTHER])
    else:
        prediction = _column_for(pd.Series(predicted))
    prediction.fold(predicted)
    columns[PREDICTION] = prediction
    return Profile(columns, len(features), dict(metrics or {}), task)


def _column_for(values: pd.Series) -> Column:
    """Empty bins for one column: deciles for numbers (one bin per value when there are at most
    `NUMERIC_BINS` distinct values), the `TOP_K` most frequent values otherwise."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        numbers = numbers[~np.isnan(numbers)]
        distinct = np.unique(numbers)
        if len(distinct) <= NUMERIC_BINS:
            edges = ((distinct[1:] + distinct[:-1]) / 2).tolist()
        else:
            quantiles = np.quantile(numbers, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1])
            edges = np.unique(quantiles).tolist()
        return Column("numeric", np.zeros(len(edges) + 1, np.int64), [float(e) for e in edges])
    top = values.dropna().astype(str).value_counts().index[:TOP_K].tolist()
    categories = [str(c) for c in top if c != OTHER] + [OTHER]
    return Column("categorical", np.zeros(len(categories), np.int64), [], categories)


def _label(value: Any) -> str | None:
    """A categorical value as the text its bin is named by (None: missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


class Folder:
    """The serving path's live profile of one model version: every numeric feature binned in a
    few whole-matrix numpy operations per batch (edges padded to one width with +inf), however
    many features; `profile()` turns it into a `Profile` of the reference's shape."""

    def __init__(self, reference: Profile) -> None:
        self.reference = reference
        self.numeric = [n for n in reference.features if reference.columns[n].kind == "numeric"]
        self.categorical = [n for n in reference.features if n not in self.numeric]
        width = max((len(reference.columns[n].edges) for n in self.numeric), default=0)
        self.edges = np.full((len(self.numeric), width), np.inf)
        for row, name in enumerate(self.numeric):
            edges = reference.columns[name].edges
            self.edges[row, : len(edges)] = edges
        features = len(self.numeric)
        self.counts = np.zeros((features, width + 1), np.int64)
        self.offsets = np.arange(features) * (width + 1)
        self.missing = np.zeros(features, np.int64)
        self.total = np.zeros(features)
        self.squares = np.zeros(features)
        self.low = np.full(features, np.inf)
        self.high = np.full(features, -np.inf)
        self.rest = Profile(
            {
                n: reference.columns[n].empty_like()
                for n in (*self.categorical, PREDICTION)
                if n in reference.columns
            },
            task=reference.task,
        )
        self.rows = 0

    def fold(self, frame: pd.DataFrame, predictions: Any) -> None:
        """Count a scored frame (the model's input columns) and its predictions."""
        if self.numeric:
            if list(frame.columns) == self.numeric:
                matrix = frame.to_numpy(dtype=np.float64)
            else:
                matrix = frame[self.numeric].to_numpy(dtype=np.float64)
            absent = np.isnan(matrix)
            bins = (self.edges[None, :, :] <= matrix[:, :, None]).sum(axis=2) + self.offsets
            self.counts += np.bincount(bins[~absent], minlength=self.counts.size).reshape(
                self.counts.shape
            )
            self.missing += absent.sum(axis=0)
            present = np.where(absent, 0.0, matrix)
            self.total += present.sum(axis=0)
            self.squares += (present * present).sum(axis=0)
            self.low = np.fmin(self.low, np.fmin.reduce(matrix, axis=0))
            self.high = np.fmax(self.high, np.fmax.reduce(matrix, axis=0))
        for name in self.categorical:
            if name in frame:
                self.rest.columns[name].fold(frame[name].to_numpy())
        if PREDICTION in self.rest.columns:
            self.rest.columns[PREDICTION].fold(np.asarray(predictions))
        self.rows += len(frame)

    def profile(self) -> Profile:
        """What was folded, as a `Profile` with the reference's columns in its order."""
        columns: dict[str, Column] = {}
        for name in self.reference.columns:
            if name in self.rest.columns:
                columns[name] = self.rest.columns[name]
                continue
            row = self.numeric.index(name)
            bins = len(self.reference.columns[name].edges) + 1
            columns[name] = Column(
                "numeric",
                self.counts[row, :bins].copy(),
                list(self.reference.columns[name].edges),
                missing=int(self.missing[row]),
                total=float(self.total[row]),
                squares=float(self.squares[row]),
                low=float(self.low[row]),
                high=float(self.high[row]),
            )
        return Profile(columns, self.rows, {}, self.reference.task)
