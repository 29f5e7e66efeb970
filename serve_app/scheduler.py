"""The cluster's one scheduler. It ticks the schedule engine, keeps the schedules in the state
database (the ingress's /v1/schedules routes call it), submits Ray Jobs, calls webhooks and
exports the schedules' Prometheus metrics.

The Metrics deployment hosts it (`serve_app/metrics.py`): one replica on the head, the other
writer of the state database, so the scheduler costs no process of its own. Should Serve briefly
run two replicas during a redeploy, the deterministic submission ids and the unique run records
keep each tick to one job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rayline.config import CONFIG_DIR, load_config
from rayline.exposition import exposition
from rayline.scheduling import ScheduleError, ScheduleSpec, describe, parse_schedule
from rayline.scheduling.engine import Engine
from rayline.scheduling.runner import JobState, ScheduleConflict, ScheduleNotFound
from rayline.settings import Settings, get_settings
from rayline.state import RunRecord, ScheduleRecord, open_store
from rayline.training import parse_events
from serve_app.jobs import KIND_KEY, NAME_KEY, Jobs

log = logging.getLogger("ray.serve")
WEBHOOK_ATTEMPTS = 4
"""A failure webhook is tried this many times, 1 s, 2 s, 4 s apart."""
WEBHOOK_TIMEOUT_S = 5


class RayJobRunner:
    """`JobRunner` over Ray's job submission API."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    def submit(self, spec: ScheduleSpec, submission_id: str, metadata: dict[str, str]) -> None:
        if spec.config is not None and (CONFIG_DIR / f"{spec.config}.yaml").is_file():
            args = shlex.quote(spec.config)
            name = spec.config
        else:  # a path or an inline spec: sent inline, as it reads at this tick
            config = load_config(spec.config) if spec.config is not None else None
            data = config.model_dump(mode="json") if config is not None else spec.spec
            args = "--spec " + shlex.quote(json.dumps(data))
            name = str((data or {}).get("name", spec.name))
        try:
            self.jobs.client.submit_job(
                entrypoint=f"python -m jobs.train {args}",
                submission_id=submission_id,
                metadata={**metadata, KIND_KEY: "train", NAME_KEY: name},
            )
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                raise

    def state(self, submission_id: str) -> JobState | None:
        try:
            info = self.jobs.client.get_job_info(submission_id)
        except RuntimeError as exc:
            # Only a 404 means Ray does not know the job; any other failure (a dashboard
            # busy or restarting) is raised, and the engine asks again next tick.
            if "status code 404" in str(exc):
                return None
            raise
        status = str(getattr(info.status, "value", info.status))
        events: dict[str, Any] = {}
        if status in ("SUCCEEDED", "FAILED", "STOPPED", "RUNNING"):
            events = parse_events(str(self.jobs.client.get_job_logs(submission_id)))
        return JobState(status, info.message or "", events)

    def stop(self, submission_id: str) -> None:
        try:
            self.jobs.client.stop_job(submission_id)
        except RuntimeError as exc:
            log.warning("stopping job %s: %s", submission_id, exc)


def post_webhook(url: str, body: dict[str, Any]) -> str:
    """POST the run record; retried with backoff. Returns what happened, for the run record."""
    data = json.dumps(body).encode()
    outcome = ""
    for attempt in range(WEBHOOK_ATTEMPTS):
        if attempt:
            time.sleep(2 ** (attempt - 1))
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by ScheduleSpec
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
                return f"delivered ({response.status})"
        except (OSError, ValueError) as exc:
            outcome = f"failed after {attempt + 1} attempts: {type(exc).__name__}: {exc}"
    return outcome


def prometheus_text(engine: Engine) -> str:
    """Runs by outcome, last success, next fire and start lag for every schedule."""
    runs = CounterMetricFamily(
        "rayline_schedule_runs",
        "Scheduled runs by schedule and outcome.",
        labels=["schedule", "outcome"],
    )
    counts = engine.store.count_outcomes()
    schedules = engine.store.list_schedules()
    # Failures are exported at 0 before the first one, so that an alert's increase() sees it.
    for record in schedules:
        for outcome in ("failed", "timeout"):
            counts.setdefault((record.name, outcome), 0)
    for (schedule, outcome), count in sorted(counts.items()):
        runs.add_metric([schedule, outcome], count)
    last_success = GaugeMetricFamily(
        "rayline_schedule_last_success_timestamp_seconds",
        "When each schedule last succeeded.",
        labels=["schedule"],
    )
    next_fire = GaugeMetricFamily(
        "rayline_schedule_next_fire_timestamp_seconds",
        "When each schedule fires next.",
        labels=["schedule"],
    )
    lag = GaugeMetricFamily(
        "rayline_schedule_start_lag_seconds",
        "Scheduled time to job start, last run.",
        labels=["schedule"],
    )
    for record in schedules:
        success = engine.store.last_success(record.name)
        if success is not None and success.ended_at is not None:
            last_success.add_metric([record.name], success.ended_at)
        if record.next_fire is not None and not record.paused:
            next_fire.add_metric([record.name], record.next_fire)
        last = engine.store.last_run(record.name)
        if last is not None and last.started_at is not None and last.trigger != "manual":
            lag.add_metric([record.name], max(last.started_at - last.scheduled_time, 0.0))
    return exposition([runs, last_success, next_fire, lag])


