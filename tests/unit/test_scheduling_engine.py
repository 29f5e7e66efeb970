"""The scheduler engine with a fake clock and a fake Ray: exactly-once ticks (two schedulers, a
crash between record and submit), concurrency, retries, timeouts, outcomes, declared schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rayline.scheduling import ScheduleSpec, parse_schedule
from rayline.scheduling.engine import Engine
from rayline.scheduling.runner import JobState, ScheduleConflict, ScheduleNotFound
from rayline.settings import Settings
from rayline.state import RunRecord, StateStore

SPEC = {"name": "iris", "dataset": {"source": "iris"}, "estimators": {"linear": {}}}


@dataclass
class FakeRay:
    """Ray's job table: ids it knows, their status and log events."""

    jobs: dict[str, JobState] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    refuse: bool = False

    def submit(self, spec: ScheduleSpec, submission_id: str, metadata: dict[str, str]) -> None:
        if self.refuse:
            raise RuntimeError("the Ray Jobs API is not reachable")
        self.submitted.append(submission_id)
        self.jobs.setdefault(submission_id, JobState("RUNNING"))

    def state(self, submission_id: str) -> JobState | None:
        return self.jobs.get(submission_id)

    def stop(self, submission_id: str) -> None:
        self.stopped.append(submission_id)
        self.jobs[submission_id] = JobState("STOPPED")

    def finish(self, submission_id: str, result: dict[str, Any] | None, **events: Any) -> None:
        status = "SUCCEEDED" if result is not None else "FAILED"
        self.jobs[submission_id] = JobState(
            status, "exit code 2: error: missing column", {"result": result, **events}
        )


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def engine_for(
    store: StateStore, ray: FakeRay, clock: Clock, alerts: list[RunRecord] | None = None
) -> Engine:
    sink = alerts if alerts is not None else []
    return Engine(store, ray, Settings(), clock, notify=lambda spec, run: sink.append(run))


def spec(**fields: Any) -> ScheduleSpec:
    return parse_schedule({"name": "nightly", "spec": SPEC, **fields}, "test")


START = datetime(2026, 12, 2, 1, 59, 30, tzinfo=UTC)


def test_a_tick_fires_once_even_with_two_schedulers(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    first, second = engine_for(store, ray, clock), engine_for(store, ray, clock)
    first.create(spec(cron="0 2 * * *"))
    first.tick()  # learns its next fire: 02:00
    assert ray.submitted == []
    clock.advance(45)
    first.tick()
    second.tick()
    assert ray.submitted == ["nightly-202612020200"]
    runs, total = store.runs("nightly")
    assert total == 1 and runs[0].status == "running" and runs[0].trigger == "cron"


def test_a_tick_with_nothing_due_writes_nothing(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(cron="0 2 * * *"))
    engine.tick()  # learns its next fire: 02:00
    writes: list[dict[str, Any]] = []
    update = store.update_schedule
    monkeypatch.setattr(
        store, "update_schedule", lambda name, **f: writes.append(f) or update(name, **f)
    )
    for _ in range(5):
        clock.advance(1)
        engine.tick()
    assert writes == [] and ray.submitted == []
    clock.advance(30)
    engine.tick()  # 02:00 fires and the next fire moves to tomorrow
    assert ray.submitted == ["nightly-202612020200"]
    moves = [w["next_fire"] for w in writes if "next_fire" in w]
    assert moves == [datetime(2026, 12, 3, 2, tzinfo=UTC).timestamp()]


def test_a_run_recorded_before_a_crash_is_submitted_by_the_next_scheduler(
    store: StateStore,
) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(cron="0 2 * * *"))
    engine.tick()
    clock.advance(45)
    ray.refuse = True  # the scheduler dies between writing the run and submitting it
    store.record_run("nightly", "nightly-202612020200", clock.now.timestamp(), "cron", 0)
    ray.refuse = False
    store.update_schedule("nightly", next_fire=(START + timedelta(days=1)).timestamp())
    engine_for(store, ray, clock).tick()
    assert ray.submitted == ["nightly-202612020200"]


