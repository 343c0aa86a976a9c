"""Energy Tokens: a household's electricity as a token economy with a hash-chained ledger."""

import shutil
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .card import async_remove_card, async_setup_card
from .const import DOMAIN, ISSUE_LEDGER_TAMPERED, ISSUE_LEDGER_TORN_TAIL, ISSUE_METER_SPIKE
from .household import EnergyTokensConfigEntry, Household, storage_directory
from .ledger import CorruptLedgerError, LedgerError
from .services import async_setup_services
from .websocket_api import async_setup_websocket_api

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, the card and its data (intent.py registers the voice intents)."""
    async_setup_services(hass)
    async_setup_websocket_api(hass)
    await async_setup_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> bool:
    """Set up a household: open its ledger, then its entities."""
    try:
        household = await Household.async_open(hass, entry)
    except CorruptLedgerError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ledger_refused",
            translation_placeholders={"seq": str(err.seq), "reason": err.reason},
        ) from err
    except (OSError, ValueError, LedgerError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="ledger_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = household
    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, household.async_close)
    )
    # One reload mechanism for every change: household settings and device subentries alike.
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    household.async_start()
    await household.async_commit()  # the periods settled at start are durable before we go on
    return True


_RELOADING: dict[str, bool] = {}  # entry id -> whether another change came meanwhile


async def _async_reload(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> None:
    """Reload for changes made together (an import adds many devices at once) just once.

    A change made while a reload runs gets one more reload, also when it came while the entry
    was unloaded and nobody listened: the household then differs from its entry.
    """
    if entry.entry_id in _RELOADING:
        _RELOADING[entry.entry_id] = True
        return
    _RELOADING[entry.entry_id] = False
    try:
        while True:
            await hass.config_entries.async_reload(entry.entry_id)
            again = _RELOADING[entry.entry_id] or (
                entry.state is ConfigEntryState.LOADED and entry.runtime_data.is_stale()
            )
            if not again:
                break
            _RELOADING[entry.entry_id] = False
    finally:
        del _RELOADING[entry.entry_id]


async def async_unload_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> bool:
    """Unload a household: its entities, then flush and close its ledger."""
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        await entry.runtime_data.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> None:
    """Delete a removed household's ledger, key and repair issues."""
    await hass.async_add_executor_job(shutil.rmtree, storage_directory(hass, entry.entry_id), True)
    await Store[Any](hass, 1, f"{DOMAIN}.{entry.entry_id}.loads").async_remove()
    for issue in (ISSUE_LEDGER_TAMPERED, ISSUE_LEDGER_TORN_TAIL):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry.entry_id}")
    registry = ir.async_get(hass)
    for (domain, issue_id), held in list(registry.issues.items()):
        if (
            domain == DOMAIN
            and issue_id.startswith(ISSUE_METER_SPIKE)
            and (held.data or {}).get("entry_id") == entry.entry_id
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    if not any(
        other.entry_id != entry.entry_id for other in hass.config_entries.async_entries(DOMAIN)
    ):
        await async_remove_card(hass)
