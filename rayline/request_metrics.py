"""Request metrics of the serving path: what an ingress replica counts (`Delta`), and what the
Metrics deployment keeps of them (`MetricsCore`): counters and latency histograms per model and
version, batch sizes, errors by status, 5 s bins for the UI's charts, Prometheus families.

Plain Python: the Ray Serve deployment that holds a `MetricsCore` is serve_app/metrics.py.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from rayline.monitoring.live import LiveBatch

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 10_000)
BIN_S = 5.0
KEEP_BINS = 720  # one hour of 5 s bins
CLUSTER_TOTALS = (
    "cpus_total",
    "cpus_used",
    "memory_total_bytes",
    "memory_used_bytes",
    "object_store_total_bytes",
    "object_store_used_bytes",
)
"""The node figures the cluster's state sums over alive nodes (and /metrics exports as gauges)."""


@dataclass
class Delta:
    """What one ingress replica saw since its last flush."""

    requests: dict[tuple[str, str, str, int], int] = field(default_factory=dict)
    """(route, model, version, status) → count."""
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(model, version) → seconds of each prediction request."""
    batch_sizes: list[int] = field(default_factory=list)
    live: LiveBatch = field(default_factory=LiveBatch)
    """Live profiles and predicted rows, for monitoring."""

    def add(
        self,
        route: str,
        model: str,
        version: str,
        status: int,
        seconds: float,
        batch_size: int | None,
    ) -> None:
        key = (route, model, version, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if model:
            self.latencies.setdefault((model, version), []).append(seconds)
        if batch_size:
            self.batch_sizes.append(batch_size)

    def empty(self) -> bool:
        return not self.requests and self.live.empty()


class Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe_many(self, values: list[float]) -> None:
        if not values:
            return
        indices = np.searchsorted(self.bounds, values, side="left")
        for i in indices:
            self.counts[int(i)] += 1
        self.total += float(sum(values))
        self.n += len(values)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts per upper bound, as Prometheus histograms carry them."""
        cumulative = np.cumsum(self.counts).tolist()
        bounds = [f"{b:g}" for b in self.bounds] + ["+Inf"]
        return list(zip(bounds, cumulative, strict=True))


class MetricsCore:
    """Aggregation without Serve, so it can be unit-tested."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.recent: dict[tuple[str, str], deque[float]] = {}
        self.batches = Histogram(tuple(float(b) for b in BATCH_BUCKETS))
        self.bins: deque[dict[str, Any]] = deque(maxlen=KEEP_BINS)

    def ingest(self, delta: Delta, now: float | None = None) -> None:
        now = time.time() if now is None else now
        start = now - now % BIN_S
        if not self.bins or self.bins[-1]["t"] != start:
            self.bins.append({"t": start, "requests": 0, "errors": 0, "latencies": []})
        current = self.bins[-1]
        for key, count in delta.requests.items():
            self.requests[key] += count
            current["requests"] += count
            if key[3] >= 500 or key[3] == 429:
                current["errors"] += count
        for model_key, values in delta.latencies.items():
            self.latency.setdefault(model_key, Histogram(LATENCY_BUCKETS_S)).observe_many(values)
            self.recent.setdefault(model_key, deque(maxlen=5000)).extend(values)
            current["latencies"].extend(values[:2000])
        self.batches.observe_many([float(b) for b in delta.batch_sizes])

    def timeseries(self, minutes: float, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        since = now - minutes * 60
        points = []
        for b in self.bins:
            if b["t"] < since:
                continue
            lat = np.array(b["latencies"]) * 1000
            points.append(
                {
                    "t": b["t"],
                    "requests_per_s": b["requests"] / BIN_S,
                    "errors_per_s": b["errors"] / BIN_S,
                    "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                    "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
                }
            )
        by_model = []
        for (model, version), values in sorted(self.recent.items()):
            lat = np.array(values) * 1000
            requests = sum(c for k, c in self.requests.items() if k[1:3] == (model, version))
            errors = sum(
                c
                for k, c in self.requests.items()
                if k[1:3] == (model, version) and (k[3] >= 500 or k[3] == 429)
            )
            by_model.append(
                {
                    "model": model,
                    "version": version,
                    "requests": requests,
                    "errors": errors,
                    "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                    "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
                }
            )
        return {
            "interval_s": BIN_S,
            "points": points,
            "totals": {
                "requests": sum(self.requests.values()),
                "errors": sum(c for k, c in self.requests.items() if k[3] >= 500 or k[3] == 429),
            },
            "by_model": by_model,
        }

    def families(self, cluster: dict[str, Any] | None = None) -> list[Metric]:
        """Request counters, latency and batch-size histograms, and the cluster's totals."""
        requests = CounterMetricFamily(
            "rayline_requests",
            "HTTP requests by route, model, version and status.",
            labels=["route", "model", "version", "status"],
        )
        for (route, model, version, status), count in sorted(self.requests.items()):
            requests.add_metric([route, model, version, str(status)], count)
        latency = HistogramMetricFamily(
            "rayline_request_latency_seconds",
            "Prediction latency seen by the ingress.",
            labels=["model", "version"],
        )
        for (model, version), hist in sorted(self.latency.items()):
            latency.add_metric([model, version], hist.buckets(), hist.total)
        batches = HistogramMetricFamily("rayline_batch_size", "Rows per predictor batch.")
        batches.add_metric([], self.batches.buckets(), self.batches.total)
        families: list[Metric] = [requests, latency, batches]
        if cluster:
            alive = sum(1 for n in cluster["nodes"] if n["alive"])
            families.append(GaugeMetricFamily("rayline_cluster_nodes", "Alive Ray nodes.", alive))
            for key in CLUSTER_TOTALS:
                # `_total` is for counters: cpus_total → rayline_cluster_cpus, and so on.
                name = f"rayline_cluster_{key.replace('_total', '')}"
                help_text = f"{key.replace('_', ' ').capitalize()}, summed over alive nodes."
                families.append(GaugeMetricFamily(name, help_text, cluster["totals"][key]))
        return families
