"""Tamper matrix: every alteration of a small ledger is detected and reported at the right entry."""

from collections.abc import Callable
from pathlib import Path
import shutil
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Ledger, verify_ledger
from custom_components.energy_tokens.ledger.framing import (
    CHECKPOINT_MAGIC,
    MAGIC_SIZE,
    frame,
    scan_frames,
)
from custom_components.energy_tokens.ledger.keys import public_key_bytes
from custom_components.energy_tokens.ledger.layout import (
    CHECKPOINTS_FILE,
    list_segments,
    segment_first_seq,
)

from .conftest import FakeClock, fill_small_ledger

pytestmark = pytest.mark.slow  # every byte of a ledger flipped in turn: `-m "not slow"` skips it

AMOUNT_OFFSET = 18  # tag(1) kind(1) seq(8) ts(8)
TS_OFFSET = 10


@pytest.fixture
def small_ledger(make_ledger: Callable[..., Ledger], ledger_dir: Path) -> Ledger:
    ledger = make_ledger(checkpoint_every=9)
    fill_small_ledger(ledger, periods=2, debits=3)
    ledger.close()
    assert verify_ledger(ledger_dir).valid
    return ledger


def frames_of(path: Path) -> list[tuple[int, int, bytes]]:
    """(start, end, payload) of each frame in a segment or checkpoints file."""
    result = []
    start = MAGIC_SIZE
    with path.open("rb") as handle:
        for item in scan_frames(handle, MAGIC_SIZE):
            assert not hasattr(item, "reason")
            end, payload = item
            result.append((start, end, bytes(payload)))
            start = end
    return result


def expected_seq_by_byte(directory: Path) -> dict[tuple[str, int], int]:
    """For each byte of each file, the entry that a change there must be reported at."""
    expected: dict[tuple[str, int], int] = {}
    for path in list_segments(directory):
        first = segment_first_seq(path)
        for offset in range(MAGIC_SIZE):
            expected[path.name, offset] = first
        for index, (start, end, _) in enumerate(frames_of(path)):
            for offset in range(start, end):
                expected[path.name, offset] = first + index
    # A damaged checkpoint leaves the entries after the one before it unvouched for.
    checkpoints = directory / CHECKPOINTS_FILE
    for offset in range(MAGIC_SIZE):
        expected[CHECKPOINTS_FILE, offset] = 1
    previous_size = 0
    for start, end, payload in frames_of(checkpoints):
        for offset in range(start, end):
            expected[CHECKPOINTS_FILE, offset] = previous_size + 1
        previous_size = int(payload.split(b"\\n")[1])
    return expected


def test_every_flipped_byte_is_detected_at_its_entry(
    small_ledger: Ledger, ledger_dir: Path
) -> None:
    expected = expected_seq_by_byte(ledger_dir)
    originals = {name: (ledger_dir / name).read_bytes() for name, _ in expected}
    assert len(expected) == sum(len(data) for data in originals.values())
    misses = []
    for (name, offset), seq in expected.items():
        data = bytearray(originals[name])
        data[offset] ^= 0xFF
        (ledger_dir / name).write_bytes(bytes(data))
        result = verify_ledger(ledger_dir)
        if result.valid or result.first_bad_seq != seq:
            misses.append((name, offset, seq, result.first_bad_seq, result.reason))
        (ledger_dir / name).write_bytes(originals[name])
    assert misses == []
    assert verify_ledger(ledger_dir).valid


def _rewrite_segment(path: Path, payloads: list[bytes]) -> None:
    path.write_bytes(path.read_bytes()[:MAGIC_SIZE] + b"".join(frame(p) for p in payloads))


def _middle_segment(directory: Path) -> tuple[Path, list[bytes], int]:
    path = list_segments(directory)[1]
    return path, [payload for _, _, payload in frames_of(path)], segment_first_seq(path)


def test_deleted_entry(small_ledger: Ledger, ledger_dir: Path) -> None:
    path, payloads, first = _middle_segment(ledger_dir)
    del payloads[3]
    _rewrite_segment(path, payloads)
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, first + 3)
    assert f"expected entry {first + 3}, found entry {first + 4}" in str(result.reason)


def test_inserted_entry(small_ledger: Ledger, ledger_dir: Path) -> None:
    path, payloads, first = _middle_segment(ledger_dir)
    payloads.insert(4, payloads[1])
    _rewrite_segment(path, payloads)
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, first + 4)


def test_swapped_entries(small_ledger: Ledger, ledger_dir: Path) -> None:
    path, payloads, first = _middle_segment(ledger_dir)
    payloads[2], payloads[3] = payloads[3], payloads[2]
    _rewrite_segment(path, payloads)
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, first + 2)


def test_duplicated_entry(small_ledger: Ledger, ledger_dir: Path) -> None:
    path, payloads, first = _middle_segment(ledger_dir)
    payloads.insert(3, payloads[2])
    _rewrite_segment(path, payloads)
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, first + 3)


