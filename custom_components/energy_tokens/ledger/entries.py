"""Ledger entries and their canonical binary encoding.

A record's payload is a fixed little-endian header, the cause reference and kind-specific data as
canonical JSON. An entry's hash is SHA-256 over the payload; the payload starts with a record tag
(domain separation, as git's type header) and carries the previous entry's hash, so every link is
stored and checked. Amounts are integer milli-tokens and times integer epoch milliseconds: nothing
hashed is a float.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import enum
import hashlib
import json
import struct
from typing import Any, NamedTuple

from .errors import InvalidEntryError

ENTRY_TAG = 0x45  # "E": the first byte of every entry payload
SNAPSHOT_TAG = b"S"  # prefix of the balances snapshot hash
NO_ACCOUNT = 0xFFFFFFFF
ZERO_HASH = bytes(32)

# tag, kind, seq, ts_ms, amount, from_id, to_id, prev_hash, cause_kind, cause_len, data_len
HEADER = struct.Struct("<BBQqQII32sBBH")
MAX_CAUSE_BYTES = 255
MAX_DATA_BYTES = 65535
MAX_AMOUNT = 2**63 - 1


class Kind(enum.IntEnum):
    """What an entry records."""

    GENESIS = 0
    ACCOUNT = 1
    PURCHASE = 2
    ALLOCATE = 3
    DEBIT = 4
    TRANSFER = 5
    BORROW = 6
    SALE = 7
    ROLLOVER = 8
    FORFEIT = 9
    ADJUST = 10
    PERIOD_OPEN = 11
    PERIOD_CLOSE = 12
    METER = 13  # a meter's baseline reading (first reading, reset, discarded spike)
    LINK = 14  # a reference to an entry in another household's ledger
    LABEL = 15  # an account's (or the household's) human name; a rename is a new label
    ALLOWANCE = 16  # a device's allowance set, and the period it takes effect in


MOVEMENT_KINDS = frozenset(
    {
        Kind.PURCHASE,
        Kind.ALLOCATE,
        Kind.DEBIT,
        Kind.TRANSFER,
        Kind.BORROW,
        Kind.SALE,
        Kind.ROLLOVER,
        Kind.FORFEIT,
        Kind.ADJUST,
    }
)
# Markers record facts and move nothing; the caller may append these.
APPENDABLE_MARKERS = frozenset(
    {Kind.PERIOD_OPEN, Kind.PERIOD_CLOSE, Kind.METER, Kind.LINK, Kind.LABEL, Kind.ALLOWANCE}
)


class CauseKind(enum.IntEnum):
    """Who or what caused an entry."""

    SYSTEM = 0
    USER = 1
    AUTOMATION = 2
    VOICE = 3
    METERING = 4


@dataclass(frozen=True, slots=True)
class Cause:
    """The cause of an entry: a kind and a reference (user id, automation entity, meter, ...)."""

    kind: CauseKind = CauseKind.SYSTEM
    ref: str = ""

    def __str__(self) -> str:
        """Render as ``kind`` or ``kind:ref``."""
        name = self.kind.name.lower()
        return f"{name}:{self.ref}" if self.ref else name


SYSTEM = Cause()


class Entry(NamedTuple):
    """One decoded ledger entry, with account names resolved."""

    seq: int
    ts_ms: int
    kind: Kind
    from_account: str | None
    to_account: str | None
    amount: int
    cause: Cause
    data: dict[str, Any]
    prev_hash: bytes
    hash: bytes

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (used by exports and response data)."""
        return {
            "seq": self.seq,
            "ts_ms": self.ts_ms,
            "kind": self.kind.name.lower(),
            "from": self.from_account,
            "to": self.to_account,
            "amount": self.amount,
            "cause": str(self.cause),
            "data": self.data,
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_encode_string = json.encoder.encode_basestring  # what _ENCODER uses for strings
_KEY_PREFIXES: dict[str, str] = {}  # data keys are a small set: each is encoded once
MAX_CACHED_KEYS = 256
_SCALARS = frozenset({int, str, bool, type(None)})


def canonical_json(value: Any) -> bytes:
    """Encode as canonical JSON (sorted keys, no spaces, UTF-8); floats are refused."""
    if type(value) is dict and (flat := _flat_object(value)) is not None:
        return flat
    _check_json_value(value)
    return _ENCODER.encode(value).encode()


def _flat_object(value: dict[str, Any]) -> bytes | None:
    """The canonical encoding of an object of strings, integers and lists of integers.

    Most entries' data has this shape (a debit's meter and reading range), and building it
    directly costs half of the general encoder. Anything else returns None.
    """
    try:
        keys = sorted(value)
    except TypeError:  # keys of mixed types: the general path refuses them
        return None
    parts = []
    for key in keys:
        prefix = _KEY_PREFIXES.get(key)
        if prefix is None:
            if type(key) is not str or not key.isascii():
                return None
            prefix = _encode_string(key) + ":"
            if len(_KEY_PREFIXES) < MAX_CACHED_KEYS:
                _KEY_PREFIXES[key] = prefix
        item = value[key]
        kind = type(item)
        if kind is str:
            parts.append(prefix + _encode_string(item))
        elif kind is int:
            parts.append(prefix + int.__repr__(item))
        elif kind is list:
            for number in item:
                if type(number) is not int:
                    return None
            parts.append(prefix + "[" + ",".join(map(int.__repr__, item)) + "]")
        else:
            return None
    return ("{" + ",".join(parts) + "}").encode()


def _check_json_value(value: Any) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise InvalidEntryError(f"data keys must be ASCII strings, got {key!r}")
            if type(item) not in _SCALARS:
                _check_json_value(item)
        return
    if kind is list:
        for item in value:
            if type(item) not in _SCALARS:
                _check_json_value(item)
        return
    raise InvalidEntryError(
        f"data may hold only integers, strings, booleans, null, lists and objects, "
        f"not {kind.__name__}"
    )


def check_limits(cause: Cause, data: bytes) -> None:
    """Refuse a cause reference or data too long for their length fields."""
    if len(cause.ref.encode()) > MAX_CAUSE_BYTES:
        raise InvalidEntryError(f"cause reference longer than {MAX_CAUSE_BYTES} bytes")
    if len(data) > MAX_DATA_BYTES:
        raise InvalidEntryError(f"entry data longer than {MAX_DATA_BYTES} bytes")


def encode_payload(
    kind: Kind,
    seq: int,
    ts_ms: int,
    amount: int,
    from_id: int,
    to_id: int,
    prev_hash: bytes,
    cause: Cause,
    data: bytes,
) -> bytes:
    """Encode one entry's payload (the bytes that are hashed and stored).

    The caller has passed the cause and data through ``check_limits``.
    """
    cause_bytes = cause.ref.encode()
    return (
        HEADER.pack(
            ENTRY_TAG,
            kind,
            seq,
            ts_ms,
            amount,
            from_id,
            to_id,
            prev_hash,
            cause.kind,
            len(cause_bytes),
            len(data),
        )
        + cause_bytes
        + data
    )


@dataclass(frozen=True, slots=True)
class RawEntry:
    """A payload split into its fields, accounts still as ids."""

    kind: int
    seq: int
    ts_ms: int
    amount: int
    from_id: int
    to_id: int
    prev_hash: bytes
    cause_kind: int
    cause_ref: str
    data: bytes


def decode_payload(payload: bytes | memoryview) -> RawEntry:
    """Split a payload into its fields; raises ValueError when it is malformed."""
    if len(payload) < HEADER.size:
        raise ValueError("record shorter than an entry header")
    (tag, kind, seq, ts_ms, amount, from_id, to_id, prev, cause_kind, cause_len, data_len) = (
        HEADER.unpack_from(payload)
    )
    if tag != ENTRY_TAG:
        raise ValueError(f"unknown record tag {tag:#x}")
    if HEADER.size + cause_len + data_len != len(payload):
        raise ValueError("record length does not match its fields")
    cause_end = HEADER.size + cause_len
    return RawEntry(
        kind=kind,
        seq=seq,
        ts_ms=ts_ms,
        amount=amount,
        from_id=from_id,
        to_id=to_id,
        prev_hash=bytes(prev),
        cause_kind=cause_kind,
        cause_ref=bytes(payload[HEADER.size : cause_end]).decode(),
        data=bytes(payload[cause_end:]),
    )


def unit_entries(record: bytes | memoryview) -> Iterator[memoryview]:
    """The entry payloads of one record: a single entry, or every entry of a unit.

    Each payload's length comes from its own header; a record that does not divide into whole
    entries yields its remainder, which the chain's rules then refuse.
    """
    view = memoryview(record)
    size, total, pos = HEADER.size, len(view), 0
    while pos < total:
        if total - pos < size:
            yield view[pos:]
            return
        end = (
            pos
            + size
            + view[pos + size - 3]
            + int.from_bytes(view[pos + size - 2 : pos + size], "little")
        )
        yield view[pos : min(end, total)]
        pos = end


def entry_hash(payload: bytes | memoryview) -> bytes:
    """The hash that the next entry links to."""
    return hashlib.sha256(payload).digest()


def snapshot_hash(snapshot: dict[str, Any]) -> bytes:
    """Hash of a balances snapshot, bound into a signed checkpoint."""
    return hashlib.sha256(SNAPSHOT_TAG + canonical_json(snapshot)).digest()
