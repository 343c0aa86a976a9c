"""Switches: per device, whether running out may cut its load (enforcement)."""

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import DeviceEntity, add_device_entities
from .household import EnergyTokensConfigEntry

PARALLEL_UPDATES = 0  # nothing to poll or call out to

ENFORCEMENT = SwitchEntityDescription(
    key="enforcement", translation_key="enforcement", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each device's enforcement switch, under its subentry."""
    household = entry.runtime_data
    add_device_entities(
        household,
        async_add_entities,
        lambda device: [EnforcementSwitch(household, device, ENFORCEMENT)],
    )


class EnforcementSwitch(DeviceEntity, RestoreEntity, SwitchEntity):
    """On: the device's cut policy applies. Off: its load is never cut.

    A user setting, so its last state is restored.
    """

    _topic = "none"  # changes only when the user switches it

    async def async_added_to_hass(self) -> None:
        """Take back the user's last choice."""
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_OFF:
            self.household.loads.paused.add(self.device.settings.subentry_id)
        await super().async_added_to_hass()

    def refresh(self) -> object:
        """On unless paused."""
        self._attr_is_on = self.device.settings.subentry_id not in self.household.loads.paused
        return self._attr_is_on

    async def async_turn_on(self, **kwargs: object) -> None:
        """Enforce the cut policy again."""
        self.household.loads.paused.discard(self.device.settings.subentry_id)
        self.refresh()
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: object) -> None:
        """Never cut this device's load."""
        self.household.loads.paused.add(self.device.settings.subentry_id)
        self.refresh()
        self.async_write_ha_state()
