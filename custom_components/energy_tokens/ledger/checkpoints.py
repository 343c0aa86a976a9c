"""Signed checkpoints in the C2SP checkpoint text format, carried as signed notes (note.py).

A checkpoint names the ledger (origin), its size in entries and the head hash, plus two
extension lines: the time and the hash of the balances snapshot kept beside it for fast opening.
A third extension line names where the covered entries end on disk (segment and byte offset),
so the position fast opening starts from is signed too. It is signed with the household's
Ed25519 key, named by the origin. A signature proves tampering only if the checkpoint is also
kept where an attacker cannot rewrite it: publish it elsewhere.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .entries import canonical_json, snapshot_hash
from .keys import VerifierKey
from .note import NoteError, open_note, sign_note


def origin_for(household_id: str) -> str:
    """The checkpoint origin (and signed-note key name) of a household's ledger."""
    return f"energy-tokens/{household_id}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the first ``size`` entries end at ``head``, with this snapshot."""

    origin: str
    size: int
    head: bytes
    ts_ms: int
    snapshot: dict[str, Any]
    segment: str
    offset: int
    note: str


def note_body(
    origin: str,
    size: int,
    head: bytes,
    ts_ms: int,
    snapshot: dict[str, Any],
    segment: str,
    offset: int,
) -> str:
    """The checkpoint text that is signed."""
    return (
        f"{origin}\n{size}\n{base64.b64encode(head).decode()}\n"
        f"time {ts_ms}\n"
        f"balances {base64.b64encode(snapshot_hash(snapshot)).decode()}\n"
        f"position {segment} {offset}\n"
    )


def sign_checkpoint(
    key: Ed25519PrivateKey,
    *,
    origin: str,
    size: int,
    head: bytes,
    ts_ms: int,
    snapshot: dict[str, Any],
    segment: str,
    offset: int,
) -> Checkpoint:
    """Make and sign a checkpoint (the signing key is named by the origin)."""
    body = note_body(origin, size, head, ts_ms, snapshot, segment, offset)
    note = sign_note(body, origin, key)
    return Checkpoint(origin, size, head, ts_ms, snapshot, segment, offset, note)


def encode_checkpoint_record(checkpoint: Checkpoint) -> bytes:
    """The record stored in the checkpoints file: the signed note and the snapshot it hashes."""
    return canonical_json({"note": checkpoint.note, "snapshot": checkpoint.snapshot})


class CheckpointError(ValueError):
    """A checkpoint record is malformed or its signature does not verify."""


def decode_checkpoint_record(payload: bytes | memoryview, public_key: bytes) -> Checkpoint:
    """Parse a stored checkpoint and verify its signature and snapshot hash.

    The signing key is ``public_key`` named by the checkpoint's origin (its first line), which the
    signature covers. Checkpoints name their origin as the writer knew it when signing: the key,
    pinned by the genesis entry, is what makes them the household's.
    """
    try:
        record = json.loads(bytes(payload))
        note = record["note"]
        snapshot = record["snapshot"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"malformed checkpoint: {err}") from err
    if not isinstance(note, str) or not isinstance(snapshot, dict):
        raise CheckpointError("malformed checkpoint: a note and a snapshot object are needed")
    signed = open_checkpoint_note(note, public_key)
    if signed.balances_hash != snapshot_hash(snapshot):
        raise CheckpointError("balances snapshot does not match its signed hash")
    return Checkpoint(
        signed.origin,
        signed.size,
        signed.head,
        signed.ts_ms,
        snapshot,
        signed.segment,
        signed.offset,
        note,
    )


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """What a checkpoint's signed note says: the snapshot is known by its hash only.

    This is what a copy kept elsewhere holds (``energy-tokens-ledger checkpoint`` prints it).
    """

    origin: str
    size: int
    head: bytes
    ts_ms: int
    balances_hash: bytes
    segment: str
    offset: int


def open_checkpoint_note(note: str, public_key: bytes) -> SignedCheckpoint:
    """Verify a checkpoint's signed note with the household's key and read its lines."""
    verifier = VerifierKey.of(note.partition("\n")[0], public_key)
    try:
        body = open_note(note, verifier)  # the rest of the text is read once its signature checks
    except NoteError as err:
        raise CheckpointError(f"no valid signature by the household's key: {err}") from None
    try:
        origin, size_text, head_text, time_line, balances_line, position_line = body.splitlines()
        size = int(size_text)
        head = base64.b64decode(head_text, validate=True)
        if not (
            time_line.startswith("time ")
            and balances_line.startswith("balances ")
            and position_line.startswith("position ")
        ):
            raise CheckpointError("unexpected extension lines")
        ts_ms = int(time_line.removeprefix("time "))
        segment, offset_text = position_line.removeprefix("position ").split(" ")
        offset = int(offset_text)
        claimed_snapshot_hash = base64.b64decode(
            balances_line.removeprefix("balances "), validate=True
        )
    except (TypeError, ValueError, binascii.Error) as err:
        raise CheckpointError(f"malformed checkpoint: {err}") from err
    return SignedCheckpoint(origin, size, head, ts_ms, claimed_snapshot_hash, segment, offset)
