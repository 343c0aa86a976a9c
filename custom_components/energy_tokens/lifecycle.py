"""A running household follows its config entry: devices join, change and leave in place.

Changed household settings reload the household (Home Assistant's own reload); everything a
device subentry holds, and the names, take effect at once, with no entity going unavailable.
"""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send

from . import issues
from .community_setup import community_of, shares_totals
from .const import DOMAIN
from .results import Result
from .runtime import HouseholdRuntime, devices_of
from .settings import DeviceSettings, HouseholdSettings
from .signals import signal_device_added


@callback
def async_entry_updated(runtime: HouseholdRuntime) -> None:
    """Changed household settings reload the household; devices change in place."""
    hass, entry = runtime.hass, runtime.entry
    if (
        HouseholdSettings.from_data(entry.data) != runtime.economy.settings
        or community_of(entry) != runtime.community_config  # joined, left, admitted, removed
        or (runtime.totals is not None and shares_totals(entry) != runtime.totals.share)
    ):
        hass.config_entries.async_schedule_reload(entry.entry_id)
    else:
        async_sync_devices(runtime)


@callback
def async_sync_devices(runtime: HouseholdRuntime) -> None:
    """Take in devices added, removed or changed, and names, as the entry has them."""
    hass, entry, economy = runtime.hass, runtime.entry, runtime.economy
    if runtime.failure is not None or runtime.closed:
        return  # the ledger cannot write (or is closing): the next start takes the entry as is
    wanted = devices_of(entry)
    _follow_names(runtime, wanted)
    result = Result()
    for subentry_id in economy.devices.keys() - wanted.keys():
        result.merge(economy.remove_device(subentry_id))
        issues.async_clear_spikes(hass, entry_id=entry.entry_id, subentry_id=subentry_id)
    for subentry_id, settings in wanted.items():
        if subentry_id in economy.devices and settings != economy.devices[subentry_id].settings:
            result.merge(economy.update_device(settings))
    added = [settings for key, settings in wanted.items() if key not in economy.devices]
    result.merge(economy.add_devices(added))  # and every name changed, the household's too
    runtime.loads.async_devices_changed()
    runtime.apply(result)
    runtime.meters.async_follow(economy.devices.values())
    for settings in added:  # each platform adds the new device's entities
        async_dispatcher_send(hass, signal_device_added(entry.entry_id), settings.subentry_id)


def _follow_names(runtime: HouseholdRuntime, wanted: dict[str, DeviceSettings]) -> None:
    """Renamed devices and household: their Home Assistant devices take the new names."""
    entry, economy = runtime.entry, runtime.economy
    names = {entry.entry_id: entry.title} if economy.name != entry.title else {}
    economy.name = entry.title
    for subentry_id, settings in wanted.items():
        device = economy.devices.get(subentry_id)
        if device is not None and device.settings.name != settings.name:
            names[subentry_id] = settings.name
    registry = dr.async_get(runtime.hass)
    for identifier, name in names.items():
        registered = registry.async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
        if registered is not None:
            registry.async_update_device(registered.id, name=name)
