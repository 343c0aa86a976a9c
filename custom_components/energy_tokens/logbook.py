"""Logbook lines for the budget events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback

from .const import (
    DOMAIN,
    EVENT_BORROWED,
    EVENT_EXHAUSTED,
    EVENT_LOAD_CUT,
    EVENT_LOAD_RESTORED,
    EVENT_LOW_BALANCE,
    EVENT_PERIOD_CLOSED,
)


def _message(event: Event) -> str:
    data = event.data
    match event.event_type:
        case "energy_tokens_low_balance":
            return f"is low on tokens: {data['balance']:g} of {data['allowance']:g} left"
        case "energy_tokens_exhausted":
            return f"ran out of tokens ({data['balance']:g})"
        case "energy_tokens_borrowed":
            return f"borrowed {data['amount']:g} tokens from {data['lender']}"
        case "energy_tokens_load_cut":
            return f"ran out of tokens: turned {data['load']} off"
        case "energy_tokens_load_restored":
            return f"has tokens again: turned {data['load']} back on"
        case _:
            return f"closed period {data['period']}: cost {data['cost']:g}, sales {data['sales']:g}"


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, Any]]], None],
) -> None:
    """Describe each budget event in the logbook."""

    @callback
    def describe(event: Event) -> dict[str, Any]:
        name = event.data.get("device") or event.data["household"]
        return {LOGBOOK_ENTRY_NAME: name, LOGBOOK_ENTRY_MESSAGE: _message(event)}

    for event_type in (
        EVENT_LOW_BALANCE,
        EVENT_EXHAUSTED,
        EVENT_BORROWED,
        EVENT_LOAD_CUT,
        EVENT_LOAD_RESTORED,
        EVENT_PERIOD_CLOSED,
    ):
        async_describe_event(DOMAIN, event_type, describe)
