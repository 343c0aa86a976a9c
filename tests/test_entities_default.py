"""Which entities a new household shows: diagnostic figures are there, disabled until wanted."""

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import device_subentry

DISABLED = {
    "sensor.dryer_allowance",
    "sensor.dryer_share_of_consumption",
    "sensor.dryer_consumption_rank",
    "sensor.home_ledger_entries",
    "sensor.home_last_signed_checkpoint",
}


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    """One device."""
    return [device_subentry("Dryer", "sensor.dryer_energy", 10.0)]


async def test_diagnostic_figures_are_disabled_by_default(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    entities = er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
    disabled = {
        e.entity_id for e in entities if e.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == DISABLED
    for entity_id in DISABLED:
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.entity_category is EntityCategory.DIAGNOSTIC
        assert hass.states.get(entity_id) is None  # not shown until enabled
    # What a household is about stays on: balances, consumption, status, the ledger's integrity.
    for entity_id in ("sensor.dryer_balance", "binary_sensor.home_ledger_integrity"):
        assert hass.states.get(entity_id) is not None
