"""The state store: migrations that match the models, schedules, and runs recorded once."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from rayline.settings import Settings
from rayline.state import (
    RecordNotFound,
    RunRecord,
    ScheduleRecord,
    StateStore,
    migrations,
    open_store,
)
from rayline.state.models import Base, Schedule, ScheduleRun

T = TypeVar("T")
SPEC = {"config": "configs/iris.yaml", "cron": "0 3 * * *"}
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'state.db'}"


@pytest.fixture
def store(uri: str) -> Iterator[StateStore]:
    state = StateStore(uri)
    yield state
    state.close()


@pytest.fixture
def pg_uri() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, dropped afterwards."""
    try:
        admin = psycopg2.connect(connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres: {exc}")
    admin.autocommit = True
    name = f"rayline_state_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _versions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": migrations.VERSION_TABLE}
        )
        return context.get_current_heads()


def _head() -> str | None:
    return ScriptDirectory(str(Path(migrations.__file__).parent)).get_current_head()


def _schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": migrations.VERSION_TABLE, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _at_once(count: int, call: Callable[[], T]) -> list[T]:
    """Run `call` in `count` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _run(store: StateStore, schedule: str, tick: float, **fields: Any) -> RunRecord:
    run, _inserted = store.record_run(schedule, f"{schedule}-{tick}", tick, "cron", 1)
    return store.update_run(run.id, **fields) if fields else run


# --- migrations --------------------------------------------------------------------------


def test_open_creates_the_folder_and_uses_wal(uri: str, tmp_path: Path) -> None:
    StateStore(uri).close()
    database = tmp_path / "state" / "state.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_again_and_from_another_process_keeps_data_and_version(uri: str) -> None:
    first = StateStore(uri)
    first.put_schedule("nightly", SPEC, "config", paused=False)
    first.close()
    code = f"from rayline.state import StateStore; StateStore({uri!r}).close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    second = StateStore(uri)
    try:
        assert _versions(second.engine) == (_head(),)
        assert second.get_schedule("nightly") is not None
    finally:
        second.close()


def test_head_is_alembics_head() -> None:
    assert _head() == migrations.HEAD


def test_a_database_at_head_opens_without_alembic(uri: str) -> None:
    StateStore(uri).close()  # a new database: migrated by Alembic
    code = (
        "import sys; from rayline.state import StateStore; "
        f"StateStore({uri!r}).close(); print(sorted(m for m in sys.modules if 'alembic' in m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True
    )
    assert done.stdout.strip() == "[]"


def test_stores_opened_at_once_migrate_once(tmp_path: Path) -> None:
    # Several rounds on new files: the first connections race to switch the file to WAL.
    for round_ in range(10):
        uri = f"sqlite:///{tmp_path / str(round_) / 'state.db'}"
        stores = _at_once(6, lambda uri=uri: StateStore(uri))  # type: ignore[misc]
        try:
            assert _versions(stores[0].engine) == (_head(),)
        finally:
            for state in stores:
                state.close()


def test_a_malformed_uri_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="RAYLINE_STATE_DATABASE_URI") as refused:
        StateStore("user:s3cret@db/rayline")
    assert "s3cret" not in str(refused.value)


def test_models_match_the_migrations(store: StateStore) -> None:
    assert _schema_differences(store.engine) == []


def test_records_carry_every_column() -> None:
    assert [f.name for f in dataclasses.fields(ScheduleRecord)] == list(
        Schedule.__table__.columns.keys()
    )
    assert list(RunRecord.model_fields) == list(ScheduleRun.__table__.columns.keys())


def test_open_store_uses_the_settings_uri(tmp_path: Path) -> None:
    state = open_store(Settings(home=tmp_path))
    state.close()
    assert (tmp_path / "state.db").exists()


# --- schedules ---------------------------------------------------------------------------


def test_schedule_round_trip(store: StateStore) -> None:
    created = store.put_schedule("nightly", SPEC, "config", paused=False)
    assert created.created_at == created.updated_at and created.next_fire is None
    store.put_schedule("adhoc", {"every": "1h"}, "api", paused=True)
    store.update_schedule("nightly", next_fire=2000.0, last_fire=1000.0, fingerprint="abc")

    # Re-declaring a schedule replaces its spec but keeps where it is in time.
    replaced = store.put_schedule("nightly", {**SPEC, "cron": "0 4 * * *"}, "config", True)
    assert replaced.spec["cron"] == "0 4 * * *" and replaced.paused
    assert (replaced.next_fire, replaced.last_fire, replaced.fingerprint) == (
        2000.0,
        1000.0,
        "abc",
    )
    assert replaced.created_at == created.created_at
    assert replaced.updated_at >= created.updated_at

    assert store.get_schedule("nightly") == replaced
    assert [s.name for s in store.list_schedules()] == ["adhoc", "nightly"]
    assert json.loads(json.dumps(replaced.as_dict()))["spec"]["cron"] == "0 4 * * *"

    assert store.delete_schedule("nightly") is True
    assert store.delete_schedule("nightly") is False
    assert store.get_schedule("nightly") is None


def test_a_record_is_detached_from_the_database(store: StateStore) -> None:
    record = store.put_schedule("nightly", SPEC, "config")
    record.spec["cron"] = "changed by a caller"
    stored = store.get_schedule("nightly")
    assert stored is not None and stored.spec == SPEC


def test_schedule_updates_name_the_field_at_fault(store: StateStore) -> None:
    store.put_schedule("nightly", SPEC, "config")
    with pytest.raises(TypeError, match="colour"):
        store.update_schedule("nightly", colour="red")
    with pytest.raises(TypeError, match="created_at"):
        store.update_schedule("nightly", created_at=0.0)
    with pytest.raises(ValueError, match="source must be one of config, api"):
        store.update_schedule("nightly", source="yaml")
    with pytest.raises(RecordNotFound, match="gone"):
        store.update_schedule("gone", paused=True)
    with pytest.raises(ValueError, match="name is 49 characters long; at most 48"):
        store.put_schedule("n" * 49, SPEC, "config")


# --- runs --------------------------------------------------------------------------------


def test_a_submission_is_recorded_once(store: StateStore) -> None:
    first, inserted = store.record_run("nightly", "nightly-1000", 1000.0, "cron", 1, "fp1")
    again, inserted_again = store.record_run("nightly", "nightly-1000", 1000.0, "cron", 1)
    assert inserted and not inserted_again
    assert again == first and first.status == "pending" and first.fingerprint == "fp1"
    assert store.runs("nightly") == ([first], 1)


def test_a_submission_inserted_after_the_check_is_still_recorded_once(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = store.record_run("nightly", "nightly-1000", 1000.0, "cron", 1)
    # Another scheduler inserts between this one's look-up and its insert.
    real = store.run_by_submission
    lookups: list[str] = []

    def late_lookup(submission_id: str) -> RunRecord | None:
        lookups.append(submission_id)
        return None if len(lookups) == 1 else real(submission_id)

    monkeypatch.setattr(store, "run_by_submission", late_lookup)
    again, inserted = store.record_run("nightly", "nightly-1000", 1000.0, "cron", 1)
    assert not inserted and again.id == first.id and len(lookups) == 2
    assert store.runs("nightly")[1] == 1


def test_racing_threads_record_a_submission_once(store: StateStore) -> None:
    results = _at_once(8, lambda: store.record_run("nightly", "nightly-1", 1.0, "cron", 1))
    assert sorted(inserted for _run, inserted in results) == [False] * 7 + [True]
    assert len({run.id for run, _inserted in results}) == 1
    assert store.runs("nightly")[1] == 1


def test_runs_page_newest_scheduled_first(store: StateStore) -> None:
    for tick in (300.0, 100.0, 500.0, 200.0, 400.0):
        _run(store, "nightly", tick)
    _run(store, "other", 999.0)
    page, total = store.runs("nightly", limit=2, offset=1)
    assert total == 5
    assert [run.scheduled_time for run in page] == [400.0, 300.0]
    assert store.runs("nightly", limit=10, offset=5) == ([], 5)
    assert store.runs("nobody") == ([], 0)
    with pytest.raises(ValueError, match="limit and offset"):
        store.runs("nightly", limit=-1)


def test_active_runs_are_pending_or_running(store: StateStore) -> None:
    pending = _run(store, "nightly", 300.0)
    running = _run(store, "nightly", 100.0, status="running", started_at=101.0)
    _run(store, "nightly", 200.0, status="failed", outcome="failed", step="train")
    other = _run(store, "other", 50.0)
    assert [run.id for run in store.active_runs("nightly")] == [running.id, pending.id]
    assert [run.id for run in store.active_runs()] == [other.id, running.id, pending.id]
    assert all(run.active for run in store.active_runs())


def test_last_run_is_the_latest_tick_then_the_latest_attempt(store: StateStore) -> None:
    assert store.last_run("nightly") is None
    _run(store, "nightly", 200.0)
    _run(store, "nightly", 100.0)  # recorded later, but for an older tick
    assert store.last_run("nightly") == store.run_by_submission("nightly-200.0")
    retry, _ = store.record_run("nightly", "nightly-200.0-retry", 200.0, "retry", 2)
    assert store.last_run("nightly") == retry


def test_update_run_sets_known_fields_only(store: StateStore) -> None:
    run = _run(store, "nightly", 100.0)
    done = store.update_run(
        run.id,
        status="succeeded",
        outcome="promoted",
        ended_at=160.5,
        model="iris",
        version="3",
        score=0.97,
        champion_score=0.95,
        metric="accuracy",
    )
    assert (done.status, done.outcome, done.version, done.score) == (
        "succeeded",
        "promoted",
        "3",
        0.97,
    )
    assert store.get_run(run.id) == done
    assert json.loads(json.dumps(done.as_dict())) == done.as_dict()
    with pytest.raises(TypeError, match="colour"):
        store.update_run(run.id, colour="red")
    with pytest.raises(TypeError, match="submission_id"):
        store.update_run(run.id, submission_id="another")
    with pytest.raises(ValueError, match="status must be one of"):
        store.update_run(run.id, status="done")
    with pytest.raises(RecordNotFound):
        store.update_run(run.id + 100, status="failed")
    assert store.get_run(run.id) == done


def test_recent_runs_across_schedules_by_status(store: StateStore) -> None:
    _run(store, "a", 100.0, status="failed")
    _run(store, "b", 300.0, status="succeeded")
    _run(store, "c", 200.0, status="failed")
    assert [run.schedule for run in store.recent_runs(limit=2)] == ["b", "c"]
    assert [run.schedule for run in store.recent_runs(10, statuses=["failed"])] == ["c", "a"]
    with pytest.raises(ValueError, match="status must be one of"):
        store.recent_runs(10, statuses=["broken"])


def test_last_success_and_outcome_counts(store: StateStore) -> None:
    assert store.last_success("a") is None and store.count_outcomes() == {}
    good = _run(store, "a", 100.0, status="succeeded", outcome="trained")
    _run(store, "a", 200.0, status="succeeded", outcome="promoted")
    _run(store, "a", 300.0, status="failed", outcome="failed")
    _run(store, "a", 400.0)  # still pending: no outcome yet
    _run(store, "b", 100.0, status="succeeded", outcome="trained")
    last = store.last_success("a")
    assert last is not None and last.scheduled_time == 200.0 and last.id != good.id
    assert store.count_outcomes() == {
        ("a", "trained"): 1,
        ("a", "promoted"): 1,
        ("a", "failed"): 1,
        ("b", "trained"): 1,
    }


def test_deleting_a_schedule_keeps_its_history(store: StateStore) -> None:
    store.put_schedule("nightly", SPEC, "config")
    run = _run(store, "nightly", 100.0)
    store.delete_schedule("nightly")
    assert store.runs("nightly") == ([run], 1)


# --- PostgreSQL --------------------------------------------------------------------------


def test_round_trip_on_postgresql(pg_uri: str) -> None:
    stores = _at_once(3, lambda: StateStore(pg_uri))
    try:
        store = stores[0]
        assert _versions(store.engine) == (_head(),)
        assert _schema_differences(store.engine) == []

        store.put_schedule("nightly", SPEC, "config")
        store.update_schedule("nightly", next_fire=1_777_000_000.123456)
        schedule = store.get_schedule("nightly")
        assert schedule is not None and schedule.next_fire == 1_777_000_000.123456

        results = _at_once(6, lambda: stores[1].record_run("nightly", "nightly-1", 1.0, "cron", 1))
        assert sorted(inserted for _run, inserted in results) == [False] * 5 + [True]
        run = store.update_run(results[0][0].id, status="running", started_at=2.0)
        assert store.active_runs("nightly") == [run]
        assert store.runs("nightly") == ([run], 1)
        with pytest.raises(ValueError, match="at most 48"):
            store.put_schedule("n" * 49, SPEC, "config")
    finally:
        for state in stores:
            state.close()
