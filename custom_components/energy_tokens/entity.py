"""Base entities: one for the household's device, one for each metered device.

Entities read the household's view (view.py) and follow the dispatcher signal of what they
show: the household's, or their device's for the aspect they show (balance, status or the other
figures). A state is written only when what it shows changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .ledger.community import Member
from .ranking import Ranking, Standing
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime
from .signals import (
    signal_device,
    signal_device_added,
    signal_household,
    signal_ranking,
    signal_witnessing,
)
from .view import Aspect, DeviceView
from .witness_status import WitnessingStatus


class EnergyTokensEntity(Entity):
    """An entity that shows part of its household's view."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _shown: object = None

    def __init__(self, runtime: HouseholdRuntime, description: EntityDescription) -> None:
        """Keep the household and the description."""
        self.runtime = runtime
        self.entity_description = description

    @property
    def _signal(self) -> str:
        """The dispatcher signal this entity follows."""
        raise NotImplementedError

    def refresh(self) -> object:
        """Set the entity's attributes from the view; return what it would show."""
        raise NotImplementedError

    @property
    def available(self) -> bool:
        """Unavailable while the household's ledger cannot be written (a repair says why)."""
        return self.runtime.failure is None

    async def async_added_to_hass(self) -> None:
        """Follow the view's changes (Home Assistant writes the first state itself)."""
        await super().async_added_to_hass()
        self._shown = self.refresh(), self.available
        self.async_on_remove(async_dispatcher_connect(self.hass, self._signal, self._update))

    @callback
    def _update(self) -> None:
        # Writing a state costs far more than computing it; with a hundred devices, most
        # updates change nothing for most entities.
        shown = self.refresh(), self.available
        if shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()


def household_device_info(entry_id: str, title: str) -> DeviceInfo:
    """The household's own device: a service (the budget), its devices listed under it."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry_id)},
        name=title,
        manufacturer="Energy Tokens",
        model="Household",
        entry_type=DeviceEntryType.SERVICE,
    )


class HouseholdEntity(EnergyTokensEntity):
    """An entity of the household's own device."""

    def __init__(self, runtime: HouseholdRuntime, description: EntityDescription) -> None:
        """Attach the entity to the household's device."""
        super().__init__(runtime, description)
        entry = runtime.entry
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = household_device_info(entry.entry_id, entry.title)

    @property
    def _signal(self) -> str:
        return signal_household(self.runtime.entry.entry_id)


class WitnessEntity(HouseholdEntity):
    """An entity of the household's witnessing (added only when it joined a community)."""

    @property
    def _signal(self) -> str:
        return signal_witnessing(self.runtime.entry.entry_id)

    @property
    def status(self) -> WitnessingStatus:
        """The witnessing figures."""
        assert self.runtime.community is not None  # added only with a community
        return self.runtime.community.status


class RankingEntity(HouseholdEntity):
    """An entity of the community's ranking (added only when the household joined one)."""

    @property
    def _signal(self) -> str:
        return signal_ranking(self.runtime.entry.entry_id)

    @property
    def ranking(self) -> Ranking:
        """The household among its members."""
        assert self.runtime.totals is not None  # added only with a community
        return self.runtime.totals.ranking


class MemberEntity(RankingEntity):
    """An entity of an admitted member's standing, under the member's subentry."""

    def __init__(
        self,
        runtime: HouseholdRuntime,
        description: EntityDescription,
        subentry_id: str,
        member: Member,
    ) -> None:
        """On a device of its own: the member household, as this one admitted it."""
        super().__init__(runtime, description)
        self.member = member
        self._attr_unique_id = f"{subentry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            name=member.name,
            manufacturer="Energy Tokens",
            model="Community member",
            entry_type=DeviceEntryType.SERVICE,
        )

    @property
    def standing(self) -> Standing:
        """The member's place in the ranking."""
        return self.ranking.members[self.member.household]


class DeviceEntity(EnergyTokensEntity):
    """An entity of one metered device (a subentry of the household)."""

    def __init__(
        self, runtime: HouseholdRuntime, subentry_id: str, description: EntityDescription
    ) -> None:
        """Attach the entity to the device's own Home Assistant device."""
        super().__init__(runtime, description)
        self.subentry_id = subentry_id
        self._aspect: Aspect = getattr(description, "aspect", Aspect.FIGURES)
        self._attr_unique_id = f"{subentry_id}_{description.key}"
        # A device of the household (its appliance's budget), not a service: listed under it.
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            name=runtime.view.devices[subentry_id].name,
            manufacturer="Energy Tokens",
            model="Metered device",
            entry_type=None,  # explicit: devices registered as services before are moved
        )
        if (household := runtime.device_id(runtime.entry.entry_id)) is not None:
            self._attr_device_info["via_device_id"] = household  # registered at setup

    @property
    def _signal(self) -> str:
        return signal_device(self.runtime.entry.entry_id, self.subentry_id, self._aspect)

    @property
    def device_view(self) -> DeviceView:
        """The device's figures (the entity exists only while its device does)."""
        return self.runtime.view.devices[self.subentry_id]


def add_device_entities(
    entry: EnergyTokensConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[HouseholdRuntime, str], Iterable[Entity]],
) -> None:
    """Add each device's entities under its own subentry, now and when devices are added."""

    @callback
    def add(subentry_id: str) -> None:
        # One call per subentry, as config subentries require.
        async_add_entities(build(entry.runtime_data, subentry_id), config_subentry_id=subentry_id)

    for subentry_id in entry.runtime_data.view.devices:
        add(subentry_id)
    entry.async_on_unload(
        async_dispatcher_connect(entry.runtime_data.hass, signal_device_added(entry.entry_id), add)
    )
