"""Reading decoded entries from a ledger directory (exports, history queries).

Reading does not verify: ``verify.verify_ledger`` does. A damaged record ends the reading of the
last segment (it may be a write in progress) and raises anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
import json
from pathlib import Path

from .entries import NO_ACCOUNT, Cause, CauseKind, Entry, Kind, decode_payload
from .errors import CorruptLedgerError
from .framing import MAGIC_SIZE, SEGMENT_MAGIC, BadFrame, read_magic, scan_frames
from .layout import list_segments, segment_first_seq


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
                payload = item[1]
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
