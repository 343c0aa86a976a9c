"""Base entities: one for the household's device, one for each metered device."""

from collections.abc import Callable, Iterable

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .household import TOPIC_PERIODIC, DeviceState, Household


class EnergyTokensEntity(Entity):
    """An entity updated when its topic of the household changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _topic = TOPIC_PERIODIC

    def __init__(self, household: Household, description: EntityDescription) -> None:
        """Keep the household and the description."""
        self.household = household
        self.entity_description = description

    async def async_added_to_hass(self) -> None:
        """Follow the household's changes on this entity's topic."""
        await super().async_added_to_hass()
        self._last_written = self.refresh()  # Home Assistant writes this once we are added
        self.async_on_remove(
            self.household.async_add_listener(self._handle_household_update, self._topic)
        )

    _last_written: object = None

    def refresh(self) -> object:
        """Compute the entity's attributes from the household; return what it would show."""
        raise NotImplementedError

    @callback
    def _handle_household_update(self) -> None:
        # Writing a state costs far more than computing it; with a hundred devices, most
        # refreshes change nothing for most entities.
        key = self.refresh()
        if key != self._last_written:
            self._last_written = key
            self.async_write_ha_state()


class HouseholdEntity(EnergyTokensEntity):
    """An entity of the household's own device."""

    def __init__(self, household: Household, description: EntityDescription) -> None:
        """Attach the entity to the household's device."""
        super().__init__(household, description)
        entry = household.entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Energy Tokens",
            model="Household",
            entry_type=DeviceEntryType.SERVICE,
        )


class DeviceEntity(EnergyTokensEntity):
    """An entity of one metered device (a subentry of the household)."""

    def __init__(
        self, household: Household, device: DeviceState, description: EntityDescription
    ) -> None:
        """Attach the entity to the device's own Home Assistant device."""
        super().__init__(household, description)
        self.device = device
        settings = device.settings
        self._attr_unique_id = f"{settings.subentry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, settings.subentry_id)},
            name=settings.name,
            manufacturer="Energy Tokens",
            model="Metered device",
            entry_type=DeviceEntryType.SERVICE,
        )


def add_device_entities(
    household: Household,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[DeviceState], Iterable[Entity]],
) -> None:
    """Add each device's entities under its own subentry (one call per subentry, as required)."""
    for subentry_id, device in household.devices.items():
        async_add_entities(build(device), config_subentry_id=subentry_id)
