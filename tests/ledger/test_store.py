"""The writer: appends, group commit, segments, checkpoints, fast open, torn tails, failures."""

from collections.abc import Callable
import os
from pathlib import Path
import stat

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import (
    Cause,
    CauseKind,
    CorruptLedgerError,
    Kind,
    Ledger,
    LedgerError,
    LedgerFatalError,
    load_or_create_signing_key,
    verify_ledger,
)
from custom_components.energy_tokens.ledger.errors import InvalidEntryError
from custom_components.energy_tokens.ledger.framing import FRAME, MAGIC_SIZE, SEGMENT_MAGIC
from custom_components.energy_tokens.ledger.keys import parse_public_key
from custom_components.energy_tokens.ledger.layout import (
    CHECKPOINTS_FILE,
    VERIFIER_KEY_FILE,
    list_segments,
)
from custom_components.energy_tokens.ledger.proofs import signed_checkpoints
from custom_components.energy_tokens.ledger.store import RECENT_ENTRIES

from .conftest import FakeClock, fill_small_ledger


def _dir_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_create_writes_genesis_binding_household_and_key(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger()
    assert ledger.seq == ledger.durable_seq == 1
    genesis = next(ledger.iter_entries())
    assert genesis.kind is Kind.GENESIS
    assert genesis.data["household"] == "household-1"
    assert ledger.public_key == parse_public_key(
        (ledger_dir / VERIFIER_KEY_FILE).read_text(encoding="utf-8")
    )
    assert genesis.prev_hash == bytes(32)
    with pytest.raises(LedgerError, match="already holds a ledger"):
        Ledger.create(ledger_dir, key, "household-1")


def test_files_are_private_and_key_lives_outside(tmp_path: Path) -> None:
    key_path = tmp_path / "signing.key"
    key = load_or_create_signing_key(key_path)
    assert load_or_create_signing_key(key_path).private_bytes_raw() == key.private_bytes_raw()
    ledger = Ledger.create(tmp_path / "ledger", key, "h")
    ledger.append(Kind.PERIOD_OPEN)
    ledger.close()
    for path in [key_path, *(tmp_path / "ledger").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not any(p.name.endswith(".key") for p in (tmp_path / "ledger").iterdir())
    key_path.write_bytes(b"not a key")
    with pytest.raises(ValueError, match="does not hold a PEM private key"):
        load_or_create_signing_key(key_path)


def test_non_ed25519_key_file_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "k").write_bytes(pem)
    with pytest.raises(ValueError, match="Ed25519"):
        load_or_create_signing_key(tmp_path / "k")


def test_movements_keep_zero_sum_and_open_accounts(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    entry = ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=800_000)
    assert entry.seq == 4  # two account entries were opened first
    assert (entry.from_account, entry.to_account) == ("provider", "pool")
    ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:a", amount=1)
    assert ledger.balances() == {"provider": -800_000, "pool": 799_999, "device:a": 1}
    assert sum(ledger.balances().values()) == 0
    assert ledger.balance("device:a") == 1
    assert ledger.balance("never-used") == 0
    kinds = [e.kind for e in ledger.iter_entries()]
    assert kinds == [Kind.GENESIS]  # nothing committed yet: only durable entries are read
    ledger.commit()
    kinds = [e.kind for e in ledger.iter_entries()]
    assert kinds.count(Kind.ACCOUNT) == 3


def test_recent_entries_are_durable_newest_first_and_bounded(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger()
    first = ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5)
    assert ledger.recent_entries() == []  # appended, not yet durable
    ledger.commit()
    assert ledger.recent_entries() == [first]
    moved = [
        ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:a", amount=1)
        for _ in range(RECENT_ENTRIES + 5)
    ]
    ledger.commit()
    recent = ledger.recent_entries()
    assert recent == moved[::-1][:RECENT_ENTRIES]
    # What a reader decoded from the files is remembered the same way (opening a household).
    ledger.remember(list(ledger.iter_entries(since_seq=first.seq))[:1])
    assert ledger.recent_entries()[0] == first


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (Kind.DEBIT, {"from_account": "a", "to_account": "b", "amount": 0}, "positive"),
        (Kind.DEBIT, {"from_account": "a", "to_account": "b", "amount": -5}, "positive"),
        (Kind.DEBIT, {"from_account": "a", "to_account": "b", "amount": 1.5}, "integer"),
        (Kind.DEBIT, {"from_account": "a", "to_account": "b", "amount": True}, "integer"),
        (Kind.DEBIT, {"from_account": "a", "to_account": "b", "amount": 2**63}, "positive"),
        (Kind.DEBIT, {"from_account": "a", "to_account": "a", "amount": 1}, "two different"),
        (Kind.DEBIT, {"from_account": "a", "amount": 1}, "two different"),
        (Kind.PERIOD_OPEN, {"amount": 3}, "moves nothing"),
        (Kind.PERIOD_CLOSE, {"from_account": "a"}, "moves nothing"),
        (Kind.METER, {"amount": 1}, "moves nothing"),
        (Kind.GENESIS, {}, "written by the ledger"),
        (Kind.ACCOUNT, {}, "written by the ledger"),
        (
            Kind.DEBIT,
            {"from_account": "a", "to_account": "b", "amount": 1, "data": {"kwh": 0.5}},
            "float",
        ),
        (
            Kind.DEBIT,
            {"from_account": "a", "to_account": "b", "amount": 1, "data": {"x": [{1: 2}]}},
            "ASCII",
        ),
        (
            Kind.DEBIT,
            {"from_account": "a", "to_account": "b", "amount": 1, "data": {"x": "é" * 40000}},
            "longer than",
        ),
        (
            Kind.DEBIT,
            {
                "from_account": "a",
                "to_account": "b",
                "amount": 1,
                "cause": Cause(CauseKind.USER, "u" * 256),
            },
            "cause",
        ),
    ],
)
def test_invalid_appends_write_nothing(
    make_ledger: Callable[..., Ledger],
    ledger_dir: Path,
    kind: Kind,
    options: dict[str, object],
    message: str,
) -> None:
    ledger = make_ledger()
    before_files = _dir_bytes(ledger_dir)
    before = (ledger.seq, ledger.head, ledger.balances())
    with pytest.raises(InvalidEntryError, match=message):
        ledger.append(kind, **options)  # type: ignore[arg-type]
    assert (ledger.seq, ledger.head, ledger.balances()) == before
    ledger.commit()
    assert _dir_bytes(ledger_dir) == before_files


