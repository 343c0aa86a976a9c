"""The view: every figure a user sees, computed in one place from the books."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.ledger import Cause, CauseKind
from custom_components.energy_tokens.policies import Status
from custom_components.energy_tokens.view import (
    LIVE_STEP_MILLI,
    Aspect,
    DeviceView,
    burn_down,
    changed_aspects,
    household_view,
    ledger_view,
    run_out_grain,
    steadied,
    worth_showing,
)

from .conftest import HOUR, Clock, Open, device

USER = Cause(CauseKind.USER, "user-1")


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now / 1000, UTC)


@pytest.fixture
def home(open_books: Open, clock: Clock) -> Economy:
    economy = open_books([device("Dryer", 30.0), device("Heater", 50.0), device("Fridge", 5.0)])
    dryer, heater = economy.devices["dryer"], economy.devices["heater"]
    economy.observe(dryer, 0.0, clock.now)
    economy.observe(heater, 0.0, clock.now)
    economy.observe(dryer, 3_000.0, clock.advance(HOUR))
    economy.observe(heater, 1_000.0, clock.now)
    return economy


def test_the_household_view_ranks_shares_and_projects(home: Economy, clock: Clock) -> None:
    view = household_view(home, _now(clock), ledger_view(home, None))
    dryer, heater, fridge = (view.devices[key] for key in ("dryer", "heater", "fridge"))
    assert (dryer.balance, dryer.consumed, dryer.allowance) == (27.0, 3.0, 30.0)
    assert (dryer.share_percent, heater.share_percent, fridge.share_percent) == (75.0, 25.0, 0.0)
    assert (dryer.rank, heater.rank, fridge.rank) == (1, 2, 3)
    assert view.top_consumer == "Dryer"
    assert (view.consumed, view.pool, view.name) == (4.0, 215.0, "Home")
    assert fridge.run_out is None  # it consumes nothing: it never runs out
    # 3 tokens in the hour since the dryer was first metered (at 12:00 UTC, hours after the
    # period started: its pace is not diluted over them): 27 left lasts 9 hours.
    assert dryer.run_out == _now(clock) + timedelta(hours=9)
    assert list(view.devices) == ["dryer", "heater", "fridge"]  # in the household's order
    assert view.ledger.valid is None  # before the first verification


def test_nobody_consumed_nobody_tops_the_list(open_books: Open, clock: Clock) -> None:
    economy = open_books([device("Dryer", 30.0)])
    view = household_view(economy, _now(clock), ledger_view(economy, True))
    assert view.top_consumer is None
    assert view.devices["dryer"].share_percent is None
    assert view.ledger.valid is True


def _shown(balance: int = 10_000, status: Status = Status.OK) -> DeviceView:
    return DeviceView("dryer", "Dryer", balance, 0, 30_000, 30_000, status, None, 1, None, True)


def test_a_reading_is_shown_after_a_tenth_of_a_token_or_a_new_status() -> None:
    shown = _shown()
    assert not worth_showing(shown, 10_000 - LIVE_STEP_MILLI + 1, Status.OK)
    assert worth_showing(shown, 10_000 - LIVE_STEP_MILLI, Status.OK)
    assert worth_showing(shown, 10_000 + LIVE_STEP_MILLI, Status.OK)  # a transfer in, say
    assert worth_showing(shown, 9_990, Status.LOW)


def test_changed_aspects_name_what_entities_must_show_anew() -> None:
    shown = _shown()
    assert changed_aspects(None, shown) == list(Aspect)
    assert changed_aspects(shown, shown) == []
    assert changed_aspects(shown, replace(shown, balance_milli=1)) == [Aspect.BALANCE]
    assert changed_aspects(shown, replace(shown, status=Status.LOW)) == [Aspect.STATUS]
    assert changed_aspects(shown, replace(shown, consumed_milli=1, enforced=False)) == [
        Aspect.FIGURES
    ]
    assert changed_aspects(shown, replace(shown, rank=2)) == [Aspect.STANDING]
    assert changed_aspects(shown, replace(shown, share_percent=50.0)) == [Aspect.STANDING]


def test_the_burn_down_follows_the_balance_slice_by_slice(open_books: Open, clock: Clock) -> None:
    # A daily period from local midnight: 13:00 in Amsterdam starts its 14th hourly slice.
    home = open_books([device("Heater", 2.0), device("Dryer", 20.0)], period="daily")
    heater, dryer = home.devices["heater"], home.devices["dryer"]
    home.observe(heater, 0.0, clock.now)
    home.observe(heater, 1_500.0, clock.advance(HOUR // 2))
    home.flush_all()  # 1.5 debited at 13:30
    home.transfer(dryer, heater, 3_000, USER, "for the evening")  # 3 in at 13:30
    home.observe(heater, 5_000.0, clock.advance(HOUR))  # 3.5 more at 14:30: 2 to borrow
    home.flush_all()
    home.observe(heater, 5_500.0, clock.advance(HOUR // 4))  # 0.5 not yet debited, 14:45
    balance, consumed = home.balance_milli(heater), home.consumed_milli(heater)
    chart = burn_down(home, heater, balance, consumed, clock.now)
    assert len(chart.left_milli) == 15  # the start, then the 14 slices over: 00:00 to 14:00
    assert chart.left_milli[:14] == (2_000,) * 14  # its allowance, untouched until 13:00
    assert chart.left_milli[14] == 2_000 - 1_500 + 3_000  # at 14:00
    # At 14:30 the 3.5 used left it empty: it borrowed in the current slice (and only then).
    assert chart.borrowed_milli == (0,) * 14 + (1_000,)
    assert balance == 3_500 - 3_500 + 1_000 - 500  # the live line ends at the balance
    # 5.5 tokens in the 1.75 hours since it was first metered; 9.25 hours to go.
    assert chart.projected_milli == 500 - 5_500 * 37 // 7
    # A transfer is no borrowing, and neither is the allowance a movement: it is the baseline.
    assert home.devices["dryer"].course.borrowed == (0,) * 24
    assert burn_down(home, dryer, 17_000, 0, clock.now).left_milli == (20_000,) * 14 + (17_000,)
    # The course is a fold over the period's entries: a restart draws the same chart.
    home.ledger.close()
    again = open_books([device("Heater", 2.0), device("Dryer", 20.0)], period="daily")
    reopened = again.devices["heater"]
    assert reopened.course == heater.course
    assert burn_down(again, reopened, balance, consumed, clock.now) == chart


def test_after_a_reading_only_its_device_is_new_and_every_total_adds_up(
    home: Economy, clock: Clock
) -> None:
    shown = household_view(home, _now(clock), ledger_view(home, None))
    dryer, heater = home.devices["dryer"], home.devices["heater"]
    home.observe(heater, 2_000.0, clock.advance(HOUR))  # the heater's reading not shown yet
    home.observe(dryer, 4_000.0, clock.now)
    stepped = household_view(home, _now(clock), shown.ledger, shown=shown, fresh="dryer")
    before, kept = shown.devices["heater"], stepped.devices["heater"]
    # As shown, not as it is now (its share follows the new total).
    assert (kept.balance_milli, kept.consumed_milli, kept.status, kept.run_out) == (
        before.balance_milli,
        before.consumed_milli,
        before.status,
        before.run_out,
    )
    assert home.consumed_milli(heater) == 2_000 != stepped.devices["heater"].consumed_milli
    after = stepped.devices["dryer"]
    assert (after.balance_milli, after.consumed_milli) == (26_000, 4_000)
    assert after.run_out is not None
    assert after.run_out != shown.devices["dryer"].run_out
    # The totals are those of what is shown: the household's consumption is their sum, and
    # the shares of it add up to the whole.
    assert stepped.consumed_milli == 4_000 + 1_000
    assert (after.share_percent, stepped.devices["heater"].share_percent) == (80.0, 20.0)
    assert stepped.top_consumer == "Dryer"
    # Without a fresh device, every figure is as it is now.
    exact = household_view(home, _now(clock), shown.ledger)
    assert exact.devices["heater"].consumed_milli == 2_000
    assert exact.consumed_milli == 6_000


def test_a_run_out_is_shown_to_a_grain_that_grows_with_how_far_ahead_it_is() -> None:
    minute = 60_000
    assert run_out_grain(10 * minute) == minute
    assert run_out_grain(30 * minute) == 5 * minute
    assert run_out_grain(5 * 60 * minute) == 15 * minute
    assert run_out_grain(3 * 24 * 60 * minute) == 60 * minute
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    shown = now + timedelta(hours=2)  # shown to the quarter hour
    # A swing within a grain keeps what is shown; a real move, or none any more, does not.
    assert steadied(shown, shown + timedelta(minutes=15), now) == shown
    assert steadied(shown, shown - timedelta(minutes=15), now) == shown
    assert steadied(shown, shown + timedelta(minutes=30), now) == shown + timedelta(minutes=30)
    assert steadied(shown, None, now) is None
    assert steadied(None, shown, now) == shown


def test_run_out_grains_fall_on_the_local_clock(home: Economy, clock: Clock) -> None:
    """In India (UTC+05:30) an hour's grain is a local hour, not a UTC one (a half past)."""
    from zoneinfo import ZoneInfo

    now = _now(clock).astimezone(ZoneInfo("Asia/Kolkata"))  # 18:30 there
    dryer = household_view(home, now, ledger_view(home, None)).devices["dryer"]
    # 27 tokens at 3 an hour: 9 hours, 03:30 local; more than six hours ahead, so to the hour.
    assert dryer.run_out is not None
    assert (dryer.run_out.hour, dryer.run_out.minute) == (3, 0)
    assert dryer.run_out.utcoffset() == timedelta(hours=5, minutes=30)
