"""Witness benchmark: checkpoints verified and cosigned per second by one witness.

Prints one ``metric: value unit`` line per metric. Needs the installed ledger package, not Home
Assistant:

    scripts/bench witness [--checkpoints 2000] [--entries-per-checkpoint 50]

It writes a real ledger, signing a checkpoint every ``--entries-per-checkpoint`` entries, and
makes each checkpoint's consistency proof from the one before (what a household publishes).
Then one witness verifies and cosigns them in order — the household's signature, the Merkle
root's consistency proof, its own Ed25519 cosignature — and, in the same run, the bare Ed25519
verification of the same checkpoint signatures is timed: the ratio is the figure to compare
(the goal is at least 0.5).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
from pathlib import Path
import sys
import tempfile
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from energy_tokens_ledger import Kind, Ledger
from energy_tokens_ledger.keys import public_key_bytes
from energy_tokens_ledger.merkle import leaf_hash
from energy_tokens_ledger.proofs import signed_checkpoints
from energy_tokens_ledger.witness import Cosigned, Witness

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import emit, payloads_of

TRIES = 3  # rates are the best of this many runs: the machines are shared and noisy


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=2000)
    parser.add_argument("--entries-per-checkpoint", type=int, default=50)
    args = parser.parse_args()
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"household").digest())
    public = public_key_bytes(key.public_key())
    with tempfile.TemporaryDirectory(prefix="et-witness-") as work:
        folder = Path(work) / "ledger"
        ledger = Ledger.create(folder, key, "bench", checkpoint_every=10**9)
        for _ in range(args.checkpoints):
            for _ in range(args.entries_per_checkpoint):
                ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
            ledger.request_checkpoint()
            ledger.commit()
        ledger.close()
        checkpoints = signed_checkpoints(folder)
        leaves = [leaf_hash(payload) for payload in payloads_of(folder)]
    # What each checkpoint is published with: the proof from the one before (from its range).
    published = []
    for previous, checkpoint in itertools.pairwise(checkpoints):
        assert previous.tree is not None
        proof = previous.tree.consistency_proof_from(leaves[previous.size : checkpoint.size])
        published.append((checkpoint.note, proof))
    before = checkpoints[-1].size
    first = checkpoints[0]  # the witness starts from the first, as if it cosigned it already
    assert first.tree is not None
    print(f"python: {sys.version.split()[0]} (rates: best of {TRIES} runs)")
    emit("checkpoints", len(published), "checkpoints")
    emit("entries", before, "entries")
    emit("proof_hashes_max", max(len(proof) for _, proof in published), "hashes")

    cosign_rates, verify_rates = [], []
    verifier = Ed25519PublicKey.from_public_bytes(public)
    signed = []
    for note, _ in published:
        body, _, block = note.rpartition("\n\n")
        raw = base64.b64decode(block.split(" ")[2])
        signed.append(((body + "\n").encode(), raw[4:]))
    for _ in range(TRIES):
        witness = Witness(
            "witness.example",
            Ed25519PrivateKey.generate(),
            {first.origin: Cosigned(first.size, first.tree.root(), first.note)},
        )
        started = time.perf_counter()
        for note, proof in published:
            witness.witness(note, proof, public, 1_800_000_000)
        cosign_rates.append(len(published) / (time.perf_counter() - started))
        started = time.perf_counter()
        for message, signature in signed:
            verifier.verify(signature, message)
        verify_rates.append(len(signed) / (time.perf_counter() - started))
    emit("witness_checkpoints_verified_and_cosigned_per_s", max(cosign_rates), "checkpoints/s")
    emit("bare_ed25519_verifications_per_s", max(verify_rates), "verifications/s")
    emit("witness_vs_bare_ed25519_verify", max(cosign_rates) / max(verify_rates), "x")


if __name__ == "__main__":
    main()
