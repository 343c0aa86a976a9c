"""Against an independent implementation: pymerkle (RFC 9162 trees), installed for the tests.

Roots at every size, inclusion paths (pymerkle's path is the leaf's own hash, then RFC 9162's
PATH, hash for hash); consistency: pymerkle's own proof (a path of its own design, not RFC
9162's PROOF) accepted by pymerkle's verifier between our roots, and our RFC 9162 proof accepted
by the RFC 9162 verifier between pymerkle's roots; and the roots the vector ledger's checkpoints
sign, and the proofs made from its folder, against pymerkle's tree of the ledger's entries.
"""

from __future__ import annotations

import itertools
import random

from pymerkle import InmemoryTree, verify_consistency, verify_inclusion

from custom_components.energy_tokens.ledger.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency as our_verify_consistency,
)
from custom_components.energy_tokens.ledger.proofs import consistency_proof, signed_checkpoints

from .test_tree import payloads
from .vector_ledger import LEDGER


def _trees(entries: list[bytes]) -> tuple[InmemoryTree, MerkleTree]:
    oracle = InmemoryTree(algorithm="sha256")  # security on: RFC 9162's 0x00 / 0x01 prefixes
    ours = MerkleTree()
    for entry in entries:
        oracle.append_entry(entry)
        ours.append(leaf_hash(entry))
    return oracle, ours


def test_roots_inclusion_and_consistency_agree_with_pymerkle() -> None:
    rng = random.Random(6962)
    entries = [rng.randbytes(rng.randrange(0, 80)) for _ in range(70)]
    oracle, ours = _trees(entries)
    for size in range(1, len(entries) + 1):
        root = ours.root(size)
        assert oracle.get_root(size) == root
        for index in range(size):
            proof = oracle.prove_inclusion(index + 1, size)  # pymerkle counts from 1
            assert proof.path == [leaf_hash(entries[index]), *ours.inclusion_proof(index, size)]
            verify_inclusion(leaf_hash(entries[index]), root, proof)
    for old, new in itertools.combinations(range(1, len(entries) + 1), 2):
        verify_consistency(ours.root(old), ours.root(new), oracle.prove_consistency(old, new))
        rfc = ours.consistency_proof(old, new)
        our_verify_consistency(old, new, oracle.get_root(old), oracle.get_root(new), rfc)


def test_a_real_ledgers_signed_roots_are_pymerkles() -> None:
    oracle, _ = _trees(list(payloads(LEDGER)))
    checkpoints = signed_checkpoints(LEDGER)
    assert checkpoints
    for checkpoint in checkpoints:
        assert checkpoint.root == oracle.get_root(checkpoint.size)
    for old, new in itertools.pairwise(checkpoints):
        proof = consistency_proof(LEDGER, old.size, new.size)  # made from the folder
        old_root, new_root = oracle.get_root(old.size), oracle.get_root(new.size)
        our_verify_consistency(old.size, new.size, old_root, new_root, proof)
