"""What users see: each device's and the household's figures, computed in one place.

Sensors, actions, voice, the WebSocket API and the card all read a ``HouseholdView`` built here
from the economy; nothing else computes a balance, a share or a run-out. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
import enum

from .books import Books, Device
from .history import metered_ms, slice_of
from .periods import Period
from .policies import Status, run_out_ms
from .settings import MICRO, MILLI

# A reading rewrites the live balance once it moved by a tenth of a token (or the status
# changed): a state write costs more than everything else a reading does, and every write grows
# the recorder's database. Each full view shows the exact balance.
LIVE_STEP_MILLI = 100
MINUTE_MS = 60_000
# A run-out less than this far ahead (None: any further) is rounded down to this many ms.
RUN_OUT_GRAINS: tuple[tuple[int | None, int], ...] = (
    (15 * MINUTE_MS, MINUTE_MS),
    (60 * MINUTE_MS, 5 * MINUTE_MS),
    (360 * MINUTE_MS, 15 * MINUTE_MS),
    (None, 60 * MINUTE_MS),
)


def tokens(milli: int) -> float:
    """Milli-tokens as tokens."""
    return milli / MILLI


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device's figures."""

    subentry_id: str
    name: str
    balance_milli: int  # including consumption not yet debited
    consumed_milli: int  # this period, including what is not yet debited
    allowance_milli: int  # this period's: allocated, plus what changes "now" moved
    next_allowance_milli: int | None  # set this period for the next one, while it waits
    status: Status
    share_percent: float | None  # of the household's consumption; None before anyone consumed
    rank: int  # by consumption, 1: the largest
    run_out: datetime | None  # at this period's pace; None when it will not run out
    enforced: bool  # whether running out may cut its load (the enforcement switch)

    @property
    def balance(self) -> float:
        """Tokens left."""
        return tokens(self.balance_milli)

    @property
    def consumed(self) -> float:
        """Tokens consumed this period."""
        return tokens(self.consumed_milli)

    @property
    def allowance(self) -> float:
        """Tokens this period."""
        return tokens(self.allowance_milli)

    @property
    def next_allowance(self) -> float | None:
        """Tokens from the next period on, while a change waits for it; else None."""
        return None if self.next_allowance_milli is None else tokens(self.next_allowance_milli)


@dataclass(frozen=True, slots=True)
class LedgerView:
    """The ledger's size, head and integrity."""

    entries: int
    durable_entries: int
    head: str
    last_checkpoint: datetime | None
    valid: bool | None  # as the last verification found; None before the first


@dataclass(slots=True)
class HouseholdView:
    """The household's figures and its devices'."""

    name: str
    period: Period | None
    token_wh: int
    pool_milli: int
    consumed_milli: int
    cost_micro: int
    sales_micro: int
    sold_milli: int  # tokens sold this period
    top_consumer: str | None  # None before anyone consumed
    devices: dict[str, DeviceView]  # by subentry id
    ledger: LedgerView

    @property
    def pool(self) -> float:
        """Unallocated tokens."""
        return tokens(self.pool_milli)

    @property
    def consumed(self) -> float:
        """Tokens consumed this period."""
        return tokens(self.consumed_milli)

    @property
    def cost(self) -> float:
        """What this period's tokens cost, in the household's currency."""
        return self.cost_micro / MICRO

    @property
    def sales(self) -> float:
        """What this period's sold tokens earned."""
        return self.sales_micro / MICRO


def ledger_view(books: Books, valid: bool | None) -> LedgerView:
    """The ledger's figures as they are now."""
    ledger = books.ledger
    signed = ledger.last_checkpoint_ms
    return LedgerView(
        entries=ledger.seq,
        durable_entries=ledger.durable_seq,
        head=ledger.head.hex(),
        last_checkpoint=None if signed is None else datetime.fromtimestamp(signed / 1000, UTC),
        valid=valid,
    )


