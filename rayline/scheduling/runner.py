"""What the scheduler engine needs of Ray Jobs (`JobRunner`), what Ray reports of a job
(`JobState`), and the errors of managing schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from rayline.scheduling.spec import ScheduleSpec


class ScheduleNotFound(LookupError):
    """No schedule of that name."""


class ScheduleConflict(ValueError):
    """The change would clash with what exists (a name taken, a schedule owned by the config)."""


@dataclass
class JobState:
    """What Ray says of one submitted job, with the `@rayline` events of its log."""

    status: str
    message: str = ""
    events: dict[str, Any] = field(default_factory=dict)


class JobRunner(Protocol):
    """Ray Jobs as the engine needs them."""

    def submit(self, spec: ScheduleSpec, submission_id: str, metadata: dict[str, str]) -> None:
        """Submit the schedule's training job; an id Ray already knows counts as submitted."""

    def state(self, submission_id: str) -> JobState | None:
        """The job's state, or None when Ray does not know the id."""

    def stop(self, submission_id: str) -> None:
        """Ask Ray to stop the job."""
