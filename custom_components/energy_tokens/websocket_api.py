"""The dashboard card's view of a household, over Home Assistant's WebSocket API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.components.websocket_api.messages import event_message
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util
import probatio

from .const import DOMAIN
from .exchange import SALE_ESCROW, escrow_account, household_account, incoming_account
from .helpers import household, offers_response
from .ledger import Entry
from .ledger.entries import MOVEMENT_KINDS
from .ranking import Ranking
from .runtime import HouseholdRuntime
from .services import balances_response
from .settings import MILLI
from .signals import signal_view
from .view import burn_down, tokens

COMMAND_HOUSEHOLD = f"{DOMAIN}/household"
COMMAND_SUBSCRIBE = f"{DOMAIN}/subscribe_household"
RECENT_MOVEMENTS = 8


@callback
def async_setup_websocket_api(hass: HomeAssistant) -> None:
    """Register the commands (once, for every household)."""
    websocket_api.async_register_command(hass, websocket_household)
    websocket_api.async_register_command(hass, websocket_subscribe_household)


@websocket_command(
    {
        probatio.Required("type"): COMMAND_SUBSCRIBE,
        probatio.Optional("household"): str,
    }
)
@callback
def websocket_subscribe_household(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Send the household's view now, then again whenever it changes, until unsubscribed.

    Changes within one turn of the event loop (a commit and the refresh after it, say) are sent
    once; a household reloaded meanwhile goes on being sent, and one no longer loaded is not.
    """
    runtime = household(hass, msg.get("household"))  # refused like the one-shot command
    entry_id = runtime.entry.entry_id
    pending = False

    @callback
    def send() -> None:
        nonlocal pending
        pending = False
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is not None and entry.state is ConfigEntryState.LOADED:
            view = household_view(entry.runtime_data)
            connection.send_message(event_message(msg["id"], view))

    @callback
    def changed() -> None:
        nonlocal pending
        if not pending:
            pending = True
            hass.loop.call_soon(send)

    connection.subscriptions[msg["id"]] = async_dispatcher_connect(
        hass, signal_view(entry_id), changed
    )
    connection.send_result(msg["id"])
    send()


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
    connection.send_result(msg["id"], household_view(household(hass, msg.get("household"))))


def household_view(runtime: HouseholdRuntime) -> dict[str, Any]:
    """What the card shows: get_balances' figures, the period and the latest movements."""
    now = dt_util.now()
    view = runtime.current_view(now)
    period = view.period
    # Accounts by name: devices (removed ones by the name the ledger recorded for them) and other
    # households; system accounts (pool, market) keep ids, which the card names.
    names = dict(runtime.economy.labels)
    names |= {
        book.settings.account: book.settings.name for book in runtime.economy.devices.values()
    }
    others = {e.entry_id: e.title for e in runtime.hass.config_entries.async_entries(DOMAIN)}
    members = {} if runtime.community is None else runtime.community.members
    others |= {member.household: member.name for member in members.values()}
    for other, title in others.items():  # tokens on their way are named by where they go
        for account in (household_account, escrow_account, incoming_account):
            names[account(other)] = title
    names[SALE_ESCROW] = "for_sale"  # a system account: the card names it
    response = balances_response(runtime, view)
    if period is not None:  # each device's burn-down chart, at the same moment as its figures
        now_ms = round(now.timestamp() * 1000)
        for shown, (key, device) in zip(response["devices"], view.devices.items(), strict=True):
            chart = burn_down(
                runtime.economy,
                runtime.economy.devices[key],
                device.balance_milli,
                device.consumed_milli,
                now_ms,
            )
            shown["chart"] = {
                "left": [tokens(milli) for milli in chart.left_milli],
                "borrowed": [tokens(milli) for milli in chart.borrowed_milli],
                "projected": tokens(chart.projected_milli),
            }
    return (
        response
        | {
            "entry_id": runtime.entry.entry_id,
            "period_start": None if period is None else period.start.isoformat(),
            "now": now.isoformat(),
            "sold": tokens(view.sold_milli),
            "consumed": view.consumed,
            "token_kwh": view.token_wh / 1000,
            "ledger": {"entries": view.ledger.durable_entries, "head": view.ledger.head},
            # Admitted members of the household's community: the card offers them as recipients.
            "members": sorted(
                ({"household": m.household, "name": m.name} for m in members.values()),
                key=lambda member: member["name"].casefold(),
            ),
            "offers": offers_response(runtime),  # the members' sale offers it may buy
            "ranking": None if runtime.totals is None else _ranking(runtime.totals.ranking),
            "recent": [
                _movement(names, entry)
                for entry in runtime.economy.ledger.recent_entries()
                if _shown(names, entry)
            ][:RECENT_MOVEMENTS],
        }
    )


def _shown(names: dict[str, str], entry: Entry) -> bool:
    """Movements a user would count: each transfer once, as it leaves or arrives."""
    if entry.kind not in MOVEMENT_KINDS:
        return False
    # An escrow's settlement repeats its offer (the movement a user made); tokens from another
    # instance move between that household's accounts until they reach the pool (or go back).
    return set(entry.data) & {"escrow", "refund"} != {"escrow"} and _name(
        names, entry.from_account
    ) != _name(names, entry.to_account)


def _movement(names: dict[str, str], entry: Entry) -> dict[str, Any]:
    """A movement, its accounts by name where they have one."""
    return {
        "seq": entry.seq,
        "time": datetime.fromtimestamp(entry.ts_ms / 1000, UTC).isoformat(),
        "kind": entry.kind.name.lower(),
        "from": _name(names, entry.from_account),
        "to": _name(names, entry.to_account),
        "amount": entry.amount / MILLI,
        "note": entry.data.get("note"),
        "hash": entry.hash.hex(),
    }


def _name(names: dict[str, str], account: str | None) -> str | None:
    return None if account is None else names.get(account, account)


def _ranking(ranking: Ranking) -> dict[str, Any]:
    """The community's ranking as the card lists it: ranked first, then the others by name."""
    standings = [ranking.own, *ranking.members.values()]
    shown = [
        {
            "name": standing.name,
            "own": standing is ranking.own,
            "consumed_kwh": round(standing.totals.consumed_kwh, 3),
            "period": standing.totals.period,
            "rank": standing.rank,
            "share": standing.share,
        }
        for standing in standings
        if standing.totals is not None
    ]
    shown.sort(key=lambda row: (row["rank"] is None, row["rank"] or 0, str(row["name"]).casefold()))
    return {"period": ranking.period, "households": shown}
