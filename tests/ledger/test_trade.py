"""Messages of transfers between instances: topics, signed bytes pinned, every field checked."""

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger.community import CommunityError, encode
from custom_components.energy_tokens.ledger.keys import public_key_bytes
from custom_components.energy_tokens.ledger.trade import (
    CONTEXT,
    MAX_AMOUNT,
    MAX_PRICE,
    Decision,
    Offer,
    Receipt,
    SaleOffer,
    TradeTopic,
    parse_trade_topic,
    sale_topic,
    trade_subscriptions,
    trade_topic,
)

# A fixed key: Ed25519 signatures are deterministic, so the bytes below are pinned.
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_bytes(KEY.public_key())
OTHER = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
ID = "ab" * 32
OFFER = Offer("home-a", "home-b", ID, 7, 2_500, 1_800_000_000_000, "for the sauna")
RECEIPT = Receipt("home-a", "home-b", ID, 2_500, 12, "cd" * 32)
DECISION = Decision("home-a", "home-b", ID, "settled", 9, "ef" * 32)
SALE = SaleOffer("home-a", ID, 7, 2_500, 180_000, "EUR", 1_800_000_000_000, "unused")


def test_topics_name_addressee_sender_and_offer() -> None:
    name = trade_topic("et", TradeTopic.RECEIPT, "home-a", "home-b", ID)
    assert name == f"et/receipt/home-a/home-b/{ID}"
    assert parse_trade_topic("et", name) == (TradeTopic.RECEIPT, "home-a", "home-b", ID)
    assert trade_subscriptions("et", "home-a") == [
        "et/offer/home-a/+/+",
        "et/receipt/home-a/+/+",
        "et/decision/home-a/+/+",
        "et/sale/+/+",  # every member's sales
    ]
    sale = sale_topic("et", "home-b", ID)
    assert sale == f"et/sale/home-b/{ID}"
    assert parse_trade_topic("et", sale) == (TradeTopic.SALE, "*", "home-b", ID)
    for other in (
        f"et/sale/home-a/home-b/{ID}",  # a sale is addressed to no one
        f"et/sale/home+b/{ID}",  # not a household id
        "et/sale/home-b/12",  # not an offer id
        f"other/receipt/home-a/home-b/{ID}",  # another prefix
        f"et/member/home-a/home-b/{ID}",  # another kind
        "et/offer/home-a/home-b",  # too few levels
        f"et/offer/home-a/home-b/{ID}/x",  # too many
        f"et/offer/home+a/home-b/{ID}",  # not a household id
        "et/offer/home-a/home-b/" + "AB" * 32,  # not a lower-case hash
        f"et/offer/home-a/{'h' * 65}/{ID}",  # a household id too long
    ):
        assert parse_trade_topic("et", other) is None, other


def test_signed_bytes_are_pinned() -> None:
    """What is signed: the context, the kind and the body as sorted, compact JSON."""
    assert OFFER.signed_bytes() == (
        b"energy-tokens trade v1\noffer\n"
        b'{"amount":2500,"expires_ms":1800000000000,"note":"for the sauna",'
        b'"offer_id":"' + ID.encode() + b'","receiver":"home-b","sender":"home-a","seq":7}'
    )
    assert RECEIPT.signed_bytes().startswith(CONTEXT + b"receipt\n")
    assert DECISION.signed_bytes().startswith(CONTEXT + b"decision\n")
    payload = OFFER.encode(KEY.sign)
    assert hashlib.sha256(payload.encode()).hexdigest() == (
        "4872bbc3fae601df7dd2146714b19d6056d9abad24cc5a1ae2b4169e06eabcc0"
    )
    assert SALE.signed_bytes() == (
        b"energy-tokens trade v1\nsale\n"
        b'{"amount":2500,"currency":"EUR","expires_ms":1800000000000,"note":"unused",'
        b'"offer_id":"' + ID.encode() + b'","price_micro":180000,"sender":"home-a","seq":7}'
    )
    assert hashlib.sha256(SALE.encode(KEY.sign).encode()).hexdigest() == (
        "7056095b751fa15522409585994a93ee50c2a31d32b97b1c71cbc6062f39af6a"
    )


