"""Rayline's own state database: schedules and their run history (later audit log, labels)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rayline.state.records import (
    ACTIVE_STATUSES,
    OUTCOMES,
    SOURCES,
    STATUSES,
    TRIGGERS,
    RecordNotFound,
    RunRecord,
    ScheduleRecord,
)
from rayline.state.store import StateStore

if TYPE_CHECKING:
    from rayline.settings import Settings

__all__ = [
    "ACTIVE_STATUSES",
    "OUTCOMES",
    "SOURCES",
    "STATUSES",
    "TRIGGERS",
    "RecordNotFound",
    "RunRecord",
    "ScheduleRecord",
    "StateStore",
    "open_store",
]


def open_store(settings: Settings) -> StateStore:
    """The store at `settings.state_uri` (RAYLINE_STATE_DATABASE_URI or SQLite in home)."""
    return StateStore(settings.state_uri)