def test_period_open_starts_a_segment_and_close_signs(
    make_ledger: Callable[..., Ledger], ledger_dir: Path
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    assert [p.name for p in list_segments(ledger_dir)] == ["0000000000000001.seg"]
    opened = ledger.append(Kind.PERIOD_OPEN, data={"period": "2026-11"})
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5)
    assert ledger.segment == f"{opened.seq:016d}.seg"
    ledger.commit()
    assert [p.name for p in list_segments(ledger_dir)] == [
        "0000000000000001.seg",
        "0000000000000002.seg",
    ]
    assert ledger.checkpoint_size == 0
    ledger.append(Kind.PERIOD_CLOSE, data={"consumed": 0})
    ledger.commit()
    assert ledger.checkpoint_size == ledger.seq
    # Both periods' segment boundaries come out of one batch too.
    ledger.append(Kind.PERIOD_OPEN)
    ledger.append(Kind.PERIOD_CLOSE)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.commit()
    assert len(list_segments(ledger_dir)) == 4
    assert verify_ledger(ledger_dir).valid


def test_checkpoints_by_count_time_request_and_close(
    make_ledger: Callable[..., Ledger], clock: FakeClock
) -> None:
    ledger = make_ledger(checkpoint_every=5, checkpoint_interval_ms=60_000)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.commit()
    assert ledger.checkpoint_size == 0  # 2 entries, under both limits
    assert ledger.last_checkpoint_ms is None
    assert ledger.latest_note is None
    for _ in range(3):
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.commit()
    assert ledger.checkpoint_size == ledger.seq  # count reached
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.commit()
    assert ledger.checkpoint_size == ledger.seq - 1
    clock.advance(60_000)
    assert ledger.commit() == ledger.seq  # nothing pending, but the interval passed
    assert ledger.checkpoint_size == ledger.seq
    assert ledger.last_checkpoint_ms == clock.now
    assert ledger.latest_note == signed_checkpoints(ledger.directory)[-1].note
    ledger.commit()
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.request_checkpoint()
    ledger.commit()
    assert ledger.checkpoint_size == ledger.seq
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.close()
    assert ledger.checkpoint_size == ledger.seq
    ledger.close()  # closing twice is harmless
    with pytest.raises(LedgerError, match="closed"):
        ledger.append(Kind.PERIOD_OPEN)


