"""Settlement periods: boundaries in the household's local time, correct across DST changes.

Pure functions over aware datetimes and a time zone. A period starts at local midnight of its
first day and ends where the next one starts, so a day across a DST change lasts 23 or 25 hours.
Durations and order are taken from timestamps, never from wall-clock datetime arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
import enum

MAX_START_DAY = 28  # every month has it


class PeriodKind(enum.StrEnum):
    """How long a settlement period lasts."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


@dataclass(frozen=True, slots=True)
class PeriodSpec:
    """A household's period: its kind and its start day.

    ``start_day`` is the weekday for weekly periods (0 = Monday) and the day of the month
    (1 to 28) for monthly, quarterly (January, April, July, October) and yearly (January) ones.
    """

    kind: PeriodKind
    start_day: int = 1

    def __post_init__(self) -> None:
        """Refuse a start day the kind cannot have."""
        if self.kind is PeriodKind.WEEKLY:
            if not 0 <= self.start_day <= 6:
                raise ValueError("a weekly period starts on a weekday from 0 (Monday) to 6")
        elif self.kind is not PeriodKind.DAILY and not 1 <= self.start_day <= MAX_START_DAY:
            raise ValueError(f"a period starts on a day of the month from 1 to {MAX_START_DAY}")


@dataclass(frozen=True, slots=True)
class Period:
    """One settlement period: ``start`` inclusive, ``end`` exclusive, both local."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """Names the period by its first day, e.g. ``2026-11-01``.

        A period that began at another time than midnight (one that ``close_period`` opened
        early) is named by its first moment too, ``2026-11-23T10:15:00``: a period closed
        early and the one opened after it never share a name, even on the same day.
        """
        if self.start.time() == time(0):
            return self.start.date().isoformat()
        return self.start.replace(tzinfo=None).isoformat(timespec="seconds")

    @property
    def start_ms(self) -> int:
        """The start as epoch milliseconds."""
        return round(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        """The end as epoch milliseconds."""
        return round(self.end.timestamp() * 1000)


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of a local day.

    A midnight that DST skips resolves forward (fold=0 uses the offset before the change), so
    such a day starts at 01:00.
    """
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).astimezone(zone)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


def _first_day(spec: PeriodSpec, day: date) -> date:
    """The first day of the period holding ``day``."""
    match spec.kind:
        case PeriodKind.DAILY:
            return day
        case PeriodKind.WEEKLY:
            return day - timedelta(days=(day.weekday() - spec.start_day) % 7)
        case PeriodKind.MONTHLY:
            first = day.replace(day=spec.start_day)
            return first if first <= day else _add_months(first, -1)
        case PeriodKind.QUARTERLY:
            first = date(day.year, (day.month - 1) // 3 * 3 + 1, spec.start_day)
            return first if first <= day else _add_months(first, -3)
        case _:  # yearly
            first = date(day.year, 1, spec.start_day)
            return first if first <= day else date(day.year - 1, 1, spec.start_day)


def _next_first_day(spec: PeriodSpec, first: date) -> date:
    match spec.kind:
        case PeriodKind.DAILY:
            return first + timedelta(days=1)
        case PeriodKind.WEEKLY:
            return first + timedelta(days=7)
        case PeriodKind.MONTHLY:
            return _add_months(first, 1)
        case PeriodKind.QUARTERLY:
            return _add_months(first, 3)
        case _:  # yearly
            return _add_months(first, 12)


def period_containing(spec: PeriodSpec, moment: datetime, zone: tzinfo) -> Period:
    """The period that ``moment`` (aware) falls in."""
    first = _first_day(spec, moment.astimezone(zone).date())
    return Period(_local_midnight(first, zone), _local_midnight(_next_first_day(spec, first), zone))


def next_period(spec: PeriodSpec, period: Period, zone: tzinfo) -> Period:
    """The period right after ``period``."""
    return period_containing(spec, period.end, zone)


def periods_until(
    spec: PeriodSpec, period: Period, moment: datetime, zone: tzinfo
) -> Iterator[Period]:
    """The periods after ``period`` that started by ``moment``: those to open on start-up."""
    current = period
    while current.end.timestamp() <= moment.timestamp():
        current = next_period(spec, current, zone)
        yield current
