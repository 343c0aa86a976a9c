"""Sensors: balances and consumption of each device, the household's pool, money and ledger."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .entity import DeviceEntity, HouseholdEntity, add_device_entities
from .household import (
    TOPIC_LEDGER,
    TOPIC_PERIODIC,
    DeviceState,
    EnergyTokensConfigEntry,
    Household,
    device_topic,
)
from .policies import POOL, Status
from .settings import MICRO, MILLI

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled
TOKENS = "tokens"


def _tokens(milli: int) -> float:
    return milli / MILLI


@dataclass(frozen=True, kw_only=True)
class DeviceSensorDescription(SensorEntityDescription):
    """Describe a sensor of a metered device."""

    value_fn: Callable[[Household, DeviceState], StateType | datetime]
    per_period: bool = False  # a total that starts again each period (last_reset)
    topic: Literal["live", "status", "periodic"] = "periodic"


@dataclass(frozen=True, kw_only=True)
class HouseholdSensorDescription(SensorEntityDescription):
    """Describe a sensor of the household."""

    value_fn: Callable[[Household], StateType | datetime]
    per_period: bool = False
    in_currency: bool = False
    topic: str = TOPIC_PERIODIC


DEVICE_SENSORS: tuple[DeviceSensorDescription, ...] = (
    DeviceSensorDescription(
        key="balance",
        translation_key="balance",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        topic="live",
        value_fn=lambda _household, device: _tokens(device.balance_milli),
    ),
    DeviceSensorDescription(
        key="consumed",
        translation_key="consumed",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        value_fn=lambda household, device: _tokens(household.consumed_milli(device)),
    ),
    DeviceSensorDescription(
        key="allowance",
        translation_key="allowance",
        native_unit_of_measurement=TOKENS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _household, device: _tokens(device.settings.allowance_milli),
    ),
    DeviceSensorDescription(
        key="share",
        translation_key="share",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda household, device: household.share_percent(device),
    ),
    DeviceSensorDescription(
        key="rank",
        translation_key="rank",
        value_fn=lambda household, device: household.rank(device),
    ),
    DeviceSensorDescription(
        key="run_out",
        translation_key="run_out",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda household, device: household.run_out(device),
    ),
    DeviceSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[s.value for s in Status],
        topic="status",
        value_fn=lambda _household, device: device.status.value,
    ),
)


def _last_checkpoint(household: Household) -> datetime | None:
    signed_ms = household.ledger.last_checkpoint_ms
    return None if signed_ms is None else dt_util.utc_from_timestamp(signed_ms / 1000)


HOUSEHOLD_SENSORS: tuple[HouseholdSensorDescription, ...] = (
    HouseholdSensorDescription(
        key="pool",
        translation_key="pool",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda household: _tokens(household.ledger.balance(POOL)),
    ),
    HouseholdSensorDescription(
        key="consumed",
        translation_key="household_consumed",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        value_fn=lambda household: _tokens(household.total_consumed_milli()),
    ),
    HouseholdSensorDescription(
        key="cost",
        translation_key="cost",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        in_currency=True,
        value_fn=lambda household: household.cost_micro / MICRO,
    ),
    HouseholdSensorDescription(
        key="sales",
        translation_key="sales",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        in_currency=True,
        value_fn=lambda household: household.sales_micro / MICRO,
    ),
    HouseholdSensorDescription(
        key="top_consumer",
        translation_key="top_consumer",
        value_fn=lambda household: household.top_consumer(),
    ),
    HouseholdSensorDescription(
        key="period_end",
        translation_key="period_end",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda household: None if household.period is None else household.period.end,
    ),
    HouseholdSensorDescription(
        key="ledger_entries",
        translation_key="ledger_entries",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        topic=TOPIC_LEDGER,
        value_fn=lambda household: household.ledger.seq,
    ),
    HouseholdSensorDescription(
        key="last_checkpoint",
        translation_key="last_checkpoint",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        topic=TOPIC_LEDGER,
        value_fn=_last_checkpoint,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the household's sensors, then each device's, under its subentry."""
    household = entry.runtime_data
    async_add_entities(HouseholdSensor(household, description) for description in HOUSEHOLD_SENSORS)
    add_device_entities(
        household,
        async_add_entities,
        lambda device: (DeviceSensor(household, device, d) for d in DEVICE_SENSORS),
    )


class HouseholdSensor(HouseholdEntity, SensorEntity):
    """A sensor of the household."""

    entity_description: HouseholdSensorDescription

    def __init__(self, household: Household, description: HouseholdSensorDescription) -> None:
        """Money sensors are in the instance's currency."""
        super().__init__(household, description)
        self._topic = description.topic
        if description.in_currency:
            self._attr_native_unit_of_measurement = household.hass.config.currency

    def refresh(self) -> object:
        """The described value; per-period totals start again when a period opens."""
        description = self.entity_description
        self._attr_native_value = description.value_fn(self.household)
        self._attr_last_reset = _period_start(self.household, description.per_period)
        return self._attr_native_value, self._attr_last_reset


class DeviceSensor(DeviceEntity, SensorEntity):
    """A sensor of a metered device."""

    entity_description: DeviceSensorDescription

    def __init__(
        self, household: Household, device: DeviceState, description: DeviceSensorDescription
    ) -> None:
        """Follow the description's topic of this device."""
        super().__init__(household, device, description)
        self._topic = device_topic(device.settings.subentry_id, description.topic)

    def refresh(self) -> object:
        """The described value; per-period totals start again when a period opens."""
        description = self.entity_description
        self._attr_native_value = description.value_fn(self.household, self.device)
        self._attr_last_reset = _period_start(self.household, description.per_period)
        return self._attr_native_value, self._attr_last_reset


def _period_start(household: Household, per_period: bool) -> datetime | None:
    period = household.period
    return period.start if per_period and period is not None else None
