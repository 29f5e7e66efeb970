"""Cron parsing and next fire times, including daylight-saving days in two time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rayline.scheduling import Cron, CronError

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def fires_on(cron: Cron, tz: ZoneInfo, day: date) -> list[datetime]:
    """Every fire during one local calendar day, by asking for the next one repeatedly."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    end = (datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)).astimezone(UTC)
    fires = []
    moment = start - timedelta(microseconds=1)
    while (moment := cron.next_after(moment, tz)) < end:
        fires.append(moment)
    return fires


@pytest.mark.parametrize(
    ("expr", "field", "expected"),
    [
        ("* * * * *", "minutes", tuple(range(60))),
        ("1,15,30 * * * *", "minutes", (1, 15, 30)),
        ("* 9-17 * * *", "hours", tuple(range(9, 18))),
        ("*/15 * * * *", "minutes", (0, 15, 30, 45)),
        ("1-10/3 * * * *", "minutes", (1, 4, 7, 10)),
        ("50/5 * * * *", "minutes", (50, 55)),
        ("0 0 1,15 * *", "days", (1, 15)),
        ("0 0 * jan-mar,DEC *", "months", (1, 2, 3, 12)),
        ("0 0 * * mon-fri", "weekdays", (1, 2, 3, 4, 5)),
        ("0 0 * * 7", "weekdays", (0,)),
        ("0 0 * * 0,7,sun", "weekdays", (0,)),
        ("0 0 * * 5-7", "weekdays", (0, 5, 6)),
        ("@hourly", "minutes", (0,)),
        ("@weekly", "weekdays", (0,)),
    ],
)
def test_parse_each_syntax(expr: str, field: str, expected: tuple[int, ...]) -> None:
    assert getattr(Cron.parse(expr), field) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("61 * * * *", "minute (field 1 of 5) '61': 61 is out of range; allowed: 0-59"),
        ("* 24 * * *", "hour (field 2 of 5) '24': 24 is out of range; allowed: 0-23"),
        ("* * 0 * *", "day-of-month (field 3 of 5) '0'"),
        ("* * * 13 *", "month (field 4 of 5) '13'"),
        ("* * * foo *", "'foo' is not a value; allowed: 1-12 or jan..dec"),
        (
            "* * * * 8",
            "day-of-week (field 5 of 5) '8': 8 is out of range; allowed: 0-7 or sun..sat",
        ),
        ("* * * * mun", "day-of-week (field 5 of 5) 'mun'"),
        ("*/0 * * * *", "minute (field 1 of 5) '*/0': step '0' must be a whole number from 1"),
        ("*/x * * * *", "step 'x'"),
        ("5-1 * * * *", "range 5-1 goes backwards"),
        ("1,,2 * * * *", "minute (field 1 of 5) '1,,2': empty list item"),
        ("-1 * * * *", "minute (field 1 of 5) '-1'"),
        ("\u00b2 * * * *", "minute (field 1 of 5) '\u00b2': '\u00b2' is not a value"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week)"),
        ("0 0 * * * *", "got 6"),
        ("0 0 30 2 *", "day-of-month 30 never occurs in month 2"),
        ("0 0 31 apr,jun *", "never occurs"),
    ],
)
def test_bad_expressions_name_the_field_and_value(expr: str, expected: str) -> None:
    with pytest.raises(CronError) as caught:
        Cron.parse(expr)
    assert expected in str(caught.value)


def test_daily_at_two_utc() -> None:
    cron = Cron.parse("0 2 * * *")
    assert cron.next_after(datetime(2026, 5, 1, 1, 59, 59, tzinfo=UTC), UTC_ZONE) == (
        datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    )
    # Strictly after: the fire time itself asks for the next day's.
    assert cron.next_after(datetime(2026, 5, 1, 2, 0, tzinfo=UTC), UTC_ZONE) == (
        datetime(2026, 5, 2, 2, 0, tzinfo=UTC)
    )


def test_next_after_accepts_any_aware_datetime_and_answers_in_utc() -> None:
    after = datetime(2026, 5, 1, 4, 0, tzinfo=MADRID)  # 02:00 UTC
    fire = Cron.parse("0 2 * * *").next_after(after, UTC_ZONE)
    assert fire == datetime(2026, 5, 2, 2, 0, tzinfo=UTC)
    assert fire.tzinfo is UTC


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Cron.parse("0 2 * * *").next_after(datetime(2026, 5, 1), UTC_ZONE)


def test_cron_reads_wall_time_in_its_zone() -> None:
    fire = Cron.parse("30 8 * * mon").next_after(datetime(2026, 6, 1, tzinfo=UTC), MADRID)
    assert fire.astimezone(MADRID) == datetime(2026, 6, 1, 8, 30, tzinfo=MADRID)
    assert fire == datetime(2026, 6, 1, 6, 30, tzinfo=UTC)


