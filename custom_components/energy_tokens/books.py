"""The books of one household over its ledger: figures, the fold, and operations as units.

An operation appends its entries inside ``_unit``: one unit, all of its entries or — when
anything fails — none, in the ledger and in these books alike. The period's figures (consumption,
cost, sales, who borrowed) are a fold over the ledger's entries: the same ``fold`` restores them
at start (restore.py) and follows each new entry, so the two can never disagree.

Pure: no Home Assistant. Time comes from an injected clock (epoch ms) and time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from .events import BudgetEvent, DomainEvent
from .history import COURSE, Course, History
from .ledger import Cause, Entry, Kind, Ledger
from .ledger.entries import SYSTEM
from .metering import HeldSpike, MeterTracker, TrackerState
from .periods import Period
from .policies import ALLOWANCE_LOWERED, MARKET, POOL, PROVIDER, Status, allocation_order, status
from .results import Result
from .settings import MILLI, DeviceSettings, HouseholdSettings


@dataclass(slots=True, eq=False)  # a device is itself, whatever its figures
class Device:
    """A device's books: settings, meter, this period's recorded consumption, last status."""

    settings: DeviceSettings
    tracker: MeterTracker
    period_wh: int = 0  # whole Wh recorded this period
    period_milli: int = 0  # milli-tokens debited this period
    allowance_milli: int = 0  # this period's allowance: allocated, plus what changes moved
    next_milli: int | None = None  # an allowance set this period for the next (waiting)
    borrowed: bool = False
    status: Status = Status.OK  # as last seen on a reading: events fire when it changes
    metered_since: int | None = None  # when this period's metering began (its pace's start)
    course: Course = COURSE  # this period's tokens per slice: its burn-down


type SpikeKey = tuple[str, str, int, int]  # account, meter, from and to (Wh)
type _DeviceBooks = tuple[Device, TrackerState]  # a copy of its figures, its meter's state
type _Saved = tuple[
    Period | None,
    int | None,
    HouseholdSettings,
    int,
    int,
    int,
    dict[str, Device],
    dict[str, _DeviceBooks],
    dict[SpikeKey, HeldSpike],
    set[SpikeKey],
    dict[str, str],
    History,
]


_FIGURES = [f.name for f in fields(Device) if f.name not in ("settings", "tracker")]


class Books:
    """A household's books; the economy's operations build on them."""

    def __init__(
        self,
        ledger: Ledger,
        settings: HouseholdSettings,
        devices: Iterable[DeviceSettings],
        *,
        name: str,
        clock: Callable[[], int],
        zone: tzinfo,
    ) -> None:
        """Books with no period yet; restore.py folds the ledger in."""
        self.name = name  # the household's name, for messages
        self.ledger = ledger
        self.settings = settings
        self.period_settings = settings  # the money settings the running period opened with
        self.period: Period | None = None
        self.closed_at: int | None = None  # the running period's close, while none opened after
        self.cost_micro = self.sales_micro = 0
        self.sold_milli = 0  # tokens sold this period
        self.clock = clock
        self.zone = zone
        self.devices: dict[str, Device] = {}
        self._by_account: dict[str, Device] = {}
        # Meter jumps held for the user, and those already accepted or discarded, by account,
        # meter and range: recorded in the ledger, so a restart forgets none and repeats none.
        self.held: dict[SpikeKey, HeldSpike] = {}
        self.resolved: set[SpikeKey] = set()
        # The names the ledger records for its accounts (and "household"), so that an auditor
        # can tell devices apart: a period opens with them, a rename adds a label.
        self.labels: dict[str, str] = {}
        self.history = History()  # each device's pace in the last closed periods
        self._result: Result | None = None  # of the unit being written
        self._saved: _Saved | None = None  # the books before its first entry
        for device in devices:
            self._track(device)

    @property
    def household_id(self) -> str:
        """The household whose ledger this is."""
        return self.ledger.household_id

    # ----- figures

    def pending_milli(self, device: Device) -> int:
        """Milli-tokens metered but not yet debited."""
        total_wh = device.period_wh + device.tracker.pending_wh
        return total_wh * MILLI // self.period_settings.token_wh - device.period_milli

    def balance_milli(self, device: Device) -> int:
        """The device's balance, including consumption not yet debited."""
        return self.ledger.balance(device.settings.account) - self.pending_milli(device)

    def consumed_milli(self, device: Device) -> int:
        """The device's consumption this period, including what is not yet debited."""
        return device.period_milli + self.pending_milli(device)

    def status_of(self, device: Device, balance_milli: int | None = None) -> Status:
        """The device's budget status now."""
        if balance_milli is None:
            balance_milli = self.balance_milli(device)
        allowance = device.allowance_milli
        return status(balance_milli, allowance, self.settings.low_threshold, device.borrowed)

    @property
    def pool_milli(self) -> int:
        """Tokens bought and not allocated to any device."""
        return self.ledger.balance(POOL)

    def note_statuses(self) -> None:
        """Take every device's status as seen: a reading fires events only when it changes it."""
        for device in self.devices.values():
            device.status = self.status_of(device)

    def device_by_account(self, account: str) -> Device | None:
        """The device whose ledger account this is."""
        return self._by_account.get(account)

    def local(self, ms: int) -> datetime:
        """Epoch milliseconds as the household's local time."""
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.zone)

    # ----- the fold: what entries imply for the running period

    def fold(self, entry: Entry) -> None:
        """Follow one entry of the running period (restore.py feeds the stored ones)."""
        data = entry.data
        if entry.amount and (period := self.period) is not None:  # the devices' courses
            for account, into in ((entry.from_account, False), (entry.to_account, True)):
                if (moved := self._by_account.get(account or "")) is not None:
                    moved.course = moved.course.moved(
                        period.start_ms, period.end_ms, entry, into=into
                    )
        match entry.kind:
            case Kind.PERIOD_OPEN:
                self.closed_at = None
                self.held = {  # carried over from the period before, while unresolved
                    (account, meter, start, end): HeldSpike(start, end, at_ms, power_w)
                    for account, meter, start, end, at_ms, power_w in data.get("held", ())
                }
                self.period = Period(self.local(data["start_ms"]), self.local(data["end_ms"]))
                self.period_settings = self.settings.with_money(data["money"])
                self.labels = dict(data.get("names", {}))
                self.history = History(data.get("history"))
                self.cost_micro = self.sales_micro = self.sold_milli = 0
                for device in self.devices.values():
                    device.period_wh = device.period_milli = device.allowance_milli = 0
                    device.borrowed, device.next_milli = False, None
                    read = device.settings.account in data["meters"]  # metered from the start
                    device.metered_since = data["start_ms"] if read else None
                    device.course = COURSE
            case Kind.DEBIT:
                if "spike" in data:  # a held jump, accepted
                    self._resolve((entry.from_account or "", data["meter"], *data["wh"]))
                if (debited := self._by_account.get(entry.from_account or "")) is not None:
                    start, end = data["wh"]
                    debited.period_wh += end - start
                    debited.period_milli += entry.amount
            case Kind.METER if "range" in data:  # a reading too small to debit yet
                if (metered := self._by_account.get(data["device"])) is not None:
                    start, end = data["range"]
                    metered.period_wh += end - start
            case Kind.METER if "discarded" in data:  # a held jump, discarded
                self._resolve((data["device"], data["meter"], *data["discarded"]))
            case Kind.METER if "held" in data:  # a jump held for the user (and its baseline)
                start, end = data["held"]
                key = (data["device"], data["meter"], start, end)
                if key not in self.resolved:
                    self.held[key] = HeldSpike(start, end, data["read_ms"], data["held_w"])
                self._metered(data)
            case Kind.METER if "read_ms" in data:  # a first reading, a reset, a glitch
                self._metered(data)
            case Kind.PERIOD_CLOSE:
                self.closed_at = entry.ts_ms
                self.history.note(
                    {d.settings.account: d.course.debited for d in self.devices.values()}
                )
            case Kind.PURCHASE:
                self.cost_micro += entry.amount * data["price_micro"] // MILLI
            case Kind.SALE:
                self.sales_micro += entry.amount * data["price_micro"] // MILLI
                self.sold_milli += entry.amount
            case Kind.TRANSFER if "sold_micro" in data:  # sold to a member of the community
                self.sales_micro += data["sold_micro"]
                self.sold_milli += entry.amount
            case Kind.TRANSFER if "bought_micro" in data:  # bought from a member
                self.cost_micro += data["bought_micro"]
            case Kind.ALLOCATE:  # from the pool: the device's allowance
                if (allocated := self._by_account.get(entry.to_account or "")) is not None:
                    allocated.allowance_milli += entry.amount
            case Kind.ADJUST if data.get("reason") == ALLOWANCE_LOWERED:
                if (lowered := self._by_account.get(entry.from_account or "")) is not None:
                    lowered.allowance_milli -= entry.amount
            case Kind.LABEL:
                self.labels[data["account"]] = data["name"]
            case Kind.ALLOWANCE if (changed := self._by_account.get(data["device"])) is not None:
                changed.next_milli = data["allowance"] if "after" in data else None
            case Kind.BORROW:
                if (borrower := self._by_account.get(entry.to_account or "")) is not None:
                    borrower.borrowed = True
            case _:
                pass

    def _metered(self, data: dict[str, Any]) -> None:
        """A reading position: a device first read this period is metered from then."""
        if (device := self._by_account.get(data["device"])) and device.metered_since is None:
            device.metered_since = data["read_ms"]

    def _resolve(self, key: SpikeKey) -> None:
        self.resolved.add(key)
        self.held.pop(key, None)

    # ----- units

    @contextmanager
    def _unit(self) -> Iterator[Result]:
        """Entries appended inside form one unit; if anything raises, none of them stays.

        Most readings write nothing, so the books are saved (to be put back) only when the
        first entry is appended.
        """
        if self._result is not None:  # part of the unit already running
            yield self._result
            return
        result = self._result = Result()
        try:
            yield result
        except BaseException:
            if self._saved is not None:
                self.ledger.abort_unit()
                self._load(self._saved)
            raise
        else:
            if self._saved is not None:
                self.ledger.end_unit()
                self.note_statuses()
        finally:
            self._result = self._saved = None

    def _save(self) -> _Saved:
        books = {key: (replace(d), d.tracker.state()) for key, d in self.devices.items()}
        money = self.period_settings, self.cost_micro, self.sales_micro, self.sold_milli
        spikes = dict(self.held), set(self.resolved), dict(self.labels), self.history.copy()
        return self.period, self.closed_at, *money, dict(self.devices), books, *spikes

    def _load(self, saved: _Saved) -> None:
        self.period, self.closed_at, self.period_settings, *money, devices, books = saved[:8]
        self.cost_micro, self.sales_micro, self.sold_milli = money
        self.held, self.resolved, self.labels, self.history = saved[8:12]
        self.devices = devices
        self._by_account = {d.settings.account: d for d in devices.values()}
        for key, (figures, tracker) in books.items():
            device = devices[key]
            for name in _FIGURES:
                setattr(device, name, getattr(figures, name))
            device.tracker.set_state(tracker)

    def _touch(self) -> None:
        """The books are about to change inside a unit: keep what to put back, once."""
        assert self._result is not None, "the books change inside a unit"
        if self._saved is None:
            self.ledger.begin_unit()  # first: if it refuses, there is nothing of ours to undo
            self._saved = self._save()

    def _append(self, kind: Kind, **fields: Any) -> Entry:
        self._touch()
        assert self._result is not None
        if fields.get("ts_ms") is None:  # every entry is timed by the household's clock
            fields["ts_ms"] = self.clock()
        entry = self.ledger.append(kind, **fields)
        self.fold(entry)
        self._result.entries.append(entry)
        return entry

    def device_event(self, kind: BudgetEvent, device: Device, **extra: Any) -> DomainEvent:
        """A budget event about a device, with its balance and allowance as of now."""
        extra["balance"] = self.balance_milli(device) / MILLI
        extra["allowance"] = device.allowance_milli / MILLI
        return DomainEvent(kind, device.settings.subentry_id, extra)

    def _event(self, kind: BudgetEvent, device: Device | None = None, **extra: Any) -> None:
        """Report a budget event in the running unit's result."""
        assert self._result is not None
        event = (
            DomainEvent(kind, None, extra)
            if device is None
            else self.device_event(kind, device, **extra)
        )
        self._result.events.append(event)

    # ----- devices and the money that moves between accounts

    def _track(self, settings: DeviceSettings) -> Device:
        device = Device(settings, MeterTracker(max_power_w=self.settings.max_power_w))
        self.devices[settings.subentry_id] = device
        self._by_account[settings.account] = device
        return device

    def _untrack(self, device: Device) -> None:
        del self.devices[device.settings.subentry_id], self._by_account[device.settings.account]

    def _allocate(
        self,
        devices: Iterable[Device],
        at_ms: int,
        data: dict[str, Any] | None = None,
        cause: Cause = SYSTEM,
    ) -> None:
        """Give devices their allowances from the pool, essential first, as far as it covers."""
        for settings in allocation_order(device.settings for device in devices):
            share = min(settings.allowance_milli, self.pool_milli)
            if share > 0:
                self._append(
                    Kind.ALLOCATE,
                    from_account=POOL,
                    to_account=settings.account,
                    amount=share,
                    cause=cause,
                    data=data,
                    ts_ms=at_ms,
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
        """Buy tokens from the provider at the period's price; ``mark`` says why in the data."""
        data: dict[str, Any] = {"price_micro": self.period_settings.price_micro}
        if mark is not None:
            data[mark] = True
        return self._append(
            Kind.PURCHASE,
            from_account=PROVIDER,
            to_account=account,
            amount=amount,
            cause=cause,
            data=data,
            ts_ms=at_ms,
        )

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
        """Move unused tokens away; a sale to the market carries its price."""
        price = self.period_settings.sell_price_micro
        self._append(
            kind,
            from_account=account,
            to_account=target,
            amount=amount,
            cause=cause,
            data={"price_micro": price} if target == MARKET else None,
            ts_ms=at_ms,
        )
