"""The Merkle tree in the ledger: checkpoints sign its root, old ledgers get it on first open.

``vectors/ledger-v1/`` is the vector ledger as the ledger wrote it before it had a tree (its
checkpoints sign the hash chain's head where the root is now); ``vectors/expected-v1/`` what the
auditor printed for it then. Both are frozen: they are what existing households have on disk.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
import shutil

import pytest

from custom_components.energy_tokens.ledger import Kind, Ledger, verify_ledger
from custom_components.energy_tokens.ledger.entries import canonical_json, unit_entries
from custom_components.energy_tokens.ledger.errors import CorruptLedgerError
from custom_components.energy_tokens.ledger.framing import (
    CHECKPOINT_MAGIC,
    MAGIC_SIZE,
    BadFrame,
    frame,
    scan_frames,
)
from custom_components.energy_tokens.ledger.layout import CHECKPOINTS_FILE, list_segments
from custom_components.energy_tokens.ledger.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from custom_components.energy_tokens.ledger.reader import read_checkpoints, read_genesis

from .vector_ledger import LEDGER, RFC8032_TEST1_PUBLIC_KEY, VECTORS, auditor_outputs, vector_key

LEDGER_V1 = VECTORS / "ledger-v1"
EXPECTED_V1 = VECTORS / "expected-v1"


def payloads(directory: Path) -> list[bytes]:
    """Every entry's payload, in order, read straight from the segments."""
    found = []
    for path in list_segments(directory):
        with path.open("rb") as handle:
            for item in scan_frames(handle, MAGIC_SIZE):
                assert not isinstance(item, BadFrame)
                found += [bytes(payload) for payload in unit_entries(item[1])]
    return found


def checkpoints(directory: Path) -> list:  # type: ignore[type-arg]
    found, problem, _ = read_checkpoints(directory, read_genesis(directory).public_key)
    assert problem is None
    return found


def test_checkpoints_are_c2sp_tlog_checkpoints_signing_the_rfc6962_root() -> None:
    tree = MerkleTree(leaf_hash(payload) for payload in payloads(LEDGER))
    signed = checkpoints(LEDGER)
    assert len(signed) >= 5
    for checkpoint in signed:
        origin, size, root, *extensions = checkpoint.note.split("\n\n")[0].splitlines()
        assert (origin, int(size)) == (checkpoint.origin, checkpoint.size)
        # Line three is the Merkle root of the first ``size`` entries, computed here anew.
        assert base64.b64decode(root) == tree.root(checkpoint.size) == checkpoint.root
        assert [line.split(" ")[0] for line in extensions] == [
            "head",
            "time",
            "balances",
            "position",
        ]
    # A later checkpoint extends each earlier one: the proof a witness asks for.
    for old, new in itertools.pairwise(signed):
        proof = old.tree.consistency_proof_from(
            [leaf_hash(p) for p in payloads(LEDGER)[old.size : new.size]]
        )
        verify_consistency(old.size, new.size, old.root, new.root, proof)


def test_a_ledger_from_before_the_tree_verifies_as_it_is() -> None:
    assert all(checkpoint.tree is None for checkpoint in checkpoints(LEDGER_V1))
    result = verify_ledger(LEDGER_V1, RFC8032_TEST1_PUBLIC_KEY)
    assert result.valid, result.reason
    assert result.checkpoints_verified == 5
    for name, text in auditor_outputs(LEDGER_V1).items():
        expected = (EXPECTED_V1 / name).read_bytes().decode().replace("{ledger}", str(LEDGER_V1))
        assert text == expected, name


def test_opening_a_ledger_from_before_the_tree_signs_its_root_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "ledger"
    shutil.copytree(LEDGER_V1, folder)
    kept = [checkpoint.note for checkpoint in checkpoints(LEDGER_V1)]  # copies kept elsewhere
    ledger = Ledger.open(folder, vector_key())  # the tree is grown from the entries
    ledger.append(Kind.LINK, data={"note": "after the upgrade"})
    ledger.commit()  # the first commit with an entry signs the tree's root
    signed = checkpoints(folder)
    assert len(signed) == 6
    upgraded = signed[-1]
    assert upgraded.size == 44
    assert upgraded.root == MerkleTree(leaf_hash(p) for p in payloads(folder)).root()
    ledger.close()
    result = verify_ledger(folder, RFC8032_TEST1_PUBLIC_KEY, kept)
    assert result.valid, result.reason
    assert result.checkpoints_verified == 6  # five of version 1, then one with the tree
    # The tree goes on from the checkpoint: a restart resumes it and signs the same root.
    again = Ledger.open(folder, vector_key())
    again.append(Kind.LINK, data={"note": "after a restart"})
    again.close()
    everything = [leaf_hash(p) for p in payloads(folder)]
    assert checkpoints(folder)[-1].root == MerkleTree(everything).root()
    # One entry proved to someone who sees nothing else.
    last = checkpoints(folder)[-1]
    tree = MerkleTree(everything)
    verify_inclusion(everything[40], 40, last.size, tree.inclusion_proof(40), last.root)


def test_a_forged_tree_beside_a_good_signature_is_refused(tmp_path: Path) -> None:
    """The tree is kept beside the signed note, unsigned itself: it must lead to the root."""
    folder = tmp_path / "ledger"
    shutil.copytree(LEDGER, folder)
    path = folder / CHECKPOINTS_FILE
    with path.open("rb") as handle:
        records = [bytes(item[1]) for item in scan_frames(handle, MAGIC_SIZE)]  # type: ignore[index]
    last = json.loads(records[-1])
    last["tree"] = list(reversed(last["tree"]))  # the same hashes, in another order
    records[-1] = canonical_json(last)
    path.write_bytes(CHECKPOINT_MAGIC + b"".join(frame(record) for record in records))
    result = verify_ledger(folder, RFC8032_TEST1_PUBLIC_KEY)
    assert not result.valid
    assert "does not lead to its signed root" in str(result.reason)
    with pytest.raises(CorruptLedgerError, match="does not lead to its signed root"):
        Ledger.open(folder, vector_key())
