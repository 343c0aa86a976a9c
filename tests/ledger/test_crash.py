"""Crash safety: a writer killed with SIGKILL at random moments loses nothing it called durable."""

from pathlib import Path
import random
import signal
import subprocess
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import (
    Kind,
    Ledger,
    iter_entries,
    load_or_create_signing_key,
    verify_ledger,
)

pytestmark = pytest.mark.slow  # 50 killed writers: `-m "not slow"` leaves it out

TRIALS = 50


def _run_and_kill(directory: Path, key_file: Path, seed: int, delay: float) -> int:
    """Start the child, kill it after ``delay`` seconds; return the last durable seq it printed."""
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("crash_child.py")),
            str(directory),
            str(key_file),
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()
    durable = [int(line) for line in out.decode().splitlines() if line.strip().isdigit()]
    return max(durable, default=0)


def _assert_units_whole(directory: Path, trial: int) -> None:
    """Every unit the children wrote is whole, but a period boundary's: its part in the new
    period's segment may be lost (the integration then completes the period's opening)."""
    found: dict[str, list[Kind]] = {}
    size: dict[str, int] = {}
    for entry in iter_entries(directory):
        if "unit" in entry.data:
            found.setdefault(entry.data["unit"], []).append(entry.kind)
            size[entry.data["unit"]] = entry.data["of"]
    for unit, kinds in found.items():
        debits = kinds.count(Kind.DEBIT)
        whole = debits == size[unit] and (Kind.PERIOD_CLOSE in kinds) == (Kind.PERIOD_OPEN in kinds)
        cut_at_boundary = kinds[-1] is Kind.PERIOD_CLOSE and debits == size[unit] // 2
        assert whole or cut_at_boundary, f"trial {trial}: unit {unit} is partial: {kinds}"


def test_sigkill_at_random_moments_keeps_every_durable_entry(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    key_file = tmp_path / "signing.key"
    key: Ed25519PrivateKey = load_or_create_signing_key(key_file)
    written = 0
    for trial in range(TRIALS):
        # A fresh ledger every few trials keeps verification cheap; within a run of trials
        # each child reopens what the killed one left, torn tail included.
        directory = tmp_path / f"ledger-{trial // 10}"
        reported = _run_and_kill(directory, key_file, trial, rng.uniform(0.02, 0.2))
        if not directory.exists():
            continue  # killed before the ledger was created
        ledger = Ledger.open(directory, key)
        assert ledger.seq >= reported, f"trial {trial}: lost entries the child called durable"
        ledger.close()
        result = verify_ledger(directory)
        assert result.valid, f"trial {trial}: {result.first_bad_seq} {result.reason}"
        _assert_units_whole(directory, trial)
        written += result.entries
    assert written > 10_000  # the children really wrote between kills
