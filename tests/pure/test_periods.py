"""Settlement periods in local time, across DST changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_tokens.periods import (
    Period,
    PeriodKind,
    PeriodSpec,
    next_period,
    period_containing,
    periods_until,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HAVANA = ZoneInfo("America/Havana")  # DST starts at midnight: local 00:00 does not exist
SYDNEY = ZoneInfo("Australia/Sydney")


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


@pytest.mark.parametrize(
    ("spec", "moment", "start", "end"),
    [
        (PeriodSpec(PeriodKind.DAILY), (2026, 11, 23, 15), (2026, 11, 23), (2026, 11, 24)),
        (PeriodSpec(PeriodKind.WEEKLY, 0), (2026, 11, 23, 0), (2026, 11, 23), (2026, 11, 30)),
        (PeriodSpec(PeriodKind.WEEKLY, 6), (2026, 11, 23, 9), (2026, 11, 22), (2026, 11, 29)),
        (PeriodSpec(PeriodKind.MONTHLY), (2026, 11, 30, 23), (2026, 11, 1), (2026, 12, 1)),
        (PeriodSpec(PeriodKind.MONTHLY, 15), (2026, 11, 3), (2026, 10, 15), (2026, 11, 15)),
        (PeriodSpec(PeriodKind.MONTHLY, 15), (2026, 12, 20), (2026, 12, 15), (2027, 1, 15)),
        (PeriodSpec(PeriodKind.MONTHLY, 28), (2026, 3, 1), (2026, 2, 28), (2026, 3, 28)),
        (PeriodSpec(PeriodKind.QUARTERLY), (2026, 11, 23), (2026, 10, 1), (2027, 1, 1)),
        (PeriodSpec(PeriodKind.QUARTERLY, 10), (2026, 1, 5), (2025, 10, 10), (2026, 1, 10)),
        (PeriodSpec(PeriodKind.YEARLY), (2026, 11, 23), (2026, 1, 1), (2027, 1, 1)),
        (PeriodSpec(PeriodKind.YEARLY, 5), (2026, 1, 3), (2025, 1, 5), (2026, 1, 5)),
    ],
)
def test_boundaries(
    spec: PeriodSpec, moment: tuple[int, ...], start: tuple[int, ...], end: tuple[int, ...]
) -> None:
    period = period_containing(spec, local(AMSTERDAM, *moment), AMSTERDAM)
    assert period.start == local(AMSTERDAM, *start)
    assert period.end == local(AMSTERDAM, *end)
    assert period.key == local(AMSTERDAM, *start).date().isoformat()


def test_days_across_dst_last_23_and_25_hours() -> None:
    daily = PeriodSpec(PeriodKind.DAILY)
    spring = period_containing(daily, local(AMSTERDAM, 2026, 3, 29, 12), AMSTERDAM)
    autumn = period_containing(daily, local(AMSTERDAM, 2026, 10, 25, 12), AMSTERDAM)
    assert spring.end_ms - spring.start_ms == 23 * 3_600_000
    assert autumn.end_ms - autumn.start_ms == 25 * 3_600_000
    assert autumn.end.astimezone(UTC) - autumn.start.astimezone(UTC) == timedelta(hours=25)
    # The hour repeated in autumn belongs to the same day, both times.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert period_containing(daily, first, AMSTERDAM) == autumn
    assert period_containing(daily, second, AMSTERDAM) == autumn


def test_skipped_midnight_starts_the_day_at_one() -> None:
    daily = PeriodSpec(PeriodKind.DAILY)
    day = period_containing(daily, local(HAVANA, 2026, 3, 8, 12), HAVANA)
    assert day.start.hour == 1
    assert day.start.date().isoformat() == "2026-03-08"
    before = period_containing(daily, day.start.astimezone(UTC) - timedelta(minutes=1), HAVANA)
    assert before.end == day.start
    assert before.key == "2026-03-07"


def test_utc_moments_use_local_days() -> None:
    daily = PeriodSpec(PeriodKind.DAILY)
    moment = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # already the 24th in Sydney
    assert period_containing(daily, moment, SYDNEY).key == "2026-11-24"
    assert period_containing(daily, moment, AMSTERDAM).key == "2026-11-23"


def test_missed_boundaries_are_listed_in_order() -> None:
    daily = PeriodSpec(PeriodKind.DAILY)
    last = period_containing(daily, local(AMSTERDAM, 2026, 11, 20, 9), AMSTERDAM)
    missed = list(periods_until(daily, last, local(AMSTERDAM, 2026, 11, 23, 8), AMSTERDAM))
    assert [p.key for p in missed] == ["2026-11-21", "2026-11-22", "2026-11-23"]
    assert (
        list(periods_until(daily, missed[-1], local(AMSTERDAM, 2026, 11, 23, 9), AMSTERDAM)) == []
    )


@pytest.mark.parametrize(
    ("kind", "day"),
    [
        (PeriodKind.WEEKLY, 7),
        (PeriodKind.WEEKLY, -1),
        (PeriodKind.MONTHLY, 29),
        (PeriodKind.YEARLY, 0),
    ],
)
def test_impossible_start_days(kind: PeriodKind, day: int) -> None:
    with pytest.raises(ValueError, match="from"):
        PeriodSpec(kind, day)


ZONES = [
    AMSTERDAM,
    HAVANA,
    SYDNEY,
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("UTC"),
]


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(PeriodKind)),
    day=st.integers(min_value=1, max_value=28),
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
)
def test_periods_tile_time(kind: PeriodKind, day: int, zone: ZoneInfo, moment: datetime) -> None:
    spec = PeriodSpec(kind, day % 7 if kind is PeriodKind.WEEKLY else day)
    period = period_containing(spec, moment, zone)
    assert period.start <= moment < period.end
    following = next_period(spec, period, zone)
    assert following.start == period.end
    assert period_containing(spec, following.start, zone) == following
    assert period_containing(spec, period.end - timedelta(microseconds=1), zone) == period
    assert isinstance(period, Period)
