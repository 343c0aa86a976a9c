"""Fixtures shared by the Energy Tokens tests."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, CONF_NAME
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.energy_tokens.const import (
    CONF_ALLOWANCE,
    CONF_CUT_POLICY,
    CONF_MAY_LEND,
    CONF_METER,
    CONF_PRIORITY,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_DEVICE,
)

START = "2026-11-23 12:00:00+00:00"  # a Monday, mid-month


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None, hass: HomeAssistant, tmp_path: Path
) -> None:
    """Load custom_components/energy_tokens; keep each test's files in its own folder."""
    hass.config.config_dir = str(tmp_path)


@pytest.fixture(autouse=True)
def frozen_start(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Every test starts at the same moment."""
    freezer.move_to(START)
    return freezer


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Every entity enabled, as Home Assistant's own tests do for the entities they read."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in Home Assistant's format (registry ids and times made stable)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


def device_subentry(name: str, meter: str, allowance: float, **extra: Any) -> ConfigSubentryData:
    """A device subentry as the subentry flow stores it."""
    data = {
        CONF_NAME: name,
        CONF_METER: meter,
        CONF_ALLOWANCE: allowance,
        CONF_PRIORITY: "normal",
        CONF_MAY_LEND: True,
        CONF_CUT_POLICY: "never",
    } | extra
    return ConfigSubentryData(data=data, subentry_type=SUBENTRY_DEVICE, title=name, unique_id=meter)


@pytest.fixture
def household_settings() -> dict[str, Any]:
    """Household settings; tests override some before the entry is made."""
    return {CONF_NAME: "Home", **DEFAULTS}


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    """The household's devices."""
    return []


@pytest.fixture
def household_entry(
    hass: HomeAssistant,
    household_settings: dict[str, Any],
    subentries: list[ConfigSubentryData],
) -> MockConfigEntry:
    """A household entry, added but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=household_settings[CONF_NAME],
        data=household_settings,
        subentries_data=subentries,
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, household_entry: MockConfigEntry) -> MockConfigEntry:
    """A household entry, set up, with its first verification done."""
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return household_entry


@pytest.fixture
def set_meter(hass: HomeAssistant) -> Callable[..., None]:
    """Set an energy sensor's state."""

    def set_state(entity_id: str, value: str | float, unit: str = "kWh") -> None:
        hass.states.async_set(
            entity_id,
            str(value),
            {ATTR_UNIT_OF_MEASUREMENT: unit, ATTR_DEVICE_CLASS: "energy"},
        )

    return set_state


@pytest.fixture
async def hass_member_user(hass: HomeAssistant) -> User:
    """A user who is not an administrator and may control entities (a household member)."""
    return await hass.auth.async_create_user("Member", group_ids=[GROUP_ID_USER])
