"""Tables of Rayline's state database (SQLAlchemy 2 declarative; SQLite and PostgreSQL).

A change here needs a new revision in `migrations/versions/`; a unit test compares the two.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Boolean, Double, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Fixed constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_LENGTH = 48


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Schedule(Base):
    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_fire: Mapped[float | None] = mapped_column(Double)
    last_fire: Mapped[float | None] = mapped_column(Double)
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    fingerprint_seen: Mapped[str | None] = mapped_column(String(128))
    fingerprint_seen_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double, default=time.time)
    updated_at: Mapped[float] = mapped_column(Double, default=time.time, onupdate=time.time)


class ScheduleRun(Base):
    __tablename__ = "schedule_runs"
    # Serves both a schedule's history (newest first) and its last run.
    __table_args__ = (Index("ix_schedule_runs_schedule_time", "schedule", "scheduled_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Not a foreign key: the history outlives a deleted schedule.
    schedule: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # The Ray job submission id, derived from the tick: a tick is recorded once.
    submission_id: Mapped[str] = mapped_column(String(128), unique=True)
    scheduled_time: Mapped[float] = mapped_column(Double)
    trigger: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    step: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double, default=time.time)
    started_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    model: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Double)
    champion_score: Mapped[float | None] = mapped_column(Double)
    metric: Mapped[str | None] = mapped_column(String(255))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    webhook_status: Mapped[str | None] = mapped_column(String(64))


class Prediction(Base):
    """One prediction request's answers, kept for a while so that feedback labels can be joined
    to its rows. One row per request, not per predicted row: a 10,000-row request is one
    insert."""

    __tablename__ = "predictions"
    # Retention deletes the oldest requests of a model; quality reads a version's newest labels.
    __table_args__ = (
        Index("ix_predictions_model_created", "model", "created_at"),
        Index("ix_predictions_model_version_labelled", "model", "version", "labelled_at"),
    )

    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    prediction_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    rows: Mapped[int] = mapped_column(Integer)
    predicted: Mapped[str] = mapped_column(Text)
    """The predictions of the request's rows, a JSON list (class labels or numbers)."""
    created_at: Mapped[float] = mapped_column(Double)
    labels: Mapped[str | None] = mapped_column(Text)
    """The true values from feedback, a JSON object by row index."""
    labelled: Mapped[int] = mapped_column(Integer, default=0)
    """How many of the request's rows have a label."""
    labelled_at: Mapped[float | None] = mapped_column(Double)


class ApiKey(Base):
    """An API key, kept as a salted hash: the key itself is printed once, when it is made."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """The key's public id: the first hex digits of its SHA-256 (what lists and audits show)."""
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    salt: Mapped[str] = mapped_column(String(32))
    hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of salt and key, hex."""
    rate: Mapped[float | None] = mapped_column(Double)
    """Requests a second it may make (token bucket refill), per ingress replica; None: no limit."""
    burst: Mapped[int | None] = mapped_column(Integer)
    """Requests it may make at once (bucket size); None: one second's worth of `rate`."""
    created_at: Mapped[float] = mapped_column(Double, default=time.time)
    revoked_at: Mapped[float | None] = mapped_column(Double, index=True)


class AuditEntry(Base):
    """One admin action: who (key id, never the key), what, on what, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_time", "action", "time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double, index=True)
    key_id: Mapped[str | None] = mapped_column(String(16), index=True)
    """Who: an API key's id, or `cli:<user>` for the stack CLI on the head."""
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))
    """`ok`, `denied` (403) or `failed`."""
    status: Mapped[int | None] = mapped_column(Integer)
    """The HTTP status answered, for actions taken through the API."""
    detail: Mapped[str | None] = mapped_column(Text)
