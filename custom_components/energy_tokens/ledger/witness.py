"""A witness: cosigns other households' checkpoints that extend what it cosigned before.

It follows C2SP tlog-witness: per log (a checkpoint origin) it keeps only the latest checkpoint
it cosigned; a new one must be signed by the log's admitted key, carry a Merkle root, and come
with a consistency proof from that latest one. Then it is cosigned (cosignature.py) and becomes
the latest. Anything else is refused; a refusal that proves misbehaviour — two roots for one
size, or a proof that does not hold (a rewritten or forked history) — carries the checkpoint as
evidence. A checkpoint older than the latest is refused as stale (it proves nothing wrong).

Pure: no I/O; its state is plain data for whoever stores it (``as_data``, ``from_data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .checkpoints import CheckpointError, open_checkpoint_note
from .cosignature import cosign
from .merkle import EMPTY_ROOT, ProofError, verify_consistency
from .note import note_text


class Refusal(enum.StrEnum):
    """Why a checkpoint was not cosigned."""

    SIGNATURE = "signature"  # not signed by the log's admitted key (a new key for an old log)
    NO_ROOT = "no_root"  # a checkpoint from before ledgers had a tree: nothing to prove
    STALE = "stale"  # smaller than the one cosigned already: not evidence of anything
    FORK = "fork"  # another root for a size already cosigned: evidence
    INCONSISTENT = "inconsistent"  # the proof does not hold: a rewritten history, evidence

    @property
    def is_evidence(self) -> bool:
        """Whether the refused checkpoint proves the log misbehaved (keep it, tell the user)."""
        return self in (Refusal.FORK, Refusal.INCONSISTENT)


class WitnessRefusal(Exception):
    """A checkpoint the witness did not cosign, why, and the note itself (the evidence)."""

    def __init__(self, reason: Refusal, message: str, origin: str, note: str) -> None:
        """Keep what the refusal is about."""
        super().__init__(message)
        self.reason = reason
        self.origin = origin
        self.note = note


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The latest checkpoint a witness cosigned for one log."""

    size: int
    root: bytes
    note: str


class Witness:
    """One witness's keys and state: the latest checkpoint it cosigned, per log origin."""

    def __init__(
        self, name: str, key: Ed25519PrivateKey, cosigned: dict[str, Cosigned] | None = None
    ) -> None:
        """A witness named ``name`` (its cosignature key name), signing with ``key``."""
        self.name = name
        self._key = key
        self.cosigned: dict[str, Cosigned] = dict(cosigned or {})

    def witness(self, note: str, proof: Sequence[bytes], log_key: bytes, now_s: int) -> str:
        """Cosign ``note`` if it extends what was cosigned before; return the cosignature line.

        ``log_key`` is the log's admitted public key; ``proof`` the consistency proof from the
        latest checkpoint cosigned for its origin (empty for the first one). Raises
        WitnessRefusal, the state unchanged.
        """
        origin = note.partition("\n")[0]
        try:
            signed = open_checkpoint_note(note, log_key)
        except CheckpointError as err:
            raise WitnessRefusal(Refusal.SIGNATURE, str(err), origin, note) from None
        if signed.root is None:
            raise WitnessRefusal(
                Refusal.NO_ROOT, "the checkpoint signs no Merkle root", origin, note
            )
        last = self.cosigned.get(origin)
        old_size, old_root = (0, EMPTY_ROOT) if last is None else (last.size, last.root)
        if signed.size < old_size:
            raise WitnessRefusal(
                Refusal.STALE,
                f"a checkpoint of {signed.size} entries after one of {old_size} was cosigned",
                origin,
                note,
            )
        if signed.size == old_size and signed.root != old_root:
            raise WitnessRefusal(
                Refusal.FORK,
                f"a second root for {signed.size} entries: the history was forked",
                origin,
                note,
            )
        try:
            verify_consistency(old_size, signed.size, old_root, signed.root, proof)
        except ProofError as err:
            raise WitnessRefusal(
                Refusal.INCONSISTENT,
                f"no proof that {signed.size} entries extend the {old_size} cosigned: {err}",
                origin,
                note,
            ) from None
        line = cosign(note_text(note), self.name, self._key, now_s)
        self.cosigned[origin] = Cosigned(signed.size, signed.root, note)
        return line

    def as_data(self) -> dict[str, Any]:
        """The state, as JSON-ready data."""
        return {origin: {"size": c.size, "note": c.note} for origin, c in self.cosigned.items()}

    @classmethod
    def from_data(
        cls, name: str, key: Ed25519PrivateKey, data: dict[str, Any], keys: dict[str, bytes]
    ) -> Witness:
        """A witness from its stored state; each note is checked again with its log's key."""
        cosigned = {}
        for origin, kept in data.items():
            signed = open_checkpoint_note(kept["note"], keys[origin])
            if signed.root is None or signed.size != kept["size"]:
                raise CheckpointError(f"the cosigned checkpoint of {origin} is not one")
            cosigned[origin] = Cosigned(signed.size, signed.root, kept["note"])
        return cls(name, key, cosigned)