def test_weekday_only_restricts_to_that_weekday() -> None:
    fires = [
        fire
        for day in range(1, 31)
        for fire in fires_on(Cron.parse("0 0 * * 1"), UTC_ZONE, date(2026, 6, day))
    ]
    assert [fire.day for fire in fires] == [1, 8, 15, 22, 29]


def test_both_day_fields_restricted_match_either() -> None:
    cron = Cron.parse("0 0 13 * fri")
    days = [d for d in range(1, 31) if fires_on(cron, UTC_ZONE, date(2026, 6, d))]
    assert days == [5, 12, 13, 19, 26]


def test_day_of_month_with_star_step_and_a_weekday_need_both() -> None:
    # Vixie cron: a day field starting with `*` counts as unrestricted, so the fields AND.
    cron = Cron.parse("0 0 */2 * mon")
    days = [d for d in range(1, 31) if fires_on(cron, UTC_ZONE, date(2026, 6, d))]
    assert days == [1, 15, 29]


def test_february_29_is_found_across_a_non_leap_century() -> None:
    cron = Cron.parse("0 0 29 2 *")
    assert cron.next_after(datetime(2096, 3, 1, tzinfo=UTC), UTC_ZONE) == datetime(
        2104, 2, 29, tzinfo=UTC
    )


def test_impossible_day_with_a_weekday_is_still_valid() -> None:
    # Day 30 never comes in February, but Mondays do: either field matching is enough.
    fire = Cron.parse("0 0 30 2 mon").next_after(datetime(2027, 2, 1, 12, tzinfo=UTC), UTC_ZONE)
    assert fire == datetime(2027, 2, 8, tzinfo=UTC)


def test_spring_forward_gap_fires_once_at_the_first_instant_after_it() -> None:
    # Europe/Madrid, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    fires = fires_on(Cron.parse("30 2 * * *"), MADRID, date(2026, 3, 29))
    assert fires == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]
    assert fires[0].astimezone(MADRID).strftime("%H:%M %Z") == "03:00 CEST"
    # The next day is back to 02:30.
    assert (
        fires_on(Cron.parse("30 2 * * *"), MADRID, date(2026, 3, 30))[0]
        .astimezone(MADRID)
        .strftime("%H:%M")
        == "02:30"
    )


def test_fall_back_ambiguous_time_fires_once_at_its_first_occurrence() -> None:
    # America/New_York, Sunday 2026-11-01: 01:00-01:59 happens in EDT and again in EST.
    fires = fires_on(Cron.parse("30 1 * * *"), NEW_YORK, date(2026, 11, 1))
    assert fires == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]  # 01:30 EDT
    # Asked during the repeated hour (01:00 EST), it does not fire 01:30 again.
    fire = Cron.parse("30 1 * * *").next_after(datetime(2026, 11, 1, 6, 0, tzinfo=UTC), NEW_YORK)
    assert fire == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "day", "gap_hour"),
    [
        (MADRID, date(2026, 3, 29), 2),  # spring forward
        (MADRID, date(2026, 10, 25), None),  # fall back: 02:00-02:59 twice
        (NEW_YORK, date(2026, 3, 8), 2),
        (NEW_YORK, date(2026, 11, 1), None),  # fall back: 01:00-01:59 twice
    ],
)
def test_every_hour_of_a_dst_day_fires_exactly_once(
    tz: ZoneInfo, day: date, gap_hour: int | None
) -> None:
    for hour in range(24):
        for minute in (0, 30):
            fires = fires_on(Cron.parse(f"{minute} {hour} * * *"), tz, day)
            assert len(fires) == 1, (hour, minute, fires)
            local = fires[0].astimezone(tz)
            expected = (hour + 1, 0) if hour == gap_hour else (hour, minute)
            assert (local.hour, local.minute) == expected
            assert local.fold == 0


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (MADRID, date(2026, 3, 29), 23),  # 02:00 does not exist; it folds into 03:00
        (MADRID, date(2026, 10, 25), 24),  # the repeated 02:00 fires once
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 24),
    ],
)
def test_hourly_cron_on_dst_days_never_fires_twice_at_once(
    tz: ZoneInfo, day: date, expected: int
) -> None:
    fires = fires_on(Cron.parse("0 * * * *"), tz, day)
    assert len(fires) == expected
    assert len(set(fires)) == len(fires)
    wall = [f.astimezone(tz).strftime("%H:%M") for f in fires]
    assert len(set(wall)) == len(wall)


def test_every_fifteen_minutes_across_the_spring_gap() -> None:
    fires = fires_on(Cron.parse("*/15 * * * *"), MADRID, date(2026, 3, 29))
    wall = [f.astimezone(MADRID).strftime("%H:%M") for f in fires]
    # 02:00-02:45 do not exist: they fire once, at 03:00, which is also a fire of its own.
    assert wall[7:10] == ["01:45", "03:00", "03:15"]
    assert len(fires) == 23 * 4
