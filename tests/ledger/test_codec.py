"""Entry encoding, framing and every rule of the chain, on crafted records."""

import base64
import io
import json
from pathlib import Path

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_tokens.ledger import (
    Cause,
    CauseKind,
    CorruptLedgerError,
    Kind,
    iter_entries,
)
from custom_components.energy_tokens.ledger.chain import ChainError, ChainState
from custom_components.energy_tokens.ledger.checkpoints import (
    CheckpointError,
    decode_checkpoint_record,
)
from custom_components.energy_tokens.ledger.entries import (
    HEADER,
    NO_ACCOUNT,
    SYSTEM,
    ZERO_HASH,
    canonical_json,
    decode_payload,
    encode_payload,
    entry_hash,
)
from custom_components.energy_tokens.ledger.errors import InvalidEntryError
from custom_components.energy_tokens.ledger.framing import (
    MAGIC_SIZE,
    MAX_PAYLOAD,
    SEGMENT_MAGIC,
    BadFrame,
    create_file,
    frame,
    scan_frames,
)

GENESIS_DATA = canonical_json(
    {"household": "h", "public_key": base64.b64encode(bytes(32)).decode()}
)


def payload(
    state: ChainState,
    kind: int,
    *,
    amount: int = 0,
    from_id: int = NO_ACCOUNT,
    to_id: int = NO_ACCOUNT,
    data: bytes = b"",
    seq: int | None = None,
    ts_ms: int = 1000,
    prev: bytes | None = None,
    cause: Cause = SYSTEM,
) -> bytes:
    return encode_payload(
        kind=kind,  # type: ignore[arg-type]
        seq=state.seq + 1 if seq is None else seq,
        ts_ms=ts_ms,
        amount=amount,
        from_id=from_id,
        to_id=to_id,
        prev_hash=state.head if prev is None else prev,
        cause=cause,
        data=data,
    )


def with_cause_kind(raw: bytes, cause_kind: int) -> bytes:
    """Patch the cause-kind byte (the header ends cause_kind u8, cause_len u8, data_len u16)."""
    edited = bytearray(raw)
    edited[HEADER.size - 4] = cause_kind
    return bytes(edited)


@pytest.fixture
def state() -> ChainState:
    """A chain with genesis and two accounts."""
    chain = ChainState()
    chain.apply(payload(chain, Kind.GENESIS, data=GENESIS_DATA), segment_start=True)
    for index, name in enumerate(["a", "b"]):
        chain.apply(
            payload(
                chain, Kind.ACCOUNT, from_id=index, to_id=index, data=canonical_json({"name": name})
            )
        )
    return chain


def test_valid_chain_folds(state: ChainState) -> None:
    state.apply(payload(state, Kind.TRANSFER, amount=5, from_id=0, to_id=1))
    assert state.balances == [-5, 5]
    assert state.snapshot() == {"accounts": ["a", "b"], "balances": [-5, 5], "last_ts": 1000}
    assert state.household_id == "h"
    state.apply(payload(state, Kind.PERIOD_OPEN), segment_start=True)
    assert state.seq == 5


