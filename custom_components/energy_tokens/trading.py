"""A household's transfers with households on other instances: the protocol's decisions.

ledger/trade.py has the phases and messages. This module decides, for each message received
and each minute that passes, what the household records and what it publishes; the caller
makes the recorded unit durable first and publishes after (trade_link.py, the benchmark). What
it knows is read from the ledger (``TradeBook.read``) and kept up to date from the entries it
appends, so that a restart resumes every transfer where the disk left it.

Pure: no Home Assistant, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from .books import Device
from .economy import Economy
from .exchange import household_account, is_sale
from .inputs import MAX_TOKENS
from .ledger import Cause, Entry
from .ledger.community import CommunityError, Payload
from .ledger.trade import (
    CLOCK_SKEW_MS,
    Decision,
    Offer,
    Outcome,
    Receipt,
    SaleOffer,
    TradeTopic,
    sale_topic,
    trade_topic,
)
from .results import BudgetError, Result
from .settings import MILLI
from .trade_book import Publish, Step, TradeBook

__all__ = ["Publish", "Step", "TradeBook", "Trader"]

_LOGGER = logging.getLogger(__name__)


class Trader:
    """One household's side of its transfers with the community's other instances."""

    def __init__(
        self,
        economy: Economy,
        book: TradeBook,
        *,
        household: str,
        prefix: str,
        keys: Callable[[str], bytes | None],
        sign: Callable[[bytes], bytes],
        clock: Callable[[], int],
        currency: str = "EUR",
    ) -> None:
        """``keys`` gives an admitted member's ledger key, None for anyone else."""
        self.economy = economy
        self.book = book
        self.household = household
        self.prefix = prefix
        self.keys = keys
        self.sign = sign
        self.clock = clock
        self.currency = currency  # the household's: it buys only what is priced in it
        self.market: dict[str, tuple[str, SaleOffer]] = {}  # members' sale offers, by id
        self.ignored = 0  # messages not from an admitted member, or not verifying

    # ----- what the household does

    def send(
        self,
        source: Device,
        receiver: str,
        amount_milli: int,
        cause: Cause,
        note: str,
        *,
        expires_ms: int,
    ) -> Step:
        """Offer a device's tokens to ``receiver``; BudgetError before anything is written."""
        if self.keys(receiver) is None or receiver == self.household:
            raise BudgetError("not_a_member")
        if expires_ms <= self.clock():
            raise BudgetError("offer_expired")
        result = self.economy.offer(source, receiver, amount_milli, cause, note, expires_ms)
        return self._recorded(result, [self._offer_message(result.entries[-1])])

    def sell(
        self,
        source: Device | None,
        amount_milli: int,
        price_micro: int,
        cause: Cause,
        note: str,
        *,
        expires_ms: int,
    ) -> Step:
        """Offer a device's (None: the pool's) tokens for sale to the community's members."""
        if expires_ms <= self.clock():
            raise BudgetError("offer_expired")
        result = self.economy.offer_sale(
            source, amount_milli, price_micro, cause, note, expires_ms, self.currency
        )
        return self._recorded(result, [self._offer_message(result.entries[-1])])

    def buy(self, offer_id: str, cause: Cause) -> Step:
        """Take a member's sale offer: the tokens wait in ``incoming:<seller>`` until it decides.

        BudgetError before anything is written when it cannot be bought.
        """
        if (listed := self.market.get(offer_id)) is None:
            raise BudgetError("unknown_offer")
        seller, sale = listed
        if self.keys(seller) is None:
            raise BudgetError("not_a_member")
        if self.book.received(offer_id):
            raise BudgetError("already_bought")
        if self.clock() > sale.expires_ms:
            raise BudgetError("offer_expired")
        if sale.currency != self.currency:
            raise BudgetError("other_currency", currency=sale.currency)
        if sale.amount > MAX_TOKENS * MILLI:  # as much as one call may move here
            shown = f"{sale.amount / MILLI:,.3f}"
            raise BudgetError("amount_too_large", limit=f"{MAX_TOKENS:,}", amount=shown)
        result = self.economy.receive_remote(
            seller,
            sale.seq,
            offer_id,
            sale.amount,
            sale.expires_ms,
            (sale.price_micro, sale.currency),
            cause,
        )
        return self._recorded(result, [self._receipt_message(result.entries[-1])])

    def offers_for_sale(self) -> list[tuple[str, SaleOffer]]:
        """The members' sale offers the household may buy, soonest to expire first."""
        now = self.clock()
        for offer_id in [i for i, (_, sale) in self.market.items() if now > sale.expires_ms]:
            del self.market[offer_id]  # expired: its seller refunds it
        return sorted(
            (
                (seller, sale)
                for offer_id, (seller, sale) in self.market.items()
                if not self.book.received(offer_id)
                and sale.currency == self.currency
                and self.keys(seller) is not None
            ),
            key=lambda listed: listed[1].expires_ms,
        )

    def due(self) -> Step:
        """Refund every open offer whose expiry, and the clock skew allowed, have passed."""
        step = Step()
        now = self.clock()
        for offer_id, offer in list(self.book.offers.items()):
            if now > offer.data["expires_ms"] + CLOCK_SKEW_MS:
                self._decide(step, offer_id, offer, None)
        return step

    def outstanding(self) -> list[Publish]:
        """Every open offer and receipt on disk, to publish (again: lost, a broker restarted).

        Only what is durable: a message about an entry a crash could still take back would
        leave the other side holding a receipt of nothing.
        """
        durable = self.economy.ledger.durable_seq
        offers = [self._offer_message(o) for o in self.book.offers.values() if o.seq <= durable]
        receipts = [r for r in self.book.receipts.values() if r.seq <= durable]
        return offers + [self._receipt_message(r) for r in receipts]

    # ----- messages

    def receive(self, kind: TradeTopic, sender: str, offer_id: str, payload: Payload) -> Step:
        """A message on one of the household's topics: verified, then acted on.

        ``sender`` is the other household (the topic's). CommunityError for a message that is
        not one or does not verify; nothing is recorded then.
        """
        if kind is TradeTopic.SALE and sender == self.household:  # its own, as members see it
            if payload and offer_id not in self.book.offers:  # sold or refunded: clear it again
                return Step(publish=[(sale_topic(self.prefix, self.household, offer_id), "", True)])
            return Step()
        key = self.keys(sender)
        if key is None:
            self.ignored += 1
            raise CommunityError(f"a {kind} from a household not admitted")
        if not payload:
            if kind is TradeTopic.SALE and self.market.get(offer_id, ("",))[0] == sender:
                del self.market[offer_id]  # sold or withdrawn, by its seller
            return Step()  # a retained message cleared
        try:
            match kind:
                case TradeTopic.SALE:
                    return self._listed(SaleOffer.decode(payload, key), sender, offer_id)
                case TradeTopic.OFFER:
                    return self._offered(Offer.decode(payload, key), sender, offer_id)
                case TradeTopic.RECEIPT:
                    return self._received(Receipt.decode(payload, key), sender, offer_id)
                case TradeTopic.DECISION:
                    return self._decided(Decision.decode(payload, key), sender, offer_id)
        except CommunityError:
            self.ignored += 1
            raise

    def _check(self, message: Offer | Receipt | Decision, sender: str, offer_id: str) -> None:
        """The signed fields must say what the topic says: no message is replayed elsewhere."""
        parties = (message.sender, message.receiver)
        if isinstance(message, Receipt):
            parties = parties[::-1]
        if parties != (sender, self.household) or message.offer_id != offer_id:
            raise CommunityError(f"a {message.KIND} signed for another topic")

    def _listed(self, sale: SaleOffer, seller: str, offer_id: str) -> Step:
        """A member's sale offer: listed until it is sold, withdrawn or expires."""
        if sale.sender != seller or sale.offer_id != offer_id:
            raise CommunityError("a sale offer signed for another topic")
        if self.market.get(offer_id, (seller,))[0] != seller:
            raise CommunityError("a sale offer under another member's offer id")
        self.market[offer_id] = (seller, sale)
        return Step()

    def _offered(self, offer: Offer, sender: str, offer_id: str) -> Step:
        """An offer to the household: recorded as received, once, if not expired."""
        self._check(offer, sender, offer_id)
        if (receipt := self.book.receipts.get(offer_id)) is not None:
            return Step(publish=[self._receipt_message(receipt)])  # delivered again
        if offer_id in self.book.concluded:
            return Step()
        if self.clock() > offer.expires_ms:  # the sender refunds it
            _LOGGER.info("An offer of %s expired before it arrived; not taken", sender)
            return Step()
        result = self.economy.receive_remote(
            sender, offer.seq, offer_id, offer.amount, offer.expires_ms
        )
        return self._recorded(result, [self._receipt_message(result.entries[-1])])

    def _received(self, receipt: Receipt, receiver: str, offer_id: str) -> Step:
        """A receipt of one of the household's offers: the sender decides, once."""
        self._check(receipt, receiver, offer_id)
        step = Step()
        if (offer := self.book.offers.get(offer_id)) is not None:
            buyer = receiver if is_sale(offer) else offer.data["peer_household"]
            if receipt.amount != offer.amount or buyer != receiver:
                raise CommunityError("a receipt of another amount or by another household")
            late = self.clock() > offer.data["expires_ms"] + CLOCK_SKEW_MS
            self._decide(step, offer_id, offer, None if late else receipt, receiver)
        elif offer_id in self.book.decided:  # answered again: its receipt was published again
            offer, close, outcome = self.book.decided[offer_id]
            if not is_sale(offer):
                receiver = offer.data["peer_household"]
            elif close.to_account != household_account(receiver):
                outcome = Outcome.REFUNDED  # sold to another member, or expired: not this one's
            step.publish.append(self._decision_message(offer, close, outcome, receiver))
        return step

    def _decide(
        self,
        step: Step,
        offer_id: str,
        offer: Entry,
        receipt: Receipt | None,
        receiver: str | None = None,
    ) -> None:
        """Settle (with a receipt) or refund an open offer; a sale settles with its buyer."""
        economy = self.economy
        sale = is_sale(offer)
        if receipt is None:
            result = economy.refund_offer(offer, "expired")
        else:
            result = economy.settle_offer(
                offer, receipt.seq, receipt.hash, receiver if sale else None
            )
        step.result.merge(result)
        self.book.follow(result.entries)
        offer, close, outcome = self.book.decided[offer_id]
        if sale:
            step.publish.append((sale_topic(self.prefix, self.household, offer_id), "", True))
        else:
            receiver = offer.data["peer_household"]
            step.publish.append(
                (
                    trade_topic(self.prefix, TradeTopic.OFFER, receiver, self.household, offer_id),
                    "",
                    True,
                )
            )
        if receiver is not None:
            step.publish.append(self._decision_message(offer, close, outcome, receiver))

    def _decided(self, decision: Decision, sender: str, offer_id: str) -> Step:
        """The sender's decision: the tokens received go to the pool, or back; once."""
        self._check(decision, sender, offer_id)
        clear = (
            trade_topic(self.prefix, TradeTopic.RECEIPT, sender, self.household, offer_id),
            "",
            True,
        )
        if (receipt := self.book.receipts.get(offer_id)) is None:
            return Step(publish=[clear] if offer_id in self.book.concluded else [])
        settled = decision.outcome == Outcome.SETTLED
        result = self.economy.conclude_receipt(receipt, settled, decision.seq, decision.hash)
        return self._recorded(result, [clear])

    # ----- messages from the ledger's entries

    def _recorded(self, result: Result, publish: list[Publish]) -> Step:
        self.book.follow(result.entries)
        return Step(result, publish)

    def _offer_message(self, offer: Entry) -> Publish:
        offer_id = offer.hash.hex()
        if is_sale(offer):
            data = offer.data
            sale = SaleOffer(
                self.household,
                offer_id,
                offer.seq,
                offer.amount,
                data["price_micro"],
                data.get("currency", self.currency),
                data["expires_ms"],
                data.get("note", ""),
            )
            return sale_topic(self.prefix, self.household, offer_id), sale.encode(self.sign), True
        receiver = offer.data["peer_household"]
        message = Offer(
            self.household,
            receiver,
            offer_id,
            offer.seq,
            offer.amount,
            offer.data["expires_ms"],
            offer.data.get("note", ""),
        )
        name = trade_topic(self.prefix, TradeTopic.OFFER, receiver, self.household, offer_id)
        return name, message.encode(self.sign), True

    def _receipt_message(self, receipt: Entry) -> Publish:
        sender, offer_id = receipt.data["peer_household"], receipt.data["peer_hash"]
        message = Receipt(
            sender, self.household, offer_id, receipt.amount, receipt.seq, receipt.hash.hex()
        )
        name = trade_topic(self.prefix, TradeTopic.RECEIPT, sender, self.household, offer_id)
        return name, message.encode(self.sign), True

    def _decision_message(
        self, offer: Entry, close: Entry, outcome: Outcome, receiver: str
    ) -> Publish:
        offer_id = offer.hash.hex()
        message = Decision(self.household, receiver, offer_id, outcome, close.seq, close.hash.hex())
        name = trade_topic(self.prefix, TradeTopic.DECISION, receiver, self.household, offer_id)
        return name, message.encode(self.sign), False
