"""A device's own pace: since it was first metered, and as it used to consume (history.py)."""

from datetime import UTC, datetime, timedelta

from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.events import BudgetEvent
from custom_components.energy_tokens.history import SLICES, History
from custom_components.energy_tokens.policies import Status, projected_surplus
from custom_components.energy_tokens.view import household_view, ledger_view

from .conftest import HOUR, ZONE, Clock, Open, device

KWH = 1000.0


def _at_local(clock: Clock, home: Economy, hour: int) -> None:
    """Move the clock to ``hour`` o'clock local on its current day, settling boundaries."""
    now = datetime.fromtimestamp(clock.now / 1000, UTC).astimezone(ZONE)
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    clock.advance(round((target - now).total_seconds() * 1000))
    home.settle()


def _run(
    home: Economy, clock: Clock, name: str, kwh: float, meters: dict[str, float]
) -> list[BudgetEvent]:
    """The device runs for an hour, read every ten minutes; its debits are written."""
    events = []
    for _ in range(6):
        meters[name] += kwh / 6
        reading = home.observe(home.devices[name], meters[name] * KWH, clock.advance(HOUR // 6))
        if reading.result is not None:
            events += [event.kind for event in reading.result.events]
    events += [event.kind for event in home.flush_all().events]
    return events


def test_the_dishwasher_and_dryer_keep_for_their_evening_runs_while_the_ev_charger_borrows(
    open_books: Open, clock: Clock
) -> None:
    devices = [
        device("Dishwasher", 2.0),
        device("Dryer", 3.0),
        device("EV", 5.0, may_lend=False),
    ]
    home = open_books(devices, period="daily", cap_tokens=100.0)
    meters = dict.fromkeys(home.devices, 0.0)
    for name in meters:
        home.observe(home.devices[name], 0.0, clock.now)
    for _day in range(3):  # the usual days: the appliances run in the evening
        _at_local(clock, home, 19)
        _run(home, clock, "dishwasher", 1.4, meters)
        _run(home, clock, "dryer", 2.4, meters)
        _at_local(clock, home, 1)  # the next day's period has opened
    _at_local(clock, home, 10)
    events = _run(home, clock, "ev", 6.0, meters)  # the EV charger runs out in the morning
    assert BudgetEvent.BORROWED in events
    dishwasher, dryer, ev = (home.devices[name] for name in ("dishwasher", "dryer", "ev"))
    # Each lent no more than what its evening run leaves over (0.6 each), less a tenth of its
    # allowance kept as a margin: 0.4 and 0.3.
    assert home.balance_milli(dishwasher) == 1600
    assert home.balance_milli(dryer) == 2700
    assert home.balance_milli(ev) == 5000 + 700 - 6000
    _at_local(clock, home, 19)
    assert BudgetEvent.EXHAUSTED not in _run(home, clock, "dishwasher", 1.4, meters)
    assert BudgetEvent.EXHAUSTED not in _run(home, clock, "dryer", 2.4, meters)
    assert home.status_of(dishwasher) is not Status.EXHAUSTED
    assert home.status_of(dryer) is not Status.EXHAUSTED


def test_a_device_added_mid_period_is_judged_from_its_first_reading(
    open_books: Open, clock: Clock
) -> None:
    home = open_books([device("Heater", 30.0)], period="monthly")
    heater = home.devices["heater"]
    home.observe(heater, 0.0, clock.now)  # first metered now, days into the month
    home.observe(heater, 3 * KWH, clock.advance(HOUR))
    view = household_view(
        home, datetime.fromtimestamp(clock.now / 1000, UTC), ledger_view(home, None)
    )
    # 3 tokens an hour: 27 left last 9 hours (not 22 days' worth diluted into months).
    expected = datetime.fromtimestamp(clock.now / 1000, UTC) + timedelta(hours=9)
    assert view.devices["heater"].run_out == expected


def test_a_run_out_beyond_the_period_lasts_the_period_and_never_overflows(
    open_books: Open, clock: Clock
) -> None:
    home = open_books([device("Fridge", 1_000_000.0)], period="yearly", cap_tokens=1_000_000.0)
    fridge = home.devices["fridge"]
    home.observe(fridge, 0.0, clock.now)
    home.observe(fridge, 1.0, clock.advance(HOUR))  # 1 Wh: a thousandth of a token an hour
    now = datetime.fromtimestamp(clock.now / 1000, UTC)
    assert household_view(home, now, ledger_view(home, None)).devices["fridge"].run_out is None
    home.observe(fridge, 2_000_000 * KWH, clock.advance(400 * 24 * HOUR))  # far beyond it
    exhausted = household_view(home, now, ledger_view(home, None)).devices["fridge"]
    assert exhausted.run_out is None  # an exhausted device has no run-out to come


def test_the_usual_rest_of_a_period_is_what_came_after_this_point_before() -> None:
    history = History()
    evening = [0] * SLICES
    evening[20] = 1400
    history.note({"device:dishwasher": evening})
    history.note({"device:dishwasher": [0] * SLICES})  # a day it did not run
    day = 24 * HOUR
    assert history.rest_of_period("device:dishwasher", 0, day, 10 * HOUR) == 700  # on average
    assert history.rest_of_period("device:dishwasher", 0, day, 20 * HOUR + HOUR // 2) == 350
    assert history.rest_of_period("device:dishwasher", 0, day, 21 * HOUR) == 0
    assert history.rest_of_period("device:other", 0, day, 0) == 0
    # A lender keeps the larger of its pace and its usual rest.
    assert projected_surplus(2000, 0, HOUR, 14 * HOUR, usual_rest_milli=1400) == 600
    assert projected_surplus(2000, 1000, HOUR, 1 * HOUR, usual_rest_milli=100) == 1000
