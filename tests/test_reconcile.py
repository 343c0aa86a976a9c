"""The reconcile action and its repair without the recorder, and when a check cannot run."""

from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import LedgerError
from custom_components.energy_tokens.reconcile import async_check_last_closed

from .conftest import device_subentry
from .helpers import tick

DRYER = "sensor.dryer_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    """One device."""
    return [device_subentry("Dryer", DRYER, 30.0)]


async def test_without_statistics_there_is_nothing_to_compare_and_no_repair(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    set_meter(DRYER, 10.0)
    await tick(hass, freezer, timedelta(minutes=10))
    set_meter(DRYER, 12.5)
    await hass.async_block_till_done()
    report = await hass.services.async_call(
        DOMAIN,
        "reconcile",
        {"household": loaded_entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert report is not None
    assert report["devices"] == [
        {
            "device": "Dryer",
            "device_id": loaded_entry.runtime_data.device_id(
                next(iter(loaded_entry.runtime_data.economy.devices))
            ),
            "meter": DRYER,
            "charged_kwh": 2.5,  # what is metered, debited or not yet
            "recorder_kwh": None,  # no recorder: no statistics
            "difference_kwh": None,
            "held_jumps": [],
            "glitches": 0,
            "resets": 0,
        }
    ]
    hass.bus.async_fire("energy_tokens_period_closed", {"household_id": "another"})
    await hass.services.async_call(
        DOMAIN, "close_period", {"household": loaded_entry.entry_id}, blocking=True
    )
    await tick(hass, freezer, timedelta(minutes=16))  # the check after the close
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN]


async def test_a_check_that_cannot_read_the_ledger_waits_for_the_next(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = loaded_entry.runtime_data
    await hass.services.async_call(
        DOMAIN, "close_period", {"household": loaded_entry.entry_id}, blocking=True
    )

    async def failing_commit(*_args: object, **_kwargs: object) -> None:
        raise LedgerError("disk full")

    monkeypatch.setattr(runtime, "async_commit", failing_commit)
    await async_check_last_closed(hass, runtime)  # no exception: the storage fault is loud
