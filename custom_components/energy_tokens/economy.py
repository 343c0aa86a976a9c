"""The economy: a household's devices, periods and the actions users take on its tokens.

Each method is one operation: it checks what it may before anything is written (refusing with a
BudgetError), appends its entries as one unit and returns them with the domain events it caused
(books.py). The runtime commits units and turns events into Home Assistant's.

Pure: no Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .books import Device
from .const import Surplus
from .consumption import position
from .events import BudgetEvent
from .exchange import SALE_ESCROW, Exchange
from .inputs import TOP_UP_PERIODS, check_note
from .ledger import Cause, CauseKind, Kind
from .ledger.entries import SYSTEM
from .ledger.reader import HOUSEHOLD_LABEL as HOUSEHOLD
from .metering import MeterTracker, Outcome
from .periods import Period, period_containing
from .policies import ALLOWANCE_LOWERED, MARKET, POOL, surplus_move
from .results import BudgetError, Result
from .settings import MICRO, MILLI, DeviceSettings, HouseholdSettings

# Changes made in the household's settings: Home Assistant's flows are for administrators, and
# do not say which one.
SETTINGS = Cause(CauseKind.USER, "settings")
SURPLUS_OFFER_MS = 24 * 3_600_000  # a period's unused tokens are offered to the community a day


class Economy(Exchange):
    """One household's books and every operation on them."""

    community = False  # trading with a community: its surplus may be offered to the members
    currency = "EUR"  # its money's, as Home Assistant's (the trade link sets it)

    # ----- devices

    def add_devices(self, added: Iterable[DeviceSettings]) -> Result:
        """Take new devices in and give them their allowance now."""
        for settings in added:
            self._track(settings)
        result = self.allocate_new_devices()
        self.note_statuses()  # also when nothing was left to give them: they start seen as they are
        return result

    def allocate_new_devices(self) -> Result:
        """Every device new to the ledger (added during a period) gets its allowance now.

        Its label comes in the same unit, so a device is allocated once: even an allowance of
        zero, or one the pool could not cover, is not given again after a restart.
        """
        with self._unit() as result:
            new = [
                d
                for d in self.devices.values()
                if d.settings.account not in self.labels
                and not self.ledger.has_account(d.settings.account)
            ]
            self._allocate(new, self.clock(), {"reason": "device added"}, SETTINGS)
            self.record_names()
        return result

    def update_device(self, settings: DeviceSettings) -> Result:
        """New settings for a device; a new meter starts counting at its first reading.

        What the old meter recorded is debited first, so a change of meter loses nothing.
        """
        device = self.devices[settings.subentry_id]
        with self._unit() as result:
            if settings.meter != device.settings.meter:
                if device.tracker.hold_undecided():  # the old meter cannot decide it any more
                    self._write_baseline(device, self.clock(), Outcome.SPIKE_HELD)
                self._flush(device, self.clock())
                device.tracker = MeterTracker(max_power_w=self.settings.max_power_w)
            if settings.allowance_milli != device.settings.allowance_milli:
                self._record_allowance(device, settings.allowance_milli, SETTINGS, now=False)
            device.settings = settings
            self.record_names()
        device.status = self.status_of(device)
        return result

    def names(self) -> dict[str, str]:
        """What the ledger should call its accounts: the household's and devices' names now."""
        names = {d.settings.account: d.settings.name for d in self.devices.values()}
        names[HOUSEHOLD] = self.name
        return names

    def record_names(self, cause: Cause = SETTINGS) -> Result:
        """Label every account whose name the ledger does not have yet (a new or renamed one).

        Before the first period nothing is written: opening it records every name.
        """
        with self._unit() as result:
            for account, name in self.names().items() if self.period is not None else ():
                if self.labels.get(account) != name:
                    self._append(Kind.LABEL, cause=cause, data={"account": account, "name": name})
        return result

    def remove_device(self, subentry_id: str) -> Result:
        """Debit what the device's meter recorded, then return its tokens to the pool."""
        device = self.devices[subentry_id]
        with self._unit() as result:
            self._flush(device, self.clock())
            self._untrack(device)
            self.return_tokens_of_removed_devices()
        return result

    def return_tokens_of_removed_devices(self) -> Result:
        """A removed device's tokens go back to the pool (its debt is settled from it)."""
        with self._unit() as result:
            for account, balance in self.ledger.balances().items():
                if not account.startswith("device:") or account in self._by_account or not balance:
                    continue
                source, target = (account, POOL) if balance > 0 else (POOL, account)
                self._append(
                    Kind.ADJUST,
                    from_account=source,
                    to_account=target,
                    amount=abs(balance),
                    cause=SETTINGS,
                    data={"reason": "device removed"},
                )
        return result

    # ----- periods

    def settle(self) -> Result:
        """Open the first period, then settle every boundary that has passed, each at its time."""
        now_ms = self.clock()
        spec = self.settings.period
        result = Result()
        if self.period is None:
            with self._unit() as unit:
                first = period_containing(spec, self.local(now_ms), self.zone)
                self._open_period(first, now_ms, self.settings)
            result.merge(unit)
        elif self.closed_at is not None:
            # A period closed and not reopened: a crash cut the boundary's part in the new
            # period's segment. Its opening is completed, as the close left it.
            start = self.local(self.closed_at)
            with self._unit() as unit:
                following = Period(start, period_containing(spec, start, self.zone).end)
                self._open_period(following, self.closed_at, self.settings)
            result.merge(unit)
        while self.period is not None and self.period.end_ms <= now_ms:
            end = self.period.end
            following = period_containing(spec, end, self.zone)
            if following.start_ms < self.period.end_ms:  # the period kind changed
                following = Period(end, following.end)
            with self._unit() as unit:  # a boundary and its settlement: one unit
                self._close_period(self.period.end_ms)
                self._open_period(following, following.start_ms, self.settings)
            result.merge(unit)
        return result

    def close_period_now(
        self, settings: HouseholdSettings | None = None, cause: Cause = SETTINGS
    ) -> Result:
        """Settle the running period now and open the next from now, with ``settings``' money.

        The close records who asked (``cause``): a user's action, or the settings' Apply now.
        """
        settings = settings or self.settings
        now_ms = self.clock()
        now = self.local(now_ms)
        following = period_containing(settings.period, now, self.zone)  # the new kind's end
        with self._unit() as result:
            self._close_period(now_ms, cause)
            self._open_period(Period(now, following.end), now_ms, settings)
        return result

    def _open_period(self, period: Period, at_ms: int, settings: HouseholdSettings) -> None:
        meters = {
            device.settings.account: {"meter": device.settings.meter, "wh": wh, **position(device)}
            for device in self.devices.values()
            if (wh := device.tracker.baseline_wh) is not None
        }
        data: dict[str, object] = {
            "period": period.key,
            "start_ms": period.start_ms,
            "end_ms": period.end_ms,
            "money": settings.money(),
            "meters": meters,
            "names": self.names(),
        }
        if history := self.history.as_data({d.settings.account for d in self.devices.values()}):
            data["history"] = history  # the devices' past pace, for borrowing
        if self.held:  # jumps the user has not decided on yet stay held in the new period
            data["held"] = [
                [account, meter, start, end, spike.at_ms, round(spike.power_w)]
                for (account, meter, start, end), spike in self.held.items()
            ]
        self._append(Kind.PERIOD_OPEN, data=data, ts_ms=at_ms)
        purchase = settings.cap_milli - self.pool_milli  # rolled-over tokens pay part
        if purchase > 0:
            self._purchase(POOL, purchase, at_ms=at_ms)
        self._allocate(self.devices.values(), at_ms)

    def _close_period(self, at_ms: int, cause: Cause = SYSTEM) -> None:
        assert self.period is not None
        self._flush_all(at_ms)
        kind, target = surplus_move(self.period_settings.surplus)
        unused = 0  # the devices' tokens left at the end: the period's surplus
        for device in self.devices.values():
            balance = self.ledger.balance(device.settings.account)
            if balance > 0:
                unused += balance
                self._move_surplus(kind, device.settings.account, target, balance, at_ms=at_ms)
            elif balance < 0:  # consumed beyond its tokens: bought at the household price
                self._purchase(device.settings.account, -balance, at_ms=at_ms, mark="overage")
        if self.pool_milli > 0 and target != POOL:
            self._move_surplus(kind, POOL, target, self.pool_milli, at_ms=at_ms)
        elif self.pool_milli > 0 and self.period_settings.surplus is Surplus.COMMUNITY:
            self._offer_surplus(at_ms, self.period.key)
        close = {
            "period": self.period.key,
            "consumed_milli": {d.settings.account: d.period_milli for d in self.devices.values()},
            "cost_micro": self.cost_micro,
            "sales_micro": self.sales_micro,
            # The period's totals, as a household may publish them to its community.
            "allowance_milli": sum(d.allowance_milli for d in self.devices.values()),
            "surplus_milli": unused,
            "token_wh": self.period_settings.token_wh,
        }
        self._append(Kind.PERIOD_CLOSE, data=close, ts_ms=at_ms, cause=cause)
        self._event(
            BudgetEvent.PERIOD_CLOSED,
            period=self.period.key,
            consumed={d.settings.name: d.period_milli / MILLI for d in self.devices.values()},
            cost=self.cost_micro / MICRO,
            sales=self.sales_micro / MICRO,
        )

    def _offer_surplus(self, at_ms: int, period: str) -> None:
        """The pool's unused tokens offered to the community at the sell price, for a day.

        Outside a community they stay in the pool: rolled over.
        """
        if self.community:
            self._append(
                Kind.TRANSFER,
                from_account=POOL,
                to_account=SALE_ESCROW,
                amount=self.pool_milli,
                data={
                    "price_micro": self.period_settings.sell_price_micro,
                    "currency": self.currency,
                    "expires_ms": at_ms + SURPLUS_OFFER_MS,
                    "note": f"Unused tokens of {period}",
                },
                ts_ms=at_ms,
            )

    # ----- actions

    def transfer(
        self, source: Device, target: Device, amount_milli: int, cause: Cause, note: str
    ) -> Result:
        """Move tokens from one device to another (shift allowance)."""
        if amount_milli > 0 and source is target:
            raise BudgetError("same_device")
        self._check_spend(source, amount_milli)
        check_note(note)
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=source.settings.account,
                to_account=target.settings.account,
                amount=amount_milli,
                cause=cause,
                data={"note": note} if note else None,
            )
        return result

    def top_up(self, amount_milli: int, cause: Cause, device: Device | None = None) -> Result:
        """Buy extra tokens at the period's price, into the pool or straight to a device."""
        if amount_milli <= 0:
            raise BudgetError("amount_not_positive")
        limit = TOP_UP_PERIODS * self.settings.cap_milli  # a slip of the finger; a household
        if limit and amount_milli > limit:  # with no cap (prepaid) has only the per-call bound
            shown = f"{limit / MILLI:,.3f}".rstrip("0").rstrip(".")
            raise BudgetError("top_up_too_large", limit=shown, periods=str(TOP_UP_PERIODS))
        account = POOL if device is None else device.settings.account
        with self._unit() as result:
            self._purchase(account, amount_milli, cause=cause, mark="top_up")
        return result

    def sell(self, device: Device | None, amount_milli: int | None, cause: Cause) -> Result:
        """Sell a device's (or the pool's) tokens at the sell price; None sells all there is."""
        _account, available, _name = self._holder(device)
        if amount_milli is None and available <= 0:
            raise BudgetError("nothing_to_sell")
        amount = available if amount_milli is None else amount_milli
        account = self._check_spend(device, amount)
        with self._unit() as result:
            self._move_surplus(Kind.SALE, account, MARKET, amount, cause=cause)
        return result

    def set_allowance(self, device: Device, new_milli: int, cause: Cause, *, now: bool) -> Result:
        """A device's allowance from the next period, or (``now``) from this one on.

        ``now`` moves exactly the difference between the new allowance and this period's (what
        was allocated, plus earlier changes) between the pool and the device. Lowering it below
        what the device used is allowed: the device is left at or below zero, and settles the
        rest as overage at the period's end.
        """
        if new_milli < 0:
            raise BudgetError("amount_negative")
        difference = new_milli - device.allowance_milli if now else 0
        if difference > 0 and difference > self.pool_milli:
            raise BudgetError("pool_too_small")
        with self._unit() as result:
            self._record_allowance(device, new_milli, cause, now=now)
            account = device.settings.account
            if difference > 0:
                self._append(
                    Kind.ALLOCATE,
                    from_account=POOL,
                    to_account=account,
                    amount=difference,
                    cause=cause,
                )
            elif difference < 0:
                self._append(
                    Kind.ADJUST,
                    from_account=account,
                    to_account=POOL,
                    amount=-difference,
                    cause=cause,
                    data={"reason": ALLOWANCE_LOWERED},
                )
                if (after := self.status_of(device)) is not device.status:
                    self._status_moved(device, after, self.clock())  # as running out does
        # Every later period's allocation follows; the entry keeps the subentry in step.
        device.settings = replace(device.settings, allowance_milli=new_milli)
        return result

    def _record_allowance(self, device: Device, new_milli: int, cause: Cause, *, now: bool) -> None:
        """An entry saying which period a new allowance takes effect in.

        This one (``period``), or the one after it (``after``), whenever that opens.
        """
        assert self.period is not None, "settled before any operation"
        data = {
            "device": device.settings.account,
            "allowance": new_milli,
            "period" if now else "after": self.period.key,
        }
        self._append(Kind.ALLOWANCE, cause=cause, data=data)
