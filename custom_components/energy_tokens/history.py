"""A device's pace: since it was first metered this period, and in the periods before.

Pure. Run-out and borrowing judge a device by its own pace: what it consumed over the time it
has been metered this period (a device added mid-period, or a fresh install, is not diluted
over the whole period), and what it consumed in the last closed periods *from the same point of
the period to its end* (so an idle dishwasher that runs every evening keeps, during the day,
what it needed in the evenings before, instead of lending it and being cut when it starts).

A period is cut into ``SLICES`` equal slices; each device's consumption is counted per slice,
and so are the tokens that moved in and out of it (its course: what its burn-down chart draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ledger import Entry, Kind
from .policies import ALLOWANCE_LOWERED

HISTORY = 3  # closed periods a device's past consumption is taken from
SLICES = 24  # a daily period's hours; a monthly period's slices are 30 hours or so
EMPTY: tuple[int, ...] = (0,) * SLICES


def metered_ms(metered_since: int | None, now_ms: int) -> int:
    """How long a device has been metered this period: the time its pace is over."""
    return 0 if metered_since is None else max(now_ms - metered_since, 0)


def add_to_slice(
    slices: tuple[int, ...], start_ms: int, end_ms: int, at_ms: int, milli: int
) -> tuple[int, ...]:
    """Slices with ``milli`` counted in the one ``at_ms`` falls in (a new tuple)."""
    index = slice_of(start_ms, end_ms, at_ms)
    return (*slices[:index], slices[index] + milli, *slices[index + 1 :])


def slice_of(start_ms: int, end_ms: int, at_ms: int) -> int:
    """The slice of the period a moment falls in (the first or last one outside the period)."""
    return min(max((at_ms - start_ms) * SLICES // max(end_ms - start_ms, 1), 0), SLICES - 1)


@dataclass(frozen=True, slots=True)
class Course:
    """A device's running period per slice, in milli-tokens: debited, net moved in, borrowed."""

    debited: tuple[int, ...] = EMPTY  # its consumption: what History keeps of a closed period
    net: tuple[int, ...] = EMPTY  # movements in (+) and out (-) but allowance changes
    borrowed: tuple[int, ...] = EMPTY  # what it borrowed from the devices that could spare it

    def moved(self, start_ms: int, end_ms: int, entry: Entry, *, into: bool) -> Course:
        """The course after an entry that moved tokens into (or out of) the device."""
        if entry.kind is Kind.ALLOCATE or entry.data.get("reason") == ALLOWANCE_LOWERED:
            return self  # the allowance is the chart's baseline, drawn from the period's start
        signed = entry.amount if into else -entry.amount
        debited, borrowed = self.debited, self.borrowed
        if entry.kind is Kind.DEBIT and not into:
            debited = add_to_slice(debited, start_ms, end_ms, entry.ts_ms, entry.amount)
        elif entry.kind is Kind.BORROW and into:
            borrowed = add_to_slice(borrowed, start_ms, end_ms, entry.ts_ms, entry.amount)
        net = add_to_slice(self.net, start_ms, end_ms, entry.ts_ms, signed)
        return Course(debited, net, borrowed)


COURSE = Course()  # a period's, before anything moved


class History:
    """Each device account's consumption per slice in the last closed periods.

    Every period opens with it (the period-open entry's ``history``), so a restart reads it from
    the running period's own entries.
    """

    def __init__(self, periods: dict[str, list[list[int]]] | None = None) -> None:
        """From a period-open entry's ``history`` (account: [slices, ...], oldest first)."""
        self._periods = {
            account: [list(slices) for slices in kept] for account, kept in (periods or {}).items()
        }

    def note(self, slices: dict[str, Sequence[int]]) -> None:
        """A closed period's consumption per slice (milli-tokens), by account."""
        for account, counted in slices.items():
            kept = self._periods.setdefault(account, [])
            kept.append(list(counted))
            del kept[:-HISTORY]

    def as_data(self, accounts: set[str]) -> dict[str, list[list[int]]]:
        """What a period-open entry records, for the accounts still there."""
        return {account: kept for account, kept in self._periods.items() if account in accounts}

    def copy(self) -> History:
        """A copy, to put back if a unit that closed a period is undone."""
        return History(self._periods)

    def rest_of_period(self, account: str, start_ms: int, end_ms: int, now_ms: int) -> int:
        """What the account consumed, on average over the last periods, from now's point on."""
        kept = self._periods.get(account)
        if not kept:
            return 0
        length = max(end_ms - start_ms, 1)
        position = min(max(now_ms - start_ms, 0), length) * SLICES  # in slice units * length
        index, into = divmod(position, length)
        total = 0
        for slices in kept:
            if index < SLICES:  # the rest of this slice, pro rata, then the slices after it
                total += slices[index] * (length - into) // length + sum(slices[index + 1 :])
        return total // len(kept)
