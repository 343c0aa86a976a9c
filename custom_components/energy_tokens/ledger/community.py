"""A community of households witnessing each other's ledgers over MQTT: topics and messages.

The protocol, for any implementation (the Home Assistant integration, the benchmark's simulated
households); no I/O, no MQTT client of its own. Under the community's topic prefix, every
message retained, so that a member back from days offline (or a restart) finds the latest of
each at once:

- ``<prefix>/member/<household>``: who the household is: a name, its ledger's verifier key and
  its witness key. Joining publishes it; an admin on every other instance admits it, comparing
  the key ids out of band, never automatically.
- ``<prefix>/checkpoint/<household>``: its latest signed checkpoint (a C2SP tlog-checkpoint
  note) with consistency proofs from each size its witnesses last cosigned (known from their
  cosignatures), so that each witness finds the proof from its own state.
- ``<prefix>/cosigned/<household>/<witness>``: the witness's cosignature (C2SP
  tlog-cosignature) of the latest checkpoint of that household it cosigned, and its size. The
  household keeps it beside its checkpoints; the size tells it which proof the witness needs.

Witnesses see sizes, roots, times and hashes, never entries: nothing else is published.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import enum
import json
import re
from typing import Any, TypeAlias

from .checkpoints import origin_for
from .cosignature import (
    CosignatureError,
    WitnessKey,
    parse_cosignature,
    parse_witness_key,
)
from .keys import VerifierKey, parse_verifier_key

VERSION = 1
MAX_PAYLOAD = 16_384  # bytes: a member or checkpoint message is far smaller; more is refused
MAX_PROOFS = 64  # proofs in one checkpoint message (one per distinct witness size)
MAX_PROOF_HASHES = 128  # a proof of a ledger of 2**64 entries has fewer
MAX_NAME = 64
_HOUSEHOLD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREFIX = re.compile(r"^[^#+\s/]+(/[^#+\s/]+)*$")  # MQTT topic levels, no wildcards, no blanks


Payload: TypeAlias = str | bytes | bytearray  # as MQTT delivers it


class CommunityError(ValueError):
    """A message that is not one of the community's (malformed, oversized, mismatched)."""


class Topic(enum.StrEnum):
    """The kinds of topics under the prefix."""

    MEMBER = "member"
    CHECKPOINT = "checkpoint"
    COSIGNED = "cosigned"


def valid_prefix(prefix: str) -> bool:
    """Whether ``prefix`` can lead the community's topics (no wildcards, no empty level)."""
    return bool(_PREFIX.match(prefix)) and not prefix.startswith("$") and len(prefix) <= 128


def topic(prefix: str, kind: Topic, household: str, witness: str | None = None) -> str:
    """The topic of a message of ``kind`` about ``household`` (by ``witness``, for a cosig)."""
    return f"{prefix}/{kind}/{household}" + ("" if witness is None else f"/{witness}")


def subscriptions(prefix: str) -> list[str]:
    """The topic filters a member subscribes to."""
    return [
        f"{prefix}/{Topic.MEMBER}/+",
        f"{prefix}/{Topic.CHECKPOINT}/+",
        f"{prefix}/{Topic.COSIGNED}/+/+",
    ]


def parse_topic(prefix: str, name: str) -> tuple[Topic, str, str | None] | None:
    """Kind, household and witness of a topic under ``prefix``; None for any other topic."""
    if not name.startswith(prefix + "/"):
        return None
    levels = name[len(prefix) + 1 :].split("/")
    try:
        kind = Topic(levels[0])
    except ValueError:
        return None
    wanted = 3 if kind is Topic.COSIGNED else 2
    if len(levels) != wanted or not all(_HOUSEHOLD.match(level) for level in levels[1:]):
        return None
    return kind, levels[1], levels[2] if wanted == 3 else None


def witness_name(household: str) -> str:
    """The name under which a household's witness cosigns."""
    return f"{origin_for(household)}/witness"


