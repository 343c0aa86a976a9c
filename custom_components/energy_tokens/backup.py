"""Backups: every household's ledger is made durable, signed, and held still while copied.

Home Assistant calls ``async_pre_backup`` before it copies the configuration folder and
``async_post_backup`` after: the copy then holds whole ledgers that end at a signed checkpoint,
and restoring it gives ledgers that verify. Actions wait (they are not refused) meanwhile.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .runtime import EnergyTokensConfigEntry


def _households(hass: HomeAssistant) -> list[EnergyTokensConfigEntry]:
    return hass.config_entries.async_loaded_entries(DOMAIN)


async def async_pre_backup(hass: HomeAssistant) -> None:
    """Commit and sign every household's ledger, then hold its writes."""
    for entry in _households(hass):
        await entry.runtime_data.async_hold_for_backup()


async def async_post_backup(hass: HomeAssistant) -> None:
    """Let every household write again."""
    for entry in _households(hass):
        entry.runtime_data.async_release_after_backup()
