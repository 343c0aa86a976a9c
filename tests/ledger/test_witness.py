"""Households witnessing each other's ledgers (pure: the ledger package, no Home Assistant).

Three households, each also a witness for the other two: they publish checkpoints with
consistency proofs from what each witness cosigned last; witnesses cosign; the auditor then
counts a quorum. One household rewrites its ledger and is caught.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Kind, Ledger, cli
from custom_components.energy_tokens.ledger.checkpoints import Checkpoint, CheckpointError
from custom_components.energy_tokens.ledger.cosignature import WitnessKey, keep_cosignature
from custom_components.energy_tokens.ledger.errors import LedgerError
from custom_components.energy_tokens.ledger.keys import public_key_bytes
from custom_components.energy_tokens.ledger.proofs import consistency_proof, signed_checkpoints
from custom_components.energy_tokens.ledger.witness import Refusal, Witness, WitnessRefusal

from .vector_ledger import VECTORS

NOW = 1_800_000_000


def _key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


class Household:
    """A household's ledger, its signing key, and the witness it runs for the others."""

    def __init__(self, folder: Path, number: int, key_label: str | None = None) -> None:
        self.folder = folder
        self.key = _key(key_label or f"household {number}")
        self.ledger = Ledger.create(folder, self.key, f"house-{number}", checkpoint_every=10**9)
        witness_key = _key(f"witness {number}")
        self.witness = Witness(f"house-{number}.witness.example", witness_key)
        self.witness_key = WitnessKey(self.witness.name, public_key_bytes(witness_key.public_key()))

    @property
    def public_key(self) -> bytes:
        return public_key_bytes(self.key.public_key())

    def grow(self, count: int, amount: int = 1000) -> str:
        """Append ``count`` purchases and sign a checkpoint; return its note."""
        for _ in range(count):
            self.ledger.append(
                Kind.PURCHASE, from_account="provider", to_account="pool", amount=amount
            )
        self.ledger.request_checkpoint()
        self.ledger.commit()
        return self.latest().note

    def latest(self) -> Checkpoint:
        return signed_checkpoints(self.folder)[-1]

    def ask(self, witness: Witness) -> str:
        """Have ``witness`` cosign the latest checkpoint; keep the cosignature."""
        checkpoint = self.latest()
        known = witness.cosigned.get(checkpoint.origin)
        # From what the witness cosigned last; nothing to prove from beyond this ledger's end.
        old = 0 if known is None or known.size > checkpoint.size else known.size
        proof = consistency_proof(self.folder, old, checkpoint.size)
        line = witness.witness(checkpoint.note, proof, self.public_key, NOW)
        keep_cosignature(self.folder, checkpoint.size, line)
        return line


@pytest.fixture
def community(tmp_path: Path) -> list[Household]:
    return [Household(tmp_path / f"h{n}", n) for n in (1, 2, 3)]


def _round(community: list[Household]) -> None:
    for household in community:
        for other in community:
            if other is not household:
                household.ask(other.witness)


def _audit(household: Household, witnesses: list[Household], quorum: int) -> tuple[int, str]:
    import io

    out = io.StringIO()
    keys = [str(w.witness_key) for w in witnesses]
    code = cli.main(
        ["verify", str(household.folder), "--witness", *keys, "--quorum", str(quorum)], out=out
    )
    return code, out.getvalue()


def test_three_households_witness_each_other_round_after_round(community: list[Household]) -> None:
    one, two, three = community
    for size in (5, 40, 41, 300):
        for household in community:
            household.grow(size)
        _round(community)
        for household in community:
            others = [h for h in community if h is not household]
            code, text = _audit(household, others, 2)
            assert code == 0, text
            assert f"witnessed: the checkpoint of entry {household.ledger.seq}" in text
    # Each witness keeps, per household, only the latest checkpoint it cosigned.
    assert set(one.witness.cosigned) == {two.ledger.origin, three.ledger.origin}
    assert one.witness.cosigned[two.ledger.origin].size == two.ledger.seq
    # Asking again for the same checkpoint cosigns it again: nothing inconsistent.
    two.ask(one.witness)
    # Witnesses do not see entries: a proof is hashes, a checkpoint sizes, roots and times.
    first = signed_checkpoints(two.folder)[1].size  # the first with entries after the genesis
    assert all(len(h) == 32 for h in consistency_proof(two.folder, first, two.ledger.seq))


def test_a_rewritten_ledger_is_caught_and_kept_as_evidence(
    tmp_path: Path, community: list[Household]
) -> None:
    one, two, _ = community
    two.grow(20)
    two.ask(one.witness)
    witnessed = one.witness.cosigned[two.ledger.origin]
    # The owner starts over with the same key and household, writing another history.
    forger = Household(tmp_path / "forged", 2)
    forger.grow(10, amount=7)
    with pytest.raises(WitnessRefusal) as refused:
        forger.ask(one.witness)  # smaller: stale, proves nothing by itself
    assert refused.value.reason is Refusal.STALE
    assert not refused.value.reason.is_evidence
    forger.grow(witnessed.size - forger.ledger.seq, amount=7)  # the same size, another root
    with pytest.raises(WitnessRefusal) as refused:
        forger.ask(one.witness)
    assert refused.value.reason is Refusal.FORK
    assert refused.value.reason.is_evidence
    assert refused.value.note == forger.latest().note  # the evidence: its own signed checkpoint
    forger.grow(15, amount=7)  # and beyond it: no proof from the cosigned one can hold
    with pytest.raises(WitnessRefusal) as refused:
        forger.ask(one.witness)
    assert refused.value.reason is Refusal.INCONSISTENT
    assert refused.value.origin == two.ledger.origin
    # Nothing of the forgery was cosigned: the witness still holds the honest checkpoint.
    assert one.witness.cosigned[two.ledger.origin] == witnessed
    two.grow(3)
    two.ask(one.witness)  # the honest ledger goes on being witnessed


