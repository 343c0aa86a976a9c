"""Small helpers shared by the Home Assistant tests."""

from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import Entry, Kind


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The state string of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return state.state


def subentry_id(entry: MockConfigEntry, title: str) -> str:
    """The id of the household's device subentry with this title."""
    return str(next(s.subentry_id for s in entry.subentries.values() if s.title == title))


def device_id(hass: HomeAssistant, entry: MockConfigEntry, title: str) -> str:
    """The Home Assistant device id of the household's device with this title."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, subentry_id(entry, title)), entry.entry_id
    )
    assert device is not None
    return device.id


async def tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Let time pass and everything it triggers run."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def consume(
    hass: HomeAssistant,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    meter: str,
    kwh: float,
) -> None:
    """A meter at zero, six hours later at ``kwh`` (a plausible pace), and all that follows."""
    set_meter(meter, 0.0)
    await hass.async_block_till_done()
    freezer.tick(timedelta(hours=6))
    async_fire_time_changed(hass)
    set_meter(meter, kwh)
    await hass.async_block_till_done()  # the reading, and the actions and events it causes


async def entries(entry: MockConfigEntry, kind: Kind | None = None) -> list[Entry]:
    """A running household's entries (of one kind), after committing what is pending."""
    runtime = entry.runtime_data
    await runtime.async_commit()
    return [e for e in runtime.economy.ledger.iter_entries() if kind is None or e.kind is kind]