def run_out(
    books: Books, device: Device, balance: int, consumed: int, now: datetime
) -> datetime | None:
    """When a balance reaches zero at the device's pace since it was first metered this period.

    None when it will not within the period (it lasts the period) or has no pace yet; an
    exhausted device has no run-out to come (its status says so).
    """
    if books.period is None:
        return None
    now_ms = round(now.timestamp() * 1000)
    elapsed = metered_ms(device.metered_since, now_ms)
    moment_ms = run_out_ms(balance, consumed, elapsed, now_ms)
    if moment_ms is None or moment_ms >= books.period.end_ms:
        return None
    # A projection is no more precise than the pace it extrapolates: rounded down to a grain
    # that grows with how far ahead it is, so that it is not rewritten (and logged) at every step.
    grain = run_out_grain(moment_ms - now_ms)
    offset = now.utcoffset()  # grains fall on the local clock's hours and quarters
    local_ms = moment_ms + (0 if offset is None else round(offset.total_seconds() * 1000))
    moment_ms -= local_ms % grain
    return datetime.fromtimestamp(moment_ms / 1000, UTC).astimezone(now.tzinfo)


def run_out_grain(ahead_ms: int) -> int:
    """How precisely a run-out this far ahead is shown (RUN_OUT_GRAINS)."""
    return next(grain for until, grain in RUN_OUT_GRAINS if until is None or ahead_ms < until)


def steadied(before: datetime | None, after: datetime | None, now: datetime) -> datetime | None:
    """A run-out as shown: the one shown before while the new one is within a grain of it.

    Readings come in steps and the pace is judged at any moment between them, so a projection
    swings around a grain's boundary; shown steadily, it changes when it has really moved.
    """
    if before is None or after is None:
        return after
    grain_ms = run_out_grain(round((before - now).total_seconds() * 1000))
    return before if abs((after - before).total_seconds() * 1000) <= grain_ms else after


@dataclass(frozen=True, slots=True)
class BurnDown:
    """A device's tokens over the running period so far, and where its pace takes them.

    ``left_milli[0]`` is the balance at the period's start (its allowance, and what it carried
    in), then one per slice already over; the live balance is the last point. Borrowed tokens
    are counted per slice up to the current one.
    """

    left_milli: tuple[int, ...]
    borrowed_milli: tuple[int, ...]
    projected_milli: int  # at the period's end at this period's pace; below zero: runs out first


def burn_down(books: Books, device: Device, balance: int, consumed: int, now_ms: int) -> BurnDown:
    """A device's burn-down, from its course: the ledger's balance, less what moved in since.

    ``balance`` and ``consumed`` are the live figures (with consumption not yet debited).
    """
    assert books.period is not None
    start_ms, end_ms = books.period.start_ms, books.period.end_ms
    current = slice_of(start_ms, end_ms, now_ms)
    course = device.course
    left = [books.ledger.balance(device.settings.account)]  # what the course's entries left
    for moved in reversed(course.net[: current + 1]):  # back to the start, slice by slice
        left.append(left[-1] - moved)
    left.reverse()
    elapsed = metered_ms(device.metered_since, now_ms)
    remaining = max(end_ms - now_ms, 0)
    # The pace of run_out(): consumed over the time metered, on to the period's end.
    spent = consumed * remaining // elapsed if elapsed > 0 else 0
    return BurnDown(tuple(left[:-1]), course.borrowed[: current + 1], balance - spent)


