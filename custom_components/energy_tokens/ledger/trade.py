"""Tokens between households of a community, over MQTT: topics and signed messages.

The protocol, for any implementation (the Home Assistant integration, the benchmark's simulated
households); no I/O. A transfer is a two-phase commit whose coordinator is the sender:

1. The sender records the tokens leaving a device into ``escrow:<receiver>`` (the *offer*
   entry), then publishes a signed :class:`Offer` naming that entry's hash, retained on
   ``<prefix>/offer/<receiver>/<sender>/<id>`` (``id`` is the offer entry's hash, in hex).
2. The receiver checks the signature against the sender's admitted ledger key and the expiry
   against its clock, records the tokens arriving from ``household:<sender>`` into
   ``incoming:<sender>`` (the *receipt*, naming the offer's hash), then publishes a signed
   :class:`Receipt`, retained on ``<prefix>/receipt/<sender>/<receiver>/<id>``.
3. The sender alone decides. With a receipt before the offer's expiry plus :data:`CLOCK_SKEW_MS`
   it closes the escrow towards ``household:<receiver>`` and links the receipt (*settled*);
   without one by then it returns the tokens to the device (*refunded*), and a receipt arriving
   later is answered with that refund. Either way it clears its offer and publishes a signed
   :class:`Decision` on ``<prefix>/decision/<receiver>/<sender>/<id>`` (not retained: it
   answers every receipt it sees, and the receiver publishes an open receipt again until
   answered).
4. The receiver follows the decision: ``incoming:<sender>`` goes to its pool (settled) or back
   to ``household:<sender>`` (refunded); then it clears its receipt.

A *sale* is an offer to whichever member takes it first, at a price: the seller's tokens go
into ``escrow:sale`` and a signed :class:`SaleOffer` (amount, price per token and currency,
expiry) is retained on ``<prefix>/sale/<seller>/<id>``, which every member follows. A buyer
records its receipt into ``incoming:<seller>`` and publishes it as in step 2; the seller
settles with the first receipt before the expiry (towards ``household:<buyer>``, with the
price: the money it earned) and answers every other buyer with a refund. The buyer's
conclusion carries the price too: the money it owes.

Every step is recorded durably before its message is published, and each side looks up what
its ledger holds before writing, so duplicates, reordering, restarts and a broker losing its
retained messages never record a side twice; tokens in ``escrow:`` and ``incoming:`` are
nobody's to spend. Messages are signed with the household's ledger key (the one its
checkpoints are signed with) over a context that no checkpoint or cosignature starts with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import enum
import re
from typing import Any, ClassVar

from .community import CommunityError
from .signed import HASH, HOUSEHOLD, SignedMessage, fields, text, whole

CLOCK_SKEW_MS = 5 * 60_000  # households' clocks may differ this much: the sender waits it out
MAX_AMOUNT = 10**12  # milli-tokens: a billion tokens; more is not a household's transfer
MAX_PRICE = 10**12  # micro-units of the currency per token: a million per token
MAX_NOTE = 1000  # characters: as a note of a transfer within a household (MAX_NOTE_CHARS)
CONTEXT = b"energy-tokens trade v1\n"
CURRENCY = re.compile(r"^[A-Z]{3}$")


class TradeTopic(enum.StrEnum):
    """The kinds of a transfer's topics under the community's prefix."""

    OFFER = "offer"
    RECEIPT = "receipt"
    DECISION = "decision"
    SALE = "sale"  # to every member: <prefix>/sale/<seller>/<id>


class Outcome(enum.StrEnum):
    """How the sender concluded an offer."""

    SETTLED = "settled"
    REFUNDED = "refunded"


def trade_topic(prefix: str, kind: TradeTopic, to: str, sender: str, offer_id: str) -> str:
    """The topic of a message of ``kind`` addressed to ``to`` from ``sender``, about an offer."""
    return f"{prefix}/{kind}/{to}/{sender}/{offer_id}"


def sale_topic(prefix: str, seller: str, offer_id: str) -> str:
    """The topic of a sale offer: every member follows them all."""
    return f"{prefix}/{TradeTopic.SALE}/{seller}/{offer_id}"


def trade_subscriptions(prefix: str, household: str) -> list[str]:
    """The topic filters a household subscribes to: what is addressed to it, and every sale."""
    addressed = [f"{prefix}/{kind}/{household}/+/+" for kind in TradeTopic if kind != "sale"]
    return [*addressed, sale_topic(prefix, "+", "+")]


def parse_trade_topic(prefix: str, name: str) -> tuple[TradeTopic, str, str, str] | None:
    """Kind, addressee, sender and offer id of a trade topic; None for any other topic.

    A sale is addressed to every member: its addressee is ``*``.
    """
    if not name.startswith(prefix + "/"):
        return None
    levels = name[len(prefix) + 1 :].split("/")
    if levels[0] == TradeTopic.SALE and len(levels) == 3:
        levels.insert(1, "*")
    elif len(levels) != 4 or levels[0] not in TradeTopic.__members__.values():
        return None
    kind, to, sender, offer_id = levels
    addressee = to == "*" if kind == TradeTopic.SALE else bool(HOUSEHOLD.match(to))
    if not (addressee and HOUSEHOLD.match(sender) and HASH.match(offer_id)):
        return None
    return TradeTopic(kind), to, sender, offer_id


def _note(body: Mapping[str, Any]) -> str:
    """An offer's note: text of at most ``MAX_NOTE`` characters."""
    note = body.get("note")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise CommunityError(f"a note is text of at most {MAX_NOTE} characters")
    return note