@pytest.mark.parametrize("message", [OFFER, RECEIPT, DECISION, SALE])
def test_each_message_round_trips_and_only_with_its_key(message: Any) -> None:
    payload = message.encode(KEY.sign)
    assert type(message).decode(payload, PUBLIC) == message
    assert type(message).decode(payload.encode(), PUBLIC) == message
    with pytest.raises(CommunityError, match="signature does not verify"):
        type(message).decode(payload, OTHER)


def _payload(body: dict[str, Any], sig: Any = None) -> str:
    signature = base64.b64encode(KEY.sign(b"anything")).decode() if sig is None else sig
    return encode({"body": body, "sig": signature})


def test_tampered_and_malformed_messages_are_refused() -> None:
    body = OFFER.body()
    signed = json.loads(OFFER.encode(KEY.sign))
    more = dict(signed, body=dict(body, amount=25_000))  # the amount changed after signing
    refusals = {
        json.dumps(more): "signature does not verify",
        _payload(body, "not base64!"): "signature does not verify",
        _payload(body, base64.b64encode(b"short").decode()): "signature does not verify",
        encode({"body": body}): "not a signed offer",
        encode({"body": [1], "sig": "x"}): "not a signed offer",
        "{": "not JSON",
        json.dumps({"v": 99, "body": body, "sig": "x"}): "not a version",
    }
    for payload, reason in refusals.items():
        with pytest.raises(CommunityError, match=reason):
            Offer.decode(payload, PUBLIC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": 0}, "amount is not a whole number"),
        ({"amount": MAX_AMOUNT + 1}, "amount is not a whole number"),
        ({"amount": 2.5}, "amount is not a whole number"),
        ({"amount": True}, "amount is not a whole number"),
        ({"amount": "2500"}, "amount is not a whole number"),
        ({"seq": 0}, "seq is not a whole number"),
        ({"expires_ms": -1}, "expires_ms is not a whole number"),
        ({"note": "x" * 1001}, "a note is text"),
        ({"note": None}, "a note is text"),
        ({"sender": "a/b"}, "sender is not one"),
        ({"receiver": ""}, "receiver is not one"),
        ({"offer_id": "12"}, "offer_id is not one"),
        ({"extra": 1}, "an offer has other fields"),
    ],
)
def test_every_offer_field_is_checked(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(CommunityError, match=reason):
        Offer.decode(_payload(OFFER.body() | change), PUBLIC)


@pytest.mark.parametrize(
    ("message", "change", "reason"),
    [
        (RECEIPT, {"hash": "zz"}, "hash is not one"),
        (RECEIPT, {"seq": -4}, "seq is not a whole number"),
        (RECEIPT, {"extra": 1}, "a receipt has other fields"),
        (DECISION, {"outcome": "maybe"}, "settled or refunded"),
        (DECISION, {"hash": None}, "hash is not one"),
        (DECISION, {"extra": 1}, "a decision has other fields"),
        (SALE, {"price_micro": -1}, "price_micro is not a whole number"),
        (SALE, {"price_micro": MAX_PRICE + 1}, "price_micro is not a whole number"),
        (SALE, {"price_micro": 0.18}, "price_micro is not a whole number"),
        (SALE, {"currency": "eur"}, "currency is not one"),
        (SALE, {"currency": None}, "currency is not one"),
        (SALE, {"amount": 0}, "amount is not a whole number"),
        (SALE, {"note": 5}, "a note is text"),
        (SALE, {"receiver": "home-b"}, "a sale offer has other fields"),
    ],
)
def test_receipt_and_decision_fields_are_checked(
    message: Any, change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(CommunityError, match=reason):
        type(message).decode(_payload(message.body() | change), PUBLIC)


def test_a_message_of_one_kind_is_not_another() -> None:
    """The kind is signed: a receipt's signature does not make it a decision."""
    payload = json.loads(RECEIPT.encode(KEY.sign))
    body = {k: v for k, v in payload["body"].items() if k != "amount"} | {"outcome": "settled"}
    with pytest.raises(CommunityError, match="signature does not verify"):
        Decision.decode(encode({"body": body, "sig": payload["sig"]}), PUBLIC)


def test_the_longest_note_fits_in_a_message() -> None:
    """A household's longest note (1000 characters, each a surrogate pair once escaped)."""
    offer = Offer("home-a", "home-b", ID, 7, MAX_AMOUNT, 2**62, "🏠" * 1000)
    assert Offer.decode(offer.encode(KEY.sign), PUBLIC) == offer
