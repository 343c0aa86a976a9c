"""The runtime household: the single writer of its ledger.

Every change to a household goes through this object, so balances can never disagree with the
ledger: period boundaries, allocations, debits from metering, surplus at period end. State that a
restart needs (the period, this period's consumption, each meter's last recorded reading) is read
back from the current period's entries, never from a second store. File work (opening, group
commits, verification, closing) runs in the executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from .const import (
    COMMIT_DELAY_SECONDS,
    CONF_APPLY_NOW,
    DOMAIN,
    EVENT_BORROWED,
    EVENT_EXHAUSTED,
    EVENT_LOW_BALANCE,
    EVENT_PERIOD_CLOSED,
    ISSUE_LEDGER_TAMPERED,
    ISSUE_LEDGER_TORN_TAIL,
    ISSUE_METER_SPIKE,
    Priority,
)
from .ledger import (
    Cause,
    CauseKind,
    Entry,
    Kind,
    Ledger,
    VerifyResult,
    load_or_create_signing_key,
    verify_ledger,
)
from .ledger.entries import SYSTEM
from .ledger.layout import segment_first_seq
from .loads import LoadController
from .metering import MeterTracker, Outcome, reading_wh
from .periods import Period, period_containing
from .policies import (
    CONSUMED,
    MARKET,
    POOL,
    PROVIDER,
    Status,
    allocation_order,
    borrowing_plan,
    projected_surplus,
    status,
    surplus_move,
)
from .settings import MICRO, MILLI, DeviceSettings, HouseholdSettings

_LOGGER = logging.getLogger(__name__)

TOPIC_PERIODIC = "periodic"  # aggregates: refreshed on the debit interval and boundaries
# A reading rewrites the live balance once it moved by a tenth of a token (or the status
# changed): a state write costs more than everything else a reading does, and every write grows
# the recorder's database. Each refresh shows the exact balance.
LIVE_STEP_MILLI = 100
TOPIC_LEDGER = "ledger"  # ledger statistics: refreshed on commits and verification


def household_account(entry_id: str) -> str:
    """The account, in a ledger, of another household it exchanged tokens with."""
    return f"household:{entry_id}"


def device_topic(subentry_id: str, kind: str) -> str:
    """A device's topic.

    ``live``: every reading; ``status``: when its status changes; ``periodic``: the
    household's aggregate refresh.
    """
    return TOPIC_PERIODIC if kind == TOPIC_PERIODIC else f"{subentry_id}:{kind}"


type EnergyTokensConfigEntry = ConfigEntry[Household]

METERING = Cause(CauseKind.METERING)


def storage_directory(hass: HomeAssistant, entry_id: str) -> Path:
    """Where a household keeps its ledger folder and, beside it, its signing key."""
    return Path(hass.config.path(".storage", DOMAIN, entry_id))


def _open_ledger(directory: Path, household_id: str) -> tuple[Ledger, list[Entry]]:
    """Open the ledger and read the current period's entries (executor)."""
    key = load_or_create_signing_key(directory / "signing.key")
    ledger = Ledger.open_or_create(directory / "ledger", key, household_id)
    first = segment_first_seq(ledger.directory / ledger.segment)
    current = list(ledger.iter_entries(since_seq=first))
    ledger.remember(current)
    return ledger, current


def now_ms() -> int:
    """Now as epoch milliseconds."""
    return round(dt_util.utcnow().timestamp() * 1000)


def _local(ms: int) -> datetime:
    return dt_util.as_local(dt_util.utc_from_timestamp(ms / 1000))


@dataclass(slots=True)
class Baseline:
    """A meter's last reading recorded in the ledger."""

    meter: str
    wh: int
    ts_ms: int


class BudgetError(Exception):
    """An action refused before anything was written; ``key`` names the translated message."""

    def __init__(self, key: str, **placeholders: str) -> None:
        """Keep the translation key and its placeholders."""
        super().__init__(key)
        self.key = key
        self.placeholders = placeholders


class DeviceState:
    """A device's runtime: settings, meter tracker and this period's recorded consumption."""

    def __init__(self, settings: DeviceSettings, tracker: MeterTracker) -> None:
        """Start with nothing recorded this period."""
        self.settings = settings
        self.tracker = tracker
        self.period_wh = 0  # whole Wh recorded this period
        self.period_milli = 0  # milli-tokens debited this period
        self.borrowed = False
        # As of the last reading or refresh; a reading recomputes them once for every entity.
        self.status = Status.OK
        self.balance_milli = 0
        self.shown_milli = 0  # the balance its sensor last showed
        self.live_topic = device_topic(settings.subentry_id, "live")
        self.status_topic = device_topic(settings.subentry_id, "status")

    def pending_milli(self, token_wh: int) -> int:
        """Milli-tokens metered but not yet debited."""
        total_wh = self.period_wh + self.tracker.pending_wh
        return total_wh * MILLI // token_wh - self.period_milli


