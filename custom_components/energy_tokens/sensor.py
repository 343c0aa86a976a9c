"""Sensors of a household."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .entity import HouseholdEntity
from .household import EnergyTokensConfigEntry, Household

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled


@dataclass(frozen=True, kw_only=True)
class HouseholdSensorDescription(SensorEntityDescription):
    """Describe a household sensor."""

    value_fn: Callable[[Household], StateType | datetime]


def _last_checkpoint(household: Household) -> datetime | None:
    signed_ms = household.ledger.last_checkpoint_ms
    return None if signed_ms is None else dt_util.utc_from_timestamp(signed_ms / 1000)


HOUSEHOLD_SENSORS: tuple[HouseholdSensorDescription, ...] = (
    HouseholdSensorDescription(
        key="ledger_entries",
        translation_key="ledger_entries",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda household: household.ledger.seq,
    ),
    HouseholdSensorDescription(
        key="last_checkpoint",
        translation_key="last_checkpoint",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_checkpoint,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a household's sensors."""
    household = entry.runtime_data
    async_add_entities(HouseholdSensor(household, description) for description in HOUSEHOLD_SENSORS)


class HouseholdSensor(HouseholdEntity, SensorEntity):
    """A sensor of the household."""

    entity_description: HouseholdSensorDescription

    @property
    def native_value(self) -> StateType | datetime:
        """The described value."""
        return self.entity_description.value_fn(self.household)
