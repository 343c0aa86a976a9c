"""Full verification of a ledger directory, streaming: memory stays flat in the ledger's length.

Checks every frame's checksum, every entry against the chain's rules (sequence, previous-hash
link, accounts, amounts, segment starts), every checkpoint's signature, and that each
checkpoint's head, Merkle root (RFC 6962, over the entries before it) and balances equal what
the entries before it fold to. Checkpoints signed before ledgers had a tree sign no root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import ChainError, ChainState
from .checkpoints import Checkpoint, CheckpointError, SignedCheckpoint, open_checkpoint_note
from .entries import Kind, snapshot_hash, unit_entries
from .errors import CorruptLedgerError, LedgerError
from .framing import MAGIC_SIZE, SEGMENT_MAGIC, BadFrame, read_magic, scan_frames
from .layout import CHECKPOINTS_FILE, list_segments, segment_name
from .reader import read_checkpoints, read_genesis

_PERIOD_CLOSE = int(Kind.PERIOD_CLOSE)


@dataclass(slots=True)
class VerifyResult:
    """What verification found."""

    valid: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_verified: int = 0
    household_id: str = ""
    balances: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the auditor prints and the integration returns."""
        return {
            "valid": self.valid,
            "entries": self.entries,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checkpoints_verified": self.checkpoints_verified,
        }


def verify_ledger(
    directory: Path, public_key: bytes | None = None, kept: Sequence[str] = ()
) -> VerifyResult:
    """Verify everything in ``directory``; ``public_key`` pins the key the genesis must bind.

    Without a pinned key the key bound by the genesis entry is trusted: a ledger rewritten
    whole, genesis included, is only caught against a key kept elsewhere. ``kept`` are signed
    checkpoint notes copied elsewhere: the ledger must contain and extend each of them.
    """
    state = ChainState()
    try:
        genesis = read_genesis(directory)
    except CorruptLedgerError as err:
        return _invalid(state, err.seq, err.reason)
    except LedgerError as err:
        return _invalid(state, 1, str(err))
    if public_key is not None and genesis.public_key != public_key:
        return _invalid(state, 1, "the genesis entry binds a different public key than pinned")
    try:
        pinned = sorted(
            (open_checkpoint_note(note, genesis.public_key) for note in kept),
            key=lambda signed: signed.size,
        )
    except CheckpointError as err:
        return _invalid(state, 1, f"a checkpoint kept elsewhere does not match this ledger: {err}")
    if not (directory / CHECKPOINTS_FILE).exists():
        return _invalid(state, 1, "the checkpoints file is missing: nothing signed vouches here")
    checkpoints, problem, _ = read_checkpoints(directory, genesis.public_key)
    checkpoint_error: tuple[int, str] | None = None
    if problem is not None:
        vouched = checkpoints[-1].size if checkpoints else 0
        detail = problem.reason if isinstance(problem, BadFrame) else str(problem)
        checkpoint_error = (vouched + 1, f"checkpoint after entry {vouched} refused: {detail}")

    verified = 0
    pending = iter(checkpoints)
    next_checkpoint = next(pending, None)
    next_size = next_checkpoint.size if next_checkpoint is not None else -1
    apply = state.apply
    chain_error: tuple[int, str] | None = None
    closes: list[int] = []  # each period close asks for a checkpoint at the next commit
    # The largest size a checkpoint kept elsewhere vouched for so far: the ledger's own
    # checkpoints are no witness against a rewrite signed anew with the same key.
    good = 0
    pending_kept = iter(pinned)
    next_kept = next(pending_kept, None)
    try:
        for path in list_segments(directory):
            with path.open("rb") as handle:
                if not read_magic(handle, SEGMENT_MAGIC):
                    raise ChainError(state.seq + 1, f"{path.name} has no valid header")
                if path.name != segment_name(state.seq + 1):
                    raise ChainError(state.seq + 1, f"{path.name} is misnamed or out of place")
                segment_start = True
                for item in scan_frames(handle, MAGIC_SIZE):
                    if isinstance(item, BadFrame):
                        raise ChainError(state.seq + 1, item.reason)
                    end, record = item
                    for payload in unit_entries(record):
                        apply(payload, segment_start=segment_start)
                        segment_start = False
                        if payload[1] == _PERIOD_CLOSE:
                            closes.append(state.seq)
                        if state.seq == next_size:
                            assert next_checkpoint is not None
                            _check_against(state, next_checkpoint, path.name, end)
                            verified += 1
                            next_checkpoint = next(pending, None)
                            next_size = -1 if next_checkpoint is None else next_checkpoint.size
                        while next_kept is not None and next_kept.size == state.seq:
                            _check_kept(state, next_kept, good)
                            good = state.seq
                            next_kept = next(pending_kept, None)
    except ChainError as err:
        chain_error = (err.seq, err.reason)
    if chain_error is None and next_checkpoint is not None:
        chain_error = (
            state.seq + 1,
            f"the ledger ends at entry {state.seq} but a signed checkpoint covers "
            f"{next_checkpoint.size} entries (truncated)",
        )
    if chain_error is None and next_kept is not None:
        chain_error = (
            state.seq + 1,
            f"the ledger ends at entry {state.seq} but a checkpoint kept elsewhere covers "
            f"{next_kept.size} entries (truncated)",
        )
    signed_size = checkpoints[-1].size if checkpoints else 0
    # Every period close but the last is signed by now (a crash may cut the last one's off).
    if chain_error is None and checkpoint_error is None and closes[-2:-1] > [signed_size]:
        chain_error = (
            signed_size + 1,
            f"the checkpoints end at entry {signed_size}, but the period close at entry "
            f"{closes[-2]} was signed: checkpoints are missing (the file was cut or replaced)",
        )
    errors = [error for error in (chain_error, checkpoint_error) if error is not None]
    if errors:
        seq, reason = min(errors)
        result = _invalid(state, seq, reason)
        result.checkpoints_verified = verified
        return result
    return VerifyResult(
        valid=True,
        entries=state.seq,
        head=state.head.hex(),
        checkpoints_verified=verified,
        household_id=state.household_id,
        balances=dict(zip(state.accounts, state.balances, strict=True)),
    )


