"""The ledger on disk: append-only segment files, group commit and signed checkpoints.

Layout of a ledger directory (the folder an auditor is given)::

    0000000000000001.seg   segments, named by their first entry; a new one per period
    checkpoints.log        signed checkpoints with their balances snapshots
    public.vkey            the household's verifier key (C2SP signed-note format)

The private key is kept outside this directory. ``append`` is cheap and only buffers;
``commit`` writes and fsyncs a whole batch (group commit) and is the call to run in an executor.
Everything up to ``durable_seq`` survives a crash or power loss; an fsync error is fatal.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .chain import ChainError, ChainState
from .checkpoints import (
    encode_checkpoint_record,
    origin_for,
    sign_checkpoint,
)
from .entries import (
    APPENDABLE_MARKERS,
    MAX_AMOUNT,
    MOVEMENT_KINDS,
    NO_ACCOUNT,
    SYSTEM,
    Cause,
    Entry,
    Kind,
    canonical_json,
    check_limits,
    encode_payload,
    unit_entries,
)
from .errors import CorruptLedgerError, InvalidEntryError, LedgerError, LedgerFatalError
from .framing import (
    CHECKPOINT_MAGIC,
    MAGIC_SIZE,
    MAX_PAYLOAD,
    SEGMENT_MAGIC,
    BadFrame,
    create_file,
    frame,
    fsync_directory,
    open_for_append,
    read_magic,
    scan_frames,
    truncate_durably,
    write_all,
)
from .keys import public_key_bytes, verifier_key
from .layout import CHECKPOINTS_FILE, VERIFIER_KEY_FILE, list_segments, segment_name
from .merkle import CompactRange, leaf_hash
from .reader import iter_entries, iter_payloads, read_checkpoints, read_genesis

DEFAULT_CHECKPOINT_EVERY = 4096
DEFAULT_CHECKPOINT_INTERVAL_MS = 3_600_000
RECENT_ENTRIES = 32  # kept in memory for views of the latest movements


QUARANTINE_FOLDER = "quarantine"  # in the ledger folder: bytes set aside at open, kept
PROBE_BYTES = 65536  # a commit's worth: a disk with less free is not writable yet


def wall_clock_ms() -> int:
    """Now, as integer epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Unit:
    """An open unit: its entries' payloads by segment, and what abandoning it puts back."""

    state: ChainState
    segment: str
    segment_end: int
    checkpoint_requested: bool
    recent: list[Entry]
    parts: list[tuple[str, bytearray]] = field(default_factory=list)  # payloads, by segment


@dataclass(frozen=True, slots=True)
class TornTail:
    """Bytes set aside from the end of a file at open: a write that a crash interrupted.

    Never deleted: they are moved into the quarantine folder (``kept``, relative to the ledger
    folder), in case they are not a crash's but damage to look at.
    """

    segment: str  # the file they were cut from: a segment, or the checkpoints file
    offset: int
    dropped_bytes: int
    first_lost_seq: int  # for a segment; for the checkpoints file, the first entry unsigned
    reason: str
    kept: str


