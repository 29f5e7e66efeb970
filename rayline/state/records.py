"""Plain records the state store hands out: detached from any session, safe to pass around."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

SOURCES = ("config", "api")
"""Where a schedule was declared: serve_config.yaml (`config`) or created through the API."""

Trigger = Literal["cron", "every", "new_data", "drift", "manual", "retry"]
"""What made a run happen."""
TRIGGERS: tuple[str, ...] = get_args(Trigger)

Status = Literal["pending", "running", "succeeded", "failed", "stopped", "skipped"]
"""Life cycle of a run; the first two are active."""
STATUSES: tuple[str, ...] = get_args(Status)

ACTIVE_STATUSES = ("pending", "running")

Outcome = Literal["skipped", "trained", "promoted", "failed", "timeout", "stopped"]
"""What a finished run achieved (`stopped`: replaced by a newer run)."""
OUTCOMES: tuple[str, ...] = get_args(Outcome)


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


class RunRecord(BaseModel):
    """One run of a schedule (one Ray job submission); times are epoch seconds (UTC). The API
    answers with it as it is (`serve_app/routes/schedules.py`), plus links."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: int
    schedule: str
    submission_id: str
    """The Ray Jobs submission id."""
    scheduled_time: float
    trigger: Trigger
    attempt: int
    """0 for the first try, n for the n-th retry."""
    status: Status
    outcome: Outcome | None
    """What a finished run achieved (`stopped`: replaced by a newer run)."""
    step: str | None
    """The step that failed: submit, load, train, register, ..."""
    error: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    model: str | None
    version: str | None
    """The version it registered."""
    score: float | None
    champion_score: float | None
    """The champion's score on the same test split, when the promotion gate compared them."""
    metric: str | None
    mlflow_run_id: str | None
    fingerprint: str | None
    """The data fingerprint the run was started for (new-data schedules)."""
    webhook_status: str | None
    """What happened to the failure webhook."""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()
