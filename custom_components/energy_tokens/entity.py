"""Base entity of a household."""

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .household import Household


class HouseholdEntity(Entity):
    """An entity of a household's device, updated when the household changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, household: Household, description: EntityDescription) -> None:
        """Attach the entity to the household's device."""
        self.household = household
        self.entity_description = description
        entry = household.entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Energy Tokens",
            model="Household",
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the household's changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.household.async_add_listener(self._handle_household_update))

    @callback
    def _handle_household_update(self) -> None:
        self.async_write_ha_state()
