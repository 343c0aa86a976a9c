"""Two households' ledgers side by side: each side of every transfer against the other's.

Tokens between households are recorded by both (exchange.py in the integration, trade.py for
households on different instances): the sender's offer into ``escrow:<receiver>`` and its
settlement or refund, the receiver's receipt naming the offer's hash (straight to a device, or
into ``incoming:<sender>`` until the sender's decision) and, across instances, its conclusion
naming the decision's entry. A sale to the community (``escrow:sale``) is an offer to whichever
member buys it first: it pairs with the household it was settled with, and with every other
that recorded a receipt of it (each of which must have been refunded). This pairs them up and
reports:

- *problems*: a receipt of an offer the sender never made, or of another amount; two receipts
  of one offer; a sale bought at another price, or whose money the two sides record
  differently; a settlement without a receipt; a conclusion the sender's ledger contradicts
  (tokens taken that the sender got back, or given back that the sender settled);
- *in flight*: offers and receipts not concluded yet (a transfer under way);
- when nothing is in flight, the net balances: what one ledger records owing the other must be
  what the other records, with the opposite sign.

Pure: entries in, findings out; the auditor verifies both ledgers before matching them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .entries import Entry, Kind


@dataclass(slots=True)
class _Side:
    """What one ledger records of transfers with one other household."""

    household: str
    offers: dict[str, Entry] = field(default_factory=dict)  # to the other: by hash
    sales: dict[str, Entry] = field(default_factory=dict)  # to any member: by hash
    closes: dict[str, Entry] = field(default_factory=dict)  # of those offers: by offer hash
    links: dict[int, str] = field(default_factory=dict)  # settled offer seq: receipt hash
    receipts: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    conclusions: dict[str, Entry] = field(default_factory=dict)  # by receipt hash
    balance: int = 0  # of the other's household account


def _side(household: str, other: str, entries: Iterable[Entry]) -> _Side:
    side = _Side(household)
    account, escrow = f"household:{other}", f"escrow:{other}"
    sale = "escrow:sale"
    for entry in entries:
        data = entry.data
        if entry.kind is Kind.LINK and data.get("peer_household") == other:
            side.links[data["seq"]] = data["peer_hash"]
        if entry.kind is not Kind.TRANSFER:
            continue
        if account in (entry.from_account, entry.to_account):
            side.balance += entry.amount if entry.to_account == account else -entry.amount
        if entry.to_account == escrow:
            side.offers[entry.hash.hex()] = entry
        elif entry.to_account == sale:
            side.sales[entry.hash.hex()] = entry
        elif entry.from_account in (escrow, sale) and "escrow" in data:
            side.closes[data["escrow"]] = entry
        elif entry.from_account == account and "peer_hash" in data:
            side.receipts[data["peer_hash"]].append(entry)
        elif entry.from_account == f"incoming:{other}" and "incoming" in data:
            side.conclusions[data["incoming"]] = entry
    return side


@dataclass(slots=True)
class Match:
    """The findings of matching two ledgers."""

    households: tuple[str, str]
    transfers: int = 0  # concluded on both sides, both ways
    problems: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    net: tuple[int, int] = (0, 0)  # each ledger's balance of the other's household account

    @property
    def matches(self) -> bool:
        """No problem found (transfers may still be in flight)."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "households": list(self.households),
            "matches": self.matches,
            "transfers": self.transfers,
            "problems": self.problems,
            "in_flight": self.in_flight,
            "net_milli": list(self.net),
        }


def match_ledgers(a: tuple[str, Iterable[Entry]], b: tuple[str, Iterable[Entry]]) -> Match:
    """Match household ``a``'s ledger with ``b``'s: each given as (household id, entries)."""
    (a_id, a_entries), (b_id, b_entries) = a, b
    a_entries, b_entries = list(a_entries), list(b_entries)
    sides = _side(a_id, b_id, a_entries), _side(b_id, a_id, b_entries)
    found = Match((a_id, b_id), net=(sides[0].balance, sides[1].balance))
    for sender, receiver in (sides, sides[::-1]):
        _match_direction(sender, receiver, found)
    if not found.in_flight and not found.problems and sum(found.net) != 0:
        found.problems.append(
            f"the ledgers disagree on what {a_id} and {b_id} exchanged: {found.net[0]} and "
            f"{found.net[1]} milli-tokens do not cancel out"
        )
    return found


def _match_direction(sender: _Side, receiver: _Side, found: Match) -> None:
    """Every offer from ``sender`` against what ``receiver`` recorded of it."""
    problems, where = found.problems, f"{sender.household} to {receiver.household}"
    for offer_id, receipts in receiver.receipts.items():
        offer = sender.offers.get(offer_id) or sender.sales.get(offer_id)
        if offer is None:
            problems.append(f"{where}: a receipt (entry {receipts[0].seq}) of no offer")
        elif any(r.amount != offer.amount for r in receipts):
            problems.append(f"{where}: offer {offer.seq} received as another amount")
        if len(receipts) > 1:
            problems.append(f"{where}: an offer received {len(receipts)} times")
    account = f"household:{receiver.household}"
    for offer_id, offer in (sender.offers | sender.sales).items():
        receipt = next(iter(receiver.receipts.get(offer_id, ())), None)
        close = sender.closes.get(offer_id)
        settled = close is not None and "refund" not in close.data
        if offer_id in sender.sales:  # the receiver's only if sold to it
            settled = settled and close is not None and close.to_account == account
            if receipt is None and not settled:
                continue  # another member's purchase, or nobody's
        conclusion = None if receipt is None else receiver.conclusions.get(receipt.hash.hex())
        label = f"{where}: {'sale' if offer_id in sender.sales else 'offer'} {offer.seq}"
        if settled and (receipt is None or sender.links.get(offer.seq) != receipt.hash.hex()):
            problems.append(f"{label} settled without its receipt")
        elif conclusion is not None:
            concluded_settled = "refund" not in conclusion.data
            if close is None or concluded_settled != settled:
                problems.append(f"{label} concluded by the receiver as the sender did not")
            elif conclusion.data.get("decision_hash") != close.hash.hex():
                problems.append(f"{label} concluded on another decision than the sender's")
            elif settled and (money := _money(offer, receipt, close, conclusion)) is not None:
                problems.append(f"{label}: {money}")
            else:
                found.transfers += settled
        elif close is None:
            found.in_flight.append(f"{label} not decided yet")
        elif receipt is None:
            continue  # refunded before it was received: nothing moved
        elif receipt.to_account and receipt.to_account.startswith("incoming:"):
            found.in_flight.append(f"{label} decided, not concluded by the receiver yet")
        elif settled:
            found.transfers += 1  # between households of one instance: received, settled
        else:
            problems.append(f"{label} refunded though the receiver recorded it")


def _money(offer: Entry, receipt: Entry | None, close: Entry, conclusion: Entry) -> str | None:
    """What the two sides of a sale record of its price and money, if they disagree."""
    if "price_micro" not in offer.data:
        return None  # a transfer: no money
    asked = (offer.data["price_micro"], offer.data.get("currency"))
    if receipt is None or (receipt.data.get("price_micro"), receipt.data.get("currency")) != asked:
        return "bought at another price than it was offered"
    earned, owed = close.data.get("sold_micro", 0), conclusion.data.get("bought_micro", 0)
    if earned != owed:
        return f"the seller records {earned} micro-units earned, the buyer {owed} owed"
    return None
