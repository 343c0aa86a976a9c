"""RFC 6962 Merkle trees against transparency-dev/merkle's published vectors, and a reference.

vectors/transparency-dev-merkle/ holds, as published (Apache-2.0, commit in tree.json):
``tree.json`` — the eight leaves of RFC 6962's test tree and the root of every prefix;
``inclusion/`` and ``consistency/`` — proofs of that tree, the good ones and each way of breaking
them (a flipped bit, a missing or extra hash, swapped roots, wrong sizes), with ``wantErr``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from pathlib import Path
import random
from typing import Any

import pytest

from custom_components.energy_tokens.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).with_name("vectors") / "transparency-dev-merkle"
TREE = json.loads((VECTORS / "tree.json").read_text(encoding="utf-8"))
LEAVES = [bytes.fromhex(leaf) for leaf in TREE["leaves"]]
ROOTS = [bytes.fromhex(root) for root in TREE["roots"]]


# Where we differ on purpose: transparency-dev accepts any bytes as the two roots of equal sizes
# (its vector's roots are the text "don't care 2"); we refuse a root that is no SHA-256 hash.
STRICTER = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def _b64(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value)


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) > 80  # every published case, not a few
    cases = []
    for file in files:
        case = json.loads(file.read_text(encoding="utf-8"))
        name = str(file.relative_to(VECTORS))
        if name in STRICTER:
            assert not case["wantErr"]
            assert len(_b64(case["root1"])) != 32
            case = {**case, "wantErr": True}
        cases.append(pytest.param(case, id=name))
    return cases


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH as RFC 6962 §2.1 defines it, recursively: the oracle for the stored-node tree."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_the_published_tree_has_the_published_roots() -> None:
    tree = MerkleTree()
    assert tree.root() == ROOTS[0] == hashlib.sha256(b"").digest()
    for size, leaf in enumerate(LEAVES, 1):
        tree.append(leaf_hash(leaf))
        assert tree.root() == ROOTS[size]
    assert [tree.root(size) for size in range(9)] == ROOTS  # every earlier size, afterwards


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    leaf, root = _b64(case["leafHash"]), _b64(case["root"])
    proof = [_b64(p) for p in case["proof"] or []]
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, case["leafIdx"], case["treeSize"], proof, root)
        return
    verify_inclusion(leaf, case["leafIdx"], case["treeSize"], proof, root)
    if 0 < case["treeSize"] <= len(LEAVES) and root == ROOTS[case["treeSize"]]:
        # Built from stored nodes, our proof is the published one.
        tree = MerkleTree(leaf_hash(leaf) for leaf in LEAVES)
        assert tree.inclusion_proof(case["leafIdx"], case["treeSize"]) == proof


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    sizes = case["size1"], case["size2"]
    roots = _b64(case["root1"]), _b64(case["root2"])
    proof = [_b64(p) for p in case["proof"] or []]
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*sizes, *roots, proof)
        return
    verify_consistency(*sizes, *roots, proof)
    if 0 < sizes[0] <= sizes[1] <= len(LEAVES):
        tree = MerkleTree(leaf_hash(leaf) for leaf in LEAVES)
        assert tree.consistency_proof(*sizes) == proof


def test_every_proof_of_every_size_verifies_and_matches_the_reference() -> None:
    rng = random.Random(6962)
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(70)]
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf_hash(leaf))
    for size in range(len(leaves) + 1):
        root = tree.root(size)
        assert root == reference_root(leaves[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert len(proof) <= max(size - 1, 0).bit_length()  # O(log n)
            verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
        for old in range(size + 1):
            proof = tree.consistency_proof(old, size)
            assert len(proof) <= 2 * max(size - 1, 0).bit_length()
            if old > 0:
                verify_consistency(old, size, tree.root(old), root, proof)


def test_a_rewritten_history_has_no_consistency_proof() -> None:
    """What a witness refuses: the same size again with other entries, or a forked extension."""
    honest = MerkleTree(leaf_hash(bytes([n])) for n in range(20))
    forged = MerkleTree(leaf_hash(bytes([n if n != 6 else 99])) for n in range(30))
    old_root = honest.root(13)
    with pytest.raises(ProofError):  # the forger's proof from its own size 13 to 30
        verify_consistency(13, 30, old_root, forged.root(), forged.consistency_proof(13))
    with pytest.raises(ProofError):  # the honest proof does not lead to the forged root
        verify_consistency(13, 20, old_root, forged.root(20), honest.consistency_proof(13, 20))


def test_any_altered_proof_fails() -> None:
    tree = MerkleTree(leaf_hash(bytes([n])) for n in range(37))
    inclusion = tree.inclusion_proof(21, 37)
    consistency = tree.consistency_proof(11, 37)
    for at, bit in itertools.product(range(len(inclusion)), (0, 77, 255)):
        bad = [bytearray(p) for p in inclusion]
        bad[at][bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(bytes([21])), 21, 37, [bytes(p) for p in bad], tree.root())
    for cut in (consistency[:-1], consistency[1:], [*consistency, consistency[0]], []):
        with pytest.raises(ProofError):
            verify_consistency(11, 37, tree.root(11), tree.root(), cut)
    with pytest.raises(ProofError, match="two different roots"):
        verify_consistency(11, 11, tree.root(11), tree.root(12), [])
    verify_consistency(11, 11, tree.root(11), tree.root(11), [])  # a tree extends itself
    verify_consistency(0, 37, EMPTY_ROOT, tree.root(), [])  # and the empty tree, any


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.root(6), "not 6"),
        (lambda t: t.inclusion_proof(5, 5), "not in a tree of 5"),
        (lambda t: t.consistency_proof(4, 3), "from 4 to 3"),
        (lambda t: t.consistency_proof(1, 6), "not 6"),
    ],
)
def test_impossible_requests_are_refused(call: Any, message: str) -> None:
    tree = MerkleTree(leaf_hash(bytes([n])) for n in range(5))
    with pytest.raises(ProofError, match=message):
        call(tree)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"short")


def test_a_compact_range_extends_roots_and_proves_consistency_without_older_leaves() -> None:
    rng = random.Random(9162)
    leaves = [leaf_hash(rng.randbytes(12)) for _ in range(70)]
    tree = MerkleTree(leaves)
    ranges = [CompactRange()]
    for leaf in leaves:
        grown = ranges[-1].copy()
        grown.append(leaf)
        ranges.append(grown)
    for old, at_old in enumerate(ranges):
        assert at_old.size == old
        assert len(at_old.nodes) == old.bit_count()  # what a checkpoint carries
        assert at_old.root() == tree.root(old)
        for new in range(old, len(leaves) + 1):
            # Only the range at ``old`` and the leaves since: the proof the tree would give.
            proof = at_old.consistency_proof_from(leaves[old:new])
            assert proof == tree.consistency_proof(old, new)
    restored = CompactRange(ranges[45].size, ranges[45].nodes)
    restored.append(leaves[45])
    assert restored.root() == tree.root(46)
    with pytest.raises(ProofError, match="3 subtrees"):
        CompactRange(7, ranges[6].nodes)


def test_a_compact_range_proves_any_later_leaf_without_older_leaves() -> None:
    rng = random.Random(6962_2)
    leaves = [leaf_hash(rng.randbytes(9)) for _ in range(45)]
    tree = MerkleTree(leaves)
    for old in range(0, 45, 4):
        at_old = CompactRange()
        for leaf in leaves[:old]:
            at_old.append(leaf)
        for new in range(old + 1, 46):
            for index in range(old, new):
                proof = at_old.inclusion_proof_from(leaves[old:new], index)
                assert proof == tree.inclusion_proof(index, new)
                verify_inclusion(leaves[index], index, new, proof, tree.root(new))
    with pytest.raises(ProofError, match="not among the leaves after 4"):
        CompactRange(4, [tree.root(4)]).inclusion_proof_from(leaves[4:9], 3)
