"""The dashboard card's view of a household, over Home Assistant's WebSocket API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback
import probatio

from .const import DOMAIN
from .household import Household, household_account
from .ledger import Entry
from .ledger.entries import MOVEMENT_KINDS
from .services import balances_response, resolve_household
from .settings import MILLI

COMMAND_HOUSEHOLD = f"{DOMAIN}/household"
RECENT_MOVEMENTS = 8


@callback
def async_setup_websocket_api(hass: HomeAssistant) -> None:
    """Register the commands (once, for every household)."""
    websocket_api.async_register_command(hass, websocket_household)


@websocket_command(
    {
        probatio.Required("type"): COMMAND_HOUSEHOLD,
        probatio.Optional("household"): str,
    }
)
@callback
def websocket_household(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Send a household's balances, period and latest ledger movements.

    Without ``household``, the only loaded household is meant; with several, the caller must say.
    """
    household = resolve_household(hass, msg.get("household"))
    connection.send_result(msg["id"], household_view(household))


def household_view(household: Household) -> dict[str, Any]:
    """What the card shows: get_balances' figures, the period and the latest movements."""
    view = balances_response(household)
    ledger = household.ledger
    period = household.period
    view.update(
        entry_id=household.entry.entry_id,
        period_start=None if period is None else period.start.isoformat(),
        token_kwh=household.period_settings.token_wh / 1000,
        ledger={"entries": ledger.durable_seq, "head": ledger.head.hex()},
        recent=[
            _movement(household, entry)
            for entry in ledger.recent_entries()
            if entry.kind in MOVEMENT_KINDS
        ][:RECENT_MOVEMENTS],
    )
    return view


def _movement(household: Household, entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "time": datetime.fromtimestamp(entry.ts_ms / 1000, UTC).isoformat(),
        "kind": entry.kind.name.lower(),
        "from": _account_name(household, entry.from_account),
        "to": _account_name(household, entry.to_account),
        "amount": entry.amount / MILLI,
        "note": entry.data.get("note"),
        "hash": entry.hash.hex(),
    }


def _account_name(household: Household, account: str | None) -> str | None:
    """A device's or another household's name; system accounts (pool, market...) stay as ids."""
    if account is None:
        return None
    for device in household.devices.values():
        if device.settings.account == account:
            return device.settings.name
    for entry in household.hass.config_entries.async_entries(DOMAIN):
        if household_account(entry.entry_id) == account:
            return entry.title
    return account
