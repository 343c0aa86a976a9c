"""The runtime household: its ledger kept durable and verified, and the listeners of its state.

Every change to a household goes through this object, so balances can never disagree with the
ledger. File work (opening, group commits, verification, closing) runs in the executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import COMMIT_DELAY_SECONDS, DOMAIN, ISSUE_LEDGER_TAMPERED, ISSUE_LEDGER_TORN_TAIL
from .ledger import Ledger, VerifyResult, load_or_create_signing_key, verify_ledger

_LOGGER = logging.getLogger(__name__)

type EnergyTokensConfigEntry = ConfigEntry[Household]


def storage_directory(hass: HomeAssistant, entry_id: str) -> Path:
    """Where a household keeps its ledger folder and, beside it, its signing key."""
    return Path(hass.config.path(".storage", DOMAIN, entry_id))


def _open_ledger(directory: Path, household_id: str) -> Ledger:
    key = load_or_create_signing_key(directory / "signing.key")
    return Ledger.open_or_create(directory / "ledger", key, household_id)


class Household:
    """One household's runtime state."""

    def __init__(self, hass: HomeAssistant, entry: EnergyTokensConfigEntry, ledger: Ledger) -> None:
        """Wrap an opened ledger; use ``async_open``."""
        self.hass = hass
        self.entry = entry
        self.ledger = ledger
        self.verification: VerifyResult | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._commit_lock = asyncio.Lock()
        self._cancel_commit: CALLBACK_TYPE | None = None

    @classmethod
    async def async_open(cls, hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> Household:
        """Open (or create) the household's ledger; raises the ledger's errors."""
        ledger = await hass.async_add_executor_job(
            _open_ledger, storage_directory(hass, entry.entry_id), entry.entry_id
        )
        household = cls(hass, entry, ledger)
        if (torn := ledger.torn_tail) is not None:
            _LOGGER.warning(
                "The ledger of %s ended in a write cut short by a crash: %s bytes from entry %s "
                "on were never confirmed durable and were removed (%s)",
                entry.title,
                torn.dropped_bytes,
                torn.first_lost_seq,
                torn.reason,
            )
            ir.async_create_issue(
                hass,
                DOMAIN,
                f"{ISSUE_LEDGER_TORN_TAIL}_{entry.entry_id}",
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_LEDGER_TORN_TAIL,
                translation_placeholders={
                    "household": entry.title,
                    "seq": str(torn.first_lost_seq),
                    "bytes": str(torn.dropped_bytes),
                },
            )
        return household

    @callback
    def async_start(self) -> None:
        """Start background work: full verification of the ledger."""
        self.entry.async_create_background_task(
            self.hass, self.async_verify(), f"{DOMAIN} verify {self.entry.title}"
        )

    # ----- listeners

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> Callable[[], None]:
        """Call ``update_callback`` whenever the household's state changes."""
        self._listeners.append(update_callback)

        @callback
        def remove() -> None:
            self._listeners.remove(update_callback)

        return remove

    @callback
    def async_notify(self) -> None:
        """Tell every listener that the state changed."""
        for update_callback in list(self._listeners):
            update_callback()

    # ----- durability

    @callback
    def async_schedule_commit(self) -> None:
        """Commit soon: entries appended until then share one fsync."""
        if self._cancel_commit is None:
            self._cancel_commit = async_call_later(
                self.hass, COMMIT_DELAY_SECONDS, self._async_scheduled_commit
            )

    async def _async_scheduled_commit(self, _now: object) -> None:
        self._cancel_commit = None
        await self.async_commit()

    async def async_commit(self) -> int:
        """Write and sync everything appended so far; return the durable sequence number."""
        async with self._commit_lock:
            durable = await self.hass.async_add_executor_job(self.ledger.commit)
        self.async_notify()
        return durable

    async def async_verify(self) -> VerifyResult:
        """Verify the whole ledger; raise or clear the repair issue accordingly."""
        async with self._commit_lock:  # no commit writes while the files are read
            result = await self.hass.async_add_executor_job(
                verify_ledger, self.ledger.directory, self.ledger.public_key
            )
        self.verification = result
        issue_id = f"{ISSUE_LEDGER_TAMPERED}_{self.entry.entry_id}"
        if result.valid:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        else:
            _LOGGER.error(
                "The ledger of %s failed verification at entry %s: %s",
                self.entry.title,
                result.first_bad_seq,
                result.reason,
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_LEDGER_TAMPERED,
                translation_placeholders={
                    "household": self.entry.title,
                    "seq": str(result.first_bad_seq),
                    "reason": str(result.reason),
                },
            )
        self.async_notify()
        return result

    async def async_close(self, _event: Event | None = None) -> None:
        """Flush, sign a final checkpoint and release the files (unload and shutdown)."""
        if self._cancel_commit is not None:
            self._cancel_commit()
            self._cancel_commit = None
        async with self._commit_lock:
            await self.hass.async_add_executor_job(self.ledger.close)
