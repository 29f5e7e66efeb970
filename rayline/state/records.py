"""Plain records the state store hands out: detached from any session, safe to pass around."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SOURCES = ("config", "api")
"""Where a schedule was declared: serve_config.yaml (`config`) or created through the API."""

TRIGGERS = ("cron", "every", "new_data", "manual", "retry")
"""What made a run happen."""

STATUSES = ("pending", "running", "succeeded", "failed", "stopped", "skipped")
"""Life cycle of a run; the first two are active."""

ACTIVE_STATUSES = ("pending", "running")

OUTCOMES = ("skipped", "trained", "promoted", "failed", "timeout", "stopped")
"""What a finished run achieved (`stopped`: replaced by a newer run)."""


class RecordNotFound(LookupError):
    """The schedule or run asked for does not exist."""


@dataclass(frozen=True)
class ScheduleRecord:
    """One schedule; times are epoch seconds (UTC)."""

    name: str
    spec: dict[str, Any]
    source: str
    paused: bool
    next_fire: float | None
    last_fire: float | None
    fingerprint: str | None
    """Data fingerprint of the last fired run."""
    fingerprint_seen: str | None
    """The fingerprint currently observed, and below since when (lets new data settle)."""
    fingerprint_seen_at: float | None
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunRecord:
    """One run of a schedule (one Ray job submission); times are epoch seconds (UTC)."""

    id: int
    schedule: str
    submission_id: str
    scheduled_time: float
    trigger: str
    attempt: int
    status: str
    outcome: str | None
    step: str | None
    """The step that failed: submit, load, train, register, ..."""
    error: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    model: str | None
    version: str | None
    score: float | None
    champion_score: float | None
    metric: str | None
    mlflow_run_id: str | None
    fingerprint: str | None
    webhook_status: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
