"""Rayline's state database: schedules and their run history, one short transaction a call.

Every method returns detached plain records (`rayline.state.records`), so callers never hold
a session. The store is safe to share between threads.
"""

from __future__ import annotations

import copy
import dataclasses
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.orm import sessionmaker

from rayline.state import migrations, records
from rayline.state.models import Base, Schedule, ScheduleRun
from rayline.state.records import RecordNotFound, RunRecord, ScheduleRecord

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one (scheduler, API) before giving up."""

# Identity and bookkeeping columns are set once, by the store.
SCHEDULE_FIELDS = frozenset(Schedule.__table__.columns.keys()) - {
    "name",
    "created_at",
    "updated_at",
}
RUN_FIELDS = frozenset(ScheduleRun.__table__.columns.keys()) - {
    "id",
    "schedule",
    "submission_id",
    "created_at",
}
_NEWEST_FIRST = (ScheduleRun.scheduled_time.desc(), ScheduleRun.id.desc())
_CHOICES = {
    "source": records.SOURCES,
    "trigger": records.TRIGGERS,
    "status": records.STATUSES,
    "outcome": records.OUTCOMES,
}
Row = TypeVar("Row", bound=Base)
Record = TypeVar("Record")


def create_state_engine(uri: str) -> Engine:
    """An engine for `sqlite:///…` or `postgresql://…` (psycopg2), ready for several threads."""
    try:
        url = make_url(uri)
    except ArgumentError:
        # SQLAlchemy's message repeats the string, password included.
        raise ValueError(
            "the state database URI (RAYLINE_STATE_DATABASE_URI) is not a database URL; "
            "use sqlite:///<path> or postgresql://user@host:5432/rayline"
        ) from None
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; Rayline ships psycopg2.
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    # Readers (dashboard, API) never block the scheduler's writes, nor it them. Switching a new
    # file to WAL takes an exclusive lock that SQLite's busy timeout does not wait for, so a
    # connection opened while another one switches waits here, as long as the busy timeout.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    cursor.close()


class StateStore:
    """Schedules and their runs in one database; migrates it to the newest schema on open."""

    def __init__(self, uri: str) -> None:
        self.engine = create_state_engine(uri)
        try:
            migrations.upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # --- schedules -----------------------------------------------------------------------

    def put_schedule(
        self, name: str, spec: dict[str, Any], source: str, paused: bool = False
    ) -> ScheduleRecord:
        """Create the schedule, or replace its spec, source and paused flag; fire times and
        fingerprints are kept."""
        fields: dict[str, Any] = {"spec": spec, "source": source, "paused": paused}
        _validate(Schedule, {"name": name, **fields})
        try:
            with self._session.begin() as session:
                row = session.get(Schedule, name)
                if row is None:
                    now = time.time()
                    row = Schedule(name=name, created_at=now, updated_at=now, **fields)
                    session.add(row)
                else:
                    _assign(row, fields)
                session.flush()
                return _schedule_record(row)
        except IntegrityError:
            # Another writer created it between our read and our insert: update that one.
            return self.update_schedule(name, **fields)

    def get_schedule(self, name: str) -> ScheduleRecord | None:
        with self._session() as session:
            row = session.get(Schedule, name)
            return None if row is None else _schedule_record(row)

    def list_schedules(self) -> list[ScheduleRecord]:
        """All schedules, by name."""
        with self._session() as session:
            rows = session.scalars(select(Schedule).order_by(Schedule.name))
            return [_schedule_record(row) for row in rows]

    def update_schedule(self, name: str, **fields: Any) -> ScheduleRecord:
        """Set the given columns (see `SCHEDULE_FIELDS`); RecordNotFound if there is none."""
        _check_names("update_schedule", fields, SCHEDULE_FIELDS)
        return self._update(Schedule, name, fields, _schedule_record, f"no schedule named {name!r}")

    def delete_schedule(self, name: str) -> bool:
        """Remove the schedule (its runs stay in the history); False if there was none."""
        with self._session.begin() as session:
            row = session.get(Schedule, name)
            if row is None:
                return False
            session.delete(row)
            return True

    def _update(
        self,
        model: type[Row],
        key: object,
        fields: dict[str, Any],
        record: Callable[[Row], Record],
        missing: str,
    ) -> Record:
        """Set `fields` on the `model` row `key` in one transaction; its record afterwards."""
        _validate(model, fields)
        with self._session.begin() as session:
            row = session.get(model, key)
            if row is None:
                raise RecordNotFound(missing)
            _assign(row, fields)
            session.flush()
            return record(row)

    # --- runs ----------------------------------------------------------------------------

    def record_run(
        self,
        schedule: str,
        submission_id: str,
        scheduled_time: float,
        trigger: str,
        attempt: int,
        fingerprint: str | None = None,
    ) -> tuple[RunRecord, bool]:
        """Record a `pending` run once per submission id: `(run, True)` when this call
        inserted it, `(the existing run, False)` when any caller did before."""
        fields: dict[str, Any] = {
            "schedule": schedule,
            "submission_id": submission_id,
            "scheduled_time": scheduled_time,
            "trigger": trigger,
            "attempt": attempt,
            "status": "pending",
            "fingerprint": fingerprint,
        }
        _validate(ScheduleRun, fields)
        existing = self.run_by_submission(submission_id)
        if existing is not None:
            return existing, False
        try:
            with self._session.begin() as session:
                row = ScheduleRun(**fields)
                session.add(row)
                session.flush()
                return _run_record(row), True
        except IntegrityError:
            # Another process inserted the same submission id after our check: the unique
            # constraint, not the check, is what makes a tick run once.
            existing = self.run_by_submission(submission_id)
            if existing is None:
                raise
            return existing, False

    def update_run(self, run_id: int, **fields: Any) -> RunRecord:
        """Set the given columns (see `RUN_FIELDS`); RecordNotFound if there is no such run."""
        _check_names("update_run", fields, RUN_FIELDS)
        return self._update(ScheduleRun, run_id, fields, _run_record, f"no run with id {run_id}")

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._session() as session:
            row = session.get(ScheduleRun, run_id)
            return None if row is None else _run_record(row)

    def run_by_submission(self, submission_id: str) -> RunRecord | None:
        with self._session() as session:
            row = session.scalar(
                select(ScheduleRun).where(ScheduleRun.submission_id == submission_id)
            )
            return None if row is None else _run_record(row)

    def runs(self, schedule: str, limit: int = 50, offset: int = 0) -> tuple[list[RunRecord], int]:
        """One page of a schedule's runs, newest scheduled first, and how many there are."""
        _check_page(limit, offset)
        with self._session() as session:
            total = session.scalar(
                select(func.count())
                .select_from(ScheduleRun)
                .where(ScheduleRun.schedule == schedule)
            )
            rows = session.scalars(
                select(ScheduleRun)
                .where(ScheduleRun.schedule == schedule)
                .order_by(*_NEWEST_FIRST)
                .limit(limit)
                .offset(offset)
            )
            return [_run_record(row) for row in rows], total or 0

    def active_runs(self, schedule: str | None = None) -> list[RunRecord]:
        """Pending and running runs (of one schedule or all), oldest scheduled first."""
        query = select(ScheduleRun).where(ScheduleRun.status.in_(records.ACTIVE_STATUSES))
        if schedule is not None:
            query = query.where(ScheduleRun.schedule == schedule)
        with self._session() as session:
            rows = session.scalars(query.order_by(ScheduleRun.scheduled_time, ScheduleRun.id))
            return [_run_record(row) for row in rows]

    def last_run(self, schedule: str) -> RunRecord | None:
        """The run with the latest scheduled time; of equal ones, the last recorded."""
        runs, _total = self.runs(schedule, limit=1)
        return runs[0] if runs else None

    def last_success(self, schedule: str) -> RunRecord | None:
        """The latest scheduled run of the schedule that succeeded."""
        with self._session() as session:
            row = session.scalar(
                select(ScheduleRun)
                .where(ScheduleRun.schedule == schedule, ScheduleRun.status == "succeeded")
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            )
            return None if row is None else _run_record(row)

    def count_outcomes(self) -> dict[tuple[str, str], int]:
        """How many finished runs each schedule has, by outcome (for metrics)."""
        query = (
            select(ScheduleRun.schedule, ScheduleRun.outcome, func.count())
            .where(ScheduleRun.outcome.is_not(None))
            .group_by(ScheduleRun.schedule, ScheduleRun.outcome)
        )
        with self._session() as session:
            rows = session.execute(query)
            return {(schedule, outcome or ""): count for schedule, outcome, count in rows}

    def recent_runs(
        self, limit: int = 50, statuses: Iterable[str] | None = None
    ) -> list[RunRecord]:
        """The newest scheduled runs across schedules, optionally only with these statuses."""
        _check_page(limit, 0)
        query = select(ScheduleRun)
        if statuses is not None:
            wanted = list(statuses)
            for status in wanted:
                _check_choice("status", status)
            query = query.where(ScheduleRun.status.in_(wanted))
        with self._session() as session:
            rows = session.scalars(query.order_by(*_NEWEST_FIRST).limit(limit))
            return [_run_record(row) for row in rows]


