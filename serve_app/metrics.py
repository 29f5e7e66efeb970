"""Metrics deployment: holds the request metrics (`rayline.request_metrics.MetricsCore`) and the
monitoring state (`rayline.monitoring.monitor.Monitor`: live windows, prediction log, feedback),
reads the cluster's state; Prometheus text for scrapers, JSON for the UI.

Ingress replicas count locally and hand over a delta every second, so the request path never
waits on this deployment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mlflow.exceptions import MlflowException
from ray import serve
from sqlalchemy.exc import SQLAlchemyError

from rayline.exposition import exposition, monitoring_families
from rayline.monitoring.drift import MonitoringConfig
from rayline.monitoring.live import issued_at
from rayline.monitoring.monitor import FeedbackItem, Monitor
from rayline.ray_api import dashboard_get
from rayline.request_metrics import CLUSTER_TOTALS, Delta, MetricsCore
from rayline.settings import Settings, get_settings
from rayline.state import open_store
from rayline.state.predictions import PredictionLog
from serve_app._ray_patches import available_resources_per_node
from serve_app.jobs import Jobs, enum_text, reap_orphaned_runs
from serve_app.scheduler import Scheduler

log = logging.getLogger("ray.serve")
WRITE_INTERVAL_S = 1.0
"""How often predicted rows are written to the state database."""
PRUNE_INTERVAL_S = 600.0
"""How often the prediction log's retention is applied."""
ARRIVAL_S = 3.0
"""A prediction reaches this deployment within this many seconds of its answer (the ingress
flushes every `flush_interval_s`, 1 s by default); feedback for a younger one waits for it."""
CLUSTER_CACHE_S = 2.0
"""How long the cluster's state is answered from cache: the UI polls it from every tab."""


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
    """One replica on the head: owns the counters, caches cluster state for a few seconds,
    keeps the monitoring state and runs the cluster's scheduler (`serve_app/scheduler.py`)."""

    def __init__(
        self,
        monitoring: dict[str, dict[str, Any]] | None = None,
        schedules: list[dict[str, Any]] | None = None,
        scheduler_tick_s: float = 5.0,
        reap_interval_s: float = 15.0,
    ) -> None:
        self.core = MetricsCore()
        self.settings = get_settings()
        configs = {k: MonitoringConfig.model_validate(v) for k, v in (monitoring or {}).items()}
        self.monitor = Monitor(configs, None)
        # on_drift schedules read the monitoring reports of this same replica.
        self.scheduler = Scheduler(schedules or [], scheduler_tick_s, self.monitor.report)
        self._cluster: tuple[float, dict[str, Any]] | None = None
        loop = asyncio.get_running_loop()
        self._reaper = loop.create_task(self._reap(reap_interval_s))
        self._writer = loop.create_task(self._write())

    async def _write(self) -> None:
        """Keep the predicted rows the replicas handed over (every second, in a thread) and
        apply the retention (every `PRUNE_INTERVAL_S`). The state database may be down: rows
        wait (bounded) and the next round tries again."""
        pruned_at = 0.0
        while True:
            await asyncio.sleep(WRITE_INTERVAL_S)
            try:
                if self.monitor.log is None:
                    store = await asyncio.to_thread(open_store, self.settings)
                    self.monitor.log = PredictionLog(store.engine)
                await asyncio.to_thread(self.monitor.write)
                if time.monotonic() - pruned_at > PRUNE_INTERVAL_S:
                    pruned_at = time.monotonic()
                    gone = await asyncio.to_thread(self.monitor.prune)
                    if gone:
                        log.info("pruned %d predicted rows past their retention", gone)
            except (SQLAlchemyError, OSError, ValueError) as exc:
                log.warning("cannot write predictions to the state database: %s", exc)

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
        self.monitor.ingest(delta.live)

    async def monitoring(self, model: str) -> dict[str, Any]:
        """Drift and live quality of `model` (`Monitor.report`)."""
        return await asyncio.to_thread(self.monitor.report, model)

    async def feedback(
        self, model: str, labels: list[tuple[str, int, Any]]
    ) -> dict[str, int] | None:
        """Join labels to kept predictions; counts by outcome. None while the state database
        (where predictions are kept) is not reachable."""
        if self.monitor.log is None:
            return None
        items = [FeedbackItem(pid, row, label) for pid, row, label in labels]
        # A prediction answered a moment ago may still be in its replica's hands (they flush
        # every second): wait until the newest one labelled here has surely arrived.
        issued = [t for t in (issued_at(i.prediction_id) for i in items) if t is not None]
        if issued:
            await asyncio.sleep(max(0.0, max(issued) + ARRIVAL_S - time.time()))
        return await asyncio.to_thread(self.monitor.label, model, items)

    async def timeseries(self, minutes: float = 10) -> dict[str, Any]:
        return self.core.timeseries(minutes)

    async def cluster(self) -> dict[str, Any]:
        if self._cluster and time.monotonic() - self._cluster[0] < CLUSTER_CACHE_S:
            return self._cluster[1]
        state = await asyncio.to_thread(cluster_state, self.settings)
        self._cluster = (time.monotonic(), state)
        return state

    async def schedules(
        self, op: str, name: str = "", body: Any = None, page: tuple[int, int] = (50, 0)
    ) -> tuple[int, Any]:
        """A /v1/schedules call (`SchedulesApi`): (HTTP status, JSON body)."""
        return await self.scheduler.schedules.api(op, name, body, page)

    async def prometheus(self) -> str:
        """Request, cluster and monitoring families, then the schedules'."""
        try:
            cluster = await self.cluster()
        except OSError:
            cluster = None
        reports = await asyncio.to_thread(self.monitor.samples)
        text = exposition([*self.core.families(cluster), *monitoring_families(reports)])
        return text + await self.scheduler.prometheus()
