"""Drift: how far a live profile is from the model's reference, per feature and for predictions.

Distances on the binned profiles (`rayline.monitoring.profile`), with p the reference's and q the
live window's bin proportions (each floored at `EPS`):
- PSI (numeric default): sum((q - p) * ln(q / p)); drifted above `numeric_threshold` (0.1).
- Wasserstein (numeric, optional): the earth mover's distance between the two binned
  distributions, bins at their centres, divided by the reference's standard deviation.
- Jensen-Shannon (categorical): the JS distance, base 2 (0 to 1); drifted above 0.1.
- Small windows (fewer than `small_window_rows` live rows): a two-sample Kolmogorov-Smirnov test
  on the binned CDFs for numbers, a chi-square goodness-of-fit test for categories; drifted when
  p < `p_value`.
No verdict below `min_rows` live rows. A model drifts when at least `feature_share` of its
features drift, or its predictions do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field
from scipy import stats
from scipy.spatial.distance import jensenshannon

from rayline.config import Strict
from rayline.monitoring.profile import PREDICTION, Column, Profile

EPS = 1e-4
"""Floor of a bin's proportion in PSI, so an empty bin does not make the distance infinite."""

Verdict = Literal["drift", "no_drift", "insufficient_data", "no_reference"]


class MonitoringConfig(Strict):
    """How one served model is watched (`args.models[].monitoring` in serve_config.yaml)."""

    enabled: bool = True
    """Profile live traffic and keep predictions for feedback; false turns both off."""
    window_s: float = Field(3600, ge=60, le=7 * 86_400)
    """The live window: drift compares the rows of the last `window_s` seconds."""
    min_rows: int = Field(100, ge=1)
    """No drift verdict before the window holds this many rows."""
    small_window_rows: int = Field(500, ge=1)
    """Below this many rows the window is judged by statistical tests (KS, chi-square)."""
    numeric_method: Literal["psi", "wasserstein"] = "psi"
    """Distance for numeric features (and a regressor's predictions)."""
    numeric_threshold: float = Field(0.1, gt=0)
    """A numeric feature drifts above this PSI (or normalised Wasserstein) distance."""
    categorical_threshold: float = Field(0.1, gt=0, le=1)
    """A categorical feature drifts above this Jensen-Shannon distance."""
    p_value: float = Field(0.05, gt=0, lt=1)
    """Small windows: a feature drifts when its test's p-value is below this."""
    feature_share: float = Field(0.5, gt=0, le=1)
    """The model drifts when at least this share of its features drift."""
    quality_window_rows: int = Field(1000, ge=10)
    """Live quality is computed on the most recent labelled rows, at most this many."""
    min_labels: int = Field(50, ge=1)
    """No quality verdict before this many labelled rows."""
    max_quality_drop: float = Field(0.05, gt=0)
    """Quality alarm: live accuracy below the test accuracy by more than this (classification),
    or live RMSE above the test RMSE by more than this share of it (regression)."""
    retention_s: float = Field(7 * 86_400, ge=60)
    """Predictions are kept this long for feedback (seconds)."""
    retention_rows: int = Field(1_000_000, ge=1000)
    """At most this many predicted rows are kept per model; the oldest go first."""


@dataclass
class FeatureDrift:
    name: str
    kind: str
    method: str
    score: float
    threshold: float
    p_value: float | None
    drifted: bool
    bins: list[str]
    reference: list[float]
    live: list[float]

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index of live proportions `q` against reference `p`."""
    p, q = np.maximum(p, EPS), np.maximum(q, EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2: 0 for equal distributions, 1 for disjoint ones."""
    if not p.sum() or not q.sum():
        return 0.0
    return float(jensenshannon(p, q, base=2))


