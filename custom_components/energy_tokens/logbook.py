"""Logbook lines for the budget events (their texts live in the events table).

A device's event is tied to its balance entity, so the line shows on the device's and the
entity's activity with a link; its figures themselves change too often to be worth a line
(the numeric ones are left out by the logbook itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

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
        line = {LOGBOOK_ENTRY_NAME: name, LOGBOOK_ENTRY_MESSAGE: message}
        if (device_id := event.data.get("device_id")) and (entity := _balance(hass, device_id)):
            line[LOGBOOK_ENTRY_ENTITY_ID] = entity
        return line

    for event in BudgetEvent:
        async_describe_event(DOMAIN, event.event_type, describe)


def _balance(hass: HomeAssistant, device_id: str) -> str | None:
    """The balance entity of a device (none once the device is gone)."""
    for entry in er.async_entries_for_device(er.async_get(hass), device_id):
        if (
            entry.platform == DOMAIN
            and entry.domain == Platform.SENSOR
            and entry.unique_id.endswith("_balance")
        ):
            return entry.entity_id
    return None