def test_reopen_restores_state_and_continues(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    ledger = make_ledger(checkpoint_every=7)
    fill_small_ledger(ledger)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=3)
    expected = (ledger.seq, ledger.head, ledger.balances(), ledger.segment)
    ledger.commit()  # not closed: the tail after the last checkpoint is replayed
    assert ledger.checkpoint_size < ledger.seq
    reopened = Ledger.open(ledger_dir, key, clock=clock)
    assert (reopened.seq, reopened.head, reopened.balances(), reopened.segment) == expected
    assert reopened.last_checkpoint_ms == ledger.last_checkpoint_ms
    assert reopened.latest_note == ledger.latest_note is not None
    assert reopened.torn_tail is None
    reopened.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    reopened.close()
    result = verify_ledger(ledger_dir)
    assert result.valid, result.reason
    assert result.entries == expected[0] + 1


def test_clock_behind_after_reopen_keeps_timestamps_ordered(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    ledger = make_ledger()
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.close()
    last = ledger.iter_entries()
    last_ts = max(entry.ts_ms for entry in last)
    behind = FakeClock(clock.now - 3_600_000)  # e.g. an NTP correction after a restart
    reopened = Ledger.open(ledger_dir, key, clock=behind)
    entry = reopened.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    assert entry.ts_ms == last_ts
    reopened.close()
    assert verify_ledger(ledger_dir).valid


def test_open_without_any_checkpoint(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=9)
    ledger.commit()
    reopened = Ledger.open(ledger_dir, key)
    assert reopened.checkpoint_size == 0
    assert reopened.balances() == {"provider": -9, "pool": 9}


def test_fast_open_does_not_replay_history(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=4)
    fill_small_ledger(ledger)
    ledger.close()
    # Damage the first period's segment, which the last checkpoint vouches for: opening reads
    # only what follows the checkpoint, so it succeeds; full verification catches it.
    first_period = list_segments(ledger_dir)[1]
    data = bytearray(first_period.read_bytes())
    data[MAGIC_SIZE + FRAME.size + 20] ^= 0xFF
    first_period.write_bytes(bytes(data))
    reopened = Ledger.open(ledger_dir, key)
    assert reopened.seq == ledger.seq
    assert not verify_ledger(ledger_dir).valid


def test_torn_tail_is_truncated_and_reported(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.request_checkpoint()
    ledger.commit()
    durable = ledger.seq
    for _ in range(3):
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.commit()
    last = list_segments(ledger_dir)[-1]
    size = last.stat().st_size
    with last.open("r+b") as handle:  # a crash mid-write: the last record is cut short
        handle.truncate(size - 5)
    reopened = Ledger.open(ledger_dir, key)
    assert reopened.torn_tail is not None
    assert reopened.torn_tail.first_lost_seq == durable + 5  # 2 account entries + 3 purchases
    assert reopened.seq == durable + 4
    assert "torn" in reopened.torn_tail.reason
    assert verify_ledger(ledger_dir).valid
    # A tail of garbage (e.g. zeros from a lost page) is cut the same way.
    with last.open("ab") as handle:
        handle.write(bytes(100))
    again = Ledger.open(ledger_dir, key)
    assert again.torn_tail is not None
    assert again.torn_tail.dropped_bytes == 100
    assert verify_ledger(ledger_dir).valid


@pytest.mark.parametrize("leftover", [b"", b"ETL", SEGMENT_MAGIC, SEGMENT_MAGIC + b"\x40\x00"])
def test_new_segment_left_empty_by_a_crash_is_removed(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey, leftover: bytes
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.commit()
    # The next period's segment was created, but its first record never reached the disk.
    stray = ledger_dir / f"{ledger.seq + 1:016d}.seg"
    stray.write_bytes(leftover)
    reopened = Ledger.open(ledger_dir, key)
    assert not stray.exists()
    assert reopened.segment == f"{2:016d}.seg"
    reopened.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    reopened.append(Kind.PERIOD_OPEN)
    reopened.close()
    result = verify_ledger(ledger_dir)
    assert result.valid, result.reason
    assert [p.name for p in list_segments(ledger_dir)][-1] == f"{reopened.seq:016d}.seg"


def test_creation_interrupted_by_a_crash_starts_over(
    ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    half = ledger_dir.with_name(ledger_dir.name + ".creating")
    half.mkdir()
    (half / "0000000000000001.seg").write_bytes(b"ETL")
    ledger_dir.mkdir()  # an empty target is fine
    ledger = Ledger.open_or_create(ledger_dir, key, "h")
    assert not half.exists()
    ledger.close()
    assert verify_ledger(ledger_dir).valid


def test_torn_checkpoint_is_dropped(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=3)
    fill_small_ledger(ledger)
    ledger.close()
    checkpoints = ledger_dir / CHECKPOINTS_FILE
    size = checkpoints.stat().st_size
    with checkpoints.open("r+b") as handle:
        handle.truncate(size - 7)
    reopened = Ledger.open(ledger_dir, key)
    assert reopened.seq == ledger.seq
    assert reopened.checkpoint_size < ledger.seq
    reopened.close()
    assert verify_ledger(ledger_dir).valid
    # Even a checkpoints file cut inside its header recovers.
    with checkpoints.open("r+b") as handle:
        handle.truncate(3)
    third = Ledger.open(ledger_dir, key)
    assert third.checkpoint_size == 0
    third.close()
    assert verify_ledger(ledger_dir).valid


def test_corruption_under_a_checkpoint_is_refused(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    fill_small_ledger(ledger, periods=1)
    ledger.close()
    last = list_segments(ledger_dir)[-1]
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptLedgerError, match="shorter than its last signed checkpoint"):
        Ledger.open(ledger_dir, key)


def test_damage_in_an_earlier_segment_after_the_checkpoint_is_refused(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    ledger = make_ledger(checkpoint_every=10_000)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.append(Kind.PERIOD_OPEN)
    ledger.commit()
    middle = list_segments(ledger_dir)[1]
    data = bytearray(middle.read_bytes())
    data[-3] ^= 1
    middle.write_bytes(bytes(data))
    with pytest.raises(CorruptLedgerError, match="checksum"):
        Ledger.open(ledger_dir, key)
    data[-3] ^= 1
    middle.write_bytes(bytes(data))
    middle.rename(ledger_dir / "0000000000000003.seg")
    with pytest.raises(CorruptLedgerError):
        Ledger.open(ledger_dir, key)


def test_open_refuses_other_key_household_and_headerless_files(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    ledger = make_ledger(checkpoint_every=2)
    fill_small_ledger(ledger, periods=1)
    ledger.close()
    with pytest.raises(CorruptLedgerError, match="different signing key"):
        Ledger.open(ledger_dir, Ed25519PrivateKey.generate())
    with pytest.raises(CorruptLedgerError, match="another household"):
        Ledger.open_or_create(ledger_dir, key, "household-2")
    same = Ledger.open_or_create(ledger_dir, key, "household-1")
    assert same.seq == ledger.seq
    with pytest.raises(LedgerError, match="no ledger segments"):
        Ledger.open(tmp_path / "empty", key)
    created = Ledger.open_or_create(tmp_path / "fresh", key, "h2")
    assert created.seq == 1
    last = list_segments(ledger_dir)[-1]
    last.write_bytes(b"XXXXXXXX" + last.read_bytes()[MAGIC_SIZE:])
    with pytest.raises(CorruptLedgerError, match="no valid header"):
        Ledger.open(ledger_dir, key)


def test_reopened_before_its_first_checkpoint_signs_as_its_household(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    """Reopened after a crash with no checkpoint yet, the household is known only after replay."""
    import json

    from custom_components.energy_tokens.ledger.checkpoints import origin_for
    from custom_components.energy_tokens.ledger.framing import scan_frames

    make_ledger()  # the genesis is durable, nothing is signed yet; then a "crash": no close
    assert (ledger_dir / CHECKPOINTS_FILE).stat().st_size == MAGIC_SIZE
    reopened = Ledger.open(ledger_dir, key, clock=clock)
    assert reopened.origin == origin_for("household-1")
    reopened.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5)
    reopened.close()
    with (ledger_dir / CHECKPOINTS_FILE).open("rb") as handle:
        notes = [json.loads(bytes(item[1]))["note"] for item in scan_frames(handle, MAGIC_SIZE)]  # type: ignore[index]
    assert [note.split("\n", 1)[0] for note in notes] == ["energy-tokens/household-1"]
    assert "\n\n\u2014 energy-tokens/household-1 " in notes[0]
    assert verify_ledger(ledger_dir).valid


def _replace_last_checkpoint(directory: Path, payload: bytes) -> None:
    from custom_components.energy_tokens.ledger.framing import frame

    path = directory / CHECKPOINTS_FILE
    data = path.read_bytes()
    start = data.rfind(b'{"note"') - FRAME.size
    path.write_bytes(data[:start] + frame(payload))


def test_checkpoint_signed_by_another_key_is_refused(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, key: Ed25519PrivateKey
) -> None:
    from custom_components.energy_tokens.ledger.checkpoints import (
        encode_checkpoint_record,
        sign_checkpoint,
    )
    from custom_components.energy_tokens.ledger.merkle import CompactRange

    ledger = make_ledger(checkpoint_every=3)
    fill_small_ledger(ledger, periods=1)
    ledger.close()
    forged = sign_checkpoint(
        Ed25519PrivateKey.generate(),
        origin=ledger.origin,
        size=ledger.seq,
        head=ledger.head,
        tree=CompactRange(ledger.seq, [bytes(32)] * ledger.seq.bit_count()),
        ts_ms=0,
        snapshot={"accounts": ["x"], "balances": [0]},
        segment=ledger.segment,
        offset=0,
    )
    _replace_last_checkpoint(ledger_dir, encode_checkpoint_record(forged))
    with pytest.raises(CorruptLedgerError, match="checkpoint refused: no valid signature"):
        Ledger.open(ledger_dir, key)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"position ", b"position 0", "no valid signature"),  # a moved fast-open position
        (b'"balances":[', b'"balances":[1,', "snapshot does not match"),
        (b"time ", b"tim ", "no valid signature"),  # the signature is checked before parsing
        (b'{"note"', b'{"nope"', "malformed"),
    ],
)
def test_altered_checkpoint_is_refused(
    make_ledger: Callable[..., Ledger],
    ledger_dir: Path,
    key: Ed25519PrivateKey,
    old: bytes,
    new: bytes,
    message: str,
) -> None:
    ledger = make_ledger(checkpoint_every=3)
    fill_small_ledger(ledger, periods=1)
    ledger.close()
    data = (ledger_dir / CHECKPOINTS_FILE).read_bytes()
    record = data[data.rfind(b'{"note"') :]
    assert old in record
    _replace_last_checkpoint(ledger_dir, record.replace(old, new, 1))
    with pytest.raises(CorruptLedgerError, match=message):
        Ledger.open(ledger_dir, key)


def test_fsync_failure_is_fatal(
    make_ledger: Callable[..., Ledger], ledger_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = make_ledger()
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(LedgerFatalError, match="Input/output"):
        ledger.commit()
    monkeypatch.undo()
    # A retry must not pretend the data is safe: the ledger refuses everything from now on.
    with pytest.raises(LedgerFatalError):
        ledger.commit()
    with pytest.raises(LedgerFatalError):
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    assert ledger.durable_seq == 1
    ledger.close()  # releases files without writing


def test_iter_entries_since(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger(checkpoint_every=5)
    fill_small_ledger(ledger)
    everything = list(ledger.iter_entries())
    assert [e.seq for e in everything] == list(range(1, ledger.seq + 1))
    tail = list(ledger.iter_entries(since_seq=everything[-5].seq))
    assert tail == everything[-5:]
    debit = next(e for e in everything if e.kind is Kind.DEBIT)
    assert debit.as_dict()["cause"] == "metering"
    assert debit.data == {"meter": "sensor.dryer_energy", "wh": [0, 1250]}
    transfer = next(e for e in everything if e.kind is Kind.TRANSFER)
    assert str(transfer.cause) == "user:abc123"
    assert transfer.as_dict()["from"] == "device:dryer"


def test_meter_markers_record_baselines(
    make_ledger: Callable[..., Ledger], ledger_dir: Path
) -> None:
    ledger = make_ledger()
    marker = ledger.append(
        Kind.METER, data={"device": "device:a", "meter": "sensor.a_energy", "wh": 1_234_567}
    )
    assert (marker.from_account, marker.to_account, marker.amount) == (None, None, 0)
    ledger.close()
    assert verify_ledger(ledger_dir).valid
    assert next(e for e in ledger.iter_entries() if e.kind is Kind.METER).data["wh"] == 1_234_567
