"""Moving tokens between devices, durably: within a household, or to another in two phases.

An action returns once what it wrote is durable. Between households the offer is durable before
the receiver writes anything, and an offer a crash left in escrow is settled or refunded when the
households are running again (exchange.py explains the phases).
"""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .books import BudgetError, Device
from .const import DOMAIN
from .exchange import find_receipt, open_offers
from .ledger import Cause, Entry, LedgerError
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime

_LOGGER = logging.getLogger(__name__)


async def async_move_tokens(
    runtime: HouseholdRuntime,
    source: Device,
    peer: HouseholdRuntime,
    target: Device,
    amount_milli: int,
    cause: Cause,
    note: str,
) -> None:
    """Move tokens between two devices; return once durable. Raises BudgetError, LedgerError."""
    if peer is runtime:
        await runtime.async_act(runtime.economy.transfer(source, target, amount_milli, cause, note))
        return
    offered = runtime.economy.offer(source, peer.entry.entry_id, amount_milli, cause, note)
    await runtime.async_act(offered)
    offer = offered.entries[-1]
    try:
        received = peer.economy.receive(runtime.entry.entry_id, offer, target, cause, note)
        await peer.async_act(received)
    except BudgetError, LedgerError:
        await runtime.async_act(runtime.economy.refund_offer(offer, "refused"))
        raise
    await runtime.async_act(runtime.economy.settle_offer(offer, received.entries[-1]))


async def async_recover_offers(hass: HomeAssistant, starting: HouseholdRuntime) -> None:
    """Settle or refund every offer a crash left in escrow, in every running household.

    ``starting`` is the household whose start calls this (it is not loaded yet). An offer is
    settled when its receiver has the receipt, and refunded when the receiver does not or no
    longer exists; one whose receiver is not running now waits for it to start.
    """
    entries: list[EnergyTokensConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    running = {e.entry_id: e.runtime_data for e in entries if e.state is ConfigEntryState.LOADED}
    running[starting.entry.entry_id] = starting
    for runtime in running.values():
        ledger = runtime.economy.ledger
        if not any(a.startswith("escrow:") and b for a, b in ledger.balances().items()):
            continue
        offers = await hass.async_add_executor_job(_offers, runtime)
        for offer in offers:
            receiver = offer.data["peer_household"]
            if (peer := running.get(receiver)) is not None:
                receipt = await hass.async_add_executor_job(_receipt, peer, offer)
                await _async_conclude(runtime, offer, receipt)
            elif hass.config_entries.async_get_entry(receiver) is None:
                await _async_conclude(runtime, offer, None)  # the receiver was deleted


def _offers(runtime: HouseholdRuntime) -> list[Entry]:
    return open_offers(runtime.economy.ledger.iter_entries())


def _receipt(peer: HouseholdRuntime, offer: Entry) -> Entry | None:
    return find_receipt(peer.economy.ledger.iter_entries(), offer)


async def _async_conclude(runtime: HouseholdRuntime, offer: Entry, receipt: Entry | None) -> None:
    economy = runtime.economy
    if receipt is None:
        await runtime.async_act(economy.refund_offer(offer, "not received"))
        _LOGGER.warning(
            "%s: %s tokens offered to another household were never received; refunded",
            runtime.entry.title,
            offer.amount / 1000,
        )
    else:
        await runtime.async_act(economy.settle_offer(offer, receipt))