def test_outcomes_promoted_trained_and_skipped(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(every="1h"))
    results = [
        ({"model": "iris", "version": "1", "aliases": ["challenger", "champion"], "score": 0.9,
          "metric": "accuracy", "run_id": "r1"}, {}),
        ({"model": "iris", "version": "2", "aliases": ["challenger"], "score": 0.8,
          "metric": "accuracy", "run_id": "r2"},
         {"promotion": {"metric": "accuracy", "score": 0.8, "champion_score": 0.9}}),
        ({"model": "iris", "version": "2", "aliases": ["challenger"], "reused": True}, {}),
    ]  # fmt: skip
    outcomes = []
    for result, events in results:
        run = engine.run_now("nightly")
        ray.finish(run.submission_id, result, **events)
        clock.advance(5)
        engine.tick()
        done = store.get_run(run.id)
        assert done is not None
        outcomes.append((done.outcome, done.version, done.score, done.champion_score))
    assert outcomes == [
        ("promoted", "1", 0.9, None),
        ("trained", "2", 0.8, 0.9),
        ("skipped", "2", None, None),
    ]


def test_forbid_records_the_tick_as_skipped_and_replace_stops_the_old_run(
    store: StateStore,
) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(every="1h"))
    first = engine.run_now("nightly")
    clock.advance(1)
    second = engine.run_now("nightly")
    assert (second.status, second.outcome) == ("skipped", "skipped")
    assert ray.submitted == [first.submission_id]

    engine.update("nightly", {"concurrency": "replace"})
    clock.advance(1)
    third = engine.run_now("nightly")
    assert ray.stopped == [first.submission_id]
    replaced = store.get_run(first.id)
    assert replaced is not None and replaced.outcome == "stopped"
    assert third.status == "running"


def test_a_failed_run_alerts_and_is_retried_with_backoff(store: StateStore) -> None:
    ray, clock, alerts = FakeRay(), Clock(START), []
    engine = engine_for(store, ray, clock, alerts)
    engine.create(spec(cron="0 2 * * *", max_retries=2, retry_backoff_s=60))
    engine.tick()
    clock.advance(45)
    engine.tick()
    ray.finish("nightly-202612020200", None, step={"name": "load"})
    engine.tick()
    failed = store.last_run("nightly")
    assert failed is not None and (failed.outcome, failed.step) == ("failed", "load")
    assert "missing column" in (failed.error or "")
    assert [a.id for a in alerts] == [failed.id]
    clock.advance(30)
    engine.tick()
    assert ray.submitted == ["nightly-202612020200"]  # backoff: not yet
    clock.advance(31)
    engine.tick()
    assert ray.submitted[-1] == "nightly-202612020200-r1"
    ray.finish("nightly-202612020200-r1", None)
    engine.tick()
    clock.advance(121)  # second retry waits twice as long
    engine.tick()
    assert ray.submitted[-1] == "nightly-202612020200-r2"
    ray.finish("nightly-202612020200-r2", None)
    engine.tick()
    clock.advance(3600)
    engine.tick()
    assert len(ray.submitted) == 3  # max_retries reached
    assert len(alerts) == 3


def test_timeout_stops_the_job_and_marks_the_run(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(every="1h", timeout_s=60))
    run = engine.run_now("nightly")
    clock.advance(30)
    engine.tick()
    assert ray.stopped == []
    clock.advance(31)
    engine.tick()
    assert ray.stopped == [run.submission_id]
    done = store.get_run(run.id)
    assert done is not None and (done.status, done.outcome) == ("stopped", "timeout")


def test_missed_fires_after_downtime_run_once(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(cron="0 * * * *", starting_deadline_s=7200))
    engine.tick()
    clock.advance(3 * 3600 + 60)  # the scheduler was down over three fires
    engine.tick()
    assert ray.submitted == ["nightly-202612020500"]  # the latest missed fire
    engine.tick()
    assert len(ray.submitted) == 1


