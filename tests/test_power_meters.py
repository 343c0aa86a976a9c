"""A device on a power sensor: charged what Home Assistant's ``integration`` helper counts.

The helper (trapezoidal, a five-minute maximum sub-interval, as this integration integrates) is
set up on the same power sensor; both see the same states at the same times, and the Wh the
device was charged equal the helper's within the whole-Wh rounding of a debit.
"""

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .conftest import START, device_subentry

PLUG = "sensor.plug_power"
HELPER = "sensor.plug_integral"
POWER = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}

# (minute, state, unit): what the plug reports
SEQUENCES = {
    "changes": [(0, "100", "W"), (10, "2000", "W"), (12, "1500", "W"), (40, "0", "W")],
    "a steady load reporting nothing for hours": [(0, "1200", "W"), (180, "1200.5", "W")],
    "an unavailable gap integrates nothing": [
        (0, "800", "W"),
        (10, "unavailable", "W"),
        (50, "600", "W"),
        (80, "700", "W"),
    ],
    # The helper takes "nan" into its sum and fails, and integrates a unit change's numbers as
    # they are (1.5 kW as 1.5 W): the integrator converts units (pure tests).
    "not a number": [(0, "500", "W"), (5, "unknown", "W"), (9, "1500", "W"), (30, "900", "W")],
    "a sensor in kW": [(0, "0.5", "kW"), (20, "2.25", "kW"), (30, "0.9", "kW")],
}


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    """One device on the plug's power sensor."""
    return [device_subentry("Plug", PLUG, 500.0)]


@pytest.mark.parametrize("steps", SEQUENCES.values(), ids=SEQUENCES.keys())
async def test_a_power_meter_is_charged_what_the_integral_helper_counts(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    steps: list[tuple[int, str, str]],
) -> None:
    helper = {
        "platform": "integration",
        "source": PLUG,
        "name": "plug_integral",
        "method": "trapezoidal",
        "max_sub_interval": {"minutes": 5},
        "round": 6,
    }
    assert await async_setup_component(hass, "sensor", {"sensor": [helper]})
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    start = dt_util.parse_datetime(START)
    assert start is not None
    minute = 0
    for at, state, unit in [*steps, (steps[-1][0] + 30, "", "")]:
        while minute < at:  # a minute at a time, so that both sub-interval timers run on time
            minute += 1
            freezer.move_to(start + timedelta(minutes=minute))
            async_fire_time_changed(hass)
            await hass.async_block_till_done()
        if state:
            attributes: dict[str, Any] = POWER | {"unit_of_measurement": unit}
            hass.states.async_set(PLUG, state, attributes)
            await hass.async_block_till_done()
    integral = hass.states.get(HELPER)
    assert integral is not None
    unit = integral.attributes["unit_of_measurement"]
    helper_wh = EnergyConverter.convert(float(integral.state), unit, UnitOfEnergy.WATT_HOUR)
    hass.states.async_set(PLUG, "unavailable", POWER)  # both stop integrating (and timing)
    await hass.async_block_till_done()
    runtime = household_entry.runtime_data
    runtime.apply(runtime.economy.flush_all())
    [device] = runtime.economy.devices.values()
    charged = device.period_wh + device.tracker.pending_wh
    assert helper_wh > 0
    assert charged == int(helper_wh + 1e-6)  # the helper's Wh, whole
    assert not runtime.meters._timers  # nothing left timing


async def test_a_power_meter_goes_on_from_the_ledger_after_a_restart(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing is counted twice: after a restart, integrating goes on from the ledger's position
    and from the sensor's state as it is, at its own time (as the helper after a reload)."""
    assert await async_setup_component(hass, "sensor", {})
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.states.async_set(PLUG, "1000", POWER)
    freezer.tick(timedelta(minutes=30))
    hass.states.async_set(PLUG, "1000.0", POWER)  # 500 Wh
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(minutes=3))
    hass.states.async_set(PLUG, "3000", POWER)  # 3 min after the restart: 100 Wh
    await hass.async_block_till_done()
    runtime = household_entry.runtime_data
    [device] = runtime.economy.devices.values()
    assert device.period_wh + device.tracker.pending_wh == 600
