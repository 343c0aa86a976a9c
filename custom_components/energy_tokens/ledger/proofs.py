"""Proofs a household gives about its own ledger, read from its folder (blocking I/O).

A consistency proof between two checkpoints is built from the earlier checkpoint's compact range
(kept in its record) and the entries written since, read from where that checkpoint says they
start: never by rehashing the ledger from its beginning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .checkpoints import Checkpoint
from .entries import unit_entries
from .errors import LedgerError
from .framing import MAGIC_SIZE, SEGMENT_MAGIC, BadFrame, read_magic, scan_frames
from .layout import list_segments
from .merkle import leaf_hash
from .reader import read_checkpoints, read_genesis


def signed_checkpoints(directory: Path) -> list[Checkpoint]:
    """The ledger's signed checkpoints, oldest first (their signatures checked)."""
    checkpoints, _, _ = read_checkpoints(directory, read_genesis(directory).public_key)
    return checkpoints


def consistency_proof(directory: Path, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, new_size) over the ledger in ``directory``.

    ``old_size`` must be the size of a checkpoint that carries the tree (or 0); the entries up to
    ``new_size`` must be on disk. Raises LedgerError otherwise.
    """
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"no consistency proof from {old_size} to {new_size} entries")
    if old_size in (0, new_size):
        return []
    old = next(
        (c for c in signed_checkpoints(directory) if c.size == old_size and c.tree is not None),
        None,
    )
    if old is None or old.tree is None:
        raise LedgerError(f"no checkpoint of {old_size} entries with a Merkle tree")
    leaves: list[bytes] = []
    for payload in _payloads_from(directory, old.segment, old.offset):
        if len(leaves) == new_size - old_size:
            break
        leaves.append(leaf_hash(payload))
    if len(leaves) != new_size - old_size:
        raise LedgerError(f"the ledger holds {old_size + len(leaves)} entries, not {new_size}")
    return old.tree.consistency_proof_from(leaves)


def _payloads_from(directory: Path, segment: str, offset: int) -> Iterator[memoryview]:
    """Every entry's payload from a position on (a cut-short end is where reading stops)."""
    started = False
    for path in list_segments(directory):
        if not started and path.name != segment:
            continue
        start = offset if not started else MAGIC_SIZE
        started = True
        with path.open("rb") as handle:
            if not read_magic(handle, SEGMENT_MAGIC):
                return
            for item in scan_frames(handle, start):
                if isinstance(item, BadFrame):
                    return
                yield from unit_entries(item[1])
