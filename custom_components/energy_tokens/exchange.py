"""Tokens between households, in two phases: never one side recorded alone.

1. The sender's unit moves the tokens from the device into escrow (``escrow:<receiver>``) and is
   made durable first: the *offer*.
2. The receiver's unit records them arriving from ``household:<sender>``, naming the offer's hash:
   the *receipt*.
3. The sender's unit closes the escrow towards ``household:<receiver>`` with a link marker naming
   the receipt's hash: the *settlement*. Had the receipt been refused, or never written, the
   escrow is refunded to the device instead.

With a household on another instance the same phases travel over the community's MQTT topics,
with the sender deciding (ledger/trade.py): the receipt goes into ``incoming:<sender>`` first,
and to the pool (or back) when the sender's decision arrives.

A *sale* to the community is an offer to no household in particular, into ``escrow:sale``, with
a price per token; the first member's receipt settles it. The settlement records the money
earned (``sold_micro``) and the buyer's conclusion the money owed (``bought_micro``).

Each ledger stays zero-sum at every step. After a crash, an offer still in escrow is settled if
the receiver has its receipt and refunded if not (the runtime asks); so either both sides are
recorded, or the sender got its tokens back. Pure: no Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .books import Device
from .consumption import Consumption
from .inputs import check_note
from .ledger import Cause, Entry, Kind
from .ledger.entries import SYSTEM
from .policies import POOL
from .results import BudgetError, Result
from .settings import MILLI

SALE_ESCROW = "escrow:sale"  # tokens offered to the community, until a member buys them


def household_account(household_id: str) -> str:
    """The account, in a ledger, of another household it exchanged tokens with."""
    return f"household:{household_id}"


def escrow_account(household_id: str) -> str:
    """Tokens offered to another household and not yet received there."""
    return f"escrow:{household_id}"


def incoming_account(household_id: str) -> str:
    """Tokens another instance's household offered, received here and awaiting its decision."""
    return f"incoming:{household_id}"


def is_remote_offer(entry: Entry) -> bool:
    """An offer to a household on another instance (it expires; the community concludes it)."""
    return "expires_ms" in entry.data and (entry.to_account or "").startswith("escrow:")


def is_sale(entry: Entry) -> bool:
    """An offer of tokens for sale to the community (its first buyer takes them)."""
    return entry.to_account == SALE_ESCROW


def sale_total_micro(amount_milli: int, price_micro: int) -> int:
    """What ``amount_milli`` tokens cost at ``price_micro`` per token (rounded down)."""
    return amount_milli * price_micro // MILLI


def open_offers(entries: Iterable[Entry]) -> list[Entry]:
    """Offers to households of this instance still in escrow (entries of the whole ledger)."""
    offers: dict[str, Entry] = {}
    for entry in entries:
        if entry.kind is not Kind.TRANSFER:
            continue
        if (entry.to_account or "").startswith("escrow:") and not is_remote_offer(entry):
            offers[entry.hash.hex()] = entry
        elif "escrow" in entry.data:
            offers.pop(entry.data["escrow"], None)
    return list(offers.values())


def find_receipt(entries: Iterable[Entry], offer: Entry) -> Entry | None:
    """The receiver's entry for an offer, in the receiver's ledger, if it was written."""
    wanted = offer.hash.hex()
    return next((e for e in entries if e.data.get("peer_hash") == wanted), None)


