"""The household flow, its reconfigure step and the device subentry flow (every branch)."""

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import (
    CONF_ALLOWANCE,
    CONF_APPLY_NOW,
    CONF_CUT_POLICY,
    CONF_LOAD,
    CONF_METER,
    CONF_METERS,
    CONF_PRICE,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_DEVICE,
)

from .conftest import device_subentry

SETTINGS = dict(DEFAULTS.items())


async def test_user_flow_creates_household_with_its_economy(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    user_input = {**SETTINGS, CONF_NAME: "  Home  ", "period_start_day": 15.0, CONF_PRICE: 0.2745}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    data = result["data"]
    assert data[CONF_NAME] == "Home"
    assert data["period_start_day"] == 15
    assert isinstance(data["period_start_day"], int)
    assert data[CONF_PRICE] == 0.2745
    entry = result["result"]
    assert entry.state.value == "loaded"
    assert entry.runtime_data.economy.settings.price_micro == 274_500


async def test_user_flow_rejects_empty_name(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SETTINGS, CONF_NAME: "   "}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_NAME: "name_empty"}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_user_flow_refuses_duplicate_name(
    hass: HomeAssistant, household_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SETTINGS, CONF_NAME: "Home"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_reconfigure_changes_settings(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SETTINGS, CONF_PRICE: 0.5, CONF_APPLY_NOW: False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.data[CONF_PRICE] == 0.5
    assert loaded_entry.data[CONF_NAME] == "Home"
    assert loaded_entry.runtime_data.economy.settings.price_micro == 500_000  # reloaded


DEVICE = {
    CONF_NAME: "Dryer",
    CONF_METER: "sensor.dryer_energy",
    CONF_ALLOWANCE: 40,
    "priority": "normal",
    "may_lend": True,
    CONF_CUT_POLICY: "never",
}


async def _start_device_flow(hass: HomeAssistant, entry: MockConfigEntry, choice: str) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["device", "energy_dashboard"]
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )


async def test_add_device(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    running = loaded_entry.runtime_data
    result = await _start_device_flow(hass, loaded_entry, "device")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "device"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], DEVICE)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    subentry = next(s for s in loaded_entry.subentries.values() if s.title == "Dryer")
    assert subentry.unique_id == "sensor.dryer_energy"
    assert subentry.data[CONF_ALLOWANCE] == 40.0
    household = loaded_entry.runtime_data
    assert household is running  # took the device in without a reload
    assert household.economy.devices[subentry.subentry_id].settings.allowance_milli == 40_000


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Heater", "sensor.heater_energy", 50.0)]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_NAME: "  "}, {CONF_NAME: "name_empty"}),
        ({CONF_METER: "sensor.heater_energy"}, {CONF_METER: "meter_taken"}),
        ({CONF_CUT_POLICY: "turn_off"}, {CONF_CUT_POLICY: "cut_needs_load"}),
    ],
)
async def test_add_device_errors(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    result = await _start_device_flow(hass, loaded_entry, "device")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**DEVICE, **changes}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert len(loaded_entry.subentries) == 1


