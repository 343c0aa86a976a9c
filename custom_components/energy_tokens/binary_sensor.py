"""Binary sensors: a device's low and exhausted budget, the household's ledger integrity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .entity import DeviceEntity, HouseholdEntity, WitnessEntity, add_device_entities
from .policies import Status
from .runtime import EnergyTokensConfigEntry
from .view import Aspect, DeviceView, HouseholdView

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled


@dataclass(frozen=True, kw_only=True)
class HouseholdBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a household binary sensor."""

    is_on_fn: Callable[[HouseholdView], bool | None]


@dataclass(frozen=True, kw_only=True)
class DeviceBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a device binary sensor."""

    is_on_fn: Callable[[DeviceView], bool]
    aspect: Aspect = Aspect.STATUS  # both follow the device's status


HOUSEHOLD_BINARY_SENSORS: tuple[HouseholdBinarySensorDescription, ...] = (
    HouseholdBinarySensorDescription(
        key="ledger_integrity",
        translation_key="ledger_integrity",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        # On when verification failed; unknown until the first verification finished.
        is_on_fn=lambda household: (
            None if household.ledger.valid is None else not household.ledger.valid
        ),
    ),
)

# On when a checkpoint of the household waited BEHIND_AFTER for any member's cosignature
# (MQTT down, members offline or not admitted): nobody else holds a copy of it yet.
WITNESSING_BEHIND = BinarySensorEntityDescription(
    key="witnessing_behind",
    translation_key="witnessing_behind",
    device_class=BinarySensorDeviceClass.PROBLEM,
)

DEVICE_BINARY_SENSORS: tuple[DeviceBinarySensorDescription, ...] = (
    DeviceBinarySensorDescription(
        key="low",
        translation_key="low",
        is_on_fn=lambda device: device.status in (Status.LOW, Status.EXHAUSTED),
    ),
    DeviceBinarySensorDescription(
        key="exhausted",
        translation_key="exhausted",
        is_on_fn=lambda device: device.status is Status.EXHAUSTED,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the household's binary sensors, then each device's, under its subentry."""
    runtime = entry.runtime_data
    async_add_entities(
        HouseholdBinarySensor(runtime, description) for description in HOUSEHOLD_BINARY_SENSORS
    )
    if runtime.community is not None:
        async_add_entities([WitnessingBehindBinarySensor(runtime, WITNESSING_BEHIND)])
    add_device_entities(
        entry,
        async_add_entities,
        lambda runtime, key: (DeviceBinarySensor(runtime, key, d) for d in DEVICE_BINARY_SENSORS),
    )


class HouseholdBinarySensor(HouseholdEntity, BinarySensorEntity):
    """A binary sensor of the household."""

    entity_description: HouseholdBinarySensorDescription

    def refresh(self) -> object:
        """On, off or unknown."""
        self._attr_is_on = self.entity_description.is_on_fn(self.runtime.view)
        return self._attr_is_on


class WitnessingBehindBinarySensor(WitnessEntity, BinarySensorEntity):
    """On when the household's checkpoints are not being cosigned (it stays available)."""

    def refresh(self) -> object:
        """On or off, as of now."""
        self._attr_is_on = self.status.behind(dt_util.utcnow())
        return self._attr_is_on


class DeviceBinarySensor(DeviceEntity, BinarySensorEntity):
    """A binary sensor of a metered device."""

    entity_description: DeviceBinarySensorDescription

    def refresh(self) -> object:
        """On or off."""
        self._attr_is_on = self.entity_description.is_on_fn(self.device_view)
        return self._attr_is_on