def test_a_new_key_for_an_old_household_and_a_checkpoint_without_a_root(
    tmp_path: Path, community: list[Household]
) -> None:
    one, two, _ = community
    two.grow(4)
    two.ask(one.witness)
    rekeyed = Household(tmp_path / "rekeyed", 2, key_label="a new key")
    rekeyed.grow(50)
    checkpoint = rekeyed.latest()
    with pytest.raises(WitnessRefusal) as refused:
        one.witness.witness(checkpoint.note, [], two.public_key, NOW)  # the admitted key
    assert refused.value.reason is Refusal.SIGNATURE
    old = signed_checkpoints(VECTORS / "ledger-v1")[-1]
    from .vector_ledger import RFC8032_TEST1_PUBLIC_KEY

    with pytest.raises(WitnessRefusal) as refused:
        one.witness.witness(old.note, [], RFC8032_TEST1_PUBLIC_KEY, NOW)
    assert refused.value.reason is Refusal.NO_ROOT


def test_a_witness_resumes_from_its_stored_state(community: list[Household]) -> None:
    one, two, three = community
    for household in (two, three):
        household.grow(9)
        household.ask(one.witness)
    keys = {two.ledger.origin: two.public_key, three.ledger.origin: three.public_key}
    restarted = Witness.from_data(one.witness.name, _key("witness 1"), one.witness.as_data(), keys)
    assert restarted.cosigned == one.witness.cosigned
    two.grow(30)
    two.ask(restarted)  # goes on from the size it cosigned before the restart
    assert restarted.cosigned[two.ledger.origin].size == two.ledger.seq
    data = one.witness.as_data()
    data[two.ledger.origin]["size"] += 1
    with pytest.raises(CheckpointError):
        Witness.from_data(one.witness.name, _key("witness 1"), data, keys)


def test_proofs_need_the_entries(community: list[Household]) -> None:
    one = community[0]
    one.grow(5)
    size = one.ledger.seq
    assert consistency_proof(one.folder, size, size) == []
    for old, new, message in [
        (size, size + 50, f"holds {size} entries, not {size + 50}"),
        (size, size - 1, "no consistency proof"),
    ]:
        with pytest.raises(LedgerError, match=message):
            consistency_proof(one.folder, old, new)


def test_proofs_read_only_from_the_older_checkpoint_on(tmp_path: Path) -> None:
    """Over the vector ledger's segments (one per period), against a tree of every entry."""
    from custom_components.energy_tokens.ledger.merkle import (
        MerkleTree,
        leaf_hash,
        verify_consistency,
    )

    from .test_tree import payloads
    from .vector_ledger import LEDGER

    tree = MerkleTree(leaf_hash(p) for p in payloads(LEDGER))
    sizes = [c.size for c in signed_checkpoints(LEDGER)]
    for old in sizes:
        for new in range(old, tree.size + 1):  # to any size, not only a checkpoint's
            proof = consistency_proof(LEDGER, old, new)
            assert proof == tree.consistency_proof(old, new)
            verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    # From a size no checkpoint signed (a witness's, of a ledger rewritten since): grown from
    # the checkpoint before it.
    for old in range(1, tree.size + 1):
        assert consistency_proof(LEDGER, old, tree.size) == tree.consistency_proof(old)
    # A cut-short end, and a segment whose header is gone: proofs stop where the entries do.
    folder = tmp_path / "ledger"
    import shutil

    shutil.copytree(LEDGER, folder)
    last = sorted(folder.glob("*.seg"))[-1]
    last.write_bytes(last.read_bytes() + b"torn")
    assert consistency_proof(folder, sizes[-2], tree.size) == tree.consistency_proof(
        sizes[-2], tree.size
    )
    last.write_bytes(b"XXXXXXXX" + last.read_bytes()[8:])
    with pytest.raises(LedgerError, match="the ledger holds"):
        consistency_proof(folder, sizes[-3], tree.size)


def test_one_entry_is_proved_to_someone_who_sees_nothing_else(community: list[Household]) -> None:
    """A transfer, say: the entry, its place, and a path to a checkpoint's signed root."""
    from custom_components.energy_tokens.ledger.merkle import leaf_hash, verify_inclusion
    from custom_components.energy_tokens.ledger.proofs import inclusion_proof

    from .test_tree import payloads

    one = community[0]
    one.grow(12)
    one.grow(30)
    checkpoint = one.latest()
    assert checkpoint.root is not None
    entries = payloads(one.folder)
    for seq in range(1, checkpoint.size + 1):  # every entry, the genesis too
        proof = inclusion_proof(one.folder, seq, checkpoint.size)
        assert len(proof) <= (checkpoint.size - 1).bit_length()
        verify_inclusion(
            leaf_hash(entries[seq - 1]), seq - 1, checkpoint.size, proof, checkpoint.root
        )
    for seq, size, message in [
        (0, 5, "not among the first 5"),
        (4, 3, "not among the first 3"),
        (5, checkpoint.size + 9, "the ledger holds"),
    ]:
        with pytest.raises(LedgerError, match=message):
            inclusion_proof(one.folder, seq, size)
    with pytest.raises(LedgerError, match="holds no ledger"):
        inclusion_proof(one.folder.parent, 1, 1)
