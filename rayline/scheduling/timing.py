"""When a schedule fires: next fire times, missed runs after downtime, retries, overlapping runs,
submission ids and a description in words.

Pure functions of a spec and the times passed in (aware datetimes; results in UTC), so the
scheduler's decisions are tested with a fake clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from rayline.scheduling.cron import Cron
from rayline.scheduling.spec import NAME_PATTERN, ScheduleSpec

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ON_TIME = timedelta(seconds=60)
"""A fire this late is still on time (a tick late), not missed."""
MAX_RETRY_WAIT = timedelta(hours=1)
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_TICK = timedelta(microseconds=1)

ConcurrencyAction = Literal["start", "skip", "replace"]


def next_fire(spec: ScheduleSpec, after: datetime) -> datetime | None:
    """The first scheduled time strictly after `after`; None for `on_new_data` and `on_drift`
    schedules."""
    _require_aware(after)
    if spec.cron is not None:
        return Cron.parse(spec.cron).next_after(after, spec.zone)
    if spec.interval is not None:
        # Multiples of the interval since the epoch: a restart computes the same times.
        periods = (after - EPOCH) // spec.interval
        return EPOCH + (periods + 1) * spec.interval
    return None


def due(
    spec: ScheduleSpec, next_fire_at: datetime | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """(The scheduled time to fire now or None, the next fire time to store).

    `next_fire_at` is the value stored from the previous call (None on the first one, which
    fires nothing). Of several missed times only the latest may fire: under `run_once` if it is
    at most `starting_deadline_s` old, under `skip` if it is at most 60 s old. The returned next
    time is always after `now`, so calling again with it never fires the same time twice. A
    paused schedule fires nothing and moves on.
    """
    _require_aware(now)
    if next_fire_at is None or spec.paused:
        return None, next_fire(spec, now)
    _require_aware(next_fire_at)
    if now < next_fire_at:
        return None, next_fire_at
    window = timedelta(seconds=spec.starting_deadline_s) if spec.missed == "run_once" else ON_TIME
    # Only times inside the window can fire; start there rather than walk a long downtime.
    candidate = next_fire(spec, max(next_fire_at, now - window) - _TICK)
    latest = None
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = next_fire(spec, candidate)
    return latest, next_fire(spec, now)


def retry_at(spec: ScheduleSpec, attempt: int, failed_at: datetime) -> datetime | None:
    """When retry number `attempt` (1 for the first) starts; None when retries are used up.

    Retry n waits `retry_backoff_s * 2**(n-1)` after the failure, at most one hour.
    """
    if attempt < 1:
        raise ValueError(f"attempt {attempt}: retries are numbered from 1")
    if attempt > spec.max_retries:
        return None
    _require_aware(failed_at)
    wait = min(timedelta(seconds=spec.retry_backoff_s * 2 ** (attempt - 1)), MAX_RETRY_WAIT)
    return failed_at.astimezone(UTC) + wait


def concurrency_action(spec: ScheduleSpec, active_runs: int) -> ConcurrencyAction:
    """What to do with a due run while `active_runs` runs of the schedule are still active."""
    if active_runs < 0:
        raise ValueError(f"active_runs {active_runs}: cannot be negative")
    if active_runs == 0 or spec.concurrency == "allow":
        return "start"
    return "skip" if spec.concurrency == "forbid" else "replace"


def submission_id(name: str, scheduled: datetime, attempt: int = 0, manual: bool = False) -> str:
    """The deterministic Ray Jobs submission id of a run.

    `<name>-<UTC YYYYMMDDHHMM>`, `-r<attempt>` for retries; manual runs
    `<name>-manual-<UTC YYYYMMDDHHMMSS>`. Submitting the same run twice reuses the id, which
    Ray Jobs refuses, so a run is never started twice.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"schedule name {name!r}: use lowercase letters, digits, '_' and '-'")
    if attempt < 0:
        raise ValueError(f"attempt {attempt}: cannot be negative")
    _require_aware(scheduled)
    utc = scheduled.astimezone(UTC)
    stamp = f"manual-{utc:%Y%m%d%H%M%S}" if manual else f"{utc:%Y%m%d%H%M}"
    return f"{name}-{stamp}" + (f"-r{attempt}" if attempt else "")


def describe(spec: ScheduleSpec) -> str:
    """The trigger in words for the UI, e.g. `every day at 02:00 UTC`."""
    if spec.on_new_data is not None:
        trigger = spec.on_new_data
        source = trigger.source or "the training data"
        return f"when {source} changes (checked every {trigger.check_every_s:g} s)"
    if spec.on_drift is not None:
        watch = " or ".join(
            {"drift": "drifts", "quality": "loses quality"}[what] for what in spec.on_drift.on
        )
        model = spec.on_drift.model or "the model"
        hours = spec.on_drift.cooldown_s / 3600
        return f"when {model} {watch} (at most once every {hours:g} h)"
    if spec.every is not None:
        return f"every {spec.every}"
    assert spec.cron is not None
    return _describe_cron(Cron.parse(spec.cron), spec.timezone)


_ALL_MINUTES = tuple(range(60))
_ALL_HOURS = tuple(range(24))
_ALL_DAYS = tuple(range(1, 32))
_ALL_MONTHS = tuple(range(1, 13))
_ALL_WEEKDAYS = tuple(range(7))


def _describe_cron(cron: Cron, timezone: str) -> str:
    fallback = f'cron "{cron.expr}" ({timezone})'
    either_day = cron.days_restricted and cron.weekdays_restricted
    if either_day or cron.months != _ALL_MONTHS:
        return fallback
    every_day = cron.days == _ALL_DAYS and cron.weekdays == _ALL_WEEKDAYS
    if every_day and cron.hours == _ALL_HOURS:
        if cron.minutes == _ALL_MINUTES:
            return "every minute"
        step = cron.minutes[1] - cron.minutes[0] if len(cron.minutes) > 1 else 0
        if step and 60 % step == 0 and cron.minutes == tuple(range(0, 60, step)):
            return f"every {step} minutes"
        if len(cron.minutes) == 1:
            return f"at minute {cron.minutes[0]} of every hour"
        return fallback
    if len(cron.hours) != 1 or len(cron.minutes) != 1:
        return fallback
    at = f"at {cron.hours[0]:02d}:{cron.minutes[0]:02d} {timezone}"
    if every_day:
        return f"every day {at}"
    if cron.days == _ALL_DAYS:
        names = [DAY_NAMES[day] for day in cron.weekdays]
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return f"every {listed} {at}"
    if cron.weekdays == _ALL_WEEKDAYS and len(cron.days) == 1:
        return f"on day {cron.days[0]} of every month {at}"
    return fallback


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()}: scheduling needs timezone-aware datetimes")
