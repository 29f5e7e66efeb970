"""Request metrics of the serving path: what an ingress replica counts (`Delta`), and what the
Metrics deployment keeps of them (`MetricsCore`): counters and latency histograms per model and
version, batch sizes, errors by status, 5 s bins for the UI's charts, Prometheus text.

Plain Python: the Ray Serve deployment that holds a `MetricsCore` is serve_app/metrics.py.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
        return not self.requests


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

    def prometheus(self, name: str, labels: str) -> list[str]:
        lines, cumulative = [], 0
        sep = "," if labels else ""
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {cumulative}')
        lines.append(f"{name}_sum{{{labels}}} {self.total:.6f}")
        lines.append(f"{name}_count{{{labels}}} {self.n}")
        return lines


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

    def prometheus(self, cluster: dict[str, Any] | None = None) -> str:
        lines = [
            "# HELP rayline_requests_total HTTP requests by route, model, version and status.",
            "# TYPE rayline_requests_total counter",
        ]
        for (route, model, version, status), count in sorted(self.requests.items()):
            lines.append(
                f'rayline_requests_total{{route="{route}",model="{model}",'
                f'version="{version}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP rayline_request_latency_seconds Prediction latency seen by the ingress.",
            "# TYPE rayline_request_latency_seconds histogram",
        ]
        for (model, version), hist in sorted(self.latency.items()):
            lines += hist.prometheus(
                "rayline_request_latency_seconds", f'model="{model}",version="{version}"'
            )
        lines += [
            "# HELP rayline_batch_size Rows per predictor batch.",
            "# TYPE rayline_batch_size histogram",
            *self.batches.prometheus("rayline_batch_size", ""),
        ]
        if cluster:
            totals = cluster["totals"]
            lines += [
                "# HELP rayline_cluster_nodes Alive Ray nodes.",
                "# TYPE rayline_cluster_nodes gauge",
                f"rayline_cluster_nodes {sum(1 for n in cluster['nodes'] if n['alive'])}",
            ]
            for key in CLUSTER_TOTALS:
                lines += [
                    f"# TYPE rayline_cluster_{key} gauge",
                    f"rayline_cluster_{key} {totals[key]}",
                ]
        return "\n".join(lines) + "\n"