class SchedulesApi:
    """The /v1/schedules routes' one entry, over the engine: (HTTP status, JSON body). Domain
    errors become their status here, so nothing but plain data crosses the handle."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def view(self, record: ScheduleRecord) -> dict[str, Any]:
        spec = ScheduleSpec.model_validate(record.spec)
        last = self.engine.store.last_run(record.name)
        return {
            "name": record.name,
            "spec": record.spec,
            "source": record.source,
            "paused": record.paused,
            "description": describe(spec),
            "next_fire": None
            if record.paused or spec.trigger.startswith("on_")
            else record.next_fire,
            "last_fire": record.last_fire,
            "last_run": self.run_view(last) if last else None,
        }

    def run_view(self, run: RunRecord) -> dict[str, Any]:
        data = run.as_dict()
        data["mlflow_run_url"] = (
            f"{self.engine.settings.tracking_uri}/#/runs/{run.mlflow_run_id}"
            if run.mlflow_run_id
            else None
        )
        return data

    async def api(
        self, op: str, name: str = "", body: Any = None, page: tuple[int, int] = (50, 0)
    ) -> tuple[int, Any]:
        try:
            return await asyncio.to_thread(self._api, op, name, body, page)
        except ScheduleNotFound as exc:
            return 404, {"detail": str(exc)}
        except ScheduleConflict as exc:
            return 409, {"detail": str(exc)}
        except ScheduleError as exc:
            return 422, {"detail": str(exc)}

    def _api(self, op: str, name: str, body: Any, page: tuple[int, int]) -> tuple[int, Any]:
        engine = self.engine
        if op == "list":
            return 200, {"schedules": [self.view(r) for r in engine.store.list_schedules()]}
        if op == "recent":
            runs = engine.store.recent_runs(page[0])
            return 200, {"runs": [self.run_view(r) for r in runs]}
        if op == "create":
            return 201, self.view(engine.create(parse_schedule(body, "request body")))
        if op == "get":
            return 200, self.view(engine.get(name))
        if op == "update":
            return 200, self.view(engine.update(name, body))
        if op == "delete":
            engine.delete(name)
            return 200, {"deleted": True}
        if op in ("pause", "resume"):
            return 200, self.view(engine.set_paused(name, op == "pause"))
        if op == "run":
            return 202, self.run_view(engine.run_now(name))
        if op == "runs":
            engine.get(name)
            runs, total = engine.store.runs(name, limit=page[0], offset=page[1])
            return 200, {"runs": [self.run_view(r) for r in runs], "total": total}
        raise ValueError(f"unknown scheduler operation {op}")


class Scheduler:
    """The engine on an interval, and the /v1/schedules calls over it. `monitoring(model)` is
    the monitoring report that on_drift schedules read (called from the tick's thread)."""

    def __init__(
        self,
        schedules: list[dict[str, Any]],
        tick_s: float,
        monitoring: Callable[[str], dict[str, Any]],
    ) -> None:
        self.settings: Settings = get_settings()
        self.tick_s = tick_s
        self.engine = Engine(
            open_store(self.settings),
            RayJobRunner(Jobs(self.settings)),
            self.settings,
            notify=self._notify,
            monitoring=monitoring,
        )
        self.engine.sync_declared([ScheduleSpec.model_validate(s) for s in schedules])
        self.schedules = SchedulesApi(self.engine)
        self._ticker = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.engine.tick)
            except Exception:  # a broken tick must not end the scheduler; the next one retries
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.tick_s)

    def _notify(self, spec: ScheduleSpec, run: RunRecord) -> None:
        if spec.webhook_url is None:
            return
        url, body = spec.webhook_url, {"schedule": spec.name, "run": self.schedules.run_view(run)}

        def deliver() -> None:
            status = post_webhook(url, body)
            self.engine.store.update_run(run.id, webhook_status=status)

        threading.Thread(target=deliver, name=f"webhook-{run.id}", daemon=True).start()

    async def prometheus(self) -> str:
        return await asyncio.to_thread(prometheus_text, self.engine)
