"""Units: entries that stand or fall together, in memory and on disk."""

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Kind, Ledger, LedgerError, verify_ledger
from custom_components.energy_tokens.ledger.entries import unit_entries
from custom_components.energy_tokens.ledger.framing import BadFrame
from custom_components.energy_tokens.ledger.layout import CHECKPOINTS_FILE, list_segments

from .conftest import FakeClock


def _state(ledger: Ledger) -> tuple[object, ...]:
    return ledger.seq, ledger.head, ledger.balances(), ledger.segment, ledger.recent_entries()


def test_an_abandoned_unit_leaves_nothing(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5_000)
    before = _state(ledger)

    def fails_halfway() -> None:
        with ledger.unit():
            ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:new", amount=1)
            ledger.append(Kind.PERIOD_CLOSE)
            ledger.append(Kind.PERIOD_OPEN)  # a new segment
            raise RuntimeError("the operation failed halfway")

    with pytest.raises(RuntimeError):
        fails_halfway()
    assert _state(ledger) == before
    assert not ledger.has_account("device:new")
    ledger.commit()
    assert ledger.durable_seq == before[0]
    assert verify_ledger(ledger.directory).valid
    ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:new", amount=1_000)
    ledger.commit()
    assert verify_ledger(ledger.directory).valid


def test_a_commit_never_writes_half_a_unit(
    ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    ledger = Ledger.create(ledger_dir, key, "household-1", clock=clock, checkpoint_every=1)
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5_000)
    durable_before_unit = ledger.seq
    checkpoints_before = ledger.checkpoint_size
    ledger.begin_unit()
    ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:a", amount=1_000)
    assert ledger.commit() == durable_before_unit  # what came before the unit only
    assert ledger.checkpoint_size == checkpoints_before  # nothing is signed mid-unit
    ledger.append(Kind.PERIOD_CLOSE)
    ledger.append(Kind.PERIOD_OPEN)
    assert ledger.commit() == durable_before_unit
    # A crash now: the unit was never written, and what is on disk verifies.
    on_disk = verify_ledger(ledger_dir)
    assert (on_disk.valid, on_disk.entries) == (True, durable_before_unit)
    ledger.end_unit()
    assert ledger.commit() == ledger.seq  # the whole unit at once
    assert ledger.checkpoint_size == ledger.seq
    reopened = Ledger.open(ledger_dir, key, clock=clock)
    assert (reopened.seq, reopened.head) == (ledger.seq, ledger.head)
    assert verify_ledger(ledger_dir).checkpoints_verified >= 2


def test_a_unit_abandoned_after_a_commit_took_what_came_before(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger()
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=5_000)
    ledger.begin_unit()
    ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:a", amount=1_000)
    durable = ledger.commit()
    ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:a", amount=1_000)
    ledger.abort_unit()
    assert ledger.seq == durable
    assert ledger.commit() == durable
    assert verify_ledger(ledger.directory).entries == durable


def test_units_do_not_nest(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    with ledger.unit(), pytest.raises(LedgerError):
        ledger.begin_unit()
    ledger.abort_unit()  # no unit open: nothing to take back
    assert verify_ledger(ledger.directory).valid


def test_an_abandoned_long_unit_leaves_the_latest_entries_as_they_were(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger()
    for _ in range(40):
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.commit()
    latest = ledger.recent_entries()
    assert len(latest) == 32
    ledger.begin_unit()
    for _ in range(40):  # more than the latest entries kept in memory
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1)
    ledger.abort_unit()
    assert ledger.recent_entries() == latest


def _records(path: Path) -> list[bytes]:
    from custom_components.energy_tokens.ledger.framing import MAGIC_SIZE, scan_frames

    with path.open("rb") as handle:
        return [
            bytes(item[1])
            for item in scan_frames(handle, MAGIC_SIZE)
            if not isinstance(item, BadFrame)
        ]


def test_a_unit_is_one_record_and_a_torn_one_is_lost_whole(
    ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> None:
    ledger = Ledger.create(ledger_dir, key, "household-1", clock=clock)
    with ledger.unit():
        for device in ("a", "b", "c"):
            ledger.append(
                Kind.PURCHASE, from_account="provider", to_account=f"device:{device}", amount=7
            )
    ledger.close()
    [segment] = list_segments(ledger_dir)
    records = _records(segment)
    entries_per_record = [len(list(unit_entries(record))) for record in records]
    assert entries_per_record[-1] == 7  # four accounts opened and three purchases, together
    assert verify_ledger(ledger_dir).entries == 8
    # A crash in the middle of writing that record: any cut inside it loses all of the unit.
    whole = segment.read_bytes()
    start = len(whole) - len(records[-1]) - 8
    for cut in (start + 1, start + 8, start + 8 + len(records[-1]) // 2, len(whole) - 1):
        segment.write_bytes(whole[:cut])
        (ledger_dir / CHECKPOINTS_FILE).write_bytes(
            (ledger_dir / CHECKPOINTS_FILE).read_bytes()[:8]
        )
        reopened = Ledger.open(ledger_dir, key, clock=clock)
        assert reopened.seq == 1  # the genesis alone
        assert reopened.torn_tail is not None
        assert reopened.balances() == {}
        reopened.close()
        assert verify_ledger(ledger_dir).valid


def test_a_unit_over_the_record_limit_is_refused_and_taken_back(
    make_ledger: Callable[..., Ledger],
) -> None:
    from custom_components.energy_tokens.ledger.errors import InvalidEntryError

    ledger = make_ledger()
    before = _state(ledger)
    note = {"note": "x" * 60_000}

    def too_large() -> None:
        with ledger.unit():
            for _ in range(20):  # about 1.2 MB of entries in one record
                ledger.append(Kind.TRANSFER, from_account="a", to_account="b", amount=1, data=note)

    with pytest.raises(InvalidEntryError):
        too_large()
    assert _state(ledger) == before
    ledger.commit()
    assert verify_ledger(ledger.directory).valid
