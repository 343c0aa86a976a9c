"""Proofs a household gives about its own ledger, read from its folder (blocking I/O).

A consistency proof between two checkpoints is built from the earlier checkpoint's compact range
(kept in its record) and the entries written since, read from where that checkpoint says they
start: never by rehashing the ledger from its beginning. An inclusion proof of one entry starts
likewise from the last checkpoint before it.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoints import Checkpoint
from .errors import LedgerError
from .framing import MAGIC_SIZE
from .layout import list_segments
from .merkle import CompactRange, leaf_hash
from .reader import iter_payloads, read_checkpoints, read_genesis


def signed_checkpoints(directory: Path) -> list[Checkpoint]:
    """The ledger's signed checkpoints, oldest first (their signatures checked)."""
    checkpoints, _, _ = read_checkpoints(directory, read_genesis(directory).public_key)
    return checkpoints


def consistency_proof(directory: Path, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, new_size) over the ledger in ``directory``.

    Built from the last checkpoint with a tree at or before ``old_size`` (the first entry when
    there is none), grown to ``old_size`` by the entries between. A witness asks from the size
    it cosigned, which an honest ledger signed; one that was rewritten since answers all the
    same, with a proof that fails. LedgerError when the entries up to ``new_size`` are not on
    disk.
    """
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"no consistency proof from {old_size} to {new_size} entries")
    if old_size in (0, new_size):
        return []
    tree, segment, offset = _range_before(directory, old_size + 1)
    leaves = _leaves(directory, segment, offset, tree.size, new_size)
    grown = tree.copy()
    for leaf in leaves[: old_size - tree.size]:
        grown.append(leaf)
    return grown.consistency_proof_from(leaves[old_size - tree.size :])


def inclusion_proof(directory: Path, seq: int, size: int) -> list[bytes]:
    """RFC 6962 PATH for entry ``seq`` (1-based; leaf ``seq - 1``) in the tree of ``size``.

    Read from the last checkpoint with a tree before the entry on (from the first entry when
    there is none); LedgerError when the entry is not among the first ``size``, or those are not
    on disk.
    """
    if not 1 <= seq <= size:
        raise LedgerError(f"entry {seq} is not among the first {size}")
    tree, segment, offset = _range_before(directory, seq)
    leaves = _leaves(directory, segment, offset, tree.size, size)
    return tree.inclusion_proof_from(leaves, seq - 1)


def _range_before(directory: Path, seq: int) -> tuple[CompactRange, str | None, int]:
    """The last checkpoint's compact range before entry ``seq``, and where its entries end.

    The first entry, with an empty range, when no checkpoint with a tree comes before it.
    """
    if not list_segments(directory):
        raise LedgerError(f"{directory} holds no ledger")
    tree, segment, offset = CompactRange(), None, MAGIC_SIZE
    for checkpoint in signed_checkpoints(directory):
        if checkpoint.tree is not None and checkpoint.size < seq:
            tree, segment, offset = checkpoint.tree, checkpoint.segment, checkpoint.offset
    return tree, segment, offset


def _leaves(
    directory: Path, segment: str | None, offset: int, start: int, size: int
) -> list[bytes]:
    """The leaf hashes of entries ``start + 1`` to ``size``, read from where they begin."""
    leaves: list[bytes] = []
    for payload in iter_payloads(directory, segment, offset):
        if len(leaves) == size - start:
            break
        leaves.append(leaf_hash(payload))
    if len(leaves) != size - start:
        raise LedgerError(f"the ledger holds {start + len(leaves)} entries, not {size}")
    return leaves