@dataclass(frozen=True, slots=True)
class Member:
    """A household of the community: its name and the keys it joined with."""

    household: str
    name: str
    log_key: VerifierKey  # signs its checkpoints; named by its ledger's origin
    witness_key: WitnessKey  # signs its cosignatures of others' checkpoints

    @property
    def key_ids(self) -> str:
        """The two key ids, to compare out of band before admitting the household."""
        return f"{self.log_key.key_id.hex()} {self.witness_key.key_id.hex()}"

    def as_data(self) -> dict[str, str]:
        """JSON-ready, as stored in the admitting household's entry and published on joining."""
        return {
            "household": self.household,
            "name": self.name,
            "log": str(self.log_key),
            "witness": str(self.witness_key),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], household: str | None = None) -> Member:
        """Read a member (from a message on ``household``'s topic); CommunityError if bad."""
        try:
            member = cls(
                str(data["household"]),
                str(data["name"]).strip(),
                parse_verifier_key(str(data["log"])),
                parse_witness_key(str(data["witness"])),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CommunityError(f"not a member: {err}") from None
        if household is not None and member.household != household:
            raise CommunityError("a member message on another household's topic")
        if not _HOUSEHOLD.match(member.household):
            raise CommunityError("a member's household id is not one")
        if not 0 < len(member.name) <= MAX_NAME:
            raise CommunityError(f"a member's name has 1 to {MAX_NAME} characters")
        if member.log_key.name != origin_for(member.household):
            raise CommunityError("a member's ledger key is not named by its ledger's origin")
        if member.witness_key.name != witness_name(member.household):
            raise CommunityError("a member's witness key is not named by its household")
        return member


def encode(message: Mapping[str, Any]) -> str:
    """A message's payload: compact JSON with the protocol version."""
    return json.dumps({"v": VERSION, **message}, separators=(",", ":"), sort_keys=True)


def decode(payload: Payload) -> dict[str, Any]:
    """A message's fields; CommunityError when it is not a JSON object of this version."""
    if len(payload) > MAX_PAYLOAD:
        raise CommunityError(f"a message of more than {MAX_PAYLOAD} bytes")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise CommunityError(f"not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise CommunityError(f"not a version {VERSION} message")
    return data


@dataclass(frozen=True, slots=True)
class CheckpointMessage:
    """A household's latest checkpoint, with consistency proofs from the sizes asked for."""

    note: str
    proofs: dict[int, list[bytes]]  # from size: the RFC 6962 proof to the checkpoint's size

    def encode(self) -> str:
        """The payload."""
        proofs = {
            str(size): [base64.b64encode(node).decode() for node in proof]
            for size, proof in sorted(self.proofs.items())
        }
        return encode({"note": self.note, "proofs": proofs})

    @classmethod
    def decode(cls, payload: Payload) -> CheckpointMessage:
        """Read one; CommunityError if malformed (the signature is the witness's to check)."""
        data = decode(payload)
        note, proofs = data.get("note"), data.get("proofs")
        if not isinstance(note, str) or not isinstance(proofs, dict) or len(proofs) > MAX_PROOFS:
            raise CommunityError("not a checkpoint message")
        read: dict[int, list[bytes]] = {}
        try:
            for size, proof in proofs.items():
                if not size.isdigit() or not isinstance(proof, list):
                    raise CommunityError("a proof is not a list under a size")
                if len(proof) > MAX_PROOF_HASHES:
                    raise CommunityError("a proof of more hashes than any ledger needs")
                read[int(size)] = [base64.b64decode(node, validate=True) for node in proof]
        except (binascii.Error, TypeError) as err:
            raise CommunityError(f"a proof is not base64: {err}") from None
        return cls(note, read)


@dataclass(frozen=True, slots=True)
class CosignedMessage:
    """A witness's cosignature of a household's checkpoint of ``size`` entries."""

    size: int
    cosignature: str

    def encode(self) -> str:
        """The payload."""
        return encode({"size": self.size, "cosignature": self.cosignature})

    @classmethod
    def decode(cls, payload: Payload) -> CosignedMessage:
        """Read one; CommunityError if malformed (its signature is checked by the receiver)."""
        data = decode(payload)
        size, line = data.get("size"), data.get("cosignature")
        if type(size) is not int or size < 0 or not isinstance(line, str):
            raise CommunityError("not a cosignature message")
        try:
            parse_cosignature(line)
        except CosignatureError as err:
            raise CommunityError(str(err)) from None
        return cls(size, line)


def proof_sizes(own_size: int, witness_sizes: Sequence[int]) -> list[int]:
    """The sizes to publish proofs from: each witness's, when its checkpoint is older.

    Capped at MAX_PROOFS (the largest sizes kept: a witness further behind asks again by its
    retained cosignature, which stays until it catches up).
    """
    sizes = sorted({size for size in witness_sizes if 0 < size < own_size}, reverse=True)
    return sorted(sizes[:MAX_PROOFS])
