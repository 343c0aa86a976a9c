"""Fixtures shared by the Energy Tokens tests."""

from pathlib import Path

from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import DOMAIN


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None, hass: HomeAssistant, tmp_path: Path
) -> None:
    """Load custom_components/energy_tokens; keep each test's files in its own folder."""
    hass.config.config_dir = str(tmp_path)


@pytest.fixture
def household_entry(hass: HomeAssistant) -> MockConfigEntry:
    """A household entry, added but not set up."""
    entry = MockConfigEntry(domain=DOMAIN, title="Home", data={CONF_NAME: "Home"})
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, household_entry: MockConfigEntry) -> MockConfigEntry:
    """A household entry, set up, with its first verification done."""
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return household_entry