class Ledger:
    """A household's ledger, open for appending. One writer per directory."""

    def __init__(
        self,
        directory: Path,
        key: Ed25519PrivateKey,
        state: ChainState,
        *,
        clock: Callable[[], int],
        checkpoint_every: int,
        checkpoint_interval_ms: int,
    ) -> None:
        """Use ``create``, ``open`` or ``open_or_create``."""
        self.directory = directory
        self._key = key
        self._state = state
        self._clock = clock
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval_ms = checkpoint_interval_ms
        self.torn_tail: TornTail | None = None
        self.torn_checkpoint: TornTail | None = None
        self._lock = threading.Lock()  # guards the state and the pending buffer
        self._commit_lock = threading.Lock()  # one commit at a time
        self._pending: list[tuple[str, bytearray]] = []
        self._segment = ""
        self._segment_end = 0  # logical end of the tail segment, pending bytes included
        self._durable_seq = state.seq
        self._fd: int | None = None
        self._fd_segment = ""
        self._checkpoint_size = 0
        self._checkpoint_ms = clock()  # the interval counts from opening when none is signed
        self.last_checkpoint_ms: int | None = None
        self.latest_note: str | None = None  # the last checkpoint signing a root: a witness's
        self._checkpoint_requested = False
        self._failure: BaseException | None = None
        self._closed = False
        self._recent: deque[Entry] = deque(maxlen=RECENT_ENTRIES)
        self._unit: _Unit | None = None

    # ----- opening

    @classmethod
    def create(
        cls,
        directory: Path,
        key: Ed25519PrivateKey,
        household_id: str,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval_ms: int = DEFAULT_CHECKPOINT_INTERVAL_MS,
    ) -> Ledger:
        """Start a new ledger whose genesis entry binds ``household_id`` and the key."""
        if list_segments(directory) or (directory / CHECKPOINTS_FILE).exists():
            raise LedgerError(f"{directory} already holds a ledger")
        # Built beside its final place and renamed into it, so a crash never leaves half a ledger.
        building = directory.with_name(directory.name + ".creating")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True, mode=0o700)
        public_key = public_key_bytes(key.public_key())
        state = ChainState()
        state.household_id = household_id
        ledger = cls(
            building,
            key,
            state,
            clock=clock,
            checkpoint_every=checkpoint_every,
            checkpoint_interval_ms=checkpoint_interval_ms,
        )
        vkey = building / VERIFIER_KEY_FILE
        fd = os.open(vkey, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(fd, (verifier_key(ledger.origin, public_key) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.close(create_file(building / CHECKPOINTS_FILE, CHECKPOINT_MAGIC))
        ledger._segment = segment_name(1)
        ledger._segment_end = MAGIC_SIZE
        data = {
            "household": household_id,
            "public_key": base64.b64encode(public_key).decode(),
            "origin": ledger.origin,
        }
        encoded = canonical_json(data)
        with ledger._lock:
            ledger._write(Kind.GENESIS, clock(), 0, NO_ACCOUNT, NO_ACCOUNT, SYSTEM, encoded, True)
        ledger.commit()
        building.rename(directory)  # replaces an empty directory, refuses a non-empty one
        fsync_directory(directory.parent)
        ledger.directory = directory
        return ledger

    @classmethod
    def open(
        cls,
        directory: Path,
        key: Ed25519PrivateKey,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval_ms: int = DEFAULT_CHECKPOINT_INTERVAL_MS,
    ) -> Ledger:
        """Open an existing ledger from its latest checkpoint, replaying only what follows it.

        A damaged record after the last checkpoint in the last segment is a write a crash cut
        short: it and what follows are truncated and reported in ``torn_tail``. Damage anywhere
        that a checkpoint or a later segment vouches for raises CorruptLedgerError.
        """
        genesis = read_genesis(directory)
        public_key = public_key_bytes(key.public_key())
        if genesis.public_key != public_key:
            raise CorruptLedgerError(1, "the ledger is bound to a different signing key")
        checkpoints, problem, good_end = read_checkpoints(directory, public_key)
        torn_checkpoint: TornTail | None = None
        if problem is not None:
            if isinstance(problem, BadFrame):
                # A checkpoint write cut short by a crash: set aside; the next commit signs anew.
                path = directory / CHECKPOINTS_FILE
                size = path.stat().st_size
                kept = set_aside(path, good_end)  # 0: the header itself was damaged
                truncate_durably(path, max(good_end, MAGIC_SIZE))
                if good_end < MAGIC_SIZE:
                    _rewrite_magic(path)
                signed = checkpoints[-1].size if checkpoints else 0
                torn_checkpoint = TornTail(
                    CHECKPOINTS_FILE, good_end, size - good_end, signed + 1, problem.reason, kept
                )
            else:
                size = checkpoints[-1].size + 1 if checkpoints else 1
                raise CorruptLedgerError(size, f"checkpoint refused: {problem}")
        segments = list_segments(directory)
        if checkpoints:
            last = checkpoints[-1]
            state = ChainState.from_snapshot(
                seq=last.size,
                head=last.head,
                snapshot=last.snapshot,
                household_id=genesis.household_id,
                public_key=public_key,
                tree=last.tree,
            )
            if state.tree is None:  # signed before ledgers had a tree: grown from the entries
                state.tree = _tree_of(directory, last.size)
            names = [path.name for path in segments]
            if last.segment not in names:
                raise CorruptLedgerError(last.size, "the checkpoint's segment is missing")
            start_index = names.index(last.segment)
            start_offset = last.offset
            if (directory / last.segment).stat().st_size < start_offset:
                raise CorruptLedgerError(
                    last.size, "the ledger is shorter than its last signed checkpoint"
                )
        else:
            state = ChainState()
            start_index = 0
            start_offset = MAGIC_SIZE
        ledger = cls(
            directory,
            key,
            state,
            clock=clock,
            checkpoint_every=checkpoint_every,
            checkpoint_interval_ms=checkpoint_interval_ms,
        )
        ledger.torn_checkpoint = torn_checkpoint
        if checkpoints:
            ledger._checkpoint_size = checkpoints[-1].size
            ledger.last_checkpoint_ms = checkpoints[-1].ts_ms
            if checkpoints[-1].tree is not None:
                ledger.latest_note = checkpoints[-1].note
            # Signed before ledgers had a tree: the next commit with an entry signs its root.
            ledger._checkpoint_requested = checkpoints[-1].tree is None
        ledger._replay(segments, start_index, start_offset)
        ledger._durable_seq = state.seq
        return ledger

    @classmethod
    def open_or_create(
        cls,
        directory: Path,
        key: Ed25519PrivateKey,
        household_id: str,
        **options: Any,
    ) -> Ledger:
        """Open the ledger in ``directory``, or create it there; the household id must match."""
        if not list_segments(directory):
            return cls.create(directory, key, household_id, **options)
        ledger = cls.open(directory, key, **options)
        if ledger.household_id != household_id:
            ledger.close()
            raise CorruptLedgerError(1, "the ledger belongs to another household")
        return ledger

    def _replay(self, segments: list[Path], start_index: int, start_offset: int) -> None:
        state = self._state
        previous_end = 0
        for index in range(start_index, len(segments)):
            path = segments[index]
            is_last = index == len(segments) - 1
            offset = start_offset if index == start_index else MAGIC_SIZE
            with path.open("rb") as handle:
                if not read_magic(handle, SEGMENT_MAGIC):
                    if is_last and index > start_index and path.stat().st_size < MAGIC_SIZE:
                        offset = MAGIC_SIZE  # created, header cut short by a crash
                    else:
                        raise CorruptLedgerError(state.seq + 1, f"{path.name} has no valid header")
                segment_start = offset == MAGIC_SIZE
                for item in scan_frames(handle, offset):
                    if isinstance(item, BadFrame):
                        if not is_last:
                            raise CorruptLedgerError(state.seq + 1, item.reason)
                        self._cut_torn_tail(path, item.offset, item.reason)
                        break
                    end, record = item
                    if segment_start and path.name != segment_name(state.seq + 1):
                        raise CorruptLedgerError(state.seq + 1, f"{path.name} is misnamed")
                    try:
                        for payload in unit_entries(record):
                            state.apply(payload, segment_start=segment_start)
                            segment_start = False
                    except ChainError as err:
                        raise CorruptLedgerError(err.seq, err.reason) from None
                    offset = end
            if is_last and segment_start and index > start_index:
                # A new period's segment whose first entry never became durable: it holds
                # nothing, so it goes, and writing continues where the last entry is.
                path.unlink()
                fsync_directory(self.directory)
                self._segment = segments[index - 1].name
                self._segment_end = previous_end
            elif is_last:
                self._segment = path.name
                self._segment_end = offset
            previous_end = offset

    def _cut_torn_tail(self, path: Path, offset: int, reason: str) -> None:
        size = path.stat().st_size
        kept = set_aside(path, offset)
        truncate_durably(path, offset)
        self.torn_tail = TornTail(
            path.name, offset, size - offset, self._state.seq + 1, reason, kept
        )

    # ----- reading state

    @property
    def origin(self) -> str:
        """The checkpoint origin and signing key name.

        Derived each time: a ledger reopened before its first checkpoint learns its household only
        when replaying the genesis entry, after construction.
        """
        return origin_for(self._state.household_id)

    @property
    def household_id(self) -> str:
        """The household this ledger belongs to."""
        return self._state.household_id

    @property
    def public_key(self) -> bytes:
        """The household's raw Ed25519 public key."""
        return self._state.public_key

    @property
    def seq(self) -> int:
        """The last entry appended (durable or not)."""
        return self._state.seq

    @property
    def durable_seq(self) -> int:
        """The last entry known to be on disk."""
        return self._durable_seq

    @property
    def head(self) -> bytes:
        """The hash of the last entry appended."""
        return self._state.head

    @property
    def checkpoint_size(self) -> int:
        """Entries covered by the latest signed checkpoint."""
        return self._checkpoint_size

    @property
    def failure(self) -> BaseException | None:
        """The write error that stopped the ledger, if one did."""
        return self._failure

    @property
    def usable(self) -> bool:
        """Whether entries can still be appended (not closed, no write failure)."""
        return self._failure is None and not self._closed

    @property
    def segment(self) -> str:
        """The segment new entries go to (the current period's)."""
        return self._segment

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` with the ledger's key.

        The message starts with its caller's own context, so that nothing signed so is ever
        read as a checkpoint or a cosignature (ledger/trade.py).
        """
        return self._key.sign(message)

    def balance(self, account: str) -> int:
        """An account's balance in milli-tokens (0 for an account never used)."""
        with self._lock:
            index = self._state.account_ids.get(account)
            return 0 if index is None else self._state.balances[index]

    def has_account(self, account: str) -> bool:
        """Whether an entry has opened ``account`` (its first movement does)."""
        with self._lock:
            return account in self._state.account_ids

    def balances(self) -> dict[str, int]:
        """Every account's balance in milli-tokens."""
        with self._lock:
            return dict(zip(self._state.accounts, self._state.balances, strict=True))

    # ----- writing

    def append(
        self,
        kind: Kind,
        *,
        from_account: str | None = None,
        to_account: str | None = None,
        amount: int = 0,
        cause: Cause = SYSTEM,
        data: dict[str, Any] | None = None,
        ts_ms: int | None = None,
    ) -> Entry:
        """Append an entry to the buffer; it is durable once ``commit`` has returned its seq.

        Movements need two different accounts (opened on first use) and a positive integer
        amount. A period-open marker starts a new segment; a period-close marker asks for a
        checkpoint at the next commit. Invalid input raises InvalidEntryError and writes nothing.
        """
        if self._failure is not None or self._closed:
            self._check_usable()
        if type(kind) is not Kind:
            kind = Kind(kind)
        movement = kind in MOVEMENT_KINDS
        if movement:
            if type(amount) is not int:
                raise InvalidEntryError("amount must be an integer number of milli-tokens")
            if not 0 < amount <= MAX_AMOUNT:
                raise InvalidEntryError("amount must be positive")
            if not from_account or not to_account or from_account == to_account:
                raise InvalidEntryError("a movement needs two different accounts")
        elif kind in APPENDABLE_MARKERS:
            if from_account or to_account or amount:
                raise InvalidEntryError("a marker moves nothing")
        else:
            raise InvalidEntryError(f"{kind.name.lower()} entries are written by the ledger")
        data_bytes = canonical_json(data) if data else b""  # refuses floats, before writing
        check_limits(cause, data_bytes)
        with self._lock:
            ts = self._clock() if ts_ms is None else ts_ms
            ts = max(ts, self._state.last_ts)
            if movement:
                assert from_account is not None
                assert to_account is not None
                ids = self._state.account_ids
                from_id = ids.get(from_account)
                if from_id is None:
                    from_id = self._open_account(from_account, ts, cause)
                to_id = ids.get(to_account)
                if to_id is None:
                    to_id = self._open_account(to_account, ts, cause)
            else:
                from_id = to_id = NO_ACCOUNT
            segment_start = kind is Kind.PERIOD_OPEN
            if segment_start:
                self._segment = segment_name(self._state.seq + 1)
                self._segment_end = MAGIC_SIZE
            elif kind is Kind.PERIOD_CLOSE:
                self._checkpoint_requested = True
            prev, head = self._write(
                kind, ts, amount, from_id, to_id, cause, data_bytes, segment_start
            )
            entry = Entry(
                self._state.seq,
                ts,
                kind,
                from_account,
                to_account,
                amount,
                cause,
                data or {},
                prev,
                head,
            )
            self._recent.append(entry)
            return entry

    def _open_account(self, name: str, ts: int, cause: Cause) -> int:
        index = len(self._state.accounts)
        self._write(Kind.ACCOUNT, ts, 0, index, index, cause, canonical_json({"name": name}), False)
        return index

    def _write(
        self,
        kind: Kind,
        ts: int,
        amount: int,
        from_id: int,
        to_id: int,
        cause: Cause,
        data_bytes: bytes,
        segment_start: bool,
    ) -> tuple[bytes, bytes]:
        """Encode, fold and buffer one entry; return its previous hash and its hash."""
        state = self._state
        prev = state.head
        payload = encode_payload(
            kind, state.seq + 1, ts, amount, from_id, to_id, prev, cause, data_bytes
        )
        unit = self._unit
        part = None
        if unit is not None:
            if not unit.parts or unit.parts[-1][0] != self._segment:
                unit.parts.append((self._segment, bytearray()))
            part = unit.parts[-1][1]
            if len(part) + len(payload) > MAX_PAYLOAD:  # refused before anything changes
                raise InvalidEntryError("a unit's entries in one segment exceed 1 MiB")
        state.apply(payload, segment_start=segment_start)
        if part is None:
            self._buffer(self._segment, frame(payload))
        else:
            part.extend(payload)
        return prev, state.head

    # ----- units: entries that stand or fall together

    def begin_unit(self) -> None:
        """Start a unit: what is appended until ``end_unit`` is written whole or not at all.

        A unit's entries go into one record per segment (a period boundary spans two), so a
        write cut short loses whole records: the unit, or its part in the new segment, which
        opening the ledger completes (a period closed and not reopened). A commit writes only
        finished units; ``abort_unit`` takes back everything appended since the unit began.
        """
        with self._lock:
            if self._unit is not None:
                raise LedgerError("a unit is open already")
            self._unit = _Unit(
                self._state.copy(),
                self._segment,
                self._segment_end,
                self._checkpoint_requested,
                list(self._recent),
            )

    def end_unit(self) -> None:
        """The unit is complete: it becomes a record per segment, which the next commit writes."""
        with self._lock:
            unit, self._unit = self._unit, None
            if unit is not None:
                for segment, payloads in unit.parts:
                    self._buffer(segment, frame(payloads))

    def abort_unit(self) -> None:
        """Take back everything appended since the unit began."""
        with self._lock:
            unit, self._unit = self._unit, None
            if unit is None:
                return
            self._state = unit.state
            self._segment, self._segment_end = unit.segment, unit.segment_end
            self._checkpoint_requested = unit.checkpoint_requested
            self._recent = deque(unit.recent, maxlen=RECENT_ENTRIES)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """The entries appended inside the block as one unit (taken back if it raises)."""
        self.begin_unit()
        try:
            yield
        except BaseException:
            self.abort_unit()
            raise
        self.end_unit()

    def _buffer(self, segment: str, record: bytes) -> None:
        """Queue a framed record for the next commit."""
        pending = self._pending
        if not pending or pending[-1][0] != segment:
            pending.append((segment, bytearray()))
        pending[-1][1].extend(record)
        if segment == self._segment:
            self._segment_end += len(record)

    def request_checkpoint(self) -> None:
        """Sign a checkpoint at the next commit."""
        with self._lock:
            self._checkpoint_requested = True

    def commit(self) -> int:
        """Write and fsync everything appended so far (one batch); return the durable seq.

        Blocking: run it in an executor. Signs a checkpoint when one is due.
        """
        with self._commit_lock:
            self._check_usable()
            with self._lock:
                chunks, self._pending = self._pending, []
                # Entries of an open unit are not pending yet: the commit is durable up to it,
                # and signs no checkpoint, which would vouch for the unit's entries too.
                last_seq = self._state.seq if self._unit is None else self._unit.state.seq
                due = (
                    self._unit is None
                    and last_seq > self._checkpoint_size
                    and (
                        self._checkpoint_requested
                        or last_seq - self._checkpoint_size >= self._checkpoint_every
                        or self._clock() - self._checkpoint_ms >= self._checkpoint_interval_ms
                    )
                )
                checkpoint: tuple[int, bytes, CompactRange, dict[str, Any], str, int] | None
                checkpoint = None
                if due:
                    self._checkpoint_requested = False
                    assert self._state.tree is not None  # grown at open when it was missing
                    checkpoint = (
                        last_seq,
                        self._state.head,
                        self._state.tree.copy(),
                        self._state.snapshot(),
                        self._segment,
                        self._segment_end,
                    )
            try:
                for name, data in chunks:
                    write_all(self._segment_fd(name), data)
                    assert self._fd is not None
                    os.fsync(self._fd)
            except OSError as err:
                self._failure = err
                raise LedgerFatalError(f"writing the ledger failed: {err}") from err
            self._durable_seq = last_seq
            if checkpoint is not None:
                try:
                    self._write_checkpoint(*checkpoint)
                except OSError as err:
                    # The entries are durable: this commit stands. The ledger stops here, and
                    # ``failure`` says why (the next append or commit raises).
                    self._failure = err
            return last_seq

    def _segment_fd(self, name: str) -> int:
        if self._fd is not None and self._fd_segment == name:
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        path = self.directory / name
        self._fd = open_for_append(path) if path.exists() else create_file(path, SEGMENT_MAGIC)
        self._fd_segment = name
        return self._fd

    def _write_checkpoint(
        self,
        size: int,
        head: bytes,
        tree: CompactRange,
        snapshot: dict[str, Any],
        segment: str,
        offset: int,
    ) -> None:
        now = self._clock()
        checkpoint = sign_checkpoint(
            self._key,
            origin=self.origin,
            size=size,
            head=head,
            tree=tree,
            ts_ms=now,
            snapshot=snapshot,
            segment=segment,
            offset=offset,
        )
        fd = open_for_append(self.directory / CHECKPOINTS_FILE)
        try:
            write_all(fd, frame(encode_checkpoint_record(checkpoint)))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._checkpoint_size = size
        self._checkpoint_ms = now
        self.last_checkpoint_ms = now
        self.latest_note = checkpoint.note

    def close(self) -> None:
        """Commit what is pending, sign a final checkpoint and release the files."""
        if self._closed:
            return
        try:
            if self._failure is None:
                self.request_checkpoint()
                self.commit()
        finally:  # the files are released even when the last commit fails
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._closed = True

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise LedgerFatalError(
                f"the ledger stopped after a write failure: {self._failure}"
            ) from self._failure
        if self._closed:
            raise LedgerError("the ledger is closed")

    def remember(self, entries: Iterable[Entry]) -> None:
        """Keep entries read back from the files (oldest first) as the latest ones in memory."""
        with self._lock:
            self._recent.extend(entries)

    def recent_entries(self) -> list[Entry]:
        """The latest durable entries appended or remembered, newest first; reads no file."""
        with self._lock:
            durable = self._durable_seq
            return [entry for entry in reversed(self._recent) if entry.seq <= durable]

    def iter_entries(self, since_seq: int = 1) -> Iterator[Entry]:
        """Decoded durable entries from ``since_seq`` on (reads files: call from an executor)."""
        with self._lock:
            accounts = list(self._state.accounts)
        durable = self._durable_seq
        for entry in iter_entries(self.directory, since_seq=since_seq, accounts=accounts):
            if entry.seq > durable:
                return
            yield entry


def _tree_of(directory: Path, size: int) -> CompactRange:
    """The Merkle tree's compact range over the first ``size`` entries, from the segments.

    Once per ledger: the first open after the tree came reads what its last checkpoint covers
    (the entries are checked by the chain's fold when they are verified, not here).
    """
    tree = CompactRange()
    for payload in iter_payloads(directory):
        if tree.size == size:
            break
        tree.append(leaf_hash(payload))
    if tree.size != size:
        raise CorruptLedgerError(tree.size + 1, "the ledger is shorter than its last checkpoint")
    return tree


def set_aside(path: Path, offset: int) -> str:
    """Copy ``path`` from ``offset`` into the ledger's quarantine folder, durably.

    Returns where, relative to the ledger folder. What a crash cut short is never deleted: it
    may be damage or tampering to look at, not a crash's.
    """
    folder = path.parent / QUARANTINE_FOLDER
    folder.mkdir(exist_ok=True)
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    target = folder / f"{path.name}.{offset}.torn"
    number = 1
    while target.exists():  # the same place cut twice (two crashes): both are kept
        number += 1
        target = folder / f"{path.name}.{offset}.{number}.torn"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(folder)
    return f"{QUARANTINE_FOLDER}/{target.name}"


def probe_writable(directory: Path) -> None:
    """Write, sync and delete a small file in ``directory``; raise OSError if the disk refuses.

    After a failed write, this says when trying again is worth it, without touching the ledger.
    """
    path = directory / ".write-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, bytes(PROBE_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def _rewrite_magic(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        write_all(fd, CHECKPOINT_MAGIC)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
