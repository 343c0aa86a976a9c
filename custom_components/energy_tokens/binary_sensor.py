"""Binary sensors: a device's low and exhausted budget, the household's ledger integrity."""

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

from .entity import DeviceEntity, HouseholdEntity, add_device_entities
from .household import (
    TOPIC_LEDGER,
    DeviceState,
    EnergyTokensConfigEntry,
    Household,
    device_topic,
)
from .policies import Status

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled


@dataclass(frozen=True, kw_only=True)
class HouseholdBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a household binary sensor."""

    is_on_fn: Callable[[Household], bool | None]


@dataclass(frozen=True, kw_only=True)
class DeviceBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a device binary sensor."""

    is_on_fn: Callable[[Household, DeviceState], bool]


def _ledger_problem(household: Household) -> bool | None:
    """On when verification failed; unknown until the first verification finished."""
    result = household.verification
    return None if result is None else not result.valid


HOUSEHOLD_BINARY_SENSORS: tuple[HouseholdBinarySensorDescription, ...] = (
    HouseholdBinarySensorDescription(
        key="ledger_integrity",
        translation_key="ledger_integrity",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=_ledger_problem,
    ),
)

DEVICE_BINARY_SENSORS: tuple[DeviceBinarySensorDescription, ...] = (
    DeviceBinarySensorDescription(
        key="low",
        translation_key="low",
        is_on_fn=lambda _household, device: device.status in (Status.LOW, Status.EXHAUSTED),
    ),
    DeviceBinarySensorDescription(
        key="exhausted",
        translation_key="exhausted",
        is_on_fn=lambda _household, device: device.status is Status.EXHAUSTED,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the household's binary sensors, then each device's, under its subentry."""
    household = entry.runtime_data
    async_add_entities(
        HouseholdBinarySensor(household, description) for description in HOUSEHOLD_BINARY_SENSORS
    )
    add_device_entities(
        household,
        async_add_entities,
        lambda device: (DeviceBinarySensor(household, device, d) for d in DEVICE_BINARY_SENSORS),
    )


class HouseholdBinarySensor(HouseholdEntity, BinarySensorEntity):
    """A binary sensor of the household (ledger integrity: follows verification)."""

    entity_description: HouseholdBinarySensorDescription
    _topic = TOPIC_LEDGER

    def refresh(self) -> object:
        """On, off or unknown."""
        self._attr_is_on = self.entity_description.is_on_fn(self.household)
        return self._attr_is_on


class DeviceBinarySensor(DeviceEntity, BinarySensorEntity):
    """A binary sensor of a metered device (low, exhausted: follow its status)."""

    entity_description: DeviceBinarySensorDescription

    def __init__(
        self,
        household: Household,
        device: DeviceState,
        description: DeviceBinarySensorDescription,
    ) -> None:
        """Follow the device's status."""
        super().__init__(household, device, description)
        self._topic = device_topic(device.settings.subentry_id, "status")

    def refresh(self) -> object:
        """On or off."""
        self._attr_is_on = self.entity_description.is_on_fn(self.household, self.device)
        return self._attr_is_on
