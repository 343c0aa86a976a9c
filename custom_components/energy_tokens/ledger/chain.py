"""The chain's rules as a fold: apply entry payloads one by one, refusing any that breaks a rule.

The writer folds every entry it appends and the verifier folds every entry it reads through the
same ``ChainState.apply``, so what is written and what is accepted cannot drift apart. The fold
includes the RFC 6962 Merkle tree over the entries (its compact range: merkle.py), whose root
checkpoints sign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from typing import Any

from .entries import (
    APPENDABLE_MARKERS,
    ENTRY_TAG,
    HEADER,
    MAX_AMOUNT,
    MOVEMENT_KINDS,
    NO_ACCOUNT,
    ZERO_HASH,
    CauseKind,
    Kind,
)
from .merkle import CompactRange, leaf_hash

# Plain ints and bound functions: apply runs once per entry on every verification.
_CAUSE_KINDS = frozenset(int(kind) for kind in CauseKind)
_MOVEMENTS = frozenset(int(kind) for kind in MOVEMENT_KINDS)
_MARKERS = frozenset(int(kind) for kind in APPENDABLE_MARKERS)
_GENESIS = int(Kind.GENESIS)
_ACCOUNT = int(Kind.ACCOUNT)
_PERIOD_OPEN = int(Kind.PERIOD_OPEN)
_HEADER_SIZE = HEADER.size
_unpack_header = HEADER.unpack_from
_sha256 = hashlib.sha256


class ChainError(Exception):
    """An entry breaks a rule of the chain; ``seq`` is the entry's position."""

    def __init__(self, seq: int, reason: str) -> None:
        """Store where and why."""
        super().__init__(f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


class ChainState:
    """Everything the entries so far imply: position, head, accounts and balances."""

    __slots__ = (
        "account_ids",
        "accounts",
        "balances",
        "head",
        "household_id",
        "last_ts",
        "public_key",
        "seq",
        "tree",
    )

    def __init__(self) -> None:
        """Start before the genesis entry."""
        # None while resumed from a checkpoint signed before ledgers had a tree: the writer
        # rebuilds it (store.py) before signing again.
        self.tree: CompactRange | None = CompactRange()
        self.seq = 0
        self.head = ZERO_HASH
        self.last_ts = 0
        self.accounts: list[str] = []
        self.account_ids: dict[str, int] = {}
        self.balances: list[int] = []
        self.household_id = ""
        self.public_key = b""

    @classmethod
    def from_snapshot(
        cls,
        *,
        seq: int,
        head: bytes,
        snapshot: dict[str, Any],
        household_id: str,
        public_key: bytes,
        tree: CompactRange | None,
    ) -> ChainState:
        """Resume at a checkpoint (whose signature the caller has verified)."""
        state = cls()
        state.tree = tree
        state.seq = seq
        state.head = head
        state.last_ts = snapshot["last_ts"]
        state.accounts = list(snapshot["accounts"])
        state.account_ids = {name: index for index, name in enumerate(state.accounts)}
        state.balances = list(snapshot["balances"])
        state.household_id = household_id
        state.public_key = public_key
        return state

    def copy(self) -> ChainState:
        """An independent copy (a unit being written may have to be taken back)."""
        state = ChainState()
        state.seq, state.head, state.last_ts = self.seq, self.head, self.last_ts
        state.tree = None if self.tree is None else self.tree.copy()
        state.accounts = list(self.accounts)
        state.account_ids = dict(self.account_ids)
        state.balances = list(self.balances)
        state.household_id, state.public_key = self.household_id, self.public_key
        return state

    def snapshot(self) -> dict[str, Any]:
        """Accounts, balances and the last entry's time, as bound into checkpoints."""
        return {
            "accounts": list(self.accounts),
            "balances": list(self.balances),
            "last_ts": self.last_ts,
        }

    def apply(self, payload: bytes | memoryview, *, segment_start: bool = False) -> None:
        """Check one payload against the chain and fold it in.

        ``segment_start`` says the payload is the first of a segment file: every segment but the
        first starts with a period-open marker, and that marker starts nothing else.
        """
        expected = self.seq + 1
        try:
            (
                tag,
                kind,
                seq,
                ts_ms,
                amount,
                from_id,
                to_id,
                prev,
                cause_kind,
                cause_len,
                data_len,
            ) = _unpack_header(payload)
        except struct.error:
            raise ChainError(expected, "record shorter than an entry header") from None
        if tag != ENTRY_TAG:
            raise ChainError(expected, f"unknown record tag {tag:#x}")
        if seq != expected:
            raise ChainError(expected, f"expected entry {expected}, found entry {seq}")
        if prev != self.head:
            # Entry seq-1 no longer hashes to the link seq recorded: the earlier one is suspect.
            raise ChainError(
                max(seq - 1, 1), f"entry {seq - 1} does not hash to the link stored in entry {seq}"
            )
        if _HEADER_SIZE + cause_len + data_len != len(payload):
            raise ChainError(seq, "record length does not match its fields")
        if ts_ms < self.last_ts:
            raise ChainError(seq, "timestamp earlier than the entry before")
        if cause_kind not in _CAUSE_KINDS:
            raise ChainError(seq, f"unknown cause kind {cause_kind}")
        if (kind == _GENESIS) != (seq == 1):
            raise ChainError(seq, "the genesis entry must be the first entry, and only that")
        if seq > 1 and segment_start != (kind == _PERIOD_OPEN):
            raise ChainError(seq, "a segment must start with a period-open marker, and only it")

        if kind in _MOVEMENTS:
            balances = self.balances
            count = len(balances)
            if not 0 < amount <= MAX_AMOUNT:
                raise ChainError(seq, "amount must be positive")
            if from_id >= count or to_id >= count or from_id == to_id:
                raise ChainError(seq, "a movement needs two different open accounts")
            balances[from_id] -= amount
            balances[to_id] += amount
        elif kind == _ACCOUNT:
            self._open_account(seq, payload, from_id, to_id, amount, data_len)
        elif kind in _MARKERS:
            if from_id != NO_ACCOUNT or to_id != NO_ACCOUNT or amount:
                raise ChainError(seq, "a marker moves nothing")
        elif kind == _GENESIS:
            self._genesis(payload, from_id, to_id, amount, data_len)
        else:
            raise ChainError(seq, f"unknown entry kind {kind}")

        self.seq = seq
        self.head = _sha256(payload).digest()
        self.last_ts = ts_ms
        if self.tree is not None:
            self.tree.append(leaf_hash(payload))

    def _data(self, seq: int, payload: bytes | memoryview, data_len: int) -> dict[str, Any]:
        try:
            data = json.loads(bytes(payload[len(payload) - data_len :]))
        except (UnicodeDecodeError, ValueError):
            raise ChainError(seq, "entry data is not valid JSON") from None
        if not isinstance(data, dict):
            raise ChainError(seq, "entry data is not an object")
        return data

    def _open_account(
        self,
        seq: int,
        payload: bytes | memoryview,
        from_id: int,
        to_id: int,
        amount: int,
        data_len: int,
    ) -> None:
        index = len(self.accounts)
        if from_id != index or to_id != index or amount:
            raise ChainError(seq, "an account entry must open the next account id")
        name = self._data(seq, payload, data_len).get("name")
        if not isinstance(name, str) or not name or name in self.account_ids:
            raise ChainError(seq, "an account needs a new, non-empty name")
        self.accounts.append(name)
        self.account_ids[name] = index
        self.balances.append(0)

    def _genesis(
        self, payload: bytes | memoryview, from_id: int, to_id: int, amount: int, data_len: int
    ) -> None:
        if from_id != NO_ACCOUNT or to_id != NO_ACCOUNT or amount:
            raise ChainError(1, "the genesis entry moves nothing")
        data = self._data(1, payload, data_len)
        household = data.get("household")
        try:
            public_key = base64.b64decode(data.get("public_key", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            public_key = b""
        if not isinstance(household, str) or not household or len(public_key) != 32:
            raise ChainError(1, "the genesis entry must bind a household id and a public key")
        self.household_id = household
        self.public_key = public_key