def test_declared_schedules_sync_and_keep_an_api_pause(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    declared = [spec(cron="0 2 * * *"), spec(name="weekly", cron="0 3 * * 1")]
    engine.sync_declared(declared)
    engine.set_paused("nightly", True)
    engine.create(spec(name="mine", every="1h"))
    engine_for(store, ray, clock).sync_declared(declared[:1])  # redeploy without "weekly"
    names = {s.name: s for s in store.list_schedules()}
    assert set(names) == {"nightly", "mine"}
    assert names["nightly"].paused  # the pause made through the API survived
    with pytest.raises(ScheduleConflict, match="serve_config.yaml"):
        engine.delete("nightly")
    with pytest.raises(ScheduleConflict, match="exists"):
        engine.create(spec(name="mine", every="2h"))
    with pytest.raises(ScheduleNotFound):
        engine.get("nope")


def test_update_swaps_the_trigger_and_revalidates(store: StateStore) -> None:
    engine = engine_for(store, FakeRay(), Clock(START))
    engine.create(spec(cron="0 2 * * *"))
    changed = engine.update("nightly", {"every": "30m"})
    assert changed.spec["every"] == "30m" and changed.spec.get("cron") is None
    with pytest.raises(ValueError, match="every"):
        engine.update("nightly", {"every": "5s"})


def test_new_data_fires_once_per_settled_change(store: StateStore, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,target\n1,0\n")
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    trigger = {"source": str(data), "check_every_s": 10, "settle_s": 30}
    engine.create(spec(on_new_data=trigger))
    engine.tick()  # baseline: the data as it is does not fire
    clock.advance(60)
    engine.tick()
    assert ray.submitted == []
    data.write_text("a,target\n1,0\n2,1\n")
    clock.advance(11)
    engine.tick()  # changed, not settled yet
    assert ray.submitted == []
    clock.advance(31)
    engine.tick()
    assert len(ray.submitted) == 1
    ray.finish(ray.submitted[0], {"model": "iris", "version": "1", "aliases": []})
    for _ in range(5):
        clock.advance(11)
        engine.tick()
    assert len(ray.submitted) == 1
    run = store.last_run("nightly")
    assert run is not None and run.trigger == "new_data"


def test_deleting_a_schedule_stops_its_running_job_and_keeps_the_history(
    store: StateStore,
) -> None:
    ray, clock = FakeRay(), Clock(START)
    engine = engine_for(store, ray, clock)
    engine.create(spec(every="1h", timeout_s=60))
    run = engine.run_now("nightly")
    engine.delete("nightly")
    assert ray.stopped == [run.submission_id]
    done = store.get_run(run.id)
    assert done is not None and (done.status, done.outcome) == ("stopped", "stopped")
    assert store.get_schedule("nightly") is None


def _report(verdict: str, alarm: bool | None = None) -> dict[str, Any]:
    return {
        "versions": [{"version": "3", "drift": {"verdict": verdict}, "quality": {"alarm": alarm}}]
    }


def test_drift_fires_a_run_then_waits_out_the_cool_down(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    reports = {"iris": _report("no_drift")}
    asked: list[str] = []

    def monitoring(model: str) -> dict[str, Any]:
        asked.append(model)
        return reports[model]

    engine = Engine(store, ray, Settings(), clock, monitoring=monitoring)
    engine.create(spec(on_drift={"cooldown_s": 3600, "check_every_s": 30}))
    engine.tick()
    assert ray.submitted == [] and asked == ["iris"]  # the training config's model name
    clock.advance(10)
    engine.tick()
    assert asked == ["iris"]  # checked at most every 30 s
    reports["iris"] = _report("drift")
    clock.advance(30)
    engine.tick()
    assert len(ray.submitted) == 1
    run = store.last_run("nightly")
    assert run is not None and run.trigger == "drift"
    ray.finish(ray.submitted[0], {"model": "iris", "version": "4", "aliases": []})
    for _ in range(10):  # still drifted, but within the cool-down
        clock.advance(300)
        engine.tick()
    assert len(ray.submitted) == 1
    clock.advance(700)
    engine.tick()
    assert len(ray.submitted) == 2


def test_drift_schedules_watch_what_they_are_told_to(store: StateStore) -> None:
    ray, clock = FakeRay(), Clock(START)
    report = _report("drift", alarm=False)
    engine = Engine(store, ray, Settings(), clock, monitoring=lambda model: report)
    engine.create(spec(on_drift={"model": "other", "on": ["quality"]}))
    engine.tick()
    assert ray.submitted == []  # drifted, but only quality counts
    report["versions"][0]["quality"]["alarm"] = True
    clock.advance(61)
    engine.tick()
    assert len(ray.submitted) == 1
    no_traffic = Engine(store, FakeRay(), Settings(), clock, monitoring=lambda m: {"versions": []})
    no_traffic.create(spec(name="quiet", on_drift={}))
    no_traffic.tick()
    assert no_traffic.runner.submitted == []  # type: ignore[attr-defined]


def test_a_drift_schedule_takes_no_other_trigger() -> None:
    with pytest.raises(ValueError, match="exactly one trigger"):
        spec(on_drift={}, cron="0 2 * * *")
    with pytest.raises(ValueError, match="on_drift.on"):
        spec(on_drift={"on": ["weather"]})
