"""Reading a ledger directory: decoded entries (exports, history), the genesis, the checkpoints.

The verifier, the auditor's command and the writer all read through here, so reading never
imports the writer (store.py). ``iter_entries`` does not verify: ``verify.verify_ledger`` does.
A damaged record ends the reading of the last segment (it may be a write in progress) and raises
anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
import json
from pathlib import Path

from .chain import ChainError, ChainState
from .checkpoints import Checkpoint, CheckpointError, decode_checkpoint_record
from .entries import NO_ACCOUNT, Cause, CauseKind, Entry, Kind, decode_payload, unit_entries
from .errors import CorruptLedgerError, LedgerError
from .framing import (
    CHECKPOINT_MAGIC,
    MAGIC_SIZE,
    SEGMENT_MAGIC,
    BadFrame,
    read_magic,
    scan_frames,
)
from .layout import CHECKPOINTS_FILE, list_segments, segment_first_seq


def iter_entries(
    directory: Path, *, since_seq: int = 1, accounts: list[str] | None = None
) -> Iterator[Entry]:
    """Yield decoded entries from ``since_seq`` on.

    With the current account table (``accounts``) reading starts at the segment holding
    ``since_seq``; without it, from the first segment, learning account names on the way.
    """
    segments = list_segments(directory)
    names = list(accounts) if accounts is not None else []
    start = 0
    if accounts is not None:
        for index, path in enumerate(segments):
            if 0 < segment_first_seq(path) <= since_seq:
                start = index
    for index in range(start, len(segments)):
        path = segments[index]
        with path.open("rb") as handle:
            if not read_magic(handle, SEGMENT_MAGIC):
                raise CorruptLedgerError(segment_first_seq(path), f"{path.name} has no header")
            for item in scan_frames(handle, MAGIC_SIZE):
                if isinstance(item, BadFrame):
                    if index == len(segments) - 1:
                        return
                    raise CorruptLedgerError(segment_first_seq(path), item.reason)
                for payload in unit_entries(item[1]):
                    raw = decode_payload(payload)
                    data = json.loads(raw.data) if raw.data else {}
                    kind = Kind(raw.kind)
                    if kind == Kind.ACCOUNT and raw.from_id == len(names):
                        names.append(data["name"])
                    if raw.seq < since_seq:
                        continue
                    yield Entry(
                        seq=raw.seq,
                        ts_ms=raw.ts_ms,
                        kind=kind,
                        from_account=names[raw.from_id] if raw.from_id != NO_ACCOUNT else None,
                        to_account=names[raw.to_id] if raw.to_id != NO_ACCOUNT else None,
                        amount=raw.amount,
                        cause=Cause(CauseKind(raw.cause_kind), raw.cause_ref),
                        data=data,
                        prev_hash=raw.prev_hash,
                        hash=hashlib.sha256(payload).digest(),
                    )


def iter_payloads(
    directory: Path, segment: str | None = None, offset: int = MAGIC_SIZE
) -> Iterator[memoryview]:
    """Every entry's payload in order, from ``segment`` at ``offset`` (the first entry's, else).

    Unchecked (``verify_ledger`` checks): reading stops where a segment's header or a frame is
    damaged, as at the end of a write a crash cut short.
    """
    started = segment is None
    for path in list_segments(directory):
        if not started and path.name != segment:
            continue
        start = MAGIC_SIZE if started else offset
        started = True
        with path.open("rb") as handle:
            if not read_magic(handle, SEGMENT_MAGIC):
                return
            for item in scan_frames(handle, start):
                if isinstance(item, BadFrame):
                    return
                yield from unit_entries(item[1])


def read_checkpoints(
    directory: Path, public_key: bytes
) -> tuple[list[Checkpoint], BadFrame | CheckpointError | None, int]:
    """Every valid checkpoint in order, the first problem met (if any) and where it starts."""
    path = directory / CHECKPOINTS_FILE
    checkpoints: list[Checkpoint] = []
    if not path.exists():
        return checkpoints, None, 0
    with path.open("rb") as handle:
        if not read_magic(handle, CHECKPOINT_MAGIC):
            return checkpoints, BadFrame(0, "checkpoints file has no valid header"), 0
        offset = MAGIC_SIZE
        for item in scan_frames(handle, MAGIC_SIZE):
            if isinstance(item, BadFrame):
                return checkpoints, item, item.offset
            end, payload = item
            try:
                checkpoint = decode_checkpoint_record(payload, public_key)
            except CheckpointError as err:
                return checkpoints, err, offset
            if checkpoints and checkpoint.size <= checkpoints[-1].size:
                return checkpoints, CheckpointError("checkpoint sizes must grow"), offset
            checkpoints.append(checkpoint)
            offset = end
    return checkpoints, None, offset


def read_genesis(directory: Path) -> ChainState:
    """Fold just the first entry, which binds the household id and its public key."""
    segments = list_segments(directory)
    if not segments:
        raise LedgerError(f"{directory} holds no ledger segments")
    state = ChainState()
    with segments[0].open("rb") as handle:
        if not read_magic(handle, SEGMENT_MAGIC):
            raise CorruptLedgerError(1, "the first segment has no valid header")
        for item in scan_frames(handle, MAGIC_SIZE):
            if isinstance(item, BadFrame):
                raise CorruptLedgerError(1, item.reason)
            try:
                state.apply(next(unit_entries(item[1])), segment_start=True)
            except ChainError as err:
                raise CorruptLedgerError(err.seq, err.reason) from None
            return state
    raise CorruptLedgerError(1, "the first segment holds no entry")


HOUSEHOLD_LABEL = "household"  # the household's own name among the labels


def follow_names(entry: Entry, names: dict[str, str]) -> None:
    """Learn account names (and the household's, as ``household``) from one entry.

    A period opens with the names of the accounts it starts with; a label names one account,
    new or renamed. Names of accounts no longer in use are kept: their entries stay.
    """
    data: object = entry.data
    if entry.kind not in (Kind.PERIOD_OPEN, Kind.LABEL) or not isinstance(data, dict):
        return  # a marker's data need not be an object: the chain does not require it
    if entry.kind is Kind.PERIOD_OPEN:
        found = data.get("names")
        pairs = list(found.items()) if isinstance(found, dict) else []
    else:
        pairs = [(data.get("account"), data.get("name"))]
    for account, name in pairs:
        if isinstance(account, str) and isinstance(name, str):  # an auditor never trips on data
            names[account] = name


def read_names(directory: Path) -> dict[str, str]:
    """Every account's latest name, as the ledger records them."""
    names: dict[str, str] = {}
    for entry in iter_entries(directory):
        follow_names(entry, names)
    return names


def check_witness(directory: Path, public_key: bytes, size: int, head: bytes) -> str | None:
    """Whether ``directory`` holds the ledger last seen: its checkpoint ``size`` with ``head``.

    Kept outside the ledger folder (Home Assistant keeps it in the household's entry), the
    last checkpoint seen tells a deleted, replaced or cut ledger from the one it was. Returns
    why not, or None.
    """
    if not list_segments(directory):
        return f"the ledger is missing; it had {size} signed entries"
    genesis = read_genesis(directory)
    if genesis.public_key != public_key:
        return "the ledger is bound to another signing key than the one last seen"
    checkpoints, _, _ = read_checkpoints(directory, public_key)
    for checkpoint in checkpoints:
        if checkpoint.size == size:
            if checkpoint.head != head:
                return f"its checkpoint of entry {size} differs from the one last seen"
            return None
    last = checkpoints[-1].size if checkpoints else 0
    if last < size:
        return f"it is shorter than last seen: its checkpoints end at entry {last}, not {size}"
    return f"it has no checkpoint of entry {size}, which was signed and seen"
