"""Metrics deployment: request counters and latency histograms per model and version, batch
sizes, errors by status, and the cluster's state; Prometheus text for scrapers, JSON for the UI.

Ingress replicas count locally and hand over a delta every second, so the request path never
waits on this deployment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from ray import serve

from rayline.ray_api import dashboard_get
from rayline.settings import Settings, get_settings
from serve_app._ray_patches import available_resources_per_node
from serve_app.jobs import Jobs, enum_text, reap_orphaned_runs

log = logging.getLogger("ray.serve")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 10_000)
BIN_S = 5.0
KEEP_BINS = 720  # one hour of 5 s bins
CLUSTER_CACHE_S = 2.0
"""How long the cluster's state is answered from cache: the UI polls it from every tab."""
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


def cluster_state(settings: Settings) -> dict[str, Any]:
    """Nodes (CPU, memory, object store) and the Serve applications."""
    available = available_resources_per_node()
    summary = dashboard_get(settings, "/nodes?view=summary")["data"]["summary"]
    nodes = []
    for item in summary:
        raylet = item.get("raylet", {})
        node_id = raylet.get("nodeId", "")
        total = raylet.get("resourcesTotal", {})
        mem = item.get("mem") or [0, 0, 0, 0]
        store_used = raylet.get("objectStoreUsedMemory", 0)
        nodes.append(
            {
                "node_id": node_id,
                "address": raylet.get("nodeManagerAddress", item.get("ip", "")),
                "alive": raylet.get("state") == "ALIVE",
                "is_head": bool(raylet.get("isHeadNode")),
                "cpus_total": total.get("CPU", 0),
                "cpus_used": total.get("CPU", 0) - available.get(node_id, {}).get("CPU", 0),
                "memory_total_bytes": mem[0],
                "memory_used_bytes": mem[0] - mem[1],
                "object_store_total_bytes": store_used
                + raylet.get("objectStoreAvailableMemory", 0),
                "object_store_used_bytes": store_used,
                "resources": {k: v for k, v in total.items() if not k.startswith("node:")},
            }
        )
    alive = [n for n in nodes if n["alive"]]
    totals = {k: sum(n[k] for n in alive) for k in CLUSTER_TOTALS}
    return {"nodes": nodes, "totals": totals, "serve": serve_state()}


def serve_state() -> dict[str, Any]:
    status = serve.status()
    apps = []
    for name, app in status.applications.items():
        deployments = []
        for dep_name, dep in app.deployments.items():
            counts = {enum_text(k): int(v) for k, v in (dep.replica_states or {}).items()}
            deployments.append(
                {
                    "name": dep_name,
                    "status": enum_text(dep.status),
                    "replicas_running": int(counts.get("RUNNING", 0)),
                    "replicas_target": int(sum(counts.values())),
                    "message": dep.message or "",
                }
            )
        apps.append(
            {
                "name": name,
                "status": enum_text(app.status),
                "message": app.message or "",
                "deployments": deployments,
            }
        )
    return {"applications": apps}


@serve.deployment(name="Metrics", num_replicas=1, max_ongoing_requests=64)
class Metrics:
    """One replica that owns the counters and caches cluster state for a few seconds."""

    def __init__(self, reap_interval_s: float = 15.0) -> None:
        self.core = MetricsCore()
        self.settings = get_settings()
        self._cluster: tuple[float, dict[str, Any]] | None = None
        self._reaper = asyncio.get_running_loop().create_task(self._reap(reap_interval_s))

    async def _reap(self, interval_s: float) -> None:
        """Housekeeping for killed training drivers: their MLflow runs end FAILED."""
        jobs = Jobs(self.settings)
        while True:
            await asyncio.sleep(interval_s)
            try:
                marked = await asyncio.to_thread(
                    reap_orphaned_runs, jobs, self.settings.tracking_uri, self.settings.experiment
                )
            except (MlflowException, OSError, RuntimeError) as exc:
                log.warning("could not check for orphaned training runs: %s", exc)
                continue
            for run_id in marked:
                log.warning(
                    "marked MLflow run %s FAILED: its Ray job ended without ending it", run_id
                )

    async def ingest(self, delta: Delta) -> None:
        self.core.ingest(delta)

    async def timeseries(self, minutes: float = 10) -> dict[str, Any]:
        return self.core.timeseries(minutes)

    async def cluster(self) -> dict[str, Any]:
        if self._cluster and time.monotonic() - self._cluster[0] < CLUSTER_CACHE_S:
            return self._cluster[1]
        state = await asyncio.to_thread(cluster_state, self.settings)
        self._cluster = (time.monotonic(), state)
        return state

    async def prometheus(self) -> str:
        try:
            cluster = await self.cluster()
        except OSError:
            cluster = None
        return self.core.prometheus(cluster)