def centres(column: Column) -> np.ndarray:
    """A representative value per numeric bin: inner bins their midpoint, the open-ended outer
    bins the reference's min and max (or one bin width beyond the edge)."""
    edges = np.asarray(column.edges)
    if not len(edges):
        return np.array([column.mean()])
    width = float(np.diff(edges).mean()) if len(edges) > 1 else 1.0
    low = column.low if np.isfinite(column.low) and column.low < edges[0] else edges[0] - width
    high = column.high if np.isfinite(column.high) and column.high > edges[-1] else edges[-1]
    return np.concatenate([[low], (edges[1:] + edges[:-1]) / 2, [high]])


def wasserstein(reference: Column, p: np.ndarray, q: np.ndarray) -> float:
    """Earth mover's distance between the binned distributions, in reference std units."""
    at = centres(reference)
    distance = float(np.sum(np.abs(np.cumsum(p - q))[:-1] * np.diff(at)))
    std = reference.std()
    return distance / std if std > 0 else distance


def ks_binned(reference: Column, live: Column) -> tuple[float, float]:
    """KS statistic and asymptotic p-value on the binned CDFs (grouped data: conservative)."""
    n, m = reference.n, live.n
    d = float(np.max(np.abs(np.cumsum(reference.proportions() - live.proportions()))))
    effective = n * m / (n + m)
    return d, float(stats.kstwobign.sf(d * np.sqrt(effective)))


def chi_square(reference: Column, live: Column) -> tuple[float, float]:
    """Chi-square goodness of fit of the live counts to the reference proportions."""
    expected = np.maximum(reference.proportions(), EPS)
    expected = expected / expected.sum() * live.n
    result = stats.chisquare(live.counts, expected)
    return float(result.statistic), float(result.pvalue)


def column_drift(
    name: str, reference: Column, live: Column, config: MonitoringConfig
) -> FeatureDrift:
    """One column's distance (or test) and whether it drifted."""
    p, q = reference.proportions(), live.proportions()
    p_value = None
    if live.n < config.small_window_rows:
        test = ks_binned if reference.kind == "numeric" else chi_square
        score, p_value = test(reference, live)
        method, threshold = ("ks" if reference.kind == "numeric" else "chi2"), config.p_value
        drifted = p_value < config.p_value
    elif reference.kind == "numeric":
        method, threshold = config.numeric_method, config.numeric_threshold
        score = psi(p, q) if method == "psi" else wasserstein(reference, p, q)
        drifted = score > threshold
    else:
        method, threshold = "js", config.categorical_threshold
        score = js_distance(p, q)
        drifted = score > threshold
    return FeatureDrift(
        name,
        reference.kind,
        method,
        round(score, 6),
        threshold,
        None if p_value is None else round(p_value, 6),
        bool(drifted),
        reference.bin_labels(),
        [round(float(x), 6) for x in p],
        [round(float(x), 6) for x in q],
    )


@dataclass
class DriftReport:
    verdict: Verdict
    rows: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    drifted_share: float

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rows": self.rows,
            "drifted_share": self.drifted_share,
            "features": [f.to_json() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_json(),
        }


def drift_report(reference: Profile, live: Profile, config: MonitoringConfig) -> DriftReport:
    """Every feature's drift (most drifted first), the prediction's, and the model's verdict."""
    if live.rows < config.min_rows:
        return DriftReport("insufficient_data", live.rows, [], None, 0.0)
    features = [
        column_drift(name, reference.columns[name], live.columns[name], config)
        for name in reference.features
        if name in live.columns and live.columns[name].n
    ]
    features.sort(key=lambda f: (not f.drifted, -f.score if f.p_value is None else f.p_value))
    prediction = None
    if PREDICTION in reference.columns and PREDICTION in live.columns:
        prediction = column_drift(
            PREDICTION, reference.columns[PREDICTION], live.columns[PREDICTION], config
        )
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    drifted = share >= config.feature_share or (prediction is not None and prediction.drifted)
    return DriftReport(
        "drift" if drifted else "no_drift", live.rows, features, prediction, round(share, 6)
    )