class Exchange(Consumption):
    """The books, with tokens sent to and received from other households."""

    def _holder(self, device: Device | None) -> tuple[str, int, str]:
        """Whose tokens: a device's account, balance and name; with None, the pool's."""
        if device is None:
            return POOL, self.pool_milli, self.name
        return device.settings.account, self.balance_milli(device), device.settings.name

    def _check_spend(self, device: Device | None, amount_milli: int) -> str:
        """The account ``amount_milli`` leaves, once it is sure it may (None: the pool)."""
        account, available, name = self._holder(device)
        if amount_milli <= 0:
            raise BudgetError("amount_not_positive")
        if amount_milli > available:
            raise BudgetError("insufficient_balance", device=name)
        return account

    def offer(
        self,
        source: Device,
        receiver: str,
        amount_milli: int,
        cause: Cause,
        note: str,
        expires_ms: int | None = None,
    ) -> Result:
        """Phase one: the device's tokens go into escrow for household ``receiver``.

        An offer to another instance's household has an expiry (``expires_ms``).
        """
        self._check_spend(source, amount_milli)
        check_note(note)
        data: dict[str, Any] = {"peer_household": receiver} | ({"note": note} if note else {})
        if expires_ms is not None:
            data["expires_ms"] = expires_ms
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=source.settings.account,
                to_account=escrow_account(receiver),
                amount=amount_milli,
                cause=cause,
                data=data,
            )
        return result

    def receive(self, sender: str, offer: Entry, target: Device, cause: Cause, note: str) -> Result:
        """Phase two, the receiver's: tokens another household offered reach one of our devices."""
        if self.devices.get(target.settings.subentry_id) is not target:
            raise BudgetError("unknown_device", device=target.settings.name)
        check_note(note)
        data = {"peer_household": sender, "peer_seq": offer.seq, "peer_hash": offer.hash.hex()}
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=household_account(sender),
                to_account=target.settings.account,
                amount=offer.amount,
                cause=cause,
                data=data | ({"note": note} if note else {}),
            )
        return result

    def offer_sale(
        self,
        source: Device | None,
        amount_milli: int,
        price_micro: int,
        cause: Cause,
        note: str,
        expires_ms: int,
        currency: str,
    ) -> Result:
        """Offer a device's (or, with None, the pool's) tokens for sale to the community."""
        account = self._check_spend(source, amount_milli)
        check_note(note)
        data: dict[str, Any] = {
            "price_micro": price_micro,
            "currency": currency,
            "expires_ms": expires_ms,
        }
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=account,
                to_account=SALE_ESCROW,
                amount=amount_milli,
                cause=cause,
                data=data | ({"note": note} if note else {}),
            )
        return result

    def receive_remote(
        self,
        sender: str,
        offer_seq: int,
        offer_id: str,
        amount_milli: int,
        expires_ms: int,
        price: tuple[int, str] | None = None,
        cause: Cause = SYSTEM,
    ) -> Result:
        """Phase two, from another instance: the tokens wait in ``incoming:<sender>``.

        They are nobody's to spend until the sender decides (``conclude_receipt``). A purchase
        from a sale offer has its price per token and currency, and the buyer who asked.
        """
        data: dict[str, Any] = {
            "peer_household": sender,
            "peer_seq": offer_seq,
            "peer_hash": offer_id,
            "expires_ms": expires_ms,
        }
        if price is not None:
            data["price_micro"], data["currency"] = price
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=household_account(sender),
                to_account=incoming_account(sender),
                amount=amount_milli,
                cause=cause,
                data=data,
            )
        return result

    def conclude_receipt(
        self, receipt: Entry, settled: bool, decision_seq: int, decision_hash: str
    ) -> Result:
        """The sender decided: the tokens received go to the pool, or back (it refunded them)."""
        sender = receipt.data["peer_household"]
        data: dict[str, Any] = {
            "incoming": receipt.hash.hex(),
            "decision_seq": decision_seq,
            "decision_hash": decision_hash,
        }
        if not settled:
            data["refund"] = "refunded by the sender"
        elif (price := receipt.data.get("price_micro")) is not None:  # bought: the money owed
            data["bought_micro"] = sale_total_micro(receipt.amount, price)
        with self._unit() as result:
            self._append(
                Kind.TRANSFER,
                from_account=receipt.to_account,
                to_account=POOL if settled else household_account(sender),
                amount=receipt.amount,
                cause=SYSTEM,
                data=data,
            )
        return result

    def settle_offer(
        self, offer: Entry, receipt_seq: int, receipt_hash: str, buyer: str | None = None
    ) -> Result:
        """Phase three: the receiver recorded its side; the escrow goes to its account.

        A sale goes to its ``buyer``, with the money earned.
        """
        receiver = buyer or offer.data["peer_household"]
        extra: dict[str, Any] = {}
        if buyer is not None:
            extra["sold_micro"] = sale_total_micro(offer.amount, offer.data["price_micro"])
        link = {
            "seq": offer.seq,
            "peer_household": receiver,
            "peer_seq": receipt_seq,
            "peer_hash": receipt_hash,
        }
        with self._unit() as result:
            self._close_escrow(offer, household_account(receiver), extra)
            self._append(Kind.LINK, cause=offer.cause, data=link)
        return result

    def refund_offer(self, offer: Entry, reason: str) -> Result:
        """The receiver did not record the offer: the tokens go back to where they came from."""
        with self._unit() as result:
            self._close_escrow(offer, offer.from_account or "", {"refund": reason})
        return result

    def _close_escrow(self, offer: Entry, target: str, extra: dict[str, Any]) -> None:
        self._append(
            Kind.TRANSFER,
            from_account=offer.to_account,
            to_account=target,
            amount=offer.amount,
            cause=offer.cause,
            data={"escrow": offer.hash.hex(), **extra},
        )
