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
from typing import Any

import pytest

from custom_components.energy_tokens.ledger import Kind, Ledger, verify_ledger
from custom_components.energy_tokens.ledger.checkpoints import (
    CheckpointError,
    decode_checkpoint_record,
    encode_checkpoint_record,
    open_checkpoint_note,
    sign_checkpoint,
)
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
    CompactRange,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from custom_components.energy_tokens.ledger.note import sign_note
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


def _records(path: Path) -> list[bytes]:
    with path.open("rb") as handle:
        return [bytes(item[1]) for item in scan_frames(handle, MAGIC_SIZE)]  # type: ignore[index]


def test_a_root_signed_by_the_household_but_not_of_its_entries_is_caught(tmp_path: Path) -> None:
    """The household's own key signing a root its entries do not have: verification says so."""
    folder = tmp_path / "ledger"
    shutil.copytree(LEDGER, folder)
    path = folder / CHECKPOINTS_FILE
    records = _records(path)
    last = decode_checkpoint_record(records[-1], RFC8032_TEST1_PUBLIC_KEY)
    assert last.tree is not None
    other = CompactRange(last.size, [leaf_hash(node) for node in last.tree.nodes])
    forged = sign_checkpoint(
        vector_key(),
        origin=last.origin,
        size=last.size,
        head=last.head,
        tree=other,
        ts_ms=last.ts_ms,
        snapshot=last.snapshot,
        segment=last.segment,
        offset=last.offset,
    )
    records[-1] = encode_checkpoint_record(forged)
    path.write_bytes(CHECKPOINT_MAGIC + b"".join(frame(record) for record in records))
    result = verify_ledger(folder, RFC8032_TEST1_PUBLIC_KEY)
    assert not result.valid
    assert result.reason == "the Merkle root does not match the signed checkpoint"
    assert result.first_bad_seq == last.size
    with pytest.raises(ValueError, match="a tree of 42 entries for a checkpoint of 43"):
        sign_checkpoint(
            vector_key(),
            origin=last.origin,
            size=last.size,
            head=last.head,
            tree=CompactRange(42, [bytes(32)] * 3),
            ts_ms=0,
            snapshot=last.snapshot,
            segment=last.segment,
            offset=last.offset,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda record: record.pop("tree"), "malformed checkpoint tree: no tree"),
        (lambda record: record.update(tree=["!!"]), "malformed checkpoint tree"),
        (lambda record: record.update(tree=record["tree"][:-1]), "malformed checkpoint tree"),
    ],
)
def test_a_checkpoint_tree_that_is_no_tree_is_refused(change: Any, message: str) -> None:
    record = json.loads(_records(LEDGER / CHECKPOINTS_FILE)[-1])
    change(record)
    with pytest.raises(CheckpointError, match=message):
        decode_checkpoint_record(canonical_json(record), RFC8032_TEST1_PUBLIC_KEY)


def test_checkpoint_versions_cannot_be_mixed() -> None:
    old = json.loads(_records(LEDGER_V1 / CHECKPOINTS_FILE)[-1])
    old["tree"] = []
    with pytest.raises(CheckpointError, match="a version-1 checkpoint with a tree"):
        decode_checkpoint_record(canonical_json(old), RFC8032_TEST1_PUBLIC_KEY)
    # Seven lines whose fourth is not the head: neither version.
    body = "energy-tokens/vectors\n3\n" + base64.b64encode(bytes(32)).decode() + "\n"
    body += "time 5\nhead x\nbalances x\nposition x 1\n"
    note = sign_note(body, "energy-tokens/vectors", vector_key())
    with pytest.raises(CheckpointError, match="unexpected checkpoint lines"):
        open_checkpoint_note(note, RFC8032_TEST1_PUBLIC_KEY)


def test_a_ledger_from_before_the_tree_cut_short_is_refused_not_grown(tmp_path: Path) -> None:
    folder = tmp_path / "ledger"
    shutil.copytree(LEDGER_V1, folder)
    last = list_segments(folder)[-1]
    last.write_bytes(last.read_bytes()[:-40])  # the end of what the last checkpoint vouches for
    with pytest.raises(CorruptLedgerError, match="shorter than its last"):
        Ledger.open(folder, vector_key())
