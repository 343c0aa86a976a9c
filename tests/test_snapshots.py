"""Snapshots of every platform's entities and of the diagnostics, with fixed ids, key and time.

A changed entity (its name, unit, class, state or attributes) or a changed diagnostics field
shows here as a diff; `scripts/test tests/test_snapshots.py --snapshot-update` records an
intended one.
"""

from collections.abc import Callable
from datetime import timedelta
import json
from unittest.mock import patch

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_dumps
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics
from custom_components.energy_tokens.runtime import storage_directory

from .conftest import device_subentry
from .helpers import tick

ENTRY_ID = "01KHOUSEHOLD00000000000000"
# The RFC 8032 section 7.1 TEST 1 secret key: published, so nothing secret is committed.
TEST_KEY = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def _subentry(
    subentry_id: str, name: str, allowance: float, **extra: object
) -> ConfigSubentryDataWithId:
    data = device_subentry(name, f"sensor.{name.lower()}_energy", allowance, **extra)
    return ConfigSubentryDataWithId(**data, subentry_id=subentry_id)


@pytest.fixture
def household_entry(hass: HomeAssistant, household_settings: dict[str, object]) -> MockConfigEntry:
    """A household with fixed ids and signing key, so every figure and hash is repeatable."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        entry_id=ENTRY_ID,
        data=household_settings,
        subentries_data=[
            _subentry("01KDRYER000000000000000000", "Dryer", 30.0),
            _subentry(
                "01KHEATER00000000000000000",
                "Heater",
                50.0,
                priority="essential",
                may_lend=False,
                load="switch.heater_plug",
                cut_policy="turn_off",
            ),
        ],
    )
    entry.add_to_hass(hass)
    folder = storage_directory(hass, ENTRY_ID)
    folder.mkdir(parents=True)
    pem = Ed25519PrivateKey.from_private_bytes(TEST_KEY).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "signing.key").write_bytes(pem)
    return entry


async def _run(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    platforms: list[Platform],
) -> None:
    """Set the household up, then two hours of consumption and a debit interval."""
    set_meter("sensor.dryer_energy", 100.0)
    set_meter("sensor.heater_energy", 40.0)
    with patch("custom_components.energy_tokens.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(hours=2))
    set_meter("sensor.dryer_energy", 104.5)
    set_meter("sensor.heater_energy", 82.25)  # under 20 % of its 50 left: low
    await tick(hass, freezer, timedelta(minutes=5))
    await entry.runtime_data.async_commit()  # the ledger figures do not depend on timer order


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # every entity, as HA's own do
@pytest.mark.parametrize("platform", [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH])
async def test_entities(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    platform: Platform,
) -> None:
    await _run(hass, household_entry, set_meter, freezer, [platform])
    await snapshot_platform(hass, entity_registry, snapshot, household_entry.entry_id)


async def test_diagnostics(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """As the diagnostics download serialises it (test_diagnostics.py goes through HTTP)."""
    await _run(hass, household_entry, set_meter, freezer, [Platform.SENSOR])
    result = await async_get_config_entry_diagnostics(hass, household_entry)
    assert json.loads(json_dumps(result)) == snapshot
