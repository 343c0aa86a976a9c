"""Home Assistant's own statistics as the oracle for what a device is charged.

Each case feeds the same states to a device and to the recorder, compiles the sensor's
long-term statistics (what the Energy dashboard shows) over the same time, and compares the
change in their sum with the Wh the device was charged. They agree exactly, except in the cases
where the README says we are deliberately better: there both figures are pinned, so a change on
either side is seen.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistic_during_period
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.energy_tokens.const import DOMAIN

from .conftest import START, device_subentry

METER = "sensor.plug_energy"
ENERGY = {"device_class": "energy", "unit_of_measurement": "kWh"}
INCREASING = ENERGY | {"state_class": "total_increasing"}


@dataclass(frozen=True)
class Case:
    """A sequence of (minute, state, attributes) and the Wh each side counts."""

    steps: list[tuple[int, str, dict[str, Any]]]
    ours_wh: int
    statistics_wh: int | None = None  # None: the same as ours
    down: list[int] = field(default_factory=list)  # minutes with the household unloaded


def increasing(*readings: tuple[int, object]) -> list[tuple[int, str, dict[str, Any]]]:
    """Steps of a total_increasing kWh meter."""
    return [(minute, str(value), INCREASING) for minute, value in readings]


def cycle(minute: int, value: float, reset_minute: int) -> tuple[int, str, dict[str, Any]]:
    """A step of a ``total`` meter whose cycle began at ``reset_minute``."""
    start = dt_util.parse_datetime(START)
    assert start is not None
    last_reset = (start + timedelta(minutes=reset_minute)).isoformat()
    return (minute, str(value), ENERGY | {"state_class": "total", "last_reset": last_reset})


CASES = {
    "steady": Case(increasing((1, 100), (11, 100.5), (21, 101.25), (61, 102)), 2000),
    "reset to zero": Case(increasing((1, 100), (11, 101), (21, 0), (31, 0.5), (41, 1.25)), 2250),
    "reset to non-zero": Case(increasing((1, 100), (11, 101), (21, 0.4), (31, 0.9)), 1900),
    "repeated resets": Case(
        increasing((1, 50), (11, 51), (21, 0), (31, 0.3), (41, 0), (51, 0.2), (61, 0.7)), 2000
    ),
    "a cycle meter's cycle ends": Case(
        [cycle(1, 3.0, 0), cycle(11, 4.0, 0), cycle(21, 0.2, 20), cycle(31, 1.0, 20)], 2000
    ),
    "a delta sensor: a new cycle with every value": Case(
        [cycle(m, 0.25, m - 1) for m in (1, 11, 21, 31, 41)] + [cycle(51, 0.5, 50)], 1500
    ),
    "states that are no readings": Case(
        increasing(
            (1, 10),
            (6, "unavailable"),
            (11, "unknown"),
            (16, "garbage"),
            (21, "nan"),
            (26, "inf"),
            (31, 11.5),
            (41, 12),
        ),
        2000,
    ),
    "an unavailable gap is caught up": Case(
        increasing((1, 10), (11, "unavailable"), (71, "unavailable"), (121, 13)), 3000
    ),
    "a reading that arrives rarely": Case(increasing((1, 10), (181, 14), (421, 20)), 10000),
    "a unit change": Case(
        [
            *increasing((1, 500), (11, 501)),
            (21, "0.502", INCREASING | {"unit_of_measurement": "MWh"}),
            (31, "503000", INCREASING | {"unit_of_measurement": "Wh"}),
        ],
        3000,
    ),
    "a restart with the meter changed meanwhile": Case(
        increasing((1, 10), (11, 11), (31, 13), (51, 14)), 4000, down=[21, 41]
    ),
    "a reset while the integration was down": Case(
        increasing((1, 10), (11, 11), (31, 0.5), (51, 1)), 2000, down=[21, 41]
    ),
    # Deliberately better: the statistics charge a drop and return as the whole meter again.
    "a drop to zero and back is a glitch": Case(
        increasing((1, 100), (11, 100.5), (12, 0), (100, 0), (311, 101.5)), 1500, 102_000
    ),
    "a drop to 85 % and back is a glitch": Case(
        increasing((1, 100), (11, 100.5), (12, 85), (51, 101.5)), 1500, 102_000
    ),
    "a jump and straight back is a glitch": Case(
        increasing((1, 100), (11, 100.5), (12, 1_000_000), (13, 100.6)), 600, 1_000_000_600
    ),
    # A jump the meter stays at is held for the user to accept: not charged until then.
    "a jump the meter stays at is held": Case(
        increasing((1, 100), (11, 100.5), (12, 900), (21, 900.5)), 1000, 800_500
    ),
    "a delta sensor across a restart": Case(
        [cycle(m, 0.25, m - 1) for m in (1, 11, 31, 41)], 750, down=[15, 25]
    ),
    "a cycle meter across a restart": Case(
        [cycle(1, 3.0, 0), cycle(11, 4.0, 0), cycle(31, 5.0, 0), cycle(41, 0.5, 40)],
        2500,
        down=[15, 25],
    ),
    "a negative reading": Case(increasing((1, 10), (11, 11), (21, -3), (31, 12)), 2000),
    # The statistics subtract a small dip and add it back; ours ignores it: the same in the end.
    "a small dip that comes back": Case(increasing((1, 10), (11, 11), (21, 10.8), (31, 12)), 2000),
}


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: object) -> None:
    """The recorder's database is prepared before Home Assistant starts, as it is for real."""


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    """One device on the plug's energy sensor, with room for every case."""
    return [device_subentry("Plug", METER, 500.0)]


