"""When a budget runs low or out: events, auto-borrow from devices that can spare tokens."""

from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.energy_tokens.ledger import Kind
from custom_components.energy_tokens.policies import borrowing_plan, projected_surplus

from .conftest import device_subentry
from .helpers import entries, state_of, tick

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"
FRIDGE = "sensor.fridge_energy"
POOL_PUMP = "sensor.pool_pump_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", DRYER, 10.0),
        device_subentry("Heater", HEATER, 50.0),  # may lend, normal
        device_subentry("Fridge", FRIDGE, 40.0, priority="essential"),  # never lends
        device_subentry("Pool pump", POOL_PUMP, 30.0, may_lend=False),
    ]


async def _start(
    hass: HomeAssistant, set_meter: Callable[..., None], freezer: FrozenDateTimeFactory
) -> None:
    for meter in (DRYER, HEATER, FRIDGE, POOL_PUMP):
        set_meter(meter, 0.0)
    await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(hours=6))


def test_policies() -> None:
    assert projected_surplus(10_000, 2_000, 1_000, 3_000) == 4_000  # 6 more needed at this pace
    assert projected_surplus(10_000, 0, 0, 3_000) == 10_000
    assert borrowing_plan(5_000, {"a": 3_000, "b": 4_000, "c": -1}) == [("b", 4_000), ("a", 1_000)]
    assert borrowing_plan(5_000, {"a": 0}) == []


async def test_low_then_exhausted_borrows_from_who_can_spare(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    low = async_capture_events(hass, "energy_tokens_low_balance")
    borrowed = async_capture_events(hass, "energy_tokens_borrowed")
    exhausted = async_capture_events(hass, "energy_tokens_exhausted")
    await _start(hass, set_meter, freezer)
    set_meter(DRYER, 9.0)  # 1 of 10 left: low
    await hass.async_block_till_done()
    [event] = low
    assert event.data["device"] == "Dryer"
    assert event.data["balance"] == 1.0
    assert event.data["device_id"] is not None
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 12.0)  # 2 over: borrow 2 + a chunk of 1 (10% of 10, at least 1 token)
    await hass.async_block_till_done()
    [borrow] = await entries(loaded_entry, Kind.BORROW)
    heater = "device:" + next(
        s.subentry_id for s in loaded_entry.subentries.values() if s.title == "Heater"
    )
    assert (borrow.from_account, borrow.amount) == (heater, 3_000)  # only the heater may lend
    assert [e.data["lender"] for e in borrowed] == ["Heater"]
    assert exhausted == []
    assert state_of(hass, "sensor.dryer_budget_status") == "borrowing"
    assert state_of(hass, "sensor.dryer_balance") == "1.0"
    assert state_of(hass, "sensor.heater_balance") == "47.0"


async def test_nothing_to_borrow_reports_exhausted(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    exhausted = async_capture_events(hass, "energy_tokens_exhausted")
    await _start(hass, set_meter, freezer)
    set_meter(HEATER, 49.0)  # the only lender: at this pace it needs more than it has left
    await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 11.0)
    await hass.async_block_till_done()
    [event] = exhausted
    assert event.data["device"] == "Dryer"
    assert event.data["balance"] == -1.0
    assert state_of(hass, "sensor.dryer_budget_status") == "exhausted"


async def test_auto_borrow_off(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, "auto_borrow": False}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    exhausted = async_capture_events(hass, "energy_tokens_exhausted")
    await _start(hass, set_meter, freezer)
    set_meter(DRYER, 11.0)
    await hass.async_block_till_done()
    assert len(exhausted) == 1
    assert not await entries(household_entry, Kind.BORROW)


async def test_period_closed_event(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    closed = async_capture_events(hass, "energy_tokens_period_closed")
    await _start(hass, set_meter, freezer)
    set_meter(HEATER, 4.0)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "energy_tokens", "close_period", {"household": loaded_entry.entry_id}, blocking=True
    )
    [event] = closed
    assert event.data["household"] == "Home"
    assert event.data["consumed"]["Heater"] == 4.0
    assert event.data["cost"] == 90.0
    assert event.data["period"] == "2026-11-01"
