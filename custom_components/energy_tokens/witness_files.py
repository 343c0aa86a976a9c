"""The files of a household's part in its community, beside its ledger (blocking I/O).

The witness key beside the ledger's signing key; the witness state (per member, the latest
checkpoint cosigned and the cosignature); refused checkpoints kept as evidence. All in the
household's folder, so in Home Assistant's backups.
"""

from __future__ import annotations

from collections.abc import Iterable
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .ledger.community import Member
from .ledger.cosignature import read_cosignatures
from .ledger.framing import replace_durably
from .ledger.keys import load_or_create_signing_key
from .ledger.proofs import consistency_proof, signed_checkpoints
from .ledger.witness import WitnessRefusal

WITNESS_KEY_FILE = "witness.key"  # beside the ledger's signing key
WITNESS_STATE_FILE = "witness.json"  # per member, the latest checkpoint cosigned
EVIDENCE_FOLDER = "evidence"  # refused checkpoints that prove a member misbehaved


def load(
    folder: Path, ledger: Path
) -> tuple[Ed25519PrivateKey, dict[str, Any], set[tuple[int, str]]]:
    """The witness key (made on first use), its state, and the cosignatures kept."""
    key = load_or_create_signing_key(folder / WITNESS_KEY_FILE)
    path = folder / WITNESS_STATE_FILE
    state = json.loads(path.read_text()) if path.exists() else {}
    kept = {(size, line) for size, lines in read_cosignatures(ledger).items() for line in lines}
    return key, state, kept


def save_state(folder: Path, state: dict[str, Any]) -> None:
    """Write the witness state durably (before the cosignature it holds is published)."""
    replace_durably(folder / WITNESS_STATE_FILE, json.dumps(state, sort_keys=True).encode())


def own_notes(ledger: Path) -> dict[int, str]:
    """The household's checkpoints that sign a root, by size."""
    return {c.size: c.note for c in signed_checkpoints(ledger) if c.tree is not None}


def proofs_from(ledger: Path, sizes: Iterable[int], size: int) -> dict[int, list[bytes]]:
    """Consistency proofs to the checkpoint of ``size`` from each of ``sizes``."""
    return {old: consistency_proof(ledger, old, size) for old in sizes}


def keep_evidence(
    folder: Path, member: Member, refusal: WitnessRefusal, cosigned: str | None
) -> Path | None:
    """Write the refused checkpoint beside the one it contradicts; None if kept already.

    One file per contradicted checkpoint: once a member's history departed from it, every
    later checkpoint of the new history is refused too, and proves nothing more.
    """
    digest = hashlib.sha256((cosigned or "").encode()).hexdigest()[:16]
    path = folder / EVIDENCE_FOLDER / f"{member.household}-{digest}.json"
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "member": member.as_data(),
        "reason": str(refusal.reason),
        "message": str(refusal),
        "refused": refusal.note,
        "cosigned": cosigned,  # the checkpoint this household cosigned, which it contradicts
    }
    replace_durably(path, json.dumps(record, indent=2).encode())
    return path
