"""Moving tokens between devices, durably: within a household, or to another in two phases.

An action returns once what it wrote is durable. Between households the offer is durable before
the receiver writes anything, and an offer a crash left in escrow is settled or refunded when the
households are running again (exchange.py explains the phases).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from .books import Device
from .const import DOMAIN
from .exchange import find_receipt, open_offers
from .ledger import Cause, Entry, LedgerError
from .results import BudgetError
from .runtime import HouseholdRuntime

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Exchange:
    """The instance's households that can trade, and one lock for their offers.

    A transfer between households holds the lock through its three phases, and recovery holds it
    while it reads and concludes offers: recovery never mistakes a transfer under way for one a
    crash interrupted, and two recoveries never conclude the same offer.
    """

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    households: dict[str, HouseholdRuntime] = field(default_factory=dict)


_DATA: HassKey[_Exchange] = HassKey(f"{DOMAIN}_exchange")


def _exchange(hass: HomeAssistant) -> _Exchange:
    if (exchange := hass.data.get(_DATA)) is None:
        exchange = hass.data[_DATA] = _Exchange()
    return exchange


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
    async with _exchange(runtime.hass).lock:
        offered = runtime.economy.offer(source, peer.entry.entry_id, amount_milli, cause, note)
        await runtime.async_act(offered)
        offer = offered.entries[-1]
        try:  # refused before the receiver wrote anything: refunded at once
            received = peer.economy.receive(runtime.entry.entry_id, offer, target, cause, note)
        except BudgetError, LedgerError:
            await runtime.async_act(runtime.economy.refund_offer(offer, "refused"))
            raise
        try:
            await peer.async_act(received)
            await runtime.async_act(
                runtime.economy.settle_offer(offer, *_receipt_ref(received.entries[-1]))
            )
        except LedgerError as err:
            # Whether the receipt reached the disk is not known (a failed fsync may have kept
            # it): the offer stays in escrow, and is settled or refunded when both ledgers open.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="transfer_unfinished",
                translation_placeholders={"error": str(err)},
            ) from err


async def async_join_exchange(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
    """A household starts trading: conclude every offer a crash left in escrow, to or from it.

    Called at the end of its start (it is not loaded yet). Every trading household's offers are
    looked at: one is settled when its receiver has the receipt, and refunded when the receiver
    does not or no longer exists; one whose receiver has not joined yet waits for it to. Households
    starting together each join in turn, and the later one finds the earlier one's offers.
    """
    exchange = _exchange(hass)
    exchange.households[runtime.entry.entry_id] = runtime
    async with exchange.lock:
        for household in list(exchange.households.values()):
            ledger = household.economy.ledger
            if not any(a.startswith("escrow:") and b for a, b in ledger.balances().items()):
                continue
            try:
                await _async_conclude_offers(hass, exchange, household)
            except LedgerError as err:  # its offers wait for its next start
                _LOGGER.error(
                    "%s: offers left in escrow could not be concluded: %s",
                    household.entry.title,
                    err,
                )


async def _async_conclude_offers(
    hass: HomeAssistant, exchange: _Exchange, household: HouseholdRuntime
) -> None:
    for offer in await hass.async_add_executor_job(_offers, household):
        receiver = offer.data["peer_household"]
        if (peer := exchange.households.get(receiver)) is not None:
            receipt = await hass.async_add_executor_job(_receipt, peer, offer)
            await _async_conclude(household, offer, receipt)
        elif hass.config_entries.async_get_entry(receiver) is None:
            await _async_conclude(household, offer, None)  # the receiver was deleted


@callback
def async_leave_exchange(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
    """A household stops: nothing concludes its offers until it joins again."""
    exchange = _exchange(hass)
    if exchange.households.get(runtime.entry.entry_id) is runtime:
        del exchange.households[runtime.entry.entry_id]


def _receipt_ref(receipt: Entry) -> tuple[int, str]:
    return receipt.seq, receipt.hash.hex()


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
        await runtime.async_act(economy.settle_offer(offer, *_receipt_ref(receipt)))
