"""The shipped blueprints, loaded through Home Assistant's blueprint machinery, acting for real."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import Kind

from .conftest import device_subentry
from .helpers import consume, device_id, entries, state_of

BLUEPRINTS = Path(__file__).resolve().parents[1] / "blueprints" / "automation" / "energy_tokens"
DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", DRYER, 10.0), device_subentry("Heater", HEATER, 50.0)]


@pytest.fixture
def household_settings(household_settings: dict[str, Any]) -> dict[str, Any]:
    return {**household_settings, "auto_borrow": False}


@pytest.fixture(autouse=True)
def blueprint_folder(hass: HomeAssistant) -> None:
    """Import the blueprints the way users do: into <config>/blueprints/automation/."""
    target = Path(hass.config.path("blueprints", "automation", "energy_tokens"))
    shutil.copytree(BLUEPRINTS, target)


async def _use(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": {"use_blueprint": {"path": f"energy_tokens/{blueprint}", "input": inputs}}},
    )
    await hass.async_block_till_done()


def test_every_blueprint_is_tested() -> None:
    tested = {
        "cut_load_when_exhausted",
        "notify_low_balance",
        "shift_allowance_when_low",
        "period_report",
    }
    assert {path.stem for path in BLUEPRINTS.glob("*.yaml")} == tested


async def test_cut_load_when_exhausted(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    assert await async_setup_component(hass, "homeassistant", {})  # always there in real life
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"dryer_plug": {"initial": True}}}
    )
    await _use(
        hass,
        "cut_load_when_exhausted.yaml",
        {"device": device_id(hass, loaded_entry, "Dryer"), "load": "input_boolean.dryer_plug"},
    )
    await consume(hass, set_meter, freezer, DRYER, 9.0)  # low, not exhausted
    assert state_of(hass, "input_boolean.dryer_plug") == "on"
    freezer.tick(timedelta(hours=1))
    set_meter(DRYER, 11.0)  # exhausted; auto-borrow is off
    await hass.async_block_till_done()
    assert state_of(hass, "input_boolean.dryer_plug") == "off"


async def test_notify_low_balance(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    calls = async_mock_service(hass, "notify", "mobile_app_phone")
    dryer = device_id(hass, loaded_entry, "Dryer")
    await _use(
        hass,
        "notify_low_balance.yaml",
        {"device": dryer, "notify_action": "notify.mobile_app_phone"},
    )
    await consume(hass, set_meter, freezer, DRYER, 9.0)
    [call] = calls
    assert call.data["title"] == "Dryer is low on tokens"
    assert call.data["message"] == "1.0 of 10.0 tokens left in Home."


async def test_a_notification_blueprint_works_without_choosing_a_notifier(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """No notify service at all: the default is a persistent notification, which always exists."""
    assert await async_setup_component(hass, "persistent_notification", {})  # always, for real
    await _use(hass, "notify_low_balance.yaml", {"device": device_id(hass, loaded_entry, "Dryer")})
    await consume(hass, set_meter, freezer, DRYER, 9.0)
    [shown] = [
        n
        for n in persistent_notification._async_get_or_create_notifications(hass).values()
        if n["title"] == "Dryer is low on tokens"
    ]
    assert shown["message"] == "1.0 of 10.0 tokens left in Home."


async def test_shift_allowance_when_low(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await _use(
        hass,
        "shift_allowance_when_low.yaml",
        {
            "device": device_id(hass, loaded_entry, "Dryer"),
            "donor": device_id(hass, loaded_entry, "Heater"),
            "amount": 3,
        },
    )
    await consume(hass, set_meter, freezer, DRYER, 9.0)
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "4.0"
    assert state_of(hass, "sensor.heater_balance") == "47.0"
    [transfer] = await entries(loaded_entry, Kind.TRANSFER)
    assert transfer.data == {"note": "Shifted automatically when the balance ran low"}
    assert str(transfer.cause).startswith("automation:")


async def test_period_report(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config.currency = "EUR"
    calls = async_mock_service(hass, "notify", "mobile_app_phone")
    await _use(hass, "period_report.yaml", {"notify_action": "notify.mobile_app_phone"})
    await consume(hass, set_meter, freezer, HEATER, 4.0)
    await consume(hass, set_meter, freezer, DRYER, 1.0)
    await hass.services.async_call(
        DOMAIN, "close_period", {"household": loaded_entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done()
    [call] = calls
    assert call.data["title"] == "Home: period 2026-11-01 settled"
    assert call.data["message"].splitlines() == [  # one line each, money in the currency
        "Dryer: 1.0 token",
        "Heater: 4.0 tokens",
        "Cost 90.00 EUR, sales 0.00 EUR.",
    ]
