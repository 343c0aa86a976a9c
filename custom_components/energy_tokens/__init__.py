"""Energy Tokens: a household's electricity as a token economy with a hash-chained ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.components import persistent_notification
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from . import issues, witness_issues
from .card import async_setup_card
from .community_setup import community_of, shares_totals
from .const import DOMAIN
from .entity import household_device_info
from .ledger import CorruptLedgerError, LedgerError
from .ledger.store import probe_writable
from .lifecycle import async_entry_updated
from .loads import loads_store
from .reconcile import async_setup_reconcile
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime, storage_directory
from .services import async_setup_services
from .transfers import async_join_exchange, async_leave_exchange
from .websocket_api import async_setup_websocket_api

if TYPE_CHECKING:
    from .totals_link import TotalsLink
    from .trade_link import TradeLink
    from .witnessing import CommunityLink

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]
ARCHIVE_FOLDER = "archive"  # beside the households' folders: deleted households' ledgers


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, the card and its data (intent.py registers the voice intents)."""
    async_setup_services(hass)
    async_setup_websocket_api(hass)
    await async_setup_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> bool:
    """Set up a household: open its ledger, then its entities."""
    try:
        runtime = await HouseholdRuntime.async_open(hass, entry)
    except CorruptLedgerError as err:  # never repaired or replaced: a person looks
        issues.async_report_refused(hass, entry.entry_id, entry.title, err)
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ledger_refused",
            translation_placeholders={"seq": str(err.seq), "reason": err.reason},
        ) from err
    except (OSError, ValueError, LedgerError) as err:  # Home Assistant retries, with back-off
        issues.async_report_storage_fault(hass, entry.entry_id, entry.title, err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="ledger_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    entry.runtime_data = runtime
    issues.async_clear_refused(hass, entry.entry_id)  # restored from a backup, say
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, runtime.async_close))
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    async_entry_updated(runtime)  # what changed while the ledger was being opened
    try:
        if issues.storage_fault_reported(hass, entry.entry_id):  # reloaded during a fault
            await hass.async_add_executor_job(probe_writable, runtime.economy.ledger.directory)
        await runtime.async_start()
    except (OSError, LedgerError) as err:  # it cannot write: Home Assistant retries setup
        await runtime.async_close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="ledger_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err
    issues.async_clear_storage_fault(hass, entry.entry_id, entry.title)
    # The household's device first: its devices' entities name it as their via_device.
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **household_device_info(entry.entry_id, entry.title)
    )
    await async_open_community(hass, runtime)  # before the platforms: they add its entities
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(lambda: async_leave_exchange(hass, runtime))  # also if setup fails
    await async_join_exchange(hass, runtime)  # offers a crash left in escrow, to or from it
    async_setup_reconcile(hass, entry)
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> None:
    """Household settings changed: a reload; devices changed: taken in as they are."""
    runtime = entry.runtime_data
    link, community = runtime.community, community_of(entry)
    if link is not None and (community is None or community[0] != link.prefix):
        await link.async_leave()  # it left the community: the others see it go
        if runtime.totals is not None:
            await runtime.totals.async_withdraw()  # and what it published of its periods
    async_entry_updated(runtime)


async def async_unload_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> bool:
    """Unload a household: its entities, then flush and close its ledger."""
    if unloaded := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        async_leave_exchange(hass, entry.runtime_data)  # before its ledger closes
        await entry.runtime_data.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> None:
    """Keep a removed household's ledger and key in the archive; forget cuts and issues.

    The ledger is evidence: deleting a household never deletes it (the user may, by hand).
    """
    folder = storage_directory(hass, entry.entry_id)
    stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%SZ")
    archive = folder.parent / ARCHIVE_FOLDER / f"{entry.entry_id}-{stamp}"
    if await hass.async_add_executor_job(_archive, folder, archive):
        persistent_notification.async_create(
            hass,
            f"The household {entry.title} was deleted. Its ledger and signing key were kept in "
            f"`{archive}`: verify it with `energy-tokens-ledger verify {archive / 'ledger'}`, "
            "and delete the folder by hand when it is no longer needed.",
            title=f"{entry.title}: ledger archived",
            notification_id=f"{DOMAIN}_{entry.entry_id}_archived",
        )
    await loads_store(hass, entry.entry_id).async_remove()
    issues.async_clear_household(hass, entry.entry_id)
    witness_issues.async_clear_members(hass, entry.entry_id, set())
    witness_issues.async_clear_no_mqtt(hass, entry.entry_id)


def _archive(folder: Path, archive: Path) -> bool:
    """Move a household's folder into the archive; False when there was none."""
    if not folder.exists():
        return False
    archive.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(archive)  # same file system: atomic, nothing copied or lost
    return True


async def async_open_community(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
    """Open the household's part in its community; it starts once MQTT is connected."""
    entry = runtime.entry
    community = runtime.community_config
    witness_issues.async_clear_members(
        hass, entry.entry_id, set(community[2]) if community else set()
    )
    if community is None:
        witness_issues.async_clear_no_mqtt(hass, entry.entry_id)
        return
    # Imported only now: Home Assistant installs the MQTT client library with its MQTT
    # integration, which a household without a community does not need.
    from .totals_link import TotalsLink  # noqa: PLC0415
    from .trade_link import TradeLink  # noqa: PLC0415
    from .witnessing import CommunityLink  # noqa: PLC0415

    link = runtime.community = await CommunityLink.async_open(
        hass, entry, runtime.economy.ledger, *community
    )
    entry.async_on_unload(link.async_stop)
    trade = runtime.trade = await TradeLink.async_open(
        hass, entry, runtime.economy, (runtime.async_act, runtime.async_commit), community
    )
    entry.async_on_unload(trade.async_stop)
    totals = runtime.totals = TotalsLink(
        hass, entry, runtime.economy.ledger, runtime.async_commit, community, shares_totals(entry)
    )
    entry.async_on_unload(totals.async_stop)
    entry.async_create_background_task(
        hass, _async_start_community(hass, link, trade, totals), "energy_tokens community"
    )


async def _async_start_community(
    hass: HomeAssistant, link: CommunityLink, trade: TradeLink, totals: TotalsLink
) -> None:
    """Wait for MQTT (set up after this integration, or not at all), then join."""
    from homeassistant.components import mqtt  # noqa: PLC0415

    entry = link.entry
    if not await mqtt.async_wait_for_mqtt_client(hass):
        witness_issues.async_report_no_mqtt(hass, entry)
        return
    witness_issues.async_clear_no_mqtt(hass, entry.entry_id)
    await link.async_start()
    await trade.async_start()
    await totals.async_start()
