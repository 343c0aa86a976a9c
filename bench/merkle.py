"""Merkle tree benchmark: what RFC 6962 proofs cost over a ledger's entries.

Prints one ``metric: value unit`` line per metric. Needs the installed ledger package, not Home
Assistant:

    scripts/bench merkle [--entries 1000000]

It builds a real ledger of ``--entries`` entries (bench/ledger.py's workload, durable appends in
group commits of 1,000), then a Merkle tree over the same entries' record bytes, and measures in
the same run:

- the tree's cost per entry beside the durable append's (its ratio is what the tree would add to
  an append: the goal is at most 0.3, i.e. appends at most 1.3 times dearer);
- consistency and inclusion proofs at full size: the time to build one from the stored subtree
  hashes (median and worst of 1,000 random proofs; the goal is 10 ms) and their length (the goal
  is 40 hashes);
- one bare SHA-256 of a node (the floor under every hash of the tree);
- the tree's memory: stored hashes per entry.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import hashlib
from pathlib import Path
import random
import statistics
import sys
import tempfile
import time

from energy_tokens_ledger.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import build, emit, payloads_of

PROOFS = 1000


def _timed(make: Callable[[], list[bytes]]) -> tuple[list[bytes], float]:
    started = time.perf_counter()
    proof = make()
    return proof, time.perf_counter() - started


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="et-merkle-") as work:
        folder = Path(work) / "ledger"
        ledger, append_s = build(folder, args.entries, 1000)
        ledger.close()
        payloads = payloads_of(folder)
    count = len(payloads)
    print(f"python: {sys.version.split()[0]}")
    emit("entries", count, "entries")
    emit("durable_append_per_entry", append_s / args.entries * 1e6, "us")

    started = time.perf_counter()
    tree = MerkleTree()
    for payload in payloads:
        tree.append(leaf_hash(payload))
    tree_s = time.perf_counter() - started
    emit("merkle_tree_per_entry", tree_s / count * 1e6, "us")
    emit("merkle_cost_vs_durable_append", (tree_s / count) / (append_s / args.entries), "x")
    emit("appends_with_tree_vs_without", 1 + (tree_s / count) / (append_s / args.entries), "x")

    rng = random.Random(6962)
    size = tree.size
    root = tree.root()

    def consistency(old: int) -> float:
        proof, built = _timed(lambda: tree.consistency_proof(old, size))
        verify_consistency(old, size, tree.root(old), root, proof)
        return built

    def inclusion(index: int) -> float:
        proof, built = _timed(lambda: tree.inclusion_proof(index, size))
        verify_inclusion(leaf_hash(payloads[index]), index, size, proof, root)
        return built

    kinds: list[tuple[str, Callable[[int], float], Callable[[int], list[bytes]]]] = [
        ("consistency", consistency, lambda at: tree.consistency_proof(at, size)),
        ("inclusion", inclusion, lambda at: tree.inclusion_proof(at, size)),
    ]
    for name, measure, proof_at in kinds:
        points = [rng.randrange(1, size) for _ in range(PROOFS)]
        built = [measure(at) for at in points]
        emit(f"{name}_proof_build_median", statistics.median(built) * 1e3, "ms")
        emit(f"{name}_proof_build_worst", max(built) * 1e3, "ms")
        emit(f"{name}_proof_hashes_max", max(len(proof_at(at)) for at in points), "hashes")

    node = bytes(65)
    started = time.perf_counter()
    for _ in range(100_000):
        hashlib.sha256(node).digest()
    emit("sha256_node_floor", (time.perf_counter() - started) / 100_000 * 1e6, "us")
    stored = sum(len(level) for level in tree._levels) // 32
    emit("stored_hashes_per_entry", stored / count, "hashes")
    emit("tree_memory", sum(len(level) for level in tree._levels) / 2**20, "MiB")


if __name__ == "__main__":
    main()
