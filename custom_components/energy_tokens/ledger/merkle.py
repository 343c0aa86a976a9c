"""RFC 6962 Merkle trees over a ledger's entries: roots, inclusion and consistency proofs.

The hash chain proves order to whoever holds the whole ledger; the Merkle tree over the same
entries lets a household prove one entry (a transfer, say) to someone who sees nothing else, and
prove that a later checkpoint extends an earlier one, each in O(log n) hashes (RFC 6962 §2.1,
RFC 9162 §2.1). Leaves are the entries' record bytes, hashed with RFC 6962's leaf prefix.

A ``MerkleTree`` keeps the hash of every perfect (power-of-two, aligned) subtree, level by level:
about two hashes per entry. Any proof is then built from O(log n) stored hashes, never by
rehashing the ledger. Verification needs none of it: ``verify_inclusion`` and
``verify_consistency`` are RFC 9162's algorithms.

Pure: hashlib only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import hashlib

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of a tree of no entries
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof that does not prove what it claims (or a request for an impossible one)."""


def leaf_hash(data: bytes | memoryview) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


_Subtree = Callable[[int, int], bytes]  # MTH(D[start:end])


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size > 1): where RFC 6962 splits."""
    return 1 << ((size - 1).bit_length() - 1)


class MerkleTree:
    """A growing tree: append leaf hashes, ask for roots and proofs of any size so far."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        """A tree of the given leaf hashes (already ``leaf_hash``ed)."""
        # _levels[k] holds, back to back, the hashes of the perfect subtrees of 2**k leaves,
        # in order: a bytearray per level keeps a million entries in about 64 MB, not objects.
        self._levels: list[bytearray] = [bytearray()]
        self.size = 0
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash; complete the perfect subtrees it closes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        levels = self._levels
        levels[0] += leaf
        self.size += 1
        index, level, right = self.size - 1, 0, leaf
        while index & 1:  # a right child: its parent's subtree is now complete
            right = node_hash(bytes(levels[level][-2 * HASH_SIZE : -HASH_SIZE]), right)
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += right
            index >>= 1

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        size = self.size if size is None else size
        self._check_size(size)
        return _inclusion(index, size, self._subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[new_size]): the first tree is a prefix of the second."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        return _consistency(old_size, new_size, self._subtree)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from stored perfect subtrees: O(log n) of them."""
        count = end - start
        if count & (count - 1) == 0 and start % count == 0:  # perfect: stored
            level = count.bit_length() - 1
            at = (start >> level) * HASH_SIZE
            return bytes(self._levels[level][at : at + HASH_SIZE])
        k = _split(count)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))


def _inclusion(index: int, size: int, subtree: _Subtree) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]), walked down from the root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
    proof.reverse()  # leaf to root
    return proof


def _consistency(old_size: int, new_size: int, subtree: _Subtree) -> list[bytes]:
    """RFC 6962 SUBPROOF(old_size, D[new_size], true), walked down from the root."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, whole = 0, new_size, True
    m = old_size
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        proof.append(subtree(start, end))
    proof.reverse()  # the innermost first, as RFC 6962 lists them
    return proof


class CompactRange:
    """The perfect subtrees that cover a tree's leaves, largest (leftmost) first.

    At most one per bit of the size, so a checkpoint can carry it: from it the tree is
    extended, its root computed, and a consistency proof to any later tree built from the leaves
    appended since (``consistency_proof_from``), without the leaves before.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        """A range of ``size`` leaves with these subtree hashes (none for an empty tree)."""
        if size < 0 or len(nodes) != size.bit_count():
            raise ProofError(f"a range of {size} leaves has {size.bit_count()} subtrees")
        _check_hashes(*nodes)
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash, merging the subtrees it completes."""
        # Once per entry on every verification: plain locals, one hash call per merge.
        nodes = self.nodes
        size = self.size
        self.size = size + 1
        while size & 1:
            leaf = _sha256(b"\x01" + nodes.pop() + leaf).digest()
            size >>= 1
        nodes.append(leaf)

    def root(self) -> bytes:
        """The tree's root hash (RFC 6962 MTH of every leaf so far)."""
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def copy(self) -> CompactRange:
        """An independent copy."""
        return CompactRange(self.size, self.nodes)

    def consistency_proof_from(self, leaves: Sequence[bytes]) -> list[bytes]:
        """PROOF(size, D[size + len(leaves)]): the tree grown by ``leaves`` extends this one."""
        # RFC 6962 asks, left of this size, only for this range's own subtrees.
        return _consistency(self.size, self.size + len(leaves), self._subtrees(leaves, self))

    def inclusion_proof_from(self, leaves: Sequence[bytes], index: int) -> list[bytes]:
        """PATH(index, D[size + len(leaves)]) for a leaf appended since (index >= size).

        The path's left siblings are the subtrees of the range grown to ``index``; the rest
        are made of the leaves after it. What one entry (a transfer, say) needs to be shown to
        someone who sees nothing else, against a checkpoint's root.
        """
        if not self.size <= index < self.size + len(leaves):
            raise ProofError(f"leaf {index} is not among the leaves after {self.size}")
        grown = self.copy()
        for leaf in leaves[: index - self.size]:
            grown.append(leaf)
        return _inclusion(index, self.size + len(leaves), self._subtrees(leaves, grown))

    def _subtrees(self, leaves: Sequence[bytes], known_range: CompactRange) -> _Subtree:
        """MTH(D[begin:end]): a subtree of ``known_range``, or made of ``leaves`` alone.

        ``leaves`` are the ones after this range's size.
        """
        old = self.size
        known: dict[tuple[int, int], bytes] = {}
        start = 0
        for node in known_range.nodes:  # the subtrees' places: the size's bits, highest first
            width = 1 << ((known_range.size - start).bit_length() - 1)
            known[start, start + width] = node
            start += width

        def subtree(begin: int, end: int) -> bytes:
            if (begin, end) in known:
                return known[begin, end]
            assert begin >= known_range.size, f"no subtree [{begin}, {end}) from here"
            return _root_of(leaves[begin - old : end - old])

        return subtree


def _root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of leaf hashes, recursively (RFC 6962 §2.1)."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(_root_of(leaves[:k]), _root_of(leaves[k:]))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root`` (RFC 9162).

    Raises ProofError when it is not.
    """
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError("the inclusion proof leads to another root")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    _check_hashes(leaf, *proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` extends the one of ``old_size`` (RFC 9162 §2.1.4.2).

    Raises ProofError when it does not (a rewritten or forked history).
    """
    _check_hashes(old_root, new_root, *proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a tree is consistent with itself without a proof")
        if old_root != new_root:
            raise ProofError("two different roots for the same size")
        return
    if old_size == 0:
        if proof:
            raise ProofError("an empty tree is consistent with any without a proof")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root or sr != new_root:
        raise ProofError("the consistency proof leads to other roots")


def _check_hashes(*hashes: bytes) -> None:
    if any(len(value) != HASH_SIZE for value in hashes):
        raise ProofError("a hash is 32 bytes")
