"""Signed checkpoints in the C2SP tlog-checkpoint format, carried as signed notes (note.py).

A checkpoint names the ledger (origin), its size in entries and the RFC 6962 Merkle root of
those entries (merkle.py), then extension lines: the hash chain's head, the time, the hash of the
balances snapshot kept beside it for fast opening, and where the covered entries end on disk
(segment and byte offset), so the position fast opening starts from is signed too. It is signed
with the household's Ed25519 key, named by the origin. Beside the note the record keeps the
balances snapshot and the tree's compact range (from which the tree grows on, and consistency
proofs are made); both are checked against what the note signs.

Checkpoints signed before ledgers had a tree (version 1) have the head where the root now is and
no head line; they are read and verified as they are, and a ledger that has only those gets its
tree on first open (store.py).

A signature proves tampering only if the checkpoint is also kept where an attacker cannot
rewrite it: publish it elsewhere, or have witnesses cosign it.
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
from .merkle import CompactRange
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
    tree: CompactRange | None = None  # None in a checkpoint signed before ledgers had a tree

    @property
    def root(self) -> bytes | None:
        """The Merkle root it signs (None for a version-1 checkpoint)."""
        return None if self.tree is None else self.tree.root()


def note_body(
    origin: str,
    size: int,
    root: bytes,
    head: bytes,
    ts_ms: int,
    snapshot: dict[str, Any],
    segment: str,
    offset: int,
) -> str:
    """The checkpoint text that is signed (C2SP tlog-checkpoint, then our extension lines)."""
    return (
        f"{origin}\n{size}\n{_b64(root)}\n"
        f"head {_b64(head)}\n"
        f"time {ts_ms}\n"
        f"balances {_b64(snapshot_hash(snapshot))}\n"
        f"position {segment} {offset}\n"
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def sign_checkpoint(
    key: Ed25519PrivateKey,
    *,
    origin: str,
    size: int,
    head: bytes,
    tree: CompactRange,
    ts_ms: int,
    snapshot: dict[str, Any],
    segment: str,
    offset: int,
) -> Checkpoint:
    """Make and sign a checkpoint (the signing key is named by the origin)."""
    if tree.size != size:
        raise ValueError(f"a tree of {tree.size} entries for a checkpoint of {size}")
    body = note_body(origin, size, tree.root(), head, ts_ms, snapshot, segment, offset)
    note = sign_note(body, origin, key)
    return Checkpoint(origin, size, head, ts_ms, snapshot, segment, offset, note, tree.copy())


def encode_checkpoint_record(checkpoint: Checkpoint) -> bytes:
    """The record stored in the checkpoints file: the signed note, its snapshot and tree."""
    record: dict[str, Any] = {"note": checkpoint.note, "snapshot": checkpoint.snapshot}
    if checkpoint.tree is not None:
        record["tree"] = [_b64(node) for node in checkpoint.tree.nodes]
    return canonical_json(record)


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
        nodes = record.get("tree")
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"malformed checkpoint: {err}") from err
    if not isinstance(note, str) or not isinstance(snapshot, dict):
        raise CheckpointError("malformed checkpoint: a note and a snapshot object are needed")
    signed = open_checkpoint_note(note, public_key)
    if signed.balances_hash != snapshot_hash(snapshot):
        raise CheckpointError("balances snapshot does not match its signed hash")
    tree = None
    if signed.root is not None:  # a version-2 checkpoint: its tree must lead to its root
        try:
            if not isinstance(nodes, list):
                raise TypeError("no tree")
            tree = CompactRange(signed.size, [base64.b64decode(n, validate=True) for n in nodes])
        except (TypeError, ValueError, binascii.Error) as err:
            raise CheckpointError(f"malformed checkpoint tree: {err}") from err
        if tree.root() != signed.root:
            raise CheckpointError("the checkpoint's tree does not lead to its signed root")
    elif nodes is not None:
        raise CheckpointError("a version-1 checkpoint with a tree")
    return Checkpoint(
        signed.origin,
        signed.size,
        signed.head,
        signed.ts_ms,
        snapshot,
        signed.segment,
        signed.offset,
        note,
        tree,
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
    root: bytes | None = None  # the Merkle root; None in a version-1 checkpoint


def open_checkpoint_note(note: str, public_key: bytes) -> SignedCheckpoint:
    """Verify a checkpoint's signed note with the household's key and read its lines."""
    verifier = VerifierKey.of(note.partition("\n")[0], public_key)
    try:
        body = open_note(note, verifier)  # the rest of the text is read once its signature checks
    except NoteError as err:
        raise CheckpointError(f"no valid signature by the household's key: {err}") from None
    try:
        lines = body.splitlines()
        root: bytes | None = None
        if len(lines) == 7:  # version 2: the Merkle root, then the head as an extension line
            origin, size_text, root_text, head_line, *extensions = lines
            root = base64.b64decode(root_text, validate=True)
            if not head_line.startswith("head ") or len(root) != 32:
                raise CheckpointError("unexpected checkpoint lines")
            head_text = head_line.removeprefix("head ")
        else:  # version 1: the head where the root is now
            origin, size_text, head_text, *extensions = lines
        time_line, balances_line, position_line = extensions
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
    return SignedCheckpoint(origin, size, head, ts_ms, claimed_snapshot_hash, segment, offset, root)
