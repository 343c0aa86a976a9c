"""Sensors: balances and consumption of each device, the household's pool, money and ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .community_setup import members_of
from .entity import (
    DeviceEntity,
    HouseholdEntity,
    MemberEntity,
    RankingEntity,
    WitnessEntity,
    add_device_entities,
)
from .policies import Status
from .ranking import Ranking, Standing
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime
from .settings import MILLI
from .view import Aspect, DeviceView, HouseholdView
from .witness_status import WitnessingStatus

PARALLEL_UPDATES = 0  # state is pushed by the household, never polled
TOKENS = "tokens"


@dataclass(frozen=True, kw_only=True)
class DeviceSensorDescription(SensorEntityDescription):
    """Describe a sensor of a metered device."""

    value_fn: Callable[[DeviceView], StateType | datetime]
    attrs_fn: Callable[[DeviceView], dict[str, Any]] | None = None
    per_period: bool = False  # a total that starts again each period (last_reset)
    aspect: Aspect = Aspect.FIGURES  # what of the device's view it shows


@dataclass(frozen=True, kw_only=True)
class HouseholdSensorDescription(SensorEntityDescription):
    """Describe a sensor of the household."""

    value_fn: Callable[[HouseholdView], StateType | datetime]
    per_period: bool = False
    in_currency: bool = False


@dataclass(frozen=True, kw_only=True)
class WitnessSensorDescription(SensorEntityDescription):
    """Describe a sensor of the household's witnessing."""

    value_fn: Callable[[WitnessingStatus], StateType | datetime]


WITNESS_SENSORS: tuple[WitnessSensorDescription, ...] = (
    WitnessSensorDescription(
        key="witnessed_size",
        translation_key="witnessed_size",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: status.witnessed_size,
    ),
    WitnessSensorDescription(
        key="cosignatures",
        translation_key="cosignatures",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: status.cosignatures,
    ),
    WitnessSensorDescription(
        key="last_witnessed",
        translation_key="last_witnessed",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: status.last_witnessed,
    ),
)

DEVICE_SENSORS: tuple[DeviceSensorDescription, ...] = (
    DeviceSensorDescription(
        key="balance",
        translation_key="balance",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        aspect=Aspect.BALANCE,
        value_fn=lambda device: device.balance,
    ),
    DeviceSensorDescription(
        key="consumed",
        translation_key="consumed",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        value_fn=lambda device: device.consumed,
    ),
    DeviceSensorDescription(
        key="allowance",
        entity_registry_enabled_default=False,
        translation_key="allowance",
        native_unit_of_measurement=TOKENS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda device: device.allowance,
        # Only while a change waits for the next period: the state is this period's.
        attrs_fn=lambda device: (
            {} if device.next_allowance is None else {"next_period": device.next_allowance}
        ),
    ),
    DeviceSensorDescription(
        key="share",
        entity_registry_enabled_default=False,
        translation_key="share",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        aspect=Aspect.STANDING,
        value_fn=lambda device: device.share_percent,
    ),
    DeviceSensorDescription(
        key="rank",
        entity_registry_enabled_default=False,
        translation_key="rank",
        entity_category=EntityCategory.DIAGNOSTIC,
        # A number: the logbook leaves it out (it changes whenever devices overtake each other).
        state_class=SensorStateClass.MEASUREMENT,
        aspect=Aspect.STANDING,
        value_fn=lambda device: device.rank,
    ),
    DeviceSensorDescription(
        key="run_out",
        translation_key="run_out",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda device: device.run_out,
    ),
    DeviceSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[s.value for s in Status],
        aspect=Aspect.STATUS,
        value_fn=lambda device: device.status.value,
    ),
)

HOUSEHOLD_SENSORS: tuple[HouseholdSensorDescription, ...] = (
    HouseholdSensorDescription(
        key="pool",
        translation_key="pool",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda household: household.pool,
    ),
    HouseholdSensorDescription(
        key="consumed",
        translation_key="household_consumed",
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        value_fn=lambda household: household.consumed,
    ),
    HouseholdSensorDescription(
        key="cost",
        translation_key="cost",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        in_currency=True,
        value_fn=lambda household: household.cost,
    ),
    HouseholdSensorDescription(
        key="sales",
        translation_key="sales",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        per_period=True,
        in_currency=True,
        value_fn=lambda household: household.sales,
    ),
    HouseholdSensorDescription(
        key="top_consumer",
        translation_key="top_consumer",
        value_fn=lambda household: household.top_consumer,
    ),
    HouseholdSensorDescription(
        key="period_end",
        translation_key="period_end",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda household: None if household.period is None else household.period.end,
    ),
    HouseholdSensorDescription(
        key="ledger_entries",
        entity_registry_enabled_default=False,
        translation_key="ledger_entries",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda household: household.ledger.entries,
    ),
    HouseholdSensorDescription(
        key="last_checkpoint",
        entity_registry_enabled_default=False,
        translation_key="last_checkpoint",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda household: household.ledger.last_checkpoint,
    ),
)


