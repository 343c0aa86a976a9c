"""Consumption: meter readings become debits; a device that runs out borrows or is reported.

Pure: readings arrive in Wh with their own time (epoch ms); the runtime converts sensor states.
"""

from __future__ import annotations

from typing import NamedTuple

from .books import Books, Device
from .const import Priority
from .events import BudgetEvent
from .history import metered_ms
from .ledger import Cause, CauseKind, Kind
from .metering import Outcome
from .policies import CONSUMED, Status, borrowing_plan, projected_surplus
from .results import BudgetError, Result
from .settings import MILLI

METERING = Cause(CauseKind.METERING)
# Readings that are written at once: a first reading (a baseline), a reset, a glitch, a held
# jump - what a restart must know, and what explains a difference from the statistics.
_WRITES = frozenset({Outcome.BASELINE, Outcome.RESET, Outcome.GLITCH, Outcome.SPIKE_HELD})


def position(device: Device) -> dict[str, object]:
    """What the ledger records with a meter's reading position: a cycle meter's cycle too."""
    if (cycle := device.tracker.cycle) is None:
        return {}
    key, offset_wh = cycle
    return {"cycle": [key, round(offset_wh * 1000)]}  # the offset in mWh: no floats in entries


class Reading(NamedTuple):
    """What a reading did: its unit (None when it wrote nothing), and the device's figures."""

    result: Result | None
    balance_milli: int
    status: Status


