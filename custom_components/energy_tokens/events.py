"""The budget events: one table from which the bus, the logbook and the device triggers read.

Pure: the economy returns these as values (``DomainEvent``); the runtime fires them on Home
Assistant's bus with the payload documented in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import enum
from typing import Any


class BudgetEvent(enum.StrEnum):
    """What happened; the value is the device trigger's type."""

    LOW_BALANCE = "low_balance"
    EXHAUSTED = "exhausted"
    BORROWED = "borrowed"
    LOAD_CUT = "load_cut"
    LOAD_RESTORED = "load_restored"
    LOAD_OVERRIDE = "load_override"
    PERIOD_CLOSED = "period_closed"

    @property
    def event_type(self) -> str:
        """The event type on Home Assistant's bus."""
        return f"energy_tokens_{self.value}"

    @property
    def spec(self) -> EventSpec:
        """How the event shows in the logbook and whether devices offer it as a trigger."""
        return EVENTS[self]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """How one budget event reads in the logbook, and whether it is a device trigger."""

    logbook: Callable[[Mapping[str, Any]], str]
    device_trigger: bool = True


EVENTS: dict[BudgetEvent, EventSpec] = {
    BudgetEvent.LOW_BALANCE: EventSpec(
        lambda data: f"is low on tokens: {data['balance']:g} of {data['allowance']:g} left"
    ),
    BudgetEvent.EXHAUSTED: EventSpec(lambda data: f"ran out of tokens ({data['balance']:g})"),
    BudgetEvent.BORROWED: EventSpec(
        lambda data: f"borrowed {data['amount']:g} tokens from {data['lender']}"
    ),
    BudgetEvent.LOAD_CUT: EventSpec(
        lambda data: f"ran out of tokens: turned {data.get('load_name', data['load'])} off"
    ),
    BudgetEvent.LOAD_RESTORED: EventSpec(
        lambda data: f"has tokens again: turned {data.get('load_name', data['load'])} back on"
    ),
    BudgetEvent.LOAD_OVERRIDE: EventSpec(
        lambda data: (
            f"is out of tokens, but {data['load_name']} was switched back on by hand: "
            "it stays on and is charged as overage"
        )
    ),
    BudgetEvent.PERIOD_CLOSED: EventSpec(
        lambda data: (
            f"closed period {data['period']}: cost {data['cost']:g}, sales {data['sales']:g}"
        ),
        device_trigger=False,  # a household's event, not a device's
    ),
}

DEVICE_TRIGGERS: tuple[BudgetEvent, ...] = tuple(e for e in BudgetEvent if e.spec.device_trigger)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A budget event as the economy reports it: about a device (its subentry id) or none."""

    kind: BudgetEvent
    device: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
