"""Full verification of a ledger directory, streaming: memory stays flat in the ledger's length.

Checks every frame's checksum, every entry against the chain's rules (sequence, previous-hash
link, accounts, amounts, segment starts), every checkpoint's signature, and that each
checkpoint's head and balances equal what the entries before it fold to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import ChainError, ChainState
from .checkpoints import Checkpoint
from .entries import unit_entries
from .errors import CorruptLedgerError, LedgerError
from .framing import MAGIC_SIZE, SEGMENT_MAGIC, BadFrame, read_magic, scan_frames
from .layout import list_segments, segment_name
from .reader import read_checkpoints, read_genesis


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


def verify_ledger(directory: Path, public_key: bytes | None = None) -> VerifyResult:
    """Verify everything in ``directory``; ``public_key`` pins the key the genesis must bind.

    Without a pinned key the key bound by the genesis entry is trusted: a ledger rewritten
    whole, genesis included, is only caught against a key kept elsewhere.
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
                        if state.seq == next_size:
                            assert next_checkpoint is not None
                            _check_against(state, next_checkpoint, path.name, end)
                            verified += 1
                            next_checkpoint = next(pending, None)
                            next_size = -1 if next_checkpoint is None else next_checkpoint.size
    except ChainError as err:
        chain_error = (err.seq, err.reason)
    if chain_error is None and next_checkpoint is not None:
        chain_error = (
            state.seq + 1,
            f"the ledger ends at entry {state.seq} but a signed checkpoint covers "
            f"{next_checkpoint.size} entries (truncated)",
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


def _check_against(state: ChainState, checkpoint: Checkpoint, segment: str, offset: int) -> None:
    if checkpoint.head != state.head:
        raise ChainError(state.seq, "the head does not match the signed checkpoint")
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
