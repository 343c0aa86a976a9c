"""Pure decisions of a household: who is served first, where surplus goes, a device's status."""

from __future__ import annotations

from collections.abc import Iterable
import enum

from .const import Priority, Surplus
from .ledger import Kind
from .settings import DeviceSettings

POOL = "pool"
PROVIDER = "provider"
MARKET = "market"
CONSUMED = "consumed"
ALLOWANCE_LOWERED = "allowance lowered"  # an adjustment's reason: it lowers the allowance

_PRIORITY_ORDER = {Priority.ESSENTIAL: 0, Priority.NORMAL: 1, Priority.DEFERRABLE: 2}


class Status(enum.StrEnum):
    """A device's budget status."""

    OK = "ok"
    LOW = "low"
    BORROWING = "borrowing"
    EXHAUSTED = "exhausted"


def allocation_order(devices: Iterable[DeviceSettings]) -> list[DeviceSettings]:
    """Essential devices first, deferrable last; by name within a priority."""
    return sorted(devices, key=lambda device: (_PRIORITY_ORDER[device.priority], device.name))


def surplus_move(surplus: Surplus) -> tuple[Kind, str]:
    """The entry kind and the receiving account for unused tokens at period end."""
    match surplus:
        case Surplus.ROLLOVER | Surplus.COMMUNITY:  # offered from the pool once rolled over
            return Kind.ROLLOVER, POOL
        case Surplus.SELL:
            return Kind.SALE, MARKET
        case _:
            return Kind.FORFEIT, PROVIDER


def status(balance_milli: int, allowance_milli: int, low_threshold: int, borrowed: bool) -> Status:
    """Exhausted at or below zero, low under the threshold share of the allowance."""
    if balance_milli <= 0:
        return Status.EXHAUSTED
    if borrowed:
        return Status.BORROWING
    if balance_milli * 100 < allowance_milli * low_threshold:
        return Status.LOW
    return Status.OK


def projected_surplus(
    balance_milli: int,
    consumed_milli: int,
    elapsed_ms: int,
    left_ms: int,
    usual_rest_milli: int = 0,
) -> int:
    """What a device will have left at period end, at its pace or as it used to, if more.

    Its pace is what it consumed over the time it has been metered this period (``elapsed_ms``);
    ``usual_rest_milli`` is what it consumed in past periods from this point of the period on,
    so a device that runs in the evening keeps for the evening what it needed before.
    """
    at_pace = consumed_milli * left_ms // elapsed_ms if elapsed_ms > 0 else 0
    return balance_milli - max(at_pace, usual_rest_milli)


def run_out_ms(balance_milli: int, consumed_milli: int, elapsed_ms: int, now_ms: int) -> int | None:
    """When a balance reaches zero at the device's pace (None: never, at this pace)."""
    if balance_milli <= 0 or consumed_milli <= 0 or elapsed_ms <= 0:
        return None
    return now_ms + balance_milli * elapsed_ms // consumed_milli  # integers: no overflow


def borrowing_plan(need_milli: int, surpluses: dict[str, int]) -> list[tuple[str, int]]:
    """Who lends how much: largest projected surplus first, none beyond its surplus."""
    plan: list[tuple[str, int]] = []
    for account, surplus in sorted(surpluses.items(), key=lambda item: (-item[1], item[0])):
        if need_milli <= 0 or surplus <= 0:
            break
        take = min(surplus, need_milli)
        plan.append((account, take))
        need_milli -= take
    return plan