@pytest.mark.usefixtures("recorder_mock")
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_device_is_charged_what_the_statistics_count(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    case: Case,
) -> None:
    assert await async_setup_component(hass, "sensor", {})
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    start = dt_util.parse_datetime(START)
    assert start is not None
    events: list[tuple[int, int, str | None, dict[str, Any]]] = sorted(
        [(minute, 1, state, attributes) for minute, state, attributes in case.steps]
        + [(minute, 0, None, {}) for minute in case.down]  # None: a restart, before a state
    )
    down = False
    for minute, _order, state, attributes in events:
        freezer.move_to(start + timedelta(minutes=minute))
        if state is None:  # unloaded at the first, loaded again at the second
            if down:
                assert await hass.config_entries.async_setup(household_entry.entry_id)
            else:
                assert await hass.config_entries.async_unload(household_entry.entry_id)
            down = not down
        else:
            hass.states.async_set(METER, state, attributes)
        await hass.async_block_till_done(wait_background_tasks=True)
    last = max(minute for minute, *_ in case.steps)
    end = start + timedelta(minutes=(last // 5 + 1) * 5)
    assert await _statistics_change_wh(hass, start, end) == (
        case.ours_wh if case.statistics_wh is None else case.statistics_wh
    )
    assert await _charged_wh(household_entry) == case.ours_wh


async def _statistics_change_wh(hass: HomeAssistant, start: datetime, end: datetime) -> int:
    """What the Energy dashboard shows: the change of the sensor's statistics sum, in Wh."""
    window = start
    while window < end:
        do_adhoc_statistics(hass, start=window)
        window += timedelta(minutes=5)
    await async_wait_recording_done(hass)
    found = await get_instance(hass).async_add_executor_job(
        statistic_during_period, hass, start, end, METER, {"change"}, {"energy": "Wh"}
    )
    return round(float(found["change"]))


async def _charged_wh(entry: MockConfigEntry) -> int:
    """The Wh the device was charged this period: debited, and pending for the next debit."""
    runtime = entry.runtime_data
    runtime.apply(runtime.economy.flush_all())
    await runtime.async_commit()
    [device] = runtime.economy.devices.values()
    return int(device.period_wh + device.tracker.pending_wh)


@pytest.mark.usefixtures("recorder_mock")
async def test_reconcile_shows_both_sides_and_a_closed_period_that_differs_is_a_repair(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, "sensor", {})
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    start = dt_util.parse_datetime(START)
    assert start is not None
    # A drop to 0 and back: the statistics count the meter again, the device is charged 1.5 kWh.
    for minute, value in [(1, "100"), (11, "100.5"), (12, "0"), (61, "101.5")]:
        freezer.move_to(start + timedelta(minutes=minute))
        hass.states.async_set(METER, value, INCREASING)
        await hass.async_block_till_done()
    freezer.move_to(start + timedelta(minutes=65))
    await _statistics_change_wh(hass, start, start + timedelta(minutes=65))
    report = await hass.services.async_call(
        DOMAIN,
        "reconcile",
        {"household": household_entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert report is not None
    assert report["period"] == "2026-11-01"
    assert report["closed"] is False
    [row] = cast(list[dict[str, Any]], report["devices"])
    assert row["device"] == "Plug"
    assert row["meter"] == METER
    assert (row["charged_kwh"], row["recorder_kwh"], row["difference_kwh"]) == (1.5, 102.0, -100.5)
    assert (row["glitches"], row["resets"], row["held_jumps"]) == (1, 0, [])
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN]

    await hass.services.async_call(
        DOMAIN, "close_period", {"household": household_entry.entry_id}, blocking=True
    )
    await _statistics_change_wh(hass, start, start + timedelta(minutes=70))
    freezer.move_to(start + timedelta(minutes=65 + 16))  # the check, once statistics are in
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    [issue_id] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "consumption_differs"
    assert issue.translation_placeholders == {
        "device": "Plug",
        "period": "2026-11-01",
        "charged": "1.500",
        "recorder": "102.000",
        "glitches": "1",
        "jumps": "0",
        "jumps_kwh": "0.000",
        "resets": "0",
    }
    closed = await hass.services.async_call(
        DOMAIN,
        "reconcile",
        {"household": household_entry.entry_id, "period": "2026-11-01"},
        blocking=True,
        return_response=True,
    )
    assert closed is not None
    assert closed["closed"] is True
    with pytest.raises(ServiceValidationError) as unknown:
        await hass.services.async_call(
            DOMAIN,
            "reconcile",
            {"household": household_entry.entry_id, "period": "1999-01-01"},
            blocking=True,
            return_response=True,
        )
    assert unknown.value.translation_key == "period_unknown"
