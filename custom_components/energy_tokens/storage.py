"""A running household's storage: faults loud, retried and lossless; backups held still.

The first failed write stops the ledger (it never half-applies a unit). The household then says
so once (a log line, a repair, unavailable entities), tries the disk again with back-off, and
reloads once it takes a write: reopened from what is durable, with the meters' rise meanwhile
charged on their next readings. For a backup, the ledger is committed under a signed checkpoint
and its writes are held until the copy is made (backup.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from . import issues
from .ledger import LedgerError
from .ledger.store import probe_writable

if TYPE_CHECKING:
    from typing import Any

    from .economy import Economy
    from .view import HouseholdView

RETRY_FIRST_SECONDS = 10  # after a failed write: try the disk again after this, then doubling
RETRY_MAX_SECONDS = 600
BACKUP_HOLD = 600  # seconds a backup may hold a ledger's writes at most


class Storage:
    """The storage part of a household's runtime (runtime.py)."""

    hass: HomeAssistant
    entry: ConfigEntry[Any]
    economy: Economy
    failure: str | None
    _retry_delay: float
    _cancel_retry: CALLBACK_TYPE | None
    _starting: bool
    _closed: bool
    _held: CALLBACK_TYPE | None
    _commit_lock: asyncio.Lock

    def refresh(self, *, everything: bool = False) -> HouseholdView:
        """Publish the view (publish.py)."""
        raise NotImplementedError

    async def async_commit(self, through: int | None = None) -> int:
        """Write and sync what was appended (runtime.py)."""
        raise NotImplementedError

    async def async_hold_for_backup(self) -> None:
        """Make everything durable under a signed checkpoint, then hold writes (a backup).

        Released by ``async_release_after_backup``, by closing, or after ``BACKUP_HOLD``.
        """
        if self._held is not None or self.failure is not None:
            return
        await self._commit_lock.acquire()  # first: no other commit comes between
        ledger = self.economy.ledger
        try:
            self.economy.flush_all()  # what the meters measured, debited into the copy
            ledger.request_checkpoint()
            await self.hass.async_add_executor_job(ledger.commit)
        except LedgerError as err:
            self._commit_lock.release()
            self._async_storage_failed(err)
            return
        self._held = async_call_later(self.hass, BACKUP_HOLD, self.async_release_after_backup)
        self.refresh()

    @callback
    def async_release_after_backup(self, _now: object = None) -> None:
        """Let the ledger write again."""
        if self._held is not None:
            self._held()
            self._held = None
            self._commit_lock.release()

    @callback
    def _async_storage_failed(self, err: LedgerError) -> None:
        """The ledger stopped writing: say so once, loudly, and retry with back-off.

        Once the disk takes a write again the household reloads: it reopens the ledger from
        what is durable, and the meters' rise meanwhile is charged on their next readings.
        """
        if self.failure is not None:
            return
        self.failure = str(err)
        issues.async_report_storage_fault(self.hass, self.entry.entry_id, self.entry.title, err)
        self.refresh(everything=True)  # entities show themselves unavailable
        if not self._starting and not self._closed:  # in start, setup raises instead
            self._cancel_retry = async_call_later(
                self.hass, self._retry_delay, self._async_retry_storage
            )

    async def _async_retry_storage(self, _now: object) -> None:
        self._cancel_retry = None
        writable = await self.async_storage_writable()
        if self._closed:  # unloaded or removed while the disk was tried
            return
        if writable:
            self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
            return
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)
        self._cancel_retry = async_call_later(
            self.hass, self._retry_delay, self._async_retry_storage
        )

    async def async_storage_writable(self) -> bool:
        """Whether the ledger's disk takes a write now (a probe beside the ledger)."""
        try:
            await self.hass.async_add_executor_job(probe_writable, self.economy.ledger.directory)
        except OSError:
            return False
        return True