def _check_kept(state: ChainState, kept: SignedCheckpoint, good: int) -> None:
    """A checkpoint kept elsewhere: the ledger must contain it, entry for entry."""
    tree = state.tree
    root_differs = kept.root is not None and (tree is None or kept.root != tree.root())
    if (
        kept.head != state.head
        or root_differs
        or kept.balances_hash != snapshot_hash(state.snapshot())
    ):
        raise ChainError(
            good + 1,
            f"entries {good + 1} to {kept.size} differ from the checkpoint of entry {kept.size} "
            f"kept elsewhere: the ledger was rewritten after entry {good}",
        )


def _check_against(state: ChainState, checkpoint: Checkpoint, segment: str, offset: int) -> None:
    if checkpoint.head != state.head:
        raise ChainError(state.seq, "the head does not match the signed checkpoint")
    if checkpoint.tree is not None:
        assert state.tree is not None  # folded from the genesis entry on
        if checkpoint.tree.nodes != state.tree.nodes:  # the root follows from them (checked)
            raise ChainError(state.seq, "the Merkle root does not match the signed checkpoint")
    if checkpoint.snapshot != state.snapshot():
        raise ChainError(state.seq, "the balances do not match the signed checkpoint")
    if checkpoint.segment != segment or checkpoint.offset != offset:
        raise ChainError(state.seq, "the checkpoint's position does not match the ledger")


def _invalid(state: ChainState, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(
        valid=False,
        entries=state.seq,
        head=state.head.hex(),
        first_bad_seq=seq,
        reason=reason,
        household_id=state.household_id,
    )