@pytest.mark.parametrize(
    ("build", "seq", "reason"),
    [
        (lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1)[:20], 4, "shorter than"),
        (
            lambda s: b"\x00" + payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1)[1:],
            4,
            "unknown record tag",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1, seq=9),
            4,
            "expected entry 4, found entry 9",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1, prev=ZERO_HASH),
            3,
            "does not hash to the link",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1) + b"x",
            4,
            "length does not match",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1, ts_ms=999),
            4,
            "timestamp earlier",
        ),
        (
            lambda s: with_cause_kind(payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=1), 9),
            4,
            "unknown cause kind",
        ),
        (
            lambda s: payload(s, Kind.GENESIS, data=GENESIS_DATA),
            4,
            "genesis entry must be the first",
        ),
        (lambda s: payload(s, Kind.PERIOD_OPEN), 4, "segment must start with a period-open"),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=0, from_id=0, to_id=1),
            4,
            "amount must be positive",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=0),
            4,
            "two different open accounts",
        ),
        (
            lambda s: payload(s, Kind.TRANSFER, amount=1, from_id=0, to_id=7),
            4,
            "two different open accounts",
        ),
        (
            lambda s: payload(
                s, Kind.ACCOUNT, from_id=5, to_id=5, data=canonical_json({"name": "c"})
            ),
            4,
            "next account id",
        ),
        (
            lambda s: payload(
                s, Kind.ACCOUNT, from_id=2, to_id=2, data=canonical_json({"name": "a"})
            ),
            4,
            "new, non-empty name",
        ),
        (
            lambda s: payload(s, Kind.ACCOUNT, from_id=2, to_id=2, data=b"{nope"),
            4,
            "not valid JSON",
        ),
        (lambda s: payload(s, Kind.ACCOUNT, from_id=2, to_id=2, data=b"[1]"), 4, "not an object"),
        (lambda s: payload(s, Kind.PERIOD_OPEN, amount=3), 4, "moves nothing"),
        (lambda s: payload(s, 99), 4, "unknown entry kind 99"),
    ],
)
def test_each_rule_is_enforced(state: ChainState, build, seq: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    before = (state.seq, state.head, list(state.balances))
    segment_start = reason == "moves nothing"
    with pytest.raises(ChainError, match=reason) as error:
        state.apply(build(state), segment_start=segment_start)
    assert error.value.seq == seq
    assert (state.seq, state.head, state.balances) == before


@pytest.mark.parametrize(
    ("data", "amount", "reason"),
    [
        (GENESIS_DATA, 5, "moves nothing"),
        (canonical_json({"household": "h", "public_key": "short"}), 0, "bind a household"),
        (
            canonical_json({"household": "", "public_key": base64.b64encode(bytes(32)).decode()}),
            0,
            "bind a household",
        ),
        (canonical_json({"household": "h", "public_key": 7}), 0, "bind a household"),
    ],
)
def test_genesis_rules(data: bytes, amount: int, reason: str) -> None:
    chain = ChainState()
    with pytest.raises(ChainError, match=reason):
        chain.apply(payload(chain, Kind.GENESIS, data=data, amount=amount), segment_start=True)
    with pytest.raises(ChainError, match="genesis entry must be the first"):
        chain.apply(payload(chain, Kind.PERIOD_OPEN), segment_start=True)


def test_canonical_json_and_decode() -> None:
    assert (
        canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    )
    with pytest.raises(InvalidEntryError, match="float"):
        canonical_json({"x": float("nan")})
    raw = encode_payload(
        kind=Kind.DEBIT,
        seq=3,
        ts_ms=7,
        amount=9,
        from_id=1,
        to_id=2,
        prev_hash=bytes(range(32)),
        cause=Cause(CauseKind.USER, "u1"),
        data=b'{"k":1}',
    )
    decoded = decode_payload(raw)
    assert (decoded.kind, decoded.seq, decoded.amount, decoded.cause_ref, decoded.data) == (
        Kind.DEBIT,
        3,
        9,
        "u1",
        b'{"k":1}',
    )
    assert entry_hash(raw) != entry_hash(raw[:-1] + b"]")
    assert raw[0] == 0x45
    assert len(raw) == HEADER.size + 2 + 7
    with pytest.raises(ValueError, match="shorter"):
        decode_payload(raw[:10])
    with pytest.raises(ValueError, match="tag"):
        decode_payload(b"\x00" + raw[1:])
    with pytest.raises(ValueError, match="length"):
        decode_payload(raw + b" ")
    assert str(Cause()) == "system"
    assert str(Cause(CauseKind.VOICE, "u")) == "voice:u"


def _scan(data: bytes) -> list[object]:
    return [
        item if isinstance(item, BadFrame) else (item[0], bytes(item[1]))
        for item in scan_frames(io.BytesIO(data), 0)
    ]


def test_scan_frames_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    from custom_components.energy_tokens.ledger import framing

    monkeypatch.setattr(framing, "READ_CHUNK", 4096)
    assert _scan(frame(b"abc")) == [(11, b"abc")]
    assert _scan(frame(b"abc") + b"\x01\x00") == [
        (11, b"abc"),
        BadFrame(11, "incomplete record header (torn write)"),
    ]
    huge = (MAX_PAYLOAD + 1).to_bytes(4, "little") + bytes(4)
    assert _scan(huge) == [BadFrame(0, f"record length {MAX_PAYLOAD + 1} is impossible")]
    assert _scan(frame(b"abcdef")[:-2]) == [BadFrame(0, "incomplete record (torn write)")]
    # Records larger than a read chunk, and many records crossing chunk boundaries.
    big = bytes(range(256)) * 100  # larger than the (patched) read chunk
    small = [frame(bytes([i % 251]) * (i % 700 + 1)) for i in range(5000)]
    items = _scan(frame(big) + b"".join(small))
    assert items[0] == (len(big) + 8, big)
    assert len(items) == 5001
    assert all(not isinstance(item, BadFrame) for item in items)


def test_create_file_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        create_file(tmp_path / "f", SEGMENT_MAGIC)


def test_reader_edges(tmp_path: Path) -> None:
    (tmp_path / "0000000000000001.seg").write_bytes(b"nonsense")
    with pytest.raises(CorruptLedgerError, match="no header"):
        list(iter_entries(tmp_path))
    chain = ChainState()
    genesis = payload(chain, Kind.GENESIS, data=GENESIS_DATA)
    (tmp_path / "0000000000000001.seg").write_bytes(SEGMENT_MAGIC + frame(genesis) + b"\x05")
    assert [e.seq for e in iter_entries(tmp_path)] == [
        1
    ]  # a write in progress ends the last segment
    (tmp_path / "0000000000000002.seg").write_bytes(SEGMENT_MAGIC)
    with pytest.raises(CorruptLedgerError, match="torn"):
        list(iter_entries(tmp_path))
    assert len(SEGMENT_MAGIC) == MAGIC_SIZE


def test_reading_checkpoints_and_genesis_edges(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custom_components.energy_tokens.ledger.framing import CHECKPOINT_MAGIC
    from custom_components.energy_tokens.ledger.keys import public_key_bytes
    from custom_components.energy_tokens.ledger.reader import read_checkpoints, read_genesis
    from custom_components.energy_tokens.ledger.store import Ledger

    assert read_checkpoints(tmp_path, bytes(32)) == ([], None, 0)  # no checkpoints file yet
    key = Ed25519PrivateKey.generate()
    ledger = Ledger.create(tmp_path / "ledger", key, "h")
    ledger.close()
    path = tmp_path / "ledger" / "checkpoints.log"
    record = path.read_bytes()[MAGIC_SIZE:]
    path.write_bytes(CHECKPOINT_MAGIC + record + record)  # the same size signed twice
    checkpoints, problem, offset = read_checkpoints(path.parent, public_key_bytes(key.public_key()))
    assert [c.size for c in checkpoints] == [1]
    assert isinstance(problem, CheckpointError)
    assert "sizes must grow" in str(problem)
    assert offset == MAGIC_SIZE + len(record)
    # A first entry that is no genesis is refused at the entry it breaks.
    chain = ChainState()
    (tmp_path / "bad").mkdir()
    not_genesis = payload(chain, Kind.PERIOD_OPEN)
    (tmp_path / "bad" / "0000000000000001.seg").write_bytes(SEGMENT_MAGIC + frame(not_genesis))
    with pytest.raises(CorruptLedgerError, match="genesis entry must be the first") as error:
        read_genesis(tmp_path / "bad")
    assert error.value.seq == 1


def test_checkpoint_signature_lines_are_checked() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custom_components.energy_tokens.ledger.checkpoints import (
        encode_checkpoint_record,
        sign_checkpoint,
    )
    from custom_components.energy_tokens.ledger.keys import public_key_bytes
    from custom_components.energy_tokens.ledger.merkle import CompactRange

    key = Ed25519PrivateKey.generate()
    public = public_key_bytes(key.public_key())
    checkpoint = sign_checkpoint(
        key,
        origin="energy-tokens/h",
        size=3,
        head=bytes(32),
        tree=CompactRange(3, [bytes(32), bytes(range(32))]),
        ts_ms=5,
        snapshot={"accounts": [], "balances": []},
        segment="x.seg",
        offset=8,
    )
    record = json.loads(encode_checkpoint_record(checkpoint))
    assert decode_checkpoint_record(canonical_json(record), public).size == 3
    body, signature = record["note"].split("\n\n")
    dash, name, sig = signature.strip().split(" ")
    for bad_line in [
        "not a signature line",
        f"{dash} other/name {sig}",
        f"{dash} {name} !!!notbase64",
        f"{dash} {name} {base64.b64encode(b'abcd' + bytes(64)).decode()}",
    ]:
        record["note"] = f"{body}\n\n{bad_line}\n"
        with pytest.raises(CheckpointError, match="no valid signature"):
            decode_checkpoint_record(canonical_json(record), public)
    # A bad signature that carries the right key id is refused too.
    raw = base64.b64decode(sig)
    record["note"] = f"{body}\n\n{dash} {name} {base64.b64encode(raw[:4] + bytes(64)).decode()}\n"
    with pytest.raises(CheckpointError, match="no valid signature"):
        decode_checkpoint_record(canonical_json(record), public)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("energy-tokens/h\n3\nAAAA\ntim 5\nbalances {b}\nposition x.seg 8\n", "extension lines"),
        ("energy-tokens/h\n3\nAAAA\ntime 5\nbalances {b}\n", "not enough values"),
        ("energy-tokens/h\nthree\nAAAA\ntime 5\nbalances {b}\nposition x.seg 8\n", "int"),
        ("energy-tokens/h\n3\n!!!!\ntime 5\nbalances {b}\nposition x.seg 8\n", "base64"),
        ("energy-tokens/h\n3\nAAAA\ntime 5\nbalances {b}\nposition x.seg\n", "not enough"),
    ],
)
def test_signed_but_malformed_checkpoint_body_is_refused(body: str, message: str) -> None:
    """A body signed by the right key is still parsed strictly."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from custom_components.energy_tokens.ledger.entries import snapshot_hash
    from custom_components.energy_tokens.ledger.keys import public_key_bytes
    from custom_components.energy_tokens.ledger.note import sign_note

    key = Ed25519PrivateKey.generate()
    snapshot: dict[str, list[int]] = {"accounts": [], "balances": []}
    text = body.replace("{b}", base64.b64encode(snapshot_hash(snapshot)).decode())
    note = sign_note(text, "energy-tokens/h", key)
    record = canonical_json({"note": note, "snapshot": snapshot})
    with pytest.raises(CheckpointError, match=f"malformed checkpoint: .*{message}"):
        decode_checkpoint_record(record, public_key_bytes(key.public_key()))


@pytest.mark.parametrize(
    "record",
    [b"[]", b'{"note": 5, "snapshot": {}}', b'{"note": "x", "snapshot": []}', b"{nope"],
)
def test_checkpoint_record_shapes_are_checked(record: bytes) -> None:
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        decode_checkpoint_record(record, bytes(32))


json_scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_flat_fast_path_matches_the_encoder(value: dict[str, object]) -> None:
    """Whatever takes the fast path encodes to exactly what the general encoder gives."""
    from custom_components.energy_tokens.ledger.entries import (
        _ENCODER,
        _check_json_value,
        _flat_object,
    )

    fast = _flat_object(value)
    try:
        _check_json_value(value)
    except InvalidEntryError:
        assert fast is None  # refused by the general path: never taken by the fast one
        with pytest.raises(InvalidEntryError):
            canonical_json(value)
        return
    expected = _ENCODER.encode(value).encode()
    assert fast is None or fast == expected
    assert canonical_json(value) == expected


def test_flat_fast_path_is_taken_for_debit_data() -> None:
    from custom_components.energy_tokens.ledger.entries import _flat_object

    data = {"wh": [1_200_000, 1_201_500], "meter": 'sensor.a"b\\c\u00e9'}
    assert (
        _flat_object(data)
        == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert _flat_object({"x": True}) is None  # booleans take the general path
    assert _flat_object({"x": [1, "a"]}) is None
    assert _flat_object({"x": [1, True]}) is None
    assert _flat_object({1: 2, "a": 3}) is None  # type: ignore[dict-item]
    with pytest.raises(InvalidEntryError, match="ASCII"):
        canonical_json({1: 2, "a": 3})
