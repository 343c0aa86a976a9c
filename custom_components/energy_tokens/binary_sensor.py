"""Binary sensors of a household."""

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

from .entity import HouseholdEntity
from .household import EnergyTokensConfigEntry, Household

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled


@dataclass(frozen=True, kw_only=True)
class HouseholdBinarySensorDescription(BinarySensorEntityDescription):
    """Describe a household binary sensor."""

    is_on_fn: Callable[[Household], bool | None]


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


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a household's binary sensors."""
    household = entry.runtime_data
    async_add_entities(
        HouseholdBinarySensor(household, description) for description in HOUSEHOLD_BINARY_SENSORS
    )


class HouseholdBinarySensor(HouseholdEntity, BinarySensorEntity):
    """A binary sensor of the household."""

    entity_description: HouseholdBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """The described state."""
        return self.entity_description.is_on_fn(self.household)
