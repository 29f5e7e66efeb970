"""Five-field cron expressions (minute hour day-of-month month day-of-week) and their next fire
time in an IANA time zone, correct across daylight-saving changes.

Semantics follow Vixie cron: `*`, lists, ranges, steps (`*/15`, `1-5/2`, and `5/15` meaning
`5-max/15`), names `jan`..`dec` and `sun`..`sat`, 0 and 7 both Sunday; when both day fields
are restricted (neither starts with `*`) a day matches either of them. The macros `@hourly`,
`@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` and `@annually` stand for their
five-field forms.

Daylight saving: a wall time that does not exist (the spring-forward gap) fires once at the
first instant after the gap; a wall time that happens twice (fall-back) fires once, at its first
occurrence. An expression that can never match, such as `0 0 30 2 *`, is refused by
`Cron.parse`, so `next_after` always finds a time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# February 29 of a leap year can be 8 years away (2096 → 2104); one more bounds the search.
_SEARCH_YEARS = 9


class CronError(ValueError):
    """A cron expression that cannot be used; the message names the field and the value."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names of the values from `low` upwards (`jan` is 1, `sun` is 0)."""

    @property
    def allowed(self) -> str:
        names = f" or {self.names[0]}..{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTH_NAMES),
    _Field("day-of-week", 0, 7, DAY_NAMES),
)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field, sorted."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    """0 is Sunday (a 7 in the expression is stored as 0)."""
    days_restricted: bool
    """The day-of-month field does not start with `*`."""
    weekdays_restricted: bool
    """The day-of-week field does not start with `*`."""

    @classmethod
    def parse(cls, expr: str) -> Cron:
        """Parse an expression; `CronError` names the field (of five) and the bad value."""
        text = MACROS.get(expr.strip().lower(), expr)
        parts = text.split()
        if len(parts) != len(_FIELDS):
            raise CronError(
                f"{expr!r}: expected 5 fields ({' '.join(f.name for f in _FIELDS)}) or one of "
                f"{', '.join(MACROS)}; got {len(parts)}"
            )
        values = [
            _parse_field(part, field, i + 1)
            for i, (part, field) in enumerate(zip(parts, _FIELDS, strict=True))
        ]
        weekdays = tuple(sorted({day % 7 for day in values[4]}))
        cron = cls(
            expr=expr,
            minutes=values[0],
            hours=values[1],
            days=values[2],
            months=values[3],
            weekdays=weekdays,
            days_restricted=not parts[2].startswith("*"),
            weekdays_restricted=not parts[4].startswith("*"),
        )
        if not cron._can_match():
            raise CronError(
                f"{expr!r}: day-of-month {parts[2]} never occurs in month {parts[3]}, "
                "so it never fires; pick days that exist in those months"
            )
        return cron

    def matches_day(self, day: date) -> bool:
        """Whether the date matches the month and day fields (Vixie rule for the two days)."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, after: datetime, tz: ZoneInfo) -> datetime:
        """The first fire time strictly after `after` (aware), as an aware UTC datetime."""
        if after.tzinfo is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        # Wall times map to instants in order (ambiguous ones to their first occurrence), and no
        # wall time before `after`'s own maps past it, so scan wall times forward from there.
        start = after.astimezone(tz).replace(tzinfo=None, fold=0, second=0, microsecond=0)
        day = start.date()
        last_day = date(day.year + _SEARCH_YEARS, 12, 31)
        while day <= last_day:
            if day.month not in self.months:
                day = _first_of_next_month(day)
                continue
            if self.matches_day(day):
                fire = self._first_on_day(day, start, after, tz)
                if fire is not None:
                    return fire
            day += timedelta(days=1)
        raise AssertionError(f"cron {self.expr!r}: no fire time within {_SEARCH_YEARS} years")

    def _first_on_day(
        self, day: date, start: datetime, after: datetime, tz: ZoneInfo
    ) -> datetime | None:
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime.combine(day, time(hour, minute))
                if wall < start:
                    continue
                instant = _instant(wall, tz)
                if instant > after:
                    return instant
        return None

    def _can_match(self) -> bool:
        if not self.days_restricted or self.weekdays_restricted:
            return True
        return any(
            day <= calendar.monthrange(2000, month)[1] for month in self.months for day in self.days
        )


def _parse_field(text: str, field: _Field, position: int) -> tuple[int, ...]:
    where = f"{field.name} (field {position} of 5) {text!r}"
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{where}: empty list item; use e.g. 1,15,30")
        base, slash, step_text = item.partition("/")
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, field, where), _value(last, field, where)
            if low > high:
                raise CronError(f"{where}: range {base} goes backwards; write the smaller first")
        else:
            low = _value(base, field, where)
            high = field.high if slash else low
        step = 1
        if slash:
            if not _is_number(step_text) or not 1 <= int(step_text) <= field.high - field.low + 1:
                raise CronError(
                    f"{where}: step {step_text!r} must be a whole number from 1 to "
                    f"{field.high - field.low + 1}"
                )
            step = int(step_text)
        values.update(range(low, high + 1, step))
    return tuple(sorted(values))


def _value(text: str, field: _Field, where: str) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    if not _is_number(text):
        raise CronError(f"{where}: {text!r} is not a value; allowed: {field.allowed}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"{where}: {value} is out of range; allowed: {field.allowed}")
    return value


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a naive wall time names: its first occurrence, or the end of its DST gap."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant after the gap that skips over the nonexistent wall time `wall`."""
    # fold=1 reads the wall time with the offset after the change (an instant before it),
    # fold=0 with the offset before (an instant after it); bisect the change between them.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    before = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