async def test_reconfigure_device(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    [subentry] = loaded_entry.subentries.values()
    await hass.services.async_call(  # the enforcement switch's choice is kept by the form
        "switch", "turn_off", {"entity_id": "switch.heater_budget_enforcement"}, blocking=True
    )
    result = await loaded_entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **DEVICE,
            CONF_NAME: "Boiler",
            CONF_METER: "sensor.heater_energy",  # its own meter is not "taken"
            CONF_LOAD: "switch.boiler",
            CONF_CUT_POLICY: "turn_off",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    updated = loaded_entry.subentries[subentry.subentry_id]
    assert updated.title == "Boiler"
    assert updated.data[CONF_LOAD] == "switch.boiler"
    assert updated.data["enforce"] is False
    assert loaded_entry.runtime_data.economy.devices[subentry.subentry_id].settings.name == "Boiler"


async def test_add_from_the_energy_dashboard(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    from homeassistant.components.energy.data import async_get_manager

    for entity_id, name in [
        ("sensor.dryer_energy", "Dryer plug"),
        ("sensor.ev_energy", "EV charger meter"),
        ("sensor.fridge_energy", "Fridge plug"),
        ("sensor.heater_energy", "Heater plug"),  # tracked already
    ]:
        hass.states.async_set(
            entity_id,
            "1",
            {"device_class": "energy", "unit_of_measurement": "kWh", "friendly_name": name},
        )
    hass.states.async_set("sensor.outdoor_temperature", "3", {"device_class": "temperature"})
    manager = await async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [],
            "device_consumption": [
                {"stat_consumption": "sensor.dryer_energy", "name": "Dryer"},
                {"stat_consumption": "sensor.ev_energy"},
                {"stat_consumption": "sensor.heater_energy"},
            ],
        }
    )
    result = await _start_device_flow(hass, loaded_entry, "energy_dashboard")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "energy_dashboard"
    schema = result["data_schema"].schema
    [field] = schema
    options = schema[field].config["options"]
    assert [o["value"] for o in options] == [
        "sensor.dryer_energy",
        "sensor.ev_energy",
        "sensor.fridge_energy",
    ]  # the dashboard's first; the tracked heater and non-energy sensors are not offered
    assert field.default() == ["sensor.dryer_energy", "sensor.ev_energy"]
    assert result["description_placeholders"] == {"allowance": "250"}  # 300 cap - 50 allocated

    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {"meters": []})
    assert result["errors"] == {"meters": "none_chosen"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"meters": ["sensor.dryer_energy", "sensor.ev_energy", "sensor.fridge_energy"]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    added = {s.unique_id: s for s in loaded_entry.subentries.values()}
    assert {s.title for s in added.values()} == {
        "Heater",
        "Dryer",
        "EV charger meter",
        "Fridge plug",
    }
    assert added["sensor.ev_energy"].data[CONF_ALLOWANCE] == 83.333  # 250 split three ways
    household = loaded_entry.runtime_data
    assert len(household.economy.devices) == 4  # all taken in, without a reload
    assert loaded_entry.state.value == "loaded"


async def test_nothing_to_add_from_the_energy_dashboard(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A titled step that says so and offers the device form, not an untitled abort dialog."""
    result = await _start_device_flow(hass, loaded_entry, "energy_dashboard")
    assert result["type"] is FlowResultType.MENU
    assert (result["step_id"], result["menu_options"]) == ("nothing_to_add", ["device"])
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "device"}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "device")


async def test_apply_now_needs_the_household_running(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SETTINGS, CONF_PRICE: 0.5, CONF_APPLY_NOW: True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "apply_now_not_loaded"}
    assert loaded_entry.data[CONF_PRICE] != 0.5  # nothing was stored
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SETTINGS, CONF_PRICE: 0.5, CONF_APPLY_NOW: False}
    )
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_PRICE] == 0.5
    assert CONF_APPLY_NOW not in loaded_entry.data


async def test_a_sensor_meters_one_household_only(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Two households on one sensor would both charge it: the second is refused, by name."""
    cabin = MockConfigEntry(
        domain=DOMAIN, title="Cabin", data={**loaded_entry.data, CONF_NAME: "Cabin"}
    )
    cabin.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (cabin.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "device"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**DEVICE, CONF_METER: "sensor.heater_energy"},  # the Home heater's
    )
    assert result["errors"] == {CONF_METER: "meter_in_other_household"}
    assert result["description_placeholders"] == {"household": "Home"}
    assert not cabin.subentries
    hass.states.async_set(
        "sensor.heater_energy", "1", {"device_class": "energy", "unit_of_measurement": "kWh"}
    )
    hass.states.async_set(
        "sensor.spare_energy", "1", {"device_class": "energy", "unit_of_measurement": "kWh"}
    )
    result = await hass.config_entries.subentries.async_init(
        (cabin.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": "energy_dashboard"}
    )
    assert result["data_schema"] is not None
    options = result["data_schema"].schema[CONF_METERS].config["options"]
    assert [o["value"] for o in options] == ["sensor.spare_energy"]  # Home's heater is not offered
