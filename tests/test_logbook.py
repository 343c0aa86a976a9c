"""The logbook with the real recorder: budget events named and tied to their device; no churn."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from .conftest import device_subentry
from .helpers import device_id, tick

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"

# The diagnostic figures too (rank, share): they must stay out of the logbook when enabled.
pytestmark = pytest.mark.usefixtures("recorder_mock", "entity_registry_enabled_by_default")


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """The recorder's database is prepared before Home Assistant starts, as it is for real."""


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", DRYER, 10.0), device_subentry("Heater", HEATER, 10.0)]


async def test_budget_events_are_named_lines_of_their_device_and_figures_are_not_logged(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    assert await async_setup_component(hass, "logbook", {})
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    start = dt_util.utcnow()
    set_meter(DRYER, 0.0)
    set_meter(HEATER, 0.0)
    await hass.async_block_till_done()
    # The heater leads, then the dryer overtakes it and runs low: ranks swap, shares and
    # balances move at every step, the run-out is projected anew.
    for minute in range(1, 25):
        await tick(hass, freezer, timedelta(minutes=1))
        set_meter(HEATER, round(0.1 * minute, 3))
        set_meter(DRYER, round(0.4 * minute - 0.3, 3) if minute > 1 else 0.05)
        await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(minutes=5))
    await async_wait_recording_done(hass)

    client = await hass_ws_client(hass)
    dryer = device_id(hass, household_entry, "Dryer")
    entities = [e.entity_id for e in er.async_entries_for_device(er.async_get(hass), dryer)]
    await client.send_json_auto_id(  # what a device page asks for: its entities and itself
        {
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "end_time": dt_util.utcnow().isoformat(),
            "entity_ids": entities,
            "device_ids": [dryer],
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    lines: list[dict[str, Any]] = response["result"]
    # On the dryer's activity: its budget events, named, linked to its balance.
    low = [line for line in lines if line.get("domain") == "energy_tokens"]
    assert low, lines
    assert all(line["name"] == "Dryer" for line in low)
    assert all(line["entity_id"] == "sensor.dryer_balance" for line in low)
    assert any(line["message"].startswith("is low on tokens") for line in low), low
    # Figures that change with every step are no lines: balance, consumption, share, rank.
    logged = {line.get("entity_id") for line in lines if "state" in line}
    for churn in (
        "sensor.dryer_balance",
        "sensor.dryer_consumed_this_period",
        "sensor.dryer_share_of_consumption",
        "sensor.dryer_consumption_rank",
    ):
        assert churn not in logged, lines
    assert "sensor.dryer_budget_status" in logged  # it went low: a change worth a line

    # A run-out hours ahead is rounded to the quarter hour: the heater's (steady, 10 tokens at
    # 0.1 a minute) makes a few lines over these 24 readings, not one per reading.
    heater = device_id(hass, household_entry, "Heater")
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "end_time": dt_util.utcnow().isoformat(),
            "entity_ids": ["sensor.heater_projected_run_out"],
            "device_ids": [heater],
        }
    )
    response = await client.receive_json()
    run_outs = [line for line in response["result"] if "state" in line]
    assert 1 <= len(run_outs) <= 3, run_outs