def test_edited_amount_with_recomputed_checksum(small_ledger: Ledger, ledger_dir: Path) -> None:
    """Every link is checked: an edit with a valid CRC is found at the edited entry."""
    path, payloads, first = _middle_segment(ledger_dir)
    for index, payload in enumerate(payloads):
        kind = payload[1]
        if kind < 2 or kind > 10:
            continue  # markers carry no amount
        edited = bytearray(payload)
        amount = struct.unpack_from("<Q", edited, AMOUNT_OFFSET)[0]
        struct.pack_into("<Q", edited, AMOUNT_OFFSET, amount + 1)
        original = path.read_bytes()
        _rewrite_segment(path, [*payloads[:index], bytes(edited), *payloads[index + 1 :]])
        result = verify_ledger(ledger_dir)
        assert (result.valid, result.first_bad_seq) == (False, first + index), result.reason
        path.write_bytes(original)


def test_edited_last_entry_is_caught_by_the_checkpoint(
    small_ledger: Ledger, ledger_dir: Path
) -> None:
    path = list_segments(ledger_dir)[-1]
    payloads = [payload for _, _, payload in frames_of(path)]
    edited = bytearray(payloads[-1])
    struct.pack_into("<q", edited, TS_OFFSET, struct.unpack_from("<q", edited, TS_OFFSET)[0] + 1)
    _rewrite_segment(path, [*payloads[:-1], bytes(edited)])
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, small_ledger.seq)
    assert "does not match the signed checkpoint" in str(result.reason)


def test_truncated_below_the_last_checkpoint(small_ledger: Ledger, ledger_dir: Path) -> None:
    path = list_segments(ledger_dir)[-1]
    frames = frames_of(path)
    path.write_bytes(path.read_bytes()[: frames[-3][0]])
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, small_ledger.seq - 2)
    assert "truncated" in str(result.reason)
    # A whole segment removed is found too.
    path.unlink()
    result = verify_ledger(ledger_dir)
    assert result.first_bad_seq == segment_first_seq(path)


def test_removed_or_renamed_segment(small_ledger: Ledger, ledger_dir: Path) -> None:
    middle = list_segments(ledger_dir)[1]
    middle.rename(ledger_dir / "0000000000000999.seg")
    result = verify_ledger(ledger_dir)
    assert (result.valid, result.first_bad_seq) == (False, segment_first_seq(middle))


def test_checkpoint_resigned_with_another_key(small_ledger: Ledger, ledger_dir: Path) -> None:
    from custom_components.energy_tokens.ledger.checkpoints import (
        decode_checkpoint_record,
        encode_checkpoint_record,
        sign_checkpoint,
    )

    path = ledger_dir / CHECKPOINTS_FILE
    frames = frames_of(path)
    public = small_ledger.public_key
    original = decode_checkpoint_record(frames[1][2], public)
    assert original.tree is not None
    forged = sign_checkpoint(
        Ed25519PrivateKey.generate(),
        origin=original.origin,
        size=original.size,
        head=original.head,
        tree=original.tree,
        ts_ms=original.ts_ms,
        snapshot=original.snapshot,
        segment=original.segment,
        offset=original.offset,
    )
    records = [payload for _, _, payload in frames]
    records[1] = encode_checkpoint_record(forged)
    path.write_bytes(CHECKPOINT_MAGIC + b"".join(frame(r) for r in records))
    result = verify_ledger(ledger_dir)
    previous = decode_checkpoint_record(frames[0][2], public).size
    assert (result.valid, result.first_bad_seq) == (False, previous + 1)
    assert "no valid signature" in str(result.reason)


def test_ledger_rewritten_whole_with_another_key(
    small_ledger: Ledger, ledger_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    """A forger who rebuilds everything with their own key is caught by a pinned key only."""
    forged_dir = tmp_path / "forged"
    forger = Ledger.create(
        forged_dir, Ed25519PrivateKey.generate(), "household-1", clock=FakeClock()
    )
    fill_small_ledger(forger, periods=2, debits=3)
    forger.close()
    assert verify_ledger(forged_dir).valid
    result = verify_ledger(forged_dir, public_key_bytes(key.public_key()))
    assert (result.valid, result.first_bad_seq) == (False, 1)
    assert verify_ledger(ledger_dir, public_key_bytes(key.public_key())).valid


def test_empty_or_foreign_directory(tmp_path: Path, small_ledger: Ledger, ledger_dir: Path) -> None:
    result = verify_ledger(tmp_path / "nothing")
    assert (result.valid, result.first_bad_seq) == (False, 1)
    copy = tmp_path / "copy"
    shutil.copytree(ledger_dir, copy)
    first = list_segments(copy)[0]
    first.write_bytes(first.read_bytes()[:MAGIC_SIZE])
    result = verify_ledger(copy)
    assert (result.valid, result.first_bad_seq) == (False, 1)
    assert "no entry" in str(result.reason)
    (copy / CHECKPOINTS_FILE).write_bytes(b"garbage!")
    first.write_bytes((ledger_dir / first.name).read_bytes())
    result = verify_ledger(copy)
    assert (result.valid, result.first_bad_seq) == (False, 1)