def household_view(
    books: Books,
    now: datetime,
    ledger: LedgerView,
    *,
    shown: HouseholdView | None = None,
    fresh: str | None = None,
) -> HouseholdView:
    """Every figure, as it is now.

    Or, after a reading of the ``fresh`` device: its figures as they are now, every other
    device's as ``shown``, and the totals, shares and ranks computed from those, so that what
    is shown always adds up (and a reading rewrites only what it changed). With ``shown``,
    run-outs are ``steadied`` against the ones shown.
    """
    kept: dict[str, DeviceView] = {}  # devices shown as they were
    figures: dict[str, tuple[int, int, Status, datetime | None]] = {}
    for key, device in books.devices.items():
        stepped = shown is not None and fresh is not None and key != fresh
        before = shown.devices.get(key) if stepped and shown is not None else None
        if before is not None:
            kept[key] = before
            figures[key] = (
                before.balance_milli,
                before.consumed_milli,
                before.status,
                before.run_out,
            )
            continue
        balance, consumed = books.balance_milli(device), books.consumed_milli(device)
        status = books.status_of(device, balance)
        moment = run_out(books, device, balance, consumed, now)
        if shown is not None and (prior := shown.devices.get(key)) is not None:
            moment = steadied(prior.run_out, moment, now)
        figures[key] = balance, consumed, status, moment
    total = sum(figure[1] for figure in figures.values())
    ranking = sorted(books.devices, key=lambda k: (-figures[k][1], books.devices[k].settings.name))
    devices = {}
    for rank, key in enumerate(ranking, 1):
        balance, consumed, status, moment = figures[key]
        share = None if total == 0 else round(consumed * 100 / total, 1)
        if (before := kept.get(key)) is not None:
            # Most devices' figures stand after another device's reading: the same object, so
            # publishing sees at once that nothing of theirs changed.
            same = before.share_percent == share and before.rank == rank
            devices[key] = before if same else replace(before, share_percent=share, rank=rank)
            continue
        device = books.devices[key]
        devices[key] = DeviceView(
            subentry_id=key,
            name=device.settings.name,
            balance_milli=balance,
            consumed_milli=consumed,
            allowance_milli=device.allowance_milli,
            next_allowance_milli=device.next_milli,
            status=status,
            share_percent=share,
            rank=rank,
            run_out=moment,
            enforced=device.settings.enforce,
        )
    top = books.devices[ranking[0]].settings.name if ranking and total > 0 else None
    devices = {key: devices[key] for key in books.devices}  # in the household's order
    return HouseholdView(
        name=books.name,
        period=books.period,
        token_wh=books.period_settings.token_wh,
        pool_milli=books.pool_milli,
        consumed_milli=total,
        cost_micro=books.cost_micro,
        sales_micro=books.sales_micro,
        sold_milli=books.sold_milli,
        top_consumer=top,
        devices=devices,
        ledger=ledger,
    )


def worth_showing(shown: DeviceView, balance_milli: int, status: Status) -> bool:
    """Whether a reading is worth showing: its status changed, or its balance moved a step.

    The step is ``LIVE_STEP_MILLI``; what is shown then is every figure anew (consumption,
    shares, ranks, run-outs, totals), so that no figure lags another.
    """
    return status is not shown.status or abs(balance_milli - shown.balance_milli) >= LIVE_STEP_MILLI


class Aspect(enum.StrEnum):
    """What of a device's view its entities show: each follows its own signal."""

    BALANCE = "balance"
    STATUS = "status"
    STANDING = "standing"  # among the household's devices: share and rank
    FIGURES = "figures"  # everything else: consumption, allowance, run-out


def changed_aspects(before: DeviceView | None, after: DeviceView) -> list[Aspect]:
    """What differs between two views of a device (everything, when there was none before)."""
    if before is None:
        return list(Aspect)
    if before is after:  # a device another device's reading left as it was
        return []
    changed = []
    if before.balance_milli != after.balance_milli:
        changed.append(Aspect.BALANCE)
    if before.status is not after.status:
        changed.append(Aspect.STATUS)
    if (before.share_percent, before.rank) != (after.share_percent, after.rank):
        changed.append(Aspect.STANDING)
    if _figures(before) != _figures(after):
        changed.append(Aspect.FIGURES)
    return changed


def _figures(view: DeviceView) -> tuple[object, ...]:
    return (
        view.name,
        view.consumed_milli,
        view.allowance_milli,
        view.next_allowance_milli,
        view.run_out,
        view.enforced,
    )
