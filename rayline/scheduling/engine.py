"""The scheduler's decisions over time: fire due schedules, follow their runs, retry, time out.

`Engine` owns the state database (schedules and run history) and talks to Ray through a
`JobRunner`, so a unit test drives it with a fake clock and a fake runner.
`serve_app.scheduler.Scheduler` (in the Metrics deployment) calls `tick()` on an interval and
forwards the API calls.

Exactly once: a tick's run is written to the database under its deterministic submission id
before the job is submitted with that id, so neither a second scheduler, nor a crash between the
two steps, nor a retried submission can start a tick twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError

from rayline.scheduling.fingerprint import fingerprint, new_data_due
from rayline.scheduling.runner import JobRunner, JobState, ScheduleConflict, ScheduleNotFound
from rayline.scheduling.spec import ScheduleError, ScheduleSpec, parse_schedule
from rayline.scheduling.timing import (
    concurrency_action,
    due,
    retry_at,
    submission_id,
)
from rayline.state import RunRecord, ScheduleRecord, StateStore
from rayline.training import SCHEDULE_METADATA

log = logging.getLogger("rayline.scheduler")

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
TRIGGERS = ("cron", "every", "on_new_data", "on_drift")
SOURCES = ("config", "spec")
ERROR_CHARS = 2000
"""Longest error text kept on a run (Ray's job message carries the end of the log)."""


def _without_paused(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "paused"}


def drift_reasons(report: dict[str, Any], watch: Sequence[str]) -> list[str]:
    """Why an on_drift schedule fires, from the newest version's monitoring report: "drifted"
    and/or "lost quality" (empty: it does not fire)."""
    versions = report.get("versions") or []
    if not versions:
        return []
    newest = versions[0]
    reasons = []
    if "drift" in watch and newest["drift"]["verdict"] == "drift":
        reasons.append(f"version {newest['version']} drifted")
    if "quality" in watch and newest["quality"]["alarm"]:
        reasons.append(f"version {newest['version']} lost quality")
    return reasons


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class Engine:
    def __init__(
        self,
        store: StateStore,
        runner: JobRunner,
        settings: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notify: Callable[[ScheduleSpec, RunRecord], None] | None = None,
        monitoring: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        self.clock = clock
        self.notify = notify
        self.monitoring = monitoring
        """A model's monitoring report (`Monitor.report`), for on_drift schedules."""
        self._lock = threading.RLock()
        """One tick or API call at a time: the engine is the database's only writer."""
        self._checked: dict[str, datetime] = {}
        """When each on_new_data (on_drift) schedule last looked at its data (its model)."""

    # --- configuration -------------------------------------------------------------------------
    def sync_declared(self, declared: list[ScheduleSpec]) -> None:
        """Apply serve_config.yaml's schedules: add or update them, drop the ones removed from it.
        A declared schedule's paused flag is applied only when its spec changes, so a pause made
        through the API survives a redeploy of the same config."""
        with self._lock:
            names = {spec.name for spec in declared}
            for spec in declared:
                data = spec.model_dump(mode="json")
                existing = self.store.get_schedule(spec.name)
                if (
                    existing is not None
                    and existing.source == "config"
                    and _without_paused(existing.spec) == _without_paused(data)
                ):
                    continue
                if existing is not None and existing.source == "api":
                    log.warning("schedule %s from serve_config.yaml replaces the API's", spec.name)
                self.store.put_schedule(spec.name, data, "config", spec.paused)
                self.store.update_schedule(spec.name, next_fire=None)
            for record in self.store.list_schedules():
                if record.source == "config" and record.name not in names:
                    self.store.delete_schedule(record.name)

    def create(self, spec: ScheduleSpec) -> ScheduleRecord:
        with self._lock:
            if self.store.get_schedule(spec.name) is not None:
                raise ScheduleConflict(f"a schedule named {spec.name} exists; choose another name")
            return self.store.put_schedule(
                spec.name, spec.model_dump(mode="json"), "api", spec.paused
            )

    def update(self, name: str, changes: dict[str, Any]) -> ScheduleRecord:
        with self._lock:
            record = self._owned(name, "change")
            if not isinstance(changes, dict) or "name" in changes:
                raise ScheduleError(
                    "request body: an object of the fields to change, without 'name'"
                )
            base = {k: v for k, v in record.spec.items() if v is not None}
            for group in (TRIGGERS, SOURCES):  # a new trigger (or source) replaces the old one
                if set(changes) & set(group):
                    base = {k: v for k, v in base.items() if k not in group}
            spec = parse_schedule({**base, **changes}, "request body")
            self.store.put_schedule(name, spec.model_dump(mode="json"), "api", spec.paused)
            return self.store.update_schedule(name, next_fire=None)

    def delete(self, name: str) -> None:
        """Delete a schedule made through the API; its runs still going are stopped (nothing
        would enforce their timeout any more). Its run history is kept."""
        with self._lock:
            self._owned(name, "delete")
            now = self.clock().timestamp()
            for run in self.store.active_runs(name):
                self.runner.stop(run.submission_id)
                self.store.update_run(
                    run.id,
                    status="stopped",
                    outcome="stopped",
                    ended_at=now,
                    error="stopped: its schedule was deleted",
                )
            self.store.delete_schedule(name)

    def set_paused(self, name: str, paused: bool) -> ScheduleRecord:
        with self._lock:
            record = self.get(name)
            spec = {**record.spec, "paused": paused}
            self.store.put_schedule(name, spec, record.source, paused)
            # Resuming starts from now: the fires missed while paused are not "missed runs".
            return self.store.update_schedule(name, next_fire=None)

    def get(self, name: str) -> ScheduleRecord:
        record = self.store.get_schedule(name)
        if record is None:
            raise ScheduleNotFound(f"no schedule named {name}")
        return record

    def _owned(self, name: str, verb: str) -> ScheduleRecord:
        record = self.get(name)
        if record.source == "config":
            raise ScheduleConflict(
                f"schedule {name} is declared in serve_config.yaml (args.schedules): "
                f"{verb} it there and run `serve deploy serve_config.yaml`"
            )
        return record

    # --- the tick ------------------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            now = self.clock()
            for run in self.store.active_runs():
                try:
                    self._follow(run, now)
                except (OSError, RuntimeError, ValueError):  # Ray unreachable: next tick
                    log.exception("schedule %s: following run %s", run.schedule, run.id)
            for record in self.store.list_schedules():
                if record.paused:
                    continue
                # One schedule's broken config or unreachable data must not stop the others.
                try:
                    self._fire_if_due(record, ScheduleSpec.model_validate(record.spec), now)
                except (OSError, ValueError, BotoCoreError):
                    log.exception("schedule %s: tick failed", record.name)

    def run_now(self, name: str) -> RunRecord:
        with self._lock:
            record = self.get(name)
            spec = ScheduleSpec.model_validate(record.spec)
            now = self.clock()
            sid = submission_id(name, now, manual=True)
            return self._start(spec, now, sid, "manual", 0, now)

    def _fire_if_due(self, record: ScheduleRecord, spec: ScheduleSpec, now: datetime) -> None:
        if spec.on_new_data is not None:
            self._check_data(record, spec, now)
        elif spec.on_drift is not None:
            self._check_drift(record, spec, now)
        else:
            previous = None if record.next_fire is None else _utc(record.next_fire)
            scheduled, upcoming = due(spec, previous, now)
            stamp = upcoming and upcoming.timestamp()
            if stamp != record.next_fire:  # most ticks change nothing: no write
                self.store.update_schedule(record.name, next_fire=stamp)
            if scheduled is not None:
                trigger = "cron" if spec.cron else "every"
                self._start(spec, scheduled, submission_id(spec.name, scheduled), trigger, 0, now)
        self._retry_if_due(spec, now)

    def _time_to_look(self, name: str, every_s: float, now: datetime) -> bool:
        """Whether an on_new_data / on_drift schedule looks again now (`check_every_s` since
        its last look); a look is recorded."""
        last = self._checked.get(name)
        if last is not None and (now - last).total_seconds() < every_s:
            return False
        self._checked[name] = now
        return True

    def _check_data(self, record: ScheduleRecord, spec: ScheduleSpec, now: datetime) -> None:
        trigger = spec.on_new_data
        assert trigger is not None
        if not self._time_to_look(spec.name, trigger.check_every_s, now):
            return
        source = trigger.source or self._dataset_source(spec)
        current = fingerprint(source, self.settings)
        if record.fingerprint_seen_at is None:
            # First look: the data as it is now is the baseline; only a change fires.
            self.store.update_schedule(
                spec.name,
                fingerprint=current,
                fingerprint_seen=current,
                fingerprint_seen_at=now.timestamp(),
            )
            return
        seen_at = _utc(record.fingerprint_seen_at)
        if current != record.fingerprint_seen:
            self.store.update_schedule(
                spec.name, fingerprint_seen=current, fingerprint_seen_at=now.timestamp()
            )
            seen_at = now
        assert seen_at is not None
        if new_data_due(current, record.fingerprint, seen_at, now, trigger.settle_s):
            self.store.update_schedule(spec.name, fingerprint=current, last_fire=now.timestamp())
            minute = now.replace(second=0, microsecond=0)
            sid = submission_id(spec.name, minute)
            self._start(spec, minute, sid, "new_data", 0, now, fingerprint=current)

    def _check_drift(self, record: ScheduleRecord, spec: ScheduleSpec, now: datetime) -> None:
        trigger = spec.on_drift
        assert trigger is not None
        if not self._time_to_look(spec.name, trigger.check_every_s, now):
            return
        if record.last_fire is not None and now.timestamp() - record.last_fire < trigger.cooldown_s:
            return
        if self.monitoring is None:
            raise ValueError("on_drift needs the Metrics deployment's monitoring; none is wired")
        model = trigger.model or self._training_name(spec)
        reasons = drift_reasons(self.monitoring(model), trigger.on)
        if not reasons:
            return
        log.warning("schedule %s: %s %s; starting a run", spec.name, model, " and ".join(reasons))
        self.store.update_schedule(spec.name, last_fire=now.timestamp())
        minute = now.replace(second=0, microsecond=0)
        self._start(spec, minute, submission_id(spec.name, minute), "drift", 0, now)

    def _training_name(self, spec: ScheduleSpec) -> str:
        from rayline.scheduling.spec import load_training_config

        return load_training_config(spec).name

    def _dataset_source(self, spec: ScheduleSpec) -> str:
        from rayline.scheduling.spec import load_training_config

        return load_training_config(spec).dataset.source

    def _retry_if_due(self, spec: ScheduleSpec, now: datetime) -> None:
        last = self.store.last_run(spec.name)
        if last is None or last.outcome not in ("failed", "timeout") or last.ended_at is None:
            return
        when = retry_at(spec, last.attempt + 1, _utc(last.ended_at))  # type: ignore[arg-type]
        if when is None or now < when:
            return
        scheduled = _utc(last.scheduled_time)
        assert scheduled is not None
        sid = submission_id(spec.name, scheduled, attempt=last.attempt + 1)
        self._start(spec, scheduled, sid, "retry", last.attempt + 1, now)

    def _start(
        self,
        spec: ScheduleSpec,
        scheduled: datetime,
        sid: str,
        trigger: str,
        attempt: int,
        now: datetime,
        fingerprint: str | None = None,
    ) -> RunRecord:
        run, created = self.store.record_run(
            spec.name, sid, scheduled.timestamp(), trigger, attempt, fingerprint=fingerprint
        )
        if not created:
            return run  # this tick was recorded already (another scheduler, or before a crash)
        if trigger != "manual":
            self.store.update_schedule(spec.name, last_fire=now.timestamp())
        action = concurrency_action(
            spec, len([r for r in self.store.active_runs(spec.name) if r.id != run.id])
        )
        if action == "skip":
            return self.store.update_run(
                run.id,
                status="skipped",
                outcome="skipped",
                ended_at=now.timestamp(),
                error="the previous run is still going (concurrency: forbid)",
            )
        if action == "replace":
            for other in self.store.active_runs(spec.name):
                if other.id != run.id:
                    self.runner.stop(other.submission_id)
                    self.store.update_run(
                        other.id,
                        status="stopped",
                        outcome="stopped",
                        ended_at=now.timestamp(),
                        error=f"replaced by run {sid} (concurrency: replace)",
                    )
        return self._submit(spec, run, now)

    def _submit(self, spec: ScheduleSpec, run: RunRecord, now: datetime) -> RunRecord:
        metadata = {
            "rayline_schedule": spec.name,
            "rayline_scheduled_time": _utc(run.scheduled_time).isoformat(),  # type: ignore[union-attr]
            "rayline_trigger": run.trigger,
            "rayline_submission_id": run.submission_id,
        }
        assert set(metadata) <= set(SCHEDULE_METADATA)
        try:
            self.runner.submit(spec, run.submission_id, metadata)
        except Exception as exc:  # the job could not start: the run failed at "submit"
            log.warning("schedule %s: submitting %s failed: %s", spec.name, run.submission_id, exc)
            return self._finish(spec, run, now, "failed", "failed", step="submit", error=str(exc))
        return self.store.update_run(run.id, status="running", started_at=now.timestamp())

    def _follow(self, run: RunRecord, now: datetime) -> None:
        record = self.store.get_schedule(run.schedule)
        spec = ScheduleSpec.model_validate(record.spec) if record is not None else None
        state = self.runner.state(run.submission_id)
        if state is None:
            if run.status == "pending" and spec is not None:
                self._submit(spec, run, now)  # written, then the scheduler stopped before submit
            elif run.status == "running":
                self._finish(
                    spec,
                    run,
                    now,
                    "failed",
                    "failed",
                    step="start",
                    error="Ray no longer knows this job (its head restarted?)",
                )
            return
        if state.status in TERMINAL:
            self._conclude(spec, run, state, now)
        elif (
            spec is not None
            and spec.timeout_s is not None
            and run.started_at is not None
            and now.timestamp() - run.started_at > spec.timeout_s
        ):
            self.runner.stop(run.submission_id)
            step = (state.events.get("step") or {}).get("name")
            self._finish(
                spec,
                run,
                now,
                "stopped",
                "timeout",
                step=step,
                error=f"stopped after timeout_s={spec.timeout_s:g}",
            )

    def _conclude(
        self, spec: ScheduleSpec | None, run: RunRecord, state: JobState, now: datetime
    ) -> None:
        events = state.events
        result = events.get("result") or {}
        promotion = events.get("promotion") or {}
        mlflow_run = events.get("run") or {}
        if state.status != "SUCCEEDED" or not result:
            step = (events.get("step") or {}).get("name") or "start"
            status = "stopped" if state.status == "STOPPED" else "failed"
            self._finish(spec, run, now, status, "failed", step=step, error=state.message)
            return
        if result.get("reused"):
            outcome = "skipped"
        elif "champion" in result.get("aliases", []):
            outcome = "promoted"
        else:
            outcome = "trained"
        self._finish(
            spec,
            run,
            now,
            "succeeded",
            outcome,
            model=result.get("model"),
            version=result.get("version"),
            score=result.get("score"),
            metric=result.get("metric") or promotion.get("metric"),
            champion_score=promotion.get("champion_score"),
            mlflow_run_id=result.get("run_id") or mlflow_run.get("run_id"),
            error=None if outcome != "skipped" else "same config and data as a registered version",
        )

    def _finish(
        self,
        spec: ScheduleSpec | None,
        run: RunRecord,
        now: datetime,
        status: str,
        outcome: str,
        **fields: Any,
    ) -> RunRecord:
        if fields.get("error"):
            fields["error"] = str(fields["error"])[-ERROR_CHARS:]
        done = self.store.update_run(
            run.id, status=status, outcome=outcome, ended_at=now.timestamp(), **fields
        )
        if outcome in ("failed", "timeout") and spec is not None and self.notify is not None:
            self.notify(spec, done)
        return done
