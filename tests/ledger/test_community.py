"""The community's topics and messages (the protocol, in the ledger package)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger.checkpoints import origin_for
from custom_components.energy_tokens.ledger.community import (
    MAX_PAYLOAD,
    MAX_PROOFS,
    CheckpointMessage,
    CommunityError,
    CosignedMessage,
    Member,
    Topic,
    decode,
    encode,
    parse_topic,
    proof_sizes,
    subscriptions,
    topic,
    valid_prefix,
    witness_name,
)
from custom_components.energy_tokens.ledger.cosignature import WitnessKey, cosign
from custom_components.energy_tokens.ledger.keys import VerifierKey, public_key_bytes

HOUSEHOLD = "01KHOUSEHOLD0000000000000A"


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def member(household: str = HOUSEHOLD, name: str = "Flat 2") -> Member:
    return Member(
        household,
        name,
        VerifierKey.of(origin_for(household), public_key_bytes(_key("log").public_key())),
        WitnessKey(witness_name(household), public_key_bytes(_key("w").public_key())),
    )


def test_topics_round_trip_and_nothing_else_parses() -> None:
    prefix = "energy_tokens/community"
    assert subscriptions(prefix) == [
        f"{prefix}/member/+",
        f"{prefix}/checkpoint/+",
        f"{prefix}/cosigned/+/+",
    ]
    for kind, witness in ((Topic.MEMBER, None), (Topic.CHECKPOINT, None), (Topic.COSIGNED, "W1")):
        name = topic(prefix, kind, HOUSEHOLD, witness)
        assert parse_topic(prefix, name) == (kind, HOUSEHOLD, witness)
    for other in (
        "elsewhere/member/x",
        f"{prefix}/unknown/x",
        f"{prefix}/member/x/y",  # a level too many
        f"{prefix}/cosigned/x",  # a level short
        f"{prefix}/member/bad id",
        f"{prefix}/member/",
    ):
        assert parse_topic(prefix, other) is None


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [
        ("energy_tokens/community", True),
        ("street", True),
        ("a/+/b", False),
        ("a/#", False),
        ("a//b", False),
        ("$SYS/x", False),
        ("with space", False),
        ("", False),
        ("x" * 129, False),
    ],
)
def test_prefixes(prefix: str, valid: bool) -> None:
    assert valid_prefix(prefix) is valid


def test_a_member_round_trips_and_shows_its_key_ids() -> None:
    flat = member()
    assert Member.from_data(decode(encode(flat.as_data())), HOUSEHOLD) == flat
    assert flat.key_ids == f"{flat.log_key.key_id.hex()} {flat.witness_key.key_id.hex()}"
    assert len(flat.key_ids) == 17


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("log"), "not a member"),
        (lambda d: d.update(log="not a key"), "not a member"),
        (lambda d: d.update(witness=d["log"]), "not a member"),  # a log key as witness key
        (lambda d: d.update(household="other"), "another household's topic"),
        (lambda d: d.update(name=" "), "1 to 64 characters"),
        (lambda d: d.update(name="x" * 65), "1 to 64 characters"),
    ],
)
def test_a_member_message_that_is_not_one(change: Any, message: str) -> None:
    data = member().as_data()
    change(data)
    with pytest.raises(CommunityError, match=message):
        Member.from_data(data, HOUSEHOLD)


def test_keys_must_be_named_after_the_household() -> None:
    other = member("OTHER")
    data = member().as_data() | {"log": str(other.log_key)}
    with pytest.raises(CommunityError, match="origin"):
        Member.from_data(data, HOUSEHOLD)
    data = member().as_data() | {"witness": str(other.witness_key)}
    with pytest.raises(CommunityError, match="witness key"):
        Member.from_data(data, HOUSEHOLD)
    with pytest.raises(CommunityError, match="household id"):
        Member.from_data(member("bad.id").as_data())


@pytest.mark.parametrize(
    "payload",
    [b"\xff", "[]", '{"v": 2}', "not json", "x" * (MAX_PAYLOAD + 1)],
)
def test_payloads_that_are_not_messages(payload: str | bytes) -> None:
    with pytest.raises(CommunityError):
        decode(payload)


def test_checkpoint_messages_round_trip_and_are_bounded() -> None:
    message = CheckpointMessage("note\n\n— sig\n", {3: [b"\x01" * 32], 7: []})
    assert CheckpointMessage.decode(message.encode()) == message
    for bad in (
        {"note": 1, "proofs": {}},
        {"note": "n", "proofs": []},
        {"note": "n", "proofs": {"x": []}},
        {"note": "n", "proofs": {"3": "abc"}},
        {"note": "n", "proofs": {"3": ["not base64!"]}},
        {"note": "n", "proofs": {"3": [1]}},
        {"note": "n", "proofs": {"3": ["AA=="] * 129}},
        {"note": "n", "proofs": {str(n): [] for n in range(MAX_PROOFS + 1)}},
    ):
        with pytest.raises(CommunityError):
            CheckpointMessage.decode(encode(bad))


def test_cosigned_messages_round_trip_and_must_hold_a_cosignature() -> None:
    line = cosign("body\n", witness_name(HOUSEHOLD), _key("w"), 1_700_000_000)
    message = CosignedMessage(12, line)
    assert CosignedMessage.decode(message.encode()) == message
    for bad in (
        {"size": -1, "cosignature": line},
        {"size": True, "cosignature": line},
        {"size": 3, "cosignature": 5},
        {"size": 3, "cosignature": "— not a cosignature"},
    ):
        with pytest.raises(CommunityError):
            CosignedMessage.decode(json.dumps({"v": 1, **bad}))


def test_proofs_are_published_from_each_older_witness_size() -> None:
    assert proof_sizes(10, [0, 4, 4, 10, 12, 7]) == [4, 7]
    many = proof_sizes(1000, list(range(1, 200)))
    assert len(many) == MAX_PROOFS
    assert many == list(range(200 - MAX_PROOFS, 200))  # the witnesses closest to the end