def _schedule_record(row: Schedule) -> ScheduleRecord:
    values = {field.name: getattr(row, field.name) for field in dataclasses.fields(ScheduleRecord)}
    values["spec"] = copy.deepcopy(values["spec"])
    return ScheduleRecord(**values)


def _run_record(row: ScheduleRun) -> RunRecord:
    return RunRecord(**{name: getattr(row, name) for name in RunRecord.model_fields})


def _assign(row: Base, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(row, name, value)


def _check_names(method: str, fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(
            f"{method}() cannot set {', '.join(unknown)}; it sets {', '.join(sorted(allowed))}"
        )


def _validate(model: type[Base], fields: dict[str, Any]) -> None:
    """Refuse what PostgreSQL would refuse (and SQLite would store), with the field named."""
    columns = model.__table__.columns
    for name, value in fields.items():
        column = columns[name]
        if value is None:
            if not column.nullable:
                raise ValueError(f"{name} must not be None")
            continue
        length = getattr(column.type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            raise ValueError(f"{name} is {len(value)} characters long; at most {length} fit")
        if name in _CHOICES:
            _check_choice(name, value)
    if "name" in fields and not fields["name"]:
        raise ValueError("name must not be empty")


def _check_choice(name: str, value: object) -> None:
    if value not in _CHOICES[name]:
        raise ValueError(f"{name} must be one of {', '.join(_CHOICES[name])}, not {value!r}")


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be 0 or more, not {limit} and {offset}")