class Household:
    """One household's runtime state."""

    def __init__(self, hass: HomeAssistant, entry: EnergyTokensConfigEntry, ledger: Ledger) -> None:
        """Wrap an opened ledger; use ``async_open``."""
        self.hass = hass
        self.entry = entry
        self.ledger = ledger
        self.settings = HouseholdSettings.from_data(entry.data)
        self.period_settings = self.settings  # money settings of the current period
        self.period: Period | None = None
        self.devices: dict[str, DeviceState] = {}
        self.cost_micro = 0
        self.sales_micro = 0
        self.verification: VerifyResult | None = None
        self._by_meter: dict[str, DeviceState] = {}
        self._consumed: dict[str, int] = {}
        self._total = 0
        self._ranking: list[DeviceState] = []
        self._rank: dict[str, int] = {}
        self._listeners: dict[str, list[CALLBACK_TYPE]] = {}
        self._commit_lock = asyncio.Lock()
        self._cancel_commit: CALLBACK_TYPE | None = None
        self._cancel_boundary: CALLBACK_TYPE | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self.loads = LoadController(hass, self)

    # ----- opening

    @classmethod
    async def async_open(cls, hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> Household:
        """Open (or create) the household's ledger and restore its state; raises ledger errors."""
        ledger, current = await hass.async_add_executor_job(
            _open_ledger, storage_directory(hass, entry.entry_id), entry.entry_id
        )
        household = cls(hass, entry, ledger)
        household._report_torn_tail()
        household._restore(current)
        await household.loads.async_load()
        return household

    def _report_torn_tail(self) -> None:
        torn = self.ledger.torn_tail
        if torn is None:
            return
        _LOGGER.warning(
            "The ledger of %s ended in a write cut short by a crash: %s bytes from entry %s on "
            "were never confirmed durable and were removed (%s)",
            self.entry.title,
            torn.dropped_bytes,
            torn.first_lost_seq,
            torn.reason,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_LEDGER_TORN_TAIL}_{self.entry.entry_id}",
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_LEDGER_TORN_TAIL,
            translation_placeholders={
                "household": self.entry.title,
                "seq": str(torn.first_lost_seq),
                "bytes": str(torn.dropped_bytes),
            },
        )

    def _restore(self, entries: list[Entry]) -> None:
        """Rebuild the period's state from its entries (the current segment)."""
        baselines: dict[str, Baseline] = {}
        period_wh: dict[str, int] = {}
        period_milli: dict[str, int] = {}
        borrowed: set[str] = set()
        for entry in entries:
            data = entry.data
            match entry.kind:
                case Kind.PERIOD_OPEN:
                    self.period = Period(_local(data["start_ms"]), _local(data["end_ms"]))
                    self.period_settings = self.settings.with_money(data["money"])
                    for account, meter in data["meters"].items():
                        baselines[account] = Baseline(meter["meter"], meter["wh"], entry.ts_ms)
                case Kind.DEBIT if entry.from_account is not None:
                    start, end = data["wh"]
                    period_wh[entry.from_account] = (
                        period_wh.get(entry.from_account, 0) + end - start
                    )
                    period_milli[entry.from_account] = (
                        period_milli.get(entry.from_account, 0) + entry.amount
                    )
                    baselines[entry.from_account] = Baseline(data["meter"], end, entry.ts_ms)
                case Kind.METER:
                    account = data["device"]
                    if "range" in data:
                        start, end = data["range"]
                        period_wh[account] = period_wh.get(account, 0) + end - start
                    if "wh" in data:
                        read_ms = data.get("read_ms", entry.ts_ms)
                        baselines[account] = Baseline(data["meter"], data["wh"], read_ms)
                case Kind.PURCHASE:
                    self.cost_micro += entry.amount * data["price_micro"] // MILLI
                case Kind.SALE:
                    self.sales_micro += entry.amount * data["price_micro"] // MILLI
                case Kind.BORROW if entry.to_account is not None:
                    borrowed.add(entry.to_account)
        for subentry in self.entry.subentries.values():  # every subentry is a device
            settings = DeviceSettings.from_subentry(subentry)
            baseline = baselines.get(settings.account)
            if baseline is not None and baseline.meter == settings.meter:
                tracker = MeterTracker(
                    max_power_w=self.settings.max_power_w,
                    committed_wh=baseline.wh,
                    committed_ms=baseline.ts_ms,
                )
            else:  # new device, or a new meter: counting starts at its first reading
                tracker = MeterTracker(max_power_w=self.settings.max_power_w)
            device = DeviceState(settings, tracker)
            device.period_wh = period_wh.get(settings.account, 0)
            device.period_milli = period_milli.get(settings.account, 0)
            device.borrowed = settings.account in borrowed
            self.devices[settings.subentry_id] = device
            self._by_meter[settings.meter] = device
        self._refresh_aggregates()

    @callback
    def async_start(self) -> None:
        """Settle periods, start the clocks and verification; meter once Home Assistant runs."""
        self.entry.async_create_background_task(
            self.hass, self.async_verify(), f"{DOMAIN} verify {self.entry.title}"
        )
        self._settle_periods(dt_util.utcnow())
        self._return_tokens_of_removed_devices()
        # A device added during a period has no account yet: it gets its allowance now.
        added = [
            d for d in self.devices.values() if not self.ledger.has_account(d.settings.account)
        ]
        self._allocate(added, now_ms(), {"reason": "device added"})
        self._refresh_aggregates()
        self.async_schedule_commit()
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._async_debit_interval,
                timedelta(minutes=self.settings.debit_interval_min),
            )
        )
        self._unsubscribe.append(async_at_started(self.hass, self._async_start_metering))

    # ----- periods

    def _settle_periods(self, now: datetime) -> None:
        """Open the first period, apply settings now when asked, close what has ended."""
        zone = dt_util.get_default_time_zone()
        spec = self.settings.period
        at = round(now.timestamp() * 1000)
        if self.period is None:
            self._open_period(period_containing(spec, now, zone), at)
        elif (
            self.entry.data.get(CONF_APPLY_NOW)
            and self.period_settings.money() != self.settings.money()
        ):
            self._close_period(at)
            following = period_containing(spec, now, zone)
            self._open_period(Period(dt_util.as_local(now), following.end), at)
        while self.period is not None and self.period.end_ms <= at:
            end = self.period.end
            self._close_period(self.period.end_ms)
            following = period_containing(spec, end, zone)
            if following.start_ms < self.period.end_ms:  # the period kind changed
                following = Period(end, following.end)
            self._open_period(following, self.period.end_ms)
        self._schedule_boundary()

    def _schedule_boundary(self) -> None:
        assert self.period is not None
        if self._cancel_boundary is not None:  # a period closed early (close_period)
            self._cancel_boundary()
        self._cancel_boundary = async_track_point_in_utc_time(
            self.hass, self._async_boundary, self.period.end
        )

    @callback
    def _async_boundary(self, now: datetime) -> None:
        self._cancel_boundary = None
        self._settle_periods(now)
        self.async_schedule_commit()
        self.async_notify()
        self.loads.async_check_restores()  # a new period's allowances bring cut loads back

    def _open_period(self, period: Period, at_ms: int) -> None:
        self.period = period
        self.period_settings = settings = self.settings
        self.cost_micro = self.sales_micro = 0
        meters: dict[str, dict[str, Any]] = {}
        for device in self.devices.values():
            device.period_wh = device.period_milli = 0
            device.borrowed = False
            if (wh := device.tracker.baseline_wh) is not None:
                meters[device.settings.account] = {"meter": device.settings.meter, "wh": wh}
        ledger = self.ledger
        ledger.append(
            Kind.PERIOD_OPEN,
            data={
                "period": period.key,
                "start_ms": period.start_ms,
                "end_ms": period.end_ms,
                "money": settings.money(),
                "meters": meters,
            },
            ts_ms=at_ms,
        )
        purchase = settings.cap_milli - ledger.balance(POOL)  # rolled-over tokens pay part
        if purchase > 0:
            self._purchase(POOL, purchase, at_ms=at_ms)
        self._allocate(self.devices.values(), at_ms)

    def _allocate(
        self, devices: Iterable[DeviceState], at_ms: int, data: dict[str, Any] | None = None
    ) -> None:
        """Give devices their allowances from the pool, essential first, as far as it covers."""
        for device_settings in allocation_order(device.settings for device in devices):
            share = min(device_settings.allowance_milli, self.ledger.balance(POOL))
            if share > 0:
                self.ledger.append(
                    Kind.ALLOCATE,
                    from_account=POOL,
                    to_account=device_settings.account,
                    amount=share,
                    data=data,
                    ts_ms=at_ms,
                )

    def _close_period(self, at_ms: int) -> None:
        assert self.period is not None
        self._flush_all(at_ms)
        ledger = self.ledger
        settings = self.period_settings
        kind, target = surplus_move(settings.surplus)
        consumed: dict[str, int] = {}
        for device in self.devices.values():
            account = device.settings.account
            consumed[account] = device.period_milli
            balance = ledger.balance(account)
            if balance > 0:
                self._move_surplus(kind, account, target, balance, at_ms=at_ms)
            elif balance < 0:  # consumed beyond its tokens: bought at the household price
                self._purchase(account, -balance, at_ms=at_ms, mark="overage")
        pool = ledger.balance(POOL)
        if pool > 0 and target != POOL:
            self._move_surplus(kind, POOL, target, pool, at_ms=at_ms)
        ledger.append(
            Kind.PERIOD_CLOSE,
            data={
                "period": self.period.key,
                "consumed_milli": consumed,
                "cost_micro": self.cost_micro,
                "sales_micro": self.sales_micro,
            },
            ts_ms=at_ms,
        )
        self.hass.bus.async_fire(
            EVENT_PERIOD_CLOSED,
            {
                "household_id": self.entry.entry_id,
                "household": self.entry.title,
                "period": self.period.key,
                "consumed": {
                    device.settings.name: device.period_milli / MILLI
                    for device in self.devices.values()
                },
                "cost": self.cost_micro / MICRO,
                "sales": self.sales_micro / MICRO,
            },
        )

    def _purchase(
        self,
        account: str,
        amount: int,
        *,
        at_ms: int | None = None,
        cause: Cause = SYSTEM,
        mark: str | None = None,
    ) -> Entry:
        """Buy tokens from the provider at the period's price; the one place cost is counted.

        ``mark`` flags why ("overage", "top_up") in the entry's data.
        """
        price = self.period_settings.price_micro
        data: dict[str, Any] = {"price_micro": price}
        if mark is not None:
            data[mark] = True
        entry = self.ledger.append(
            Kind.PURCHASE,
            from_account=PROVIDER,
            to_account=account,
            amount=amount,
            cause=cause,
            data=data,
            ts_ms=at_ms,
        )
        self.cost_micro += amount * price // MILLI
        return entry

    def _move_surplus(
        self,
        kind: Kind,
        account: str,
        target: str,
        amount: int,
        *,
        at_ms: int | None = None,
        cause: Cause = SYSTEM,
    ) -> None:
        """Move unused tokens away; a sale to the market is the one place sales are counted."""
        data: dict[str, Any] | None = None
        if target == MARKET:
            price = self.period_settings.sell_price_micro
            data = {"price_micro": price}
            self.sales_micro += amount * price // MILLI
        self.ledger.append(
            kind,
            from_account=account,
            to_account=target,
            amount=amount,
            cause=cause,
            data=data,
            ts_ms=at_ms,
        )

    def _return_tokens_of_removed_devices(self) -> None:
        """A removed device's tokens go back to the pool (its debt is settled from it)."""
        current = {device.settings.account for device in self.devices.values()}
        for account, balance in self.ledger.balances().items():
            if not account.startswith("device:") or account in current or balance == 0:
                continue
            source, target = (account, POOL) if balance > 0 else (POOL, account)
            self.ledger.append(
                Kind.ADJUST,
                from_account=source,
                to_account=target,
                amount=abs(balance),
                data={"reason": "device removed"},
            )

    # ----- metering

    @callback
    def _async_start_metering(self, _hass: HomeAssistant) -> None:
        """Follow the meters; Home Assistant has started, so their states are settled."""
        if not self._by_meter:
            return
        self._unsubscribe.append(
            async_track_state_change_event(
                self.hass, list(self._by_meter), self._async_meter_changed
            )
        )
        for meter, device in self._by_meter.items():
            self._observe(device, self.hass.states.get(meter))
        self.async_notify()

    @callback
    def _async_meter_changed(self, event: Event[EventStateChangedData]) -> None:
        self._observe(self._by_meter[event.data["entity_id"]], event.data["new_state"])

    def _observe(self, device: DeviceState, state: State | None) -> None:
        """Take one reading; refresh only the entities it changes.

        A reading is timed by its state's own last_updated, always: power is judged over the
        time between readings, so two clocks must never be mixed.
        """
        at_ms = now_ms() if state is None else round(state.last_updated_timestamp * 1000)
        before = device.status
        outcome = device.tracker.observe(reading_wh(state), at_ms)
        match outcome:
            case Outcome.BASELINE:
                self._write_baseline(device, at_ms)
            case Outcome.RESET:
                _LOGGER.info(
                    "%s: the meter %s restarted from a lower value; counting goes on from it",
                    device.settings.name,
                    device.settings.meter,
                )
                self._flush(device, at_ms)
                self._write_baseline(device, at_ms)
            case Outcome.SPIKE_HELD:
                self._flush(device, at_ms)
                self._write_baseline(device, at_ms)
                self._raise_spike_issue(device)
            case Outcome.CONSUMED:
                pass
            case _:
                return
        after = self._update_live(device)
        if after != before:
            if after in (Status.LOW, Status.EXHAUSTED):
                self._flush(device, at_ms)  # crossing a threshold is written at once
            if after is Status.EXHAUSTED:
                after = self._borrow_or_report(device)
            elif after is Status.LOW:
                self.fire(EVENT_LOW_BALANCE, device)
            device.shown_milli = device.balance_milli
            self.async_notify(device.live_topic, device.status_topic)
        elif abs(device.balance_milli - device.shown_milli) >= LIVE_STEP_MILLI:
            device.shown_milli = device.balance_milli
            self.async_notify(device.live_topic)

    def _borrow_or_report(self, device: DeviceState) -> Status:
        """A device ran out: borrow for it when allowed, else report it exhausted."""
        lent = self._auto_borrow(device) if self.settings.auto_borrow else []
        for lender in lent:
            self._update_live(lender)
            lender.shown_milli = lender.balance_milli
            self.async_notify(lender.live_topic, lender.status_topic)
        status_now = self._update_live(device)
        if status_now is Status.EXHAUSTED:
            self.fire(EVENT_EXHAUSTED, device)
            self.loads.async_exhausted(device)
        return status_now

    def _auto_borrow(self, device: DeviceState) -> list[DeviceState]:
        """Borrow for a device that ran out; return the lenders.

        Lenders may lend, are not essential and are on course to end the period with tokens to
        spare; none gives more than its projected surplus, the largest surplus gives first.
        """
        if self.period is None:
            return []
        now = now_ms()
        elapsed = now - self.period.start_ms
        left = max(self.period.end_ms - now, 0)
        lenders = {
            other.settings.account: other
            for other in self.devices.values()
            if other is not device
            and other.settings.may_lend
            and other.settings.priority is not Priority.ESSENTIAL
        }
        surpluses = {
            account: projected_surplus(
                self.balance_milli(other), self.consumed_milli(other), elapsed, left
            )
            for account, other in lenders.items()
        }
        chunk = max(device.settings.allowance_milli // 10, MILLI)
        need = max(-self.balance_milli(device), 0) + chunk
        plan = borrowing_plan(need, surpluses)
        for account, amount in plan:
            self.ledger.append(
                Kind.BORROW,
                from_account=account,
                to_account=device.settings.account,
                amount=amount,
                ts_ms=now,
            )
            self.fire(
                EVENT_BORROWED, device, lender=lenders[account].settings.name, amount=amount / MILLI
            )
        if plan:
            device.borrowed = True
            self.async_schedule_commit()
        return [lenders[account] for account, _ in plan]

    def fire(self, event_type: str, device: DeviceState, **extra: Any) -> None:
        """Fire a budget event about a device, with its Home Assistant device id."""
        registered = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, device.settings.subentry_id), self.entry.entry_id
        )
        self.hass.bus.async_fire(
            event_type,
            {
                "household_id": self.entry.entry_id,
                "household": self.entry.title,
                "device_id": None if registered is None else registered.id,
                "device": device.settings.name,
                "balance": self.balance_milli(device) / MILLI,
                "allowance": device.settings.allowance_milli / MILLI,
                **extra,
            },
        )

    def _update_live(self, device: DeviceState) -> Status:
        """Recompute a device's live balance and status, once for all its entities."""
        device.balance_milli = self.balance_milli(device)
        device.status = self.status_of(device, device.balance_milli)
        return device.status

    def status_of(self, device: DeviceState, balance_milli: int | None = None) -> Status:
        """The device's budget status now."""
        if balance_milli is None:
            balance_milli = self.balance_milli(device)
        return status(
            balance_milli,
            device.settings.allowance_milli,
            self.settings.low_threshold,
            device.borrowed,
        )

    def _write_baseline(self, device: DeviceState, at_ms: int) -> None:
        # The reading's own time is kept: the entry's time may be later (entries never go back).
        self.ledger.append(
            Kind.METER,
            data={
                "device": device.settings.account,
                "meter": device.settings.meter,
                "wh": device.tracker.baseline_wh,
                "read_ms": at_ms,
            },
            cause=METERING,
            ts_ms=at_ms,
        )
        self.async_schedule_commit()

    def _flush(self, device: DeviceState, at_ms: int) -> None:
        """Debit what a device's meter recorded since the last debit."""
        for start, end in device.tracker.take_ranges():
            self._debit(device, start, end, at_ms, METERING, {})
        self.async_schedule_commit()

    def _debit(
        self,
        device: DeviceState,
        start: int,
        end: int,
        at_ms: int | None,
        cause: Cause,
        extra: dict[str, str],
    ) -> None:
        """Debit a reading range; amounts follow the period's running total, so nothing drifts."""
        settings = device.settings
        period_wh = device.period_wh + end - start
        period_milli = period_wh * MILLI // self.period_settings.token_wh
        amount = period_milli - device.period_milli
        if amount > 0:
            self.ledger.append(
                Kind.DEBIT,
                from_account=settings.account,
                to_account=CONSUMED,
                amount=amount,
                cause=cause,
                data={"meter": settings.meter, "wh": [start, end], **extra},
                ts_ms=at_ms,
            )
        else:  # less than a milli-token: the reading is still recorded
            self.ledger.append(
                Kind.METER,
                data={
                    "device": settings.account,
                    "meter": settings.meter,
                    "wh": end,
                    "range": [start, end],
                },
                cause=cause,
                ts_ms=at_ms,
            )
        device.period_wh = period_wh
        device.period_milli = period_milli

    def _flush_all(self, at_ms: int) -> None:
        for device in self.devices.values():
            if device.tracker.pending_wh:
                self._flush(device, at_ms)

    @callback
    def _async_debit_interval(self, _now: datetime) -> None:
        self._flush_all(now_ms())
        self.async_notify()

    def _raise_spike_issue(self, device: DeviceState) -> None:
        spike = device.tracker.spike
        assert spike is not None
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_METER_SPIKE}_{device.settings.subentry_id}_{spike.at_ms}",
            is_fixable=True,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_METER_SPIKE,
            translation_placeholders={
                "device": device.settings.name,
                "energy": f"{spike.wh / 1000:.3f}",
                "power": f"{spike.power_w / 1000:.1f}",
            },
            data={
                "entry_id": self.entry.entry_id,
                "subentry_id": device.settings.subentry_id,
                "from_wh": spike.from_wh,
                "to_wh": spike.to_wh,
            },
        )
        _LOGGER.warning(
            "%s: the meter %s jumped by %.3f kWh (%.1f kW); held back for review in Repairs",
            device.settings.name,
            device.settings.meter,
            spike.wh / 1000,
            spike.power_w / 1000,
        )

    @callback
    def async_resolve_spike(
        self, subentry_id: str, from_wh: int, to_wh: int, *, accept: bool
    ) -> None:
        """Debit a held spike the user accepted, or record that it was discarded."""
        device = self.devices[subentry_id]
        settings = device.settings
        if accept:
            self._debit(device, from_wh, to_wh, None, Cause(CauseKind.USER), {"spike": "accepted"})
        else:
            self.ledger.append(
                Kind.METER,
                data={
                    "device": settings.account,
                    "meter": settings.meter,
                    "discarded": [from_wh, to_wh],
                },
                cause=Cause(CauseKind.USER),
            )
        self.async_schedule_commit()
        self.async_notify()

    # ----- actions (services and voice use these; each validates before writing anything)

    def _check_amount(self, amount_milli: int) -> None:
        if amount_milli <= 0:
            raise BudgetError("amount_not_positive")

    @callback
    def async_transfer(
        self, source: DeviceState, target: DeviceState, amount_milli: int, cause: Cause, note: str
    ) -> Entry:
        """Move tokens from one device to another (shift allowance)."""
        self._check_amount(amount_milli)
        if source is target:
            raise BudgetError("same_device")
        if amount_milli > self.balance_milli(source):
            raise BudgetError("insufficient_balance", device=source.settings.name)
        entry = self.ledger.append(
            Kind.TRANSFER,
            from_account=source.settings.account,
            to_account=target.settings.account,
            amount=amount_milli,
            cause=cause,
            data={"note": note} if note else None,
        )
        self._after_action()
        return entry

    @callback
    def async_send(
        self,
        source: DeviceState,
        peer: Household,
        target: DeviceState,
        amount_milli: int,
        cause: Cause,
        note: str,
    ) -> tuple[Entry, Entry]:
        """Move tokens to a device of another household (networks sharing with each other).

        Each ledger records its side against an account for the other household, so both stay
        zero-sum; the receiving entry names the sending entry's hash, and a link marker here
        names the receiving entry's hash.
        """
        self._check_amount(amount_milli)
        if amount_milli > self.balance_milli(source):
            raise BudgetError("insufficient_balance", device=source.settings.name)
        extra = {"note": note} if note else {}
        sent = self.ledger.append(
            Kind.TRANSFER,
            from_account=source.settings.account,
            to_account=household_account(peer.entry.entry_id),
            amount=amount_milli,
            cause=cause,
            data={"peer_household": peer.entry.entry_id, **extra},
        )
        received = peer.ledger.append(
            Kind.TRANSFER,
            from_account=household_account(self.entry.entry_id),
            to_account=target.settings.account,
            amount=amount_milli,
            cause=cause,
            data={
                "peer_household": self.entry.entry_id,
                "peer_seq": sent.seq,
                "peer_hash": sent.hash.hex(),
                **extra,
            },
        )
        self.ledger.append(
            Kind.LINK,
            cause=cause,
            data={
                "seq": sent.seq,
                "peer_household": peer.entry.entry_id,
                "peer_seq": received.seq,
                "peer_hash": received.hash.hex(),
            },
        )
        self._after_action()
        peer._after_action()
        return sent, received

    @callback
    def async_top_up(
        self, amount_milli: int, cause: Cause, device: DeviceState | None = None
    ) -> Entry:
        """Buy extra tokens at the period's price, into the pool or straight to a device."""
        self._check_amount(amount_milli)
        account = POOL if device is None else device.settings.account
        entry = self._purchase(account, amount_milli, cause=cause, mark="top_up")
        self._after_action()
        return entry

    @callback
    def async_sell(self, device: DeviceState | None, amount_milli: int | None, cause: Cause) -> int:
        """Sell a device's (or the pool's) tokens at the sell price; return what was sold.

        ``amount_milli`` None sells everything available.
        """
        account = POOL if device is None else device.settings.account
        available = self.ledger.balance(POOL) if device is None else self.balance_milli(device)
        amount = available if amount_milli is None else amount_milli
        if amount_milli is None and available <= 0:
            raise BudgetError("nothing_to_sell")
        self._check_amount(amount)
        if amount > available:
            raise BudgetError(
                "insufficient_balance",
                device=self.entry.title if device is None else device.settings.name,
            )
        self._move_surplus(Kind.SALE, account, MARKET, amount, cause=cause)
        self._after_action()
        return amount

    @callback
    def async_close_period_now(self) -> None:
        """Settle the running period now and open the next, which starts now."""
        now = dt_util.utcnow()
        at = round(now.timestamp() * 1000)
        assert self.period is not None
        self._close_period(at)
        following = period_containing(self.settings.period, now, dt_util.get_default_time_zone())
        self._open_period(Period(dt_util.as_local(now), following.end), at)
        self._schedule_boundary()
        self._after_action()

    @callback
    def async_adjust_allowance_now(self, device: DeviceState, new_milli: int, cause: Cause) -> None:
        """Move the difference between a new and the current allowance now.

        Pool to device, or back, so the change counts in the running period.
        """
        difference = new_milli - device.settings.allowance_milli
        if difference > 0:
            if difference > self.ledger.balance(POOL):
                raise BudgetError("pool_too_small")
            self.ledger.append(
                Kind.ALLOCATE,
                from_account=POOL,
                to_account=device.settings.account,
                amount=difference,
                cause=cause,
            )
        elif difference < 0:
            if -difference > self.balance_milli(device):
                raise BudgetError("insufficient_balance", device=device.settings.name)
            self.ledger.append(
                Kind.ADJUST,
                from_account=device.settings.account,
                to_account=POOL,
                amount=-difference,
                cause=cause,
                data={"reason": "allowance lowered"},
            )
        self._after_action()

    def _after_action(self) -> None:
        self.async_schedule_commit()
        self.async_notify()
        self.loads.async_check_restores()

    def is_stale(self) -> bool:
        """Whether the entry changed since this household read it (a reload is due)."""
        entry = self.entry
        if entry.subentries.keys() != self.devices.keys():
            return True
        if HouseholdSettings.from_data(entry.data) != self.settings:
            return True
        return any(
            DeviceSettings.from_subentry(subentry) != self.devices[subentry_id].settings
            for subentry_id, subentry in entry.subentries.items()
        )

    # ----- what entities show

    def balance_milli(self, device: DeviceState) -> int:
        """The device's balance, including consumption not yet debited."""
        pending = device.pending_milli(self.period_settings.token_wh)
        return self.ledger.balance(device.settings.account) - pending

    def consumed_milli(self, device: DeviceState) -> int:
        """The device's consumption this period, including what is not yet debited."""
        return device.period_milli + device.pending_milli(self.period_settings.token_wh)

    def _refresh_aggregates(self) -> None:
        """Compute household-wide figures once per refresh, not once per entity."""
        consumed = {key: self.consumed_milli(device) for key, device in self.devices.items()}
        self._consumed = consumed
        self._total = sum(consumed.values())
        self._ranking = sorted(
            self.devices.values(),
            key=lambda device: (-consumed[device.settings.subentry_id], device.settings.name),
        )
        self._rank = {device.settings.subentry_id: n for n, device in enumerate(self._ranking, 1)}
        for device in self.devices.values():
            self._update_live(device)
            device.shown_milli = device.balance_milli

    def total_consumed_milli(self) -> int:
        """The household's consumption this period, as of the last refresh."""
        return self._total

    def share_percent(self, device: DeviceState) -> float | None:
        """The device's share of the household's consumption, as of the last refresh."""
        consumed = self._consumed[device.settings.subentry_id]
        return None if self._total == 0 else round(consumed * 100 / self._total, 1)

    def rank(self, device: DeviceState) -> int:
        """The device's place by consumption (1: largest), as of the last refresh."""
        return self._rank[device.settings.subentry_id]

    def top_consumer(self) -> str | None:
        """The largest consumer's name, as of the last refresh; None before anyone consumed."""
        if not self._ranking or self._consumed[self._ranking[0].settings.subentry_id] <= 0:
            return None
        return self._ranking[0].settings.name

    def run_out(self, device: DeviceState) -> datetime | None:
        """When the balance reaches zero at this period's consumption rate, if it will."""
        if self.period is None:
            return None
        balance = self.balance_milli(device)
        consumed = self.consumed_milli(device)
        now = dt_util.utcnow()
        elapsed = (now.timestamp() - self.period.start.timestamp()) * 1000
        if balance <= 0 or consumed <= 0 or elapsed <= 0:
            return None
        run_out = now + timedelta(milliseconds=balance * elapsed / consumed)
        return run_out.replace(second=0, microsecond=0)  # to the minute: no churn

    # ----- listeners
    #
    # Entities listen to a topic so a meter reading rewrites only what it changes: the device's
    # live balance, its status entities when the status changes; ledger statistics follow
    # commits; aggregates (shares, ranks, run-out, totals) follow the debit interval.

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, topic: str = TOPIC_PERIODIC
    ) -> Callable[[], None]:
        """Call ``update_callback`` when ``topic`` changes (and on every full refresh)."""
        listeners = self._listeners.setdefault(topic, [])
        listeners.append(update_callback)

        @callback
        def remove() -> None:
            listeners.remove(update_callback)

        return remove

    @callback
    def async_notify(self, *topics: str) -> None:
        """Tell the listeners of ``topics`` that something changed; no topic: everyone."""
        if not topics or TOPIC_PERIODIC in topics:
            self._refresh_aggregates()
        for topic in topics or list(self._listeners):
            for update_callback in list(self._listeners.get(topic, ())):
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
        self.async_notify(TOPIC_LEDGER)
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
        self.async_notify(TOPIC_LEDGER)
        return result

    async def async_close(self, _event: Event | None = None) -> None:
        """Debit what is pending, flush, sign a final checkpoint, release the files."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.loads.async_unload()
        if self._cancel_boundary is not None:
            self._cancel_boundary()
            self._cancel_boundary = None
        if self.ledger.usable:
            self._flush_all(now_ms())
        if self._cancel_commit is not None:
            self._cancel_commit()
            self._cancel_commit = None
        async with self._commit_lock:
            await self.hass.async_add_executor_job(self.ledger.close)
