"""Switches: per device, whether running out may cut its load (enforcement).

The choice is stored with the device (its subentry), so it survives restarts and reloads.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import STATE_OFF, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .const import CONF_ENFORCE
from .entity import DeviceEntity, add_device_entities
from .helpers import async_require_admin
from .runtime import EnergyTokensConfigEntry

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
    add_device_entities(
        entry,
        async_add_entities,
        lambda runtime, key: [EnforcementSwitch(runtime, key, ENFORCEMENT)],
    )


class EnforcementSwitch(DeviceEntity, RestoreEntity, SwitchEntity):
    """On: the device's cut policy applies. Off: its load is never cut."""

    async def async_added_to_hass(self) -> None:
        """Take over a choice that earlier versions kept only in the restored state."""
        subentry = self.runtime.entry.subentries[self.subentry_id]
        if CONF_ENFORCE not in subentry.data:
            last = await self.async_get_last_state()
            if last is not None and last.state == STATE_OFF:
                self.runtime.async_update_device(self.subentry_id, **{CONF_ENFORCE: False})
        await super().async_added_to_hass()

    def refresh(self) -> object:
        """On unless the user turned enforcement off."""
        self._attr_is_on = self.device_view.enforced
        return self._attr_is_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enforce the cut policy again."""
        self.runtime.async_update_device(self.subentry_id, **{CONF_ENFORCE: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Never cut this device's load: an administrator's choice."""
        await async_require_admin(self.hass, self._context, "enforcement_admin_only")
        self.runtime.async_update_device(self.subentry_id, **{CONF_ENFORCE: False})
