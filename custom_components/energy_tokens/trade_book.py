"""What a household's ledger says about its transfers and sales with other instances.

The trader (trading.py) decides from it; it is read from the whole ledger when the household
starts and follows every unit appended since, so that a restart resumes every transfer where
the disk left it. Pure: no Home Assistant, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .exchange import is_remote_offer
from .ledger import Entry, Kind
from .ledger.trade import Outcome
from .results import Result

Publish = tuple[str, str, bool]  # topic, payload ("" clears a retained one), retained


@dataclass(slots=True)
class Step:
    """What to record (durably, first) and then publish."""

    result: Result = field(default_factory=Result)
    publish: list[Publish] = field(default_factory=list)


@dataclass(slots=True)
class TradeBook:
    """What the household's ledger says about transfers with other instances."""

    offers: dict[str, Entry] = field(default_factory=dict)  # sent, open: by offer id
    decided: dict[str, tuple[Entry, Entry, Outcome]] = field(default_factory=dict)  # offer, close
    receipts: dict[str, Entry] = field(default_factory=dict)  # received, awaiting the decision
    concluded: set[str] = field(default_factory=set)  # received and concluded: offer ids

    @classmethod
    def read(cls, entries: Iterable[Entry]) -> TradeBook:
        """Fold the whole ledger (blocking: run it in the executor)."""
        book = cls()
        book.follow(entries)
        return book

    def follow(self, entries: Iterable[Entry]) -> None:
        """Take in entries appended since."""
        by_receipt: dict[str, str] = {}  # receipt hash -> offer id, for this batch's conclusions
        for entry in entries:
            if entry.kind is not Kind.TRANSFER:
                continue
            data = entry.data
            # Each step is taken in once: entries may be followed again (read after a close).
            if is_remote_offer(entry):
                if entry.hash.hex() not in self.decided:
                    self.offers[entry.hash.hex()] = entry
            elif (offer := self.offers.pop(data.get("escrow", ""), None)) is not None:
                outcome = Outcome.REFUNDED if "refund" in data else Outcome.SETTLED
                self.decided[offer.hash.hex()] = (offer, entry, outcome)
            elif (entry.to_account or "").startswith("incoming:"):
                if data["peer_hash"] not in self.concluded:
                    self.receipts[data["peer_hash"]] = entry
                    by_receipt[entry.hash.hex()] = data["peer_hash"]
            elif "incoming" in data:
                offer_id = by_receipt.get(data["incoming"]) or next(
                    (k for k, r in self.receipts.items() if r.hash.hex() == data["incoming"]), None
                )
                if offer_id is not None:  # else concluded already (an entry followed again)
                    self.receipts.pop(offer_id, None)
                    self.concluded.add(offer_id)

    def received(self, offer_id: str) -> bool:
        """Whether the household recorded a receipt of this offer (concluded or not)."""
        return offer_id in self.receipts or offer_id in self.concluded
