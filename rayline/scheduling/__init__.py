"""Schedules that start training runs by themselves (cron, fixed interval, new data): the pure
decisions the scheduler deployment calls. No Ray here, and no I/O outside `fingerprint`."""

from rayline.scheduling.cron import Cron, CronError
from rayline.scheduling.fingerprint import (
    FingerprintError,
    Observation,
    fingerprint,
    new_data_due,
    observe,
    settled,
)
from rayline.scheduling.spec import (
    NewDataTrigger,
    ScheduleError,
    ScheduleSpec,
    load_training_config,
    parse_every,
    parse_schedule,
)
from rayline.scheduling.timing import (
    ConcurrencyAction,
    concurrency_action,
    describe,
    due,
    next_fire,
    retry_at,
    submission_id,
)

__all__ = [
    "ConcurrencyAction",
    "Cron",
    "CronError",
    "FingerprintError",
    "NewDataTrigger",
    "Observation",
    "ScheduleError",
    "ScheduleSpec",
    "concurrency_action",
    "describe",
    "due",
    "fingerprint",
    "load_training_config",
    "new_data_due",
    "next_fire",
    "observe",
    "parse_every",
    "parse_schedule",
    "retry_at",
    "settled",
    "submission_id",
]
