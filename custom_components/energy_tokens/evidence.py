"""The ledger last seen, kept outside its folder (in the household's entry).

A ledger folder that was deleted, replaced or cut is then refused with a repair, never
silently replaced by a new ledger: the record is evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import CONF_LEDGER_SEEN
from .ledger import CorruptLedgerError
from .ledger.reader import check_witness
from .ledger.store import Ledger


async def async_check_ledger_seen(
    hass: HomeAssistant, entry: ConfigEntry[Any], directory: Path
) -> None:
    """Raise CorruptLedgerError unless ``directory`` holds the ledger last seen (if any)."""
    if (seen := entry.data.get(CONF_LEDGER_SEEN)) is None:
        return  # a new household, or one from before this was kept
    problem = await hass.async_add_executor_job(
        check_witness,
        directory,
        bytes.fromhex(seen["key"]),
        seen["size"],
        bytes.fromhex(seen["head"]),
    )
    if problem is not None:
        raise CorruptLedgerError(seen["size"], problem)


@callback
def async_remember_ledger_seen(
    hass: HomeAssistant, entry: ConfigEntry[Any], ledger: Ledger
) -> None:
    """Keep the closed ledger's last checkpoint (size, head, key) in the household's entry."""
    if not ledger.checkpoint_size or ledger.checkpoint_size != ledger.seq or ledger.failure:
        return  # nothing signed, or the last checkpoint failed: the one kept before stands
    seen = {
        "size": ledger.checkpoint_size,
        "head": ledger.head.hex(),  # closing signs the last checkpoint: it ends at the head
        "key": ledger.public_key.hex(),
    }
    if entry.data.get(CONF_LEDGER_SEEN) != seen:
        hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_LEDGER_SEEN: seen})
