"""Logbook lines for the budget events (their texts live in the events table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN
from .events import BudgetEvent

_BY_TYPE = {event.event_type: event for event in BudgetEvent}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, Any]]], None],
) -> None:
    """Describe each budget event in the logbook."""

    @callback
    def describe(event: Event) -> dict[str, Any]:
        name = event.data.get("device") or event.data["household"]
        message = _BY_TYPE[str(event.event_type)].spec.logbook(event.data)
        return {LOGBOOK_ENTRY_NAME: name, LOGBOOK_ENTRY_MESSAGE: message}

    for event in BudgetEvent:
        async_describe_event(DOMAIN, event.event_type, describe)