class Consumption(Books):
    """The books, with what meters and running out do to them."""

    def observe(
        self, device: Device, reading_wh: float | None, at_ms: int, cycle: str | None = None
    ) -> Reading:
        """Take one reading (None: no usable reading) of a device's meter.

        ``cycle`` is a cycle meter's ``last_reset``: each new cycle counts from zero.

        Debits are written at once when the status crosses into low or exhausted and when the
        meter resets or jumps; otherwise they wait for the debit interval. Running out borrows
        (when allowed) or is reported. Most readings write nothing: that path is the fast one.
        """
        outcome = device.tracker.observe(reading_wh, at_ms, cycle)
        balance = self.balance_milli(device)
        after = self.status_of(device, balance)
        if outcome not in _WRITES and after is device.status:
            return Reading(None, balance, after)
        with self._unit() as result:
            if outcome in _WRITES:
                self._flush(device, at_ms)
                self._write_baseline(device, at_ms, outcome)
            if after is not device.status:
                self._status_moved(device, after, at_ms)
        balance = self.balance_milli(device)
        return Reading(result, balance, self.status_of(device, balance))

    def _status_moved(self, device: Device, after: Status, at_ms: int) -> None:
        """The device's status moved (a reading, a lowered allowance): write, borrow, report."""
        if after in (Status.LOW, Status.EXHAUSTED):
            self._flush(device, at_ms)  # crossing a threshold is written at once
        if after is Status.EXHAUSTED:
            after = self._borrow_or_report(device)
        elif after is Status.LOW:
            self._event(BudgetEvent.LOW_BALANCE, device)
        device.status = after

    def _write_baseline(self, device: Device, at_ms: int, outcome: Outcome) -> None:
        """Record where counting goes on from, and what the reading was: reset, glitch, jump."""
        # The reading's own time is kept: the entry's time may be later (entries never go back).
        settings, tracker = device.settings, device.tracker
        data: dict[str, object] = {
            "device": settings.account,
            "meter": settings.meter,
            "wh": tracker.baseline_wh,
            "read_ms": at_ms,
            **position(device),
        }
        spike = tracker.spike if outcome is Outcome.SPIKE_HELD else None
        if spike is not None:
            data |= {"held": [spike.from_wh, spike.to_wh], "held_w": round(spike.power_w)}
        if outcome is Outcome.RESET and tracker.reset is not None:
            data["reset"] = list(tracker.reset)
        glitch = tracker.glitch if outcome is Outcome.GLITCH else None
        if glitch is not None:
            data["glitch"] = list(glitch)
        self._append(Kind.METER, data=data, cause=METERING, ts_ms=at_ms)
        if spike is not None:  # for the runtime to ask the user, as the fold now holds it
            assert self._result is not None
            key = (settings.account, settings.meter, spike.from_wh, spike.to_wh)
            self._result.spikes.append((settings.subentry_id, settings.meter, self.held[key]))
        if glitch is not None and (settings.account, settings.meter, *glitch) in self.held:
            # A held jump the meter came back from: discarded, the user need not decide.
            self._meter_marker(device, settings.meter, METERING, at_ms, discarded=list(glitch))
            assert self._result is not None
            self._result.glitches.append({"subentry_id": settings.subentry_id, "wh": glitch})

    def flush_all(self) -> Result:
        """Debit what every meter recorded since the last debit (the debit interval)."""
        with self._unit() as result:
            self._flush_all(self.clock())
        return result

    def _flush_all(self, at_ms: int) -> None:
        for device in self.devices.values():
            if device.tracker.pending_wh:
                self._flush(device, at_ms)

    def _flush(self, device: Device, at_ms: int | None) -> None:
        self._touch()  # taking the ranges changes the tracker: it is put back if the unit fails
        for start, end in device.tracker.take_ranges():
            self._debit(device, start, end, at_ms, METERING)

    def _debit(
        self,
        device: Device,
        start: int,
        end: int,
        at_ms: int | None,
        cause: Cause,
        meter: str | None = None,
        **extra: str,
    ) -> None:
        """Debit a reading range; amounts follow the period's running total, so nothing drifts."""
        settings = device.settings
        meter = meter or settings.meter
        period_milli = (device.period_wh + end - start) * MILLI // self.period_settings.token_wh
        amount = period_milli - device.period_milli
        if amount > 0:
            self._append(
                Kind.DEBIT,
                from_account=settings.account,
                to_account=CONSUMED,
                amount=amount,
                cause=cause,
                data={"meter": meter, "wh": [start, end], **position(device), **extra},
                ts_ms=at_ms,
            )
        else:  # less than a milli-token: the reading is still recorded
            self._meter_marker(device, meter, cause, at_ms, wh=end, range=[start, end])

    def _meter_marker(
        self, device: Device, meter: str, cause: Cause, at_ms: int | None, **data: object
    ) -> None:
        marker = {"device": device.settings.account, "meter": meter, **data}
        if "wh" in data:  # a reading position
            marker |= position(device)
        self._append(Kind.METER, data=marker, cause=cause, ts_ms=at_ms)

    def resolve_spike(
        self,
        subentry_id: str,
        meter: str,
        from_wh: int,
        to_wh: int,
        *,
        accept: bool,
        cause: Cause,
    ) -> Result:
        """Debit a held jump of ``meter`` the user accepted, or record it discarded; once only.

        The meter is the one that jumped, which the device may have left since.
        """
        device = self.devices[subentry_id]
        if (device.settings.account, meter, from_wh, to_wh) in self.resolved:
            raise BudgetError("spike_resolved", device=device.settings.name)
        with self._unit() as result:
            if accept:
                self._debit(device, from_wh, to_wh, None, cause, meter, spike="accepted")
            else:
                self._meter_marker(device, meter, cause, None, discarded=[from_wh, to_wh])
        return result

    def _borrow_or_report(self, device: Device) -> Status:
        """A device ran out: borrow for it when allowed, else report it exhausted."""
        if self.settings.auto_borrow:
            self._borrow(device)
        after = self.status_of(device)
        if after is Status.EXHAUSTED:
            self._event(BudgetEvent.EXHAUSTED, device)
        return after

    def _borrow(self, device: Device) -> None:
        """Borrow from devices on course to end the period with tokens to spare.

        Lenders may lend and are not essential; none gives more than its projected surplus (at
        its pace since it was first metered this period, or as in past periods, whichever needs
        more) less a tenth of its allowance as a margin, the largest surplus gives first.
        """
        assert self.period is not None
        now = self.clock()
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
                self.balance_milli(other),
                self.consumed_milli(other),
                metered_ms(other.metered_since, now),
                left,
                self.history.rest_of_period(
                    other.settings.account, self.period.start_ms, self.period.end_ms, now
                ),
            )
            - other.allowance_milli // 10  # a margin: a lender never lends itself to zero
            for account, other in lenders.items()
        }
        chunk = max(device.allowance_milli // 10, MILLI)
        need = max(-self.balance_milli(device), 0) + chunk
        for account, amount in borrowing_plan(need, surpluses):
            self._append(
                Kind.BORROW,
                from_account=account,
                to_account=device.settings.account,
                amount=amount,
                ts_ms=now,
            )
            lender = lenders[account].settings.name
            self._event(BudgetEvent.BORROWED, device, lender=lender, amount=amount / MILLI)
