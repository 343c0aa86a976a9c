"""The Home Assistant side of one household: meters, timers, commits, events, signals, loads.

Everything that changes a household's tokens is an operation of its economy; the runtime feeds
the economy (meter states, period boundaries, the debit interval), commits the units it writes,
turns its domain events into bus events, repairs and load actions, and publishes the view to the
entities through dispatcher signals: per device when a reading moves its balance, for the whole
household after every other operation. Devices come and go, and change, without a reload.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import timedelta
from functools import partial
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Context, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_time_interval,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from . import issues
from .community_setup import community_of
from .const import COMMIT_DELAY_SECONDS, DOMAIN, SUBENTRY_DEVICE
from .economy import SETTINGS, Economy
from .events import BudgetEvent, DomainEvent
from .evidence import async_check_ledger_seen, async_remember_ledger_seen
from .ledger import Cause, Kind, LedgerError, LedgerFatalError, VerifyResult, verify_ledger
from .loads import LoadController
from .meters import MeterFollower
from .publish import Publisher
from .restore import LEDGER_FOLDER, open_economy
from .results import Result
from .settings import DeviceSettings, HouseholdSettings
from .storage import RETRY_FIRST_SECONDS, Storage
from .view import household_view, ledger_view

if TYPE_CHECKING:
    from .totals_link import TotalsLink
    from .trade_link import TradeLink
    from .witnessing import CommunityLink

_LOGGER = logging.getLogger(__name__)

type EnergyTokensConfigEntry = ConfigEntry[HouseholdRuntime]


def storage_directory(hass: HomeAssistant, entry_id: str) -> Path:
    """Where a household keeps its ledger folder and, beside it, its signing key."""
    return Path(hass.config.path(".storage", DOMAIN, entry_id))


def now_ms() -> int:
    """Now as epoch milliseconds."""
    return round(dt_util.utcnow().timestamp() * 1000)


def devices_of(entry: ConfigEntry[Any]) -> dict[str, DeviceSettings]:
    """Every device of a household entry, by subentry id."""
    return {
        subentry_id: DeviceSettings.from_data(subentry_id, subentry.data)
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_DEVICE
    }


class HouseholdRuntime(Publisher, Storage):
    """One household, running."""

    def __init__(self, hass: HomeAssistant, entry: EnergyTokensConfigEntry, economy: Economy):
        """Wrap opened books; use ``async_open``."""
        self.hass = hass
        self.entry = entry
        self.economy = economy
        self.verification: VerifyResult | None = None
        self.failure: str | None = None  # why the ledger stopped writing, until a reload
        self._retry_delay = RETRY_FIRST_SECONDS
        self._cancel_retry: CALLBACK_TYPE | None = None
        self._starting = self._closed = False
        self._held: CALLBACK_TYPE | None = None  # writes held for a backup: its safety timer
        self.view = household_view(economy, dt_util.now(), ledger_view(economy, None))
        self.loads = LoadController(hass, self, entry.entry_id)
        self.meters = MeterFollower(hass, self._async_reading, now_ms)
        self._commit_lock = asyncio.Lock()
        self._cancel_commit: CALLBACK_TYPE | None = None
        self._cancel_boundary: CALLBACK_TYPE | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self.community: CommunityLink | None = None  # its part in a community it joined
        self.trade: TradeLink | None = None  # its transfers with the community's households
        self.totals: TotalsLink | None = None  # its part in the community's ranking
        self.community_config = community_of(entry)  # what it was set up with

    @classmethod
    async def async_open(
        cls, hass: HomeAssistant, entry: EnergyTokensConfigEntry
    ) -> HouseholdRuntime:
        """Open (or create) the household's ledger and restore its books; raises ledger errors."""
        folder = storage_directory(hass, entry.entry_id)
        await async_check_ledger_seen(hass, entry, folder / LEDGER_FOLDER)  # never started over
        economy = await hass.async_add_executor_job(
            partial(
                open_economy,
                folder,
                HouseholdSettings.from_data(entry.data),
                devices_of(entry).values(),
                household_id=entry.entry_id,
                name=entry.title,
                clock=now_ms,
                zone=dt_util.get_default_time_zone(),
            )
        )
        runtime = cls(hass, entry, economy)
        for torn in (economy.ledger.torn_tail, economy.ledger.torn_checkpoint):
            if torn is not None:
                issues.async_report_torn_tail(hass, entry.entry_id, entry.title, torn)
        for (account, meter, _start, _end), spike in economy.held.items():
            if (device := economy.device_by_account(account)) is not None:  # asked again
                issues.async_report_spike(hass, entry.entry_id, device.settings, meter, spike)
        await runtime.loads.async_load()
        return runtime

    @property
    def closed(self) -> bool:
        """Whether the household was closed (unloaded): its ledger takes nothing more."""
        return self._closed

    async def async_start(self) -> None:
        """Settle periods, give new devices their allowance, start the clocks, verify.

        What start-up settles is durable before setup goes on; the whole ledger is then
        verified in the background. Meters are followed once Home Assistant has started, so
        their states are settled.
        """
        self._starting = True
        try:
            await self._async_start()
        finally:
            self._starting = False

    async def _async_start(self) -> None:
        economy = self.economy
        settled = economy.settle().merge(economy.return_tokens_of_removed_devices())
        self.apply(settled.merge(economy.allocate_new_devices()))  # and names changed meanwhile
        self._schedule_boundary()
        interval = timedelta(minutes=economy.settings.debit_interval_min)
        self._unsubscribe += [
            async_track_time_interval(self.hass, self._async_debit_interval, interval),
            async_at_started(self.hass, self._async_follow_meters),
        ]
        await self.async_commit()
        self.entry.async_create_background_task(
            self.hass, self.async_verify(), f"{DOMAIN} verify {self.entry.title}"
        )

    # ----- operations

    @callback
    def apply(self, result: Result, *, reading: str | None = None) -> Result:
        """Follow up an operation of the economy: commit soon, events, repairs, the view.

        After a ``reading`` of a device's meter the runtime shows it at its own pace, unless the
        device borrowed (the lenders are shown at once); after anything else the whole view is
        shown anew, and cut loads with tokens again come back.
        """
        if result.entries:
            self.async_schedule_commit()
            if self.trade is not None:  # offers it did not make itself: a period's surplus
                self.trade.trader.book.follow(result.entries)
        for subentry_id, meter, spike in result.spikes:
            settings = self.economy.devices[subentry_id].settings
            issues.async_report_spike(self.hass, self.entry.entry_id, settings, meter, spike)
        for glitch in result.glitches:  # held jumps the meter came back from
            issues.async_clear_spikes(self.hass, entry_id=self.entry.entry_id, **glitch)
        for event in result.events:
            self._emit(event)
        if reading is None:
            self.refresh()
            self.loads.async_check_restores()
        elif any(entry.kind is Kind.BORROW for entry in result.entries):
            self.refresh()
        return result

    @callback
    def async_close_period_now(
        self, settings: HouseholdSettings | None = None, cause: Cause = SETTINGS
    ) -> Result:
        """Settle the running period now and open the next (with new money settings, if any)."""
        self.economy.zone = dt_util.get_default_time_zone()  # periods follow the instance's zone
        result = self.apply(self.economy.close_period_now(settings, cause))
        self._schedule_boundary()
        return result

    @callback
    def async_update_device(self, subentry_id: str, **changes: Any) -> None:
        """Change a device's stored settings and apply them at once (no reload)."""
        subentry = self.entry.subentries[subentry_id]
        data = {**subentry.data, **changes}
        result = self.economy.update_device(DeviceSettings.from_data(subentry_id, data))
        self.hass.config_entries.async_update_subentry(self.entry, subentry, data=data)
        self.apply(result)

    # ----- the Budgets protocol of load control

    def device_settings(self, subentry_id: str) -> DeviceSettings | None:
        """A device's settings; None when there is no such device."""
        device = self.economy.devices.get(subentry_id)
        return None if device is None else device.settings

    def device_balance(self, subentry_id: str) -> int:
        """A device's balance in milli-tokens, including consumption not yet debited."""
        return self.economy.balance_milli(self.economy.devices[subentry_id])

    def device_allowance(self, subentry_id: str) -> int:
        """A device's allowance this period, in milli-tokens."""
        return self.economy.devices[subentry_id].allowance_milli

    @callback
    def fire(
        self, event: BudgetEvent, subentry_id: str, context: Context | None = None, **extra: Any
    ) -> None:
        """Fire a budget event about a device, with its balance and allowance now."""
        economy = self.economy
        self._emit(economy.device_event(event, economy.devices[subentry_id], **extra), context)

    def _emit(self, event: DomainEvent, context: Context | None = None) -> None:
        """A domain event on the bus (payloads are documented in the README)."""
        payload: dict[str, Any] = {
            "household_id": self.entry.entry_id,
            "household": self.entry.title,
        }
        if event.kind is BudgetEvent.PERIOD_CLOSED:  # its money, in the household's currency
            payload["currency"] = self.hass.config.currency
        if event.device is not None:
            payload["device_id"] = self.device_id(event.device)
            payload["device"] = self.economy.devices[event.device].settings.name
        self.hass.bus.async_fire(event.kind.event_type, payload | dict(event.data), context=context)
        if event.kind is BudgetEvent.EXHAUSTED and event.device is not None:
            self.loads.async_exhausted(event.device)

    def device_id(self, subentry_id: str) -> str | None:
        """The Home Assistant device id of one of the household's devices."""
        registered = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, subentry_id), self.entry.entry_id
        )
        return None if registered is None else registered.id

    # ----- meters, boundaries and the debit interval

    @callback
    def _async_follow_meters(self, _hass: HomeAssistant) -> None:
        self.meters.async_start(self.economy.devices.values())
        self.refresh()

    @callback
    def _async_reading(
        self, subentry_id: str, reading_wh: float | None, at_ms: int, cycle: str | None
    ) -> None:
        # After a storage fault readings wait for the reload: its baselines are the durable ones.
        if self.failure is not None or (device := self.economy.devices.get(subentry_id)) is None:
            return
        try:
            reading = self.economy.observe(device, reading_wh, at_ms, cycle)
        except LedgerError as err:  # a ledger that stopped writing: loud, never a traceback
            self._async_storage_failed(err)
            return
        if (result := reading.result) is not None:
            self.apply(result, reading=subentry_id)
            if any(e.kind is Kind.METER and "read_ms" in e.data for e in result.entries):
                # Where counting starts (a first reading, a reset, a held jump) is synced now: a
                # crash before the next group commit would lose what the meter rose since.
                self.entry.async_create_background_task(
                    self.hass,
                    self._async_commit_unwaited(result.entries[-1].seq),
                    f"{DOMAIN} commit baseline {self.entry.title}",
                )
        self._show_live(subentry_id, reading.balance_milli, reading.status)

    @callback
    def _async_debit_interval(self, _now: object) -> None:
        if self.failure is None:
            try:
                self.apply(self.economy.flush_all())
            except LedgerError as err:
                self._async_storage_failed(err)

    def _schedule_boundary(self) -> None:
        period = self.economy.period
        assert period is not None
        if self._cancel_boundary is not None:  # a period closed early (close_period)
            self._cancel_boundary()
        self._cancel_boundary = async_track_point_in_utc_time(
            self.hass, self._async_boundary, period.end
        )

    @callback
    def _async_boundary(self, _now: object) -> None:
        self._cancel_boundary = None
        if self.failure is not None:
            return  # the reload settles the boundary
        self.economy.zone = dt_util.get_default_time_zone()  # periods follow the instance's zone
        try:
            self.apply(self.economy.settle())  # a new period's allowances bring cut loads back
        except LedgerError as err:
            self._async_storage_failed(err)  # the reload settles the boundary
            return
        self._schedule_boundary()

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
        await self._async_commit_unwaited()

    async def _async_commit_unwaited(self, through: int | None = None) -> None:
        with suppress(LedgerError):  # nobody waits: a storage fault is reported, not raised
            await self.async_commit(through)

    async def async_act(self, result: Result) -> Result:
        """Follow up an action, and return once its unit is durable (it survives a crash).

        Concurrent actions share one group commit: an action durable already does not wait.
        """
        self.apply(result)
        if result.entries:
            await self.async_commit(through=result.entries[-1].seq)
        return result

    async def async_commit(self, through: int | None = None) -> int:
        """Write and sync every complete unit appended so far; return the durable entry.

        With ``through``, nothing is written when that entry is durable already.
        """
        ledger = self.economy.ledger
        async with self._commit_lock:
            if through is not None and ledger.durable_seq >= through:
                return ledger.durable_seq
            try:
                durable = await self.hass.async_add_executor_job(ledger.commit)
            except LedgerError as err:
                self._async_storage_failed(err)
                raise
        if (failure := ledger.failure) is not None:  # durable, but the checkpoint failed
            self._async_storage_failed(LedgerFatalError(f"writing the ledger failed: {failure}"))
        self._refresh_ledger()
        return durable

    async def async_verify(self) -> VerifyResult:
        """Verify the whole ledger; raise or clear the repair issue accordingly."""
        ledger = self.economy.ledger
        async with self._commit_lock:  # no commit writes while the files are read
            result = await self.hass.async_add_executor_job(
                verify_ledger, ledger.directory, ledger.public_key
            )
        self.verification = result
        issues.async_report_verification(self.hass, self.entry.entry_id, self.entry.title, result)
        self._refresh_ledger()
        return result

    async def async_close(self, _event: Event | None = None) -> None:
        """Debit what is pending, flush, sign a final checkpoint, release the files."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.meters.async_stop()
        self.loads.async_unload()
        for cancel in (self._cancel_boundary, self._cancel_commit, self._cancel_retry):
            if cancel is not None:
                cancel()
        self._cancel_boundary = self._cancel_commit = self._cancel_retry = None
        self._closed = True
        self.async_release_after_backup()
        ledger = self.economy.ledger
        if ledger.usable:
            self.economy.flush_all()
        async with self._commit_lock:
            try:
                await self.hass.async_add_executor_job(ledger.close)
            except LedgerError as err:  # the files are released: the reload finds the fault
                issues.async_report_storage_fault(
                    self.hass, self.entry.entry_id, self.entry.title, err
                )
                return
        async_remember_ledger_seen(self.hass, self.entry, ledger)