@dataclass(frozen=True, slots=True)
class _Message(SignedMessage):
    """A message of a transfer, signed by the household that sends it."""

    CONTEXT: ClassVar[bytes] = CONTEXT
    KIND: ClassVar[TradeTopic]
    sender: str  # the household whose offer it is
    receiver: str
    offer_id: str  # the offer entry's hash, hex

    @staticmethod
    def _parties(body: Mapping[str, Any]) -> tuple[str, str, str]:
        return (
            text(body, "sender", HOUSEHOLD),
            text(body, "receiver", HOUSEHOLD),
            text(body, "offer_id", HASH),
        )


@dataclass(frozen=True, slots=True)
class Offer(_Message):
    """Tokens offered: the sender's escrow entry, its amount and until when it may be taken."""

    KIND: ClassVar[TradeTopic] = TradeTopic.OFFER
    seq: int  # the offer entry's
    amount: int  # milli-tokens
    expires_ms: int
    note: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Offer:
        """The offer, its fields checked."""
        fields(
            body,
            {"sender", "receiver", "offer_id", "seq", "amount", "expires_ms", "note"},
            "an offer",
        )
        return cls(
            *cls._parties(body),
            whole(body, "seq", 1, 2**63),
            whole(body, "amount", 1, MAX_AMOUNT),
            whole(body, "expires_ms", 0, 2**63),
            _note(body),
        )


@dataclass(frozen=True, slots=True)
class Receipt(_Message):
    """The receiver's side recorded: its receipt entry's number and hash."""

    KIND: ClassVar[TradeTopic] = TradeTopic.RECEIPT
    amount: int
    seq: int
    hash: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Receipt:
        """The receipt, its fields checked."""
        fields(body, {"sender", "receiver", "offer_id", "amount", "seq", "hash"}, "a receipt")
        return cls(
            *cls._parties(body),
            whole(body, "amount", 1, MAX_AMOUNT),
            whole(body, "seq", 1, 2**63),
            text(body, "hash", HASH),
        )


@dataclass(frozen=True, slots=True)
class Decision(_Message):
    """The sender's conclusion of an offer, and its closing entry's number and hash."""

    KIND: ClassVar[TradeTopic] = TradeTopic.DECISION
    outcome: str
    seq: int
    hash: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Decision:
        """The decision, its fields checked."""
        fields(body, {"sender", "receiver", "offer_id", "outcome", "seq", "hash"}, "a decision")
        outcome = body.get("outcome")
        if outcome not in Outcome.__members__.values():
            raise CommunityError("a decision is settled or refunded")
        return cls(
            *cls._parties(body),
            str(outcome),
            whole(body, "seq", 1, 2**63),
            text(body, "hash", HASH),
        )


@dataclass(frozen=True, slots=True)
class SaleOffer(SignedMessage):
    """Tokens for sale to the member that takes them first: the seller's escrow entry."""

    CONTEXT: ClassVar[bytes] = CONTEXT
    KIND: ClassVar[TradeTopic] = TradeTopic.SALE
    sender: str  # the seller
    offer_id: str
    seq: int
    amount: int  # milli-tokens
    price_micro: int  # micro-units of the currency, per token
    currency: str  # ISO 4217, as Home Assistant's
    expires_ms: int
    note: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> SaleOffer:
        """The sale offer, its fields checked."""
        fields(
            body,
            {
                "sender",
                "offer_id",
                "seq",
                "amount",
                "price_micro",
                "currency",
                "expires_ms",
                "note",
            },
            "a sale offer",
        )
        return cls(
            text(body, "sender", HOUSEHOLD),
            text(body, "offer_id", HASH),
            whole(body, "seq", 1, 2**63),
            whole(body, "amount", 1, MAX_AMOUNT),
            whole(body, "price_micro", 0, MAX_PRICE),
            text(body, "currency", CURRENCY),
            whole(body, "expires_ms", 0, 2**63),
            _note(body),
        )
