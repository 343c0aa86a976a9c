"""The demo household of scripts/develop, as shipped in config/, run in the test harness."""

from datetime import timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.energy_tokens.const import (
    DOMAIN,
    SUBENTRY_DEVICE,
)

from .helpers import state_of, tick

CONFIG = Path(__file__).parents[1] / "config"


async def _enter_household(hass: HomeAssistant, demo: dict[str, Any]) -> str:
    """The household and its devices, through the forms, as scripts/develop enters them."""
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], demo["household"])
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry_id: str = result["result"].entry_id
    subentries = hass.config_entries.subentries
    for device in demo["devices"]:
        menu = await subentries.async_init(
            (entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
        )
        form = await subentries.async_configure(menu["flow_id"], {"next_step_id": "device"})
        added = await subentries.async_configure(form["flow_id"], device)
        assert added["type"] is FlowResultType.CREATE_ENTRY, added
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry_id


# The demo's meters and schedules are time patterns that outlive the test's Home Assistant.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_within_minutes_budgets_run_low_devices_borrow_loads_are_cut_and_restored(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    package = load_yaml_dict(CONFIG / "packages" / "demo_appliances.yaml")
    assert await async_setup_component(hass, "homeassistant", {})
    for domain in ("input_number", "input_boolean", "template", "automation"):
        assert await async_setup_component(hass, domain, {domain: package[domain]})
    await hass.async_block_till_done()
    entry_id = await _enter_household(hass, load_yaml_dict(CONFIG / "demo_household.yaml"))
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    assert len(entry.runtime_data.economy.devices) == 5
    events = {
        kind: async_capture_events(hass, kind)
        for kind in (
            "energy_tokens_low_balance",
            "energy_tokens_borrowed",
            "energy_tokens_load_cut",
            "energy_tokens_load_restored",
            "energy_tokens_load_override",
        )
    }
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)  # the demo's start automation runs
    await hass.async_block_till_done()
    assert state_of(hass, "input_boolean.ev_charger") == "on"
    for _ in range(12 * 6):  # six minutes, in the meters' five-second steps
        await tick(hass, freezer, timedelta(seconds=5))
    assert events["energy_tokens_low_balance"], "no budget ran low"
    assert events["energy_tokens_borrowed"], "no device borrowed"
    cut = {event.data["load"] for event in events["energy_tokens_load_cut"]}
    assert "input_boolean.ev_charger" in cut
    assert state_of(hass, "sensor.ev_charger_budget_status") == "exhausted"
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)  # as after a restart: the start
    await hass.async_block_till_done()  # automation leaves the cut load off
    assert state_of(hass, "input_boolean.ev_charger") == "off"
    for _ in range(12 * 3):  # "solar surplus" tops up a cut load once it stood off two minutes
        await tick(hass, freezer, timedelta(seconds=5))
    restored = [
        e.data for e in events["energy_tokens_load_restored"] if e.data["device"] == "EV charger"
    ]
    assert restored, "the EV charger was not restored"
    assert restored[0]["balance"] == 3.0  # the solar top-up: 3 tokens above zero
    assert "input_boolean.fridge" not in cut  # essential: never cut
    assert events["energy_tokens_load_override"] == []  # the demo never fights a cut