@dataclass(frozen=True, kw_only=True)
class RankingSensorDescription(SensorEntityDescription):
    """Describe a sensor of the household's own standing in its community."""

    value_fn: Callable[[Standing], StateType]


RANKING_SENSORS: tuple[RankingSensorDescription, ...] = (
    RankingSensorDescription(
        key="community_rank",
        translation_key="community_rank",
        value_fn=lambda own: own.rank,
    ),
    RankingSensorDescription(
        key="community_share",
        translation_key="community_share",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda own: own.share,
    ),
)
MEMBER_CONSUMPTION = SensorEntityDescription(
    key="member_consumption",
    translation_key="member_consumption",
    device_class=SensorDeviceClass.ENERGY,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    suggested_display_precision=1,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the household's sensors, then each device's, under its subentry."""
    runtime = entry.runtime_data
    async_add_entities(HouseholdSensor(runtime, description) for description in HOUSEHOLD_SENSORS)
    if runtime.community is not None:
        async_add_entities(WitnessSensor(runtime, description) for description in WITNESS_SENSORS)
        async_add_entities(RankingSensor(runtime, description) for description in RANKING_SENSORS)
        for subentry_id, member in members_of(entry).items():  # one call per subentry
            async_add_entities(
                [MemberSensor(runtime, MEMBER_CONSUMPTION, subentry_id, member)],
                config_subentry_id=subentry_id,
            )
    add_device_entities(
        entry,
        async_add_entities,
        lambda runtime, key: (DeviceSensor(runtime, key, d) for d in DEVICE_SENSORS),
    )


def _period_start(runtime: HouseholdRuntime, per_period: bool) -> datetime | None:
    """Per-period totals start again when a period opens (their last_reset)."""
    period = runtime.view.period
    return period.start if per_period and period is not None else None


class HouseholdSensor(HouseholdEntity, SensorEntity):
    """A sensor of the household."""

    entity_description: HouseholdSensorDescription

    def __init__(self, runtime: HouseholdRuntime, description: HouseholdSensorDescription) -> None:
        """Money sensors are in the instance's currency."""
        super().__init__(runtime, description)
        if description.in_currency:
            self._attr_native_unit_of_measurement = runtime.hass.config.currency

    def refresh(self) -> object:
        """The described value."""
        description = self.entity_description
        self._attr_native_value = description.value_fn(self.runtime.view)
        self._attr_last_reset = _period_start(self.runtime, description.per_period)
        return self._attr_native_value, self._attr_last_reset


class WitnessSensor(WitnessEntity, SensorEntity):
    """A sensor of the household's witnessing; unavailable while MQTT is disconnected."""

    entity_description: WitnessSensorDescription

    @property
    def available(self) -> bool:
        """What was received is known; what is missing while disconnected is not."""
        return super().available and self.status.connected

    def refresh(self) -> object:
        """The described value."""
        self._attr_native_value = self.entity_description.value_fn(self.status)
        return self._attr_native_value


class DeviceSensor(DeviceEntity, SensorEntity):
    """A sensor of a metered device."""

    entity_description: DeviceSensorDescription

    def refresh(self) -> object:
        """The described value."""
        description = self.entity_description
        view = self.device_view
        self._attr_native_value = description.value_fn(view)
        self._attr_last_reset = _period_start(self.runtime, description.per_period)
        attributes = None
        if description.attrs_fn is not None:
            attributes = self._attr_extra_state_attributes = description.attrs_fn(view)
        return self._attr_native_value, self._attr_last_reset, attributes


def _ranked(ranking: Ranking) -> dict[str, Any]:
    """What every ranking sensor tells beside its state: the period and how many were ranked."""
    return {"period": ranking.period, "ranked": ranking.ranked}


class RankingSensor(RankingEntity, SensorEntity):
    """The household's own rank, or share of its community's consumption."""

    entity_description: RankingSensorDescription

    def refresh(self) -> object:
        """The described value."""
        ranking = self.ranking
        self._attr_native_value = self.entity_description.value_fn(ranking.own)
        self._attr_extra_state_attributes = _ranked(ranking)
        return self._attr_native_value, self._attr_extra_state_attributes


class MemberSensor(MemberEntity, SensorEntity):
    """What a member consumed in its latest closed period (as it published), with its rank."""

    def refresh(self) -> object:
        """The member's published totals, unknown while it publishes none."""
        standing, ranking = self.standing, self.ranking
        totals = standing.totals
        self._attr_native_value = None if totals is None else round(totals.consumed_kwh, 3)
        self._attr_extra_state_attributes = _ranked(ranking) | {
            "member_period": None if totals is None else totals.period,
            "rank": standing.rank,
            "share": standing.share,
            "allowance": None if totals is None else totals.allowance / MILLI,
            "surplus": None if totals is None else totals.surplus / MILLI,
        }
        return self._attr_native_value, self._attr_extra_state_attributes
