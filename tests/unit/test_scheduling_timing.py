"""Fire times, missed runs, retries, overlapping runs, submission ids and descriptions, driven
by a fake clock (datetimes passed in)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rayline.scheduling import (
    ScheduleSpec,
    concurrency_action,
    describe,
    due,
    next_fire,
    retry_at,
    submission_id,
)

HOURLY = "0 * * * *"


def make(**fields: Any) -> ScheduleSpec:
    data: dict[str, Any] = {"name": "nightly", "config": "iris"}
    data.update(fields)
    if not {"cron", "every", "on_new_data"} & data.keys():
        data["cron"] = HOURLY
    return ScheduleSpec.model_validate(data)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 5, day, hour, minute, second, tzinfo=UTC)


def tick(spec: ScheduleSpec, start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """A scheduler that calls `due` every `step` from `start` to `end`; the times it fired."""
    fired = []
    stored = next_fire(spec, start)
    now = start
    while now <= end:
        scheduled, stored = due(spec, stored, now)
        if scheduled is not None:
            fired.append(scheduled)
        now += step
    return fired


def test_next_fire_for_cron_is_in_its_time_zone() -> None:
    spec = make(cron="0 2 * * *", timezone="America/New_York")
    assert next_fire(spec, at(0)) == at(6)  # 02:00 EDT


def test_every_is_aligned_on_the_epoch() -> None:
    spec = make(every="2h")
    assert next_fire(spec, at(3, 17)) == at(4)
    assert next_fire(spec, at(4)) == at(6)  # strictly after
    odd = make(every="7m")
    fire = next_fire(odd, at(3, 17, 12))
    assert fire is not None
    assert int(fire.timestamp()) % 420 == 0
    assert timedelta(0) < fire - at(3, 17, 12) <= timedelta(minutes=7)


def test_every_restarts_keep_the_same_times() -> None:
    spec = make(every="90s")
    before_restart = next_fire(spec, at(3, 0, 1))
    after_restart = next_fire(spec, at(3, 0, 59, day=1).replace(microsecond=999))
    assert before_restart == after_restart
    assert before_restart is not None and int(before_restart.timestamp()) % 90 == 0


def test_on_new_data_has_no_fire_times() -> None:
    spec = make(on_new_data={"source": "data.csv"})
    assert next_fire(spec, at(3)) is None
    assert due(spec, None, at(3)) == (None, None)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due(make(), at(1), datetime(2026, 5, 1, 2))


def test_first_call_only_stores_the_next_time() -> None:
    assert due(make(), None, at(3, 0)) == (None, at(4))


def test_not_yet_due_keeps_the_stored_time() -> None:
    assert due(make(), at(4), at(3, 59, 59)) == (None, at(4))


@pytest.mark.parametrize("missed", ["skip", "run_once"])
def test_on_time_and_one_tick_late_both_fire(missed: str) -> None:
    spec = make(missed=missed)
    assert due(spec, at(4), at(4)) == (at(4), at(5))
    assert due(spec, at(4), at(4, 1)) == (at(4), at(5))


def test_skip_drops_a_fire_more_than_a_minute_late() -> None:
    assert due(make(missed="skip"), at(4), at(4, 1, 1)) == (None, at(5))


def test_three_hours_down_run_once_fires_once_for_the_latest() -> None:
    spec = make(missed="run_once")  # deadline 1 h
    # Stored next time 10:00; down until 12:30: 10:00, 11:00 and 12:00 were missed.
    scheduled, stored = due(spec, at(10), at(12, 30))
    assert (scheduled, stored) == (at(12), at(13))
    # The same tick again, or the next ones, fire nothing until 13:00.
    for now in (at(12, 30), at(12, 30), at(12, 45), at(12, 59, 59)):
        assert due(spec, stored, now) == (None, at(13))


def test_three_hours_down_beyond_the_deadline_fires_nothing() -> None:
    spec = make(missed="run_once", starting_deadline_s=600)
    assert due(spec, at(10), at(12, 30)) == (None, at(13))


def test_three_hours_down_skip_fires_nothing() -> None:
    assert due(make(missed="skip"), at(10), at(12, 30)) == (None, at(13))


def test_long_downtime_with_a_minutely_cron_fires_the_latest_once() -> None:
    spec = make(cron="* * * * *", missed="run_once")
    assert due(spec, at(0, day=1), at(12, 30, 20, day=20)) == (
        at(12, 30, day=20),
        at(12, 31, day=20),
    )


def test_repeated_calls_with_the_same_now_never_fire_twice() -> None:
    spec = make()
    stored: datetime | None = at(4)
    fired = []
    for _ in range(5):
        scheduled, stored = due(spec, stored, at(4, 0, 10))
        fired += [scheduled] if scheduled else []
    assert fired == [at(4)]


def test_a_day_of_ticks_fires_each_hour_once() -> None:
    fired = tick(make(), at(0), at(0, day=2) - timedelta(seconds=1), timedelta(seconds=10))
    assert fired == [at(hour) for hour in range(1, 24)]


def test_dst_days_of_ticks_fire_each_local_time_once() -> None:
    new_york = ZoneInfo("America/New_York")
    # Fall back, 2026-11-01: 01:30 happens twice and fires once.
    spec = make(cron="30 1 * * *", timezone="America/New_York")
    start = datetime(2026, 11, 1, tzinfo=new_york)
    fired = tick(spec, start, start + timedelta(hours=25), timedelta(minutes=1))
    assert fired == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]
    # Spring forward, 2026-03-08: 02:30 does not exist and fires once at 03:00 EDT.
    spec = make(cron="30 2 * * *", timezone="America/New_York")
    start = datetime(2026, 3, 8, tzinfo=new_york)
    fired = tick(spec, start, start + timedelta(hours=23), timedelta(minutes=1))
    assert [f.astimezone(new_york).strftime("%H:%M %Z") for f in fired] == ["03:00 EDT"]


def test_paused_fires_nothing_and_does_not_catch_up() -> None:
    spec = make(paused=True)
    assert due(spec, at(4), at(4)) == (None, at(5))


def test_retry_backoff_doubles_and_caps_at_an_hour() -> None:
    spec = make(max_retries=10, retry_backoff_s=60)
    waits = [retry_at(spec, n, at(4)) for n in range(1, 11)]
    assert [w - at(4) for w in waits if w is not None] == [
        timedelta(seconds=s) for s in (60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600)
    ]


def test_retries_stop_after_max_retries() -> None:
    spec = make(max_retries=2)
    assert retry_at(spec, 2, at(4)) == at(4, 2)
    assert retry_at(spec, 3, at(4)) is None
    assert retry_at(make(), 1, at(4)) is None
    with pytest.raises(ValueError, match="numbered from 1"):
        retry_at(spec, 0, at(4))


@pytest.mark.parametrize(
    ("policy", "active", "action"),
    [
        ("forbid", 0, "start"),
        ("forbid", 1, "skip"),
        ("replace", 0, "start"),
        ("replace", 2, "replace"),
        ("allow", 0, "start"),
        ("allow", 3, "start"),
    ],
)
def test_concurrency_actions(policy: str, active: int, action: str) -> None:
    assert concurrency_action(make(concurrency=policy), active) == action


def test_submission_ids_are_deterministic_and_safe() -> None:
    madrid = datetime(2026, 5, 1, 4, 0, 30, tzinfo=ZoneInfo("Europe/Madrid"))
    assert submission_id("nightly", at(2)) == "nightly-202605010200"
    assert submission_id("nightly", madrid) == "nightly-202605010200"  # in UTC
    assert submission_id("nightly", at(2), attempt=2) == "nightly-202605010200-r2"
    assert submission_id("nightly", at(2, 3, 4), manual=True) == "nightly-manual-20260501020304"
    for sid in (submission_id("a_b-1", at(2), attempt=10), submission_id("x", madrid, manual=True)):
        assert re.fullmatch(r"[a-z0-9_-]+", sid)


def test_submission_id_refuses_unsafe_names() -> None:
    with pytest.raises(ValueError, match="schedule name"):
        submission_id("Nightly Run", at(2))


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"cron": "0 2 * * *"}, "every day at 02:00 UTC"),
        (
            {"cron": "30 8 * * 1", "timezone": "Europe/Madrid"},
            "every Monday at 08:30 Europe/Madrid",
        ),
        ({"cron": "0 9 * * mon,wed,fri"}, "every Monday, Wednesday and Friday at 09:00 UTC"),
        ({"cron": "0 0 1 * *"}, "on day 1 of every month at 00:00 UTC"),
        ({"cron": "*/15 * * * *"}, "every 15 minutes"),
        ({"cron": "* * * * *"}, "every minute"),
        ({"cron": "5 * * * *"}, "at minute 5 of every hour"),
        ({"every": "30m"}, "every 30m"),
        (
            {"on_new_data": {"source": "s3://b/data.csv"}},
            "when s3://b/data.csv changes (checked every 60 s)",
        ),
        (
            {"on_new_data": {"check_every_s": 2.5}},
            "when the training data changes (checked every 2.5 s)",
        ),
        ({"cron": "*/7 * * * *"}, 'cron "*/7 * * * *" (UTC)'),
        ({"cron": "0 0 13 * fri"}, 'cron "0 0 13 * fri" (UTC)'),
        (
            {"cron": "0 9-17 * * 1-5", "timezone": "Asia/Tokyo"},
            'cron "0 9-17 * * 1-5" (Asia/Tokyo)',
        ),
    ],
)
def test_describe(fields: dict[str, Any], text: str) -> None:
    assert describe(make(**fields)) == text
