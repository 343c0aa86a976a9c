"""Ledger benchmark: durable appends, verification, open time, size and verify memory.

Prints one ``metric: value unit`` line per metric. Needs the installed ledger package (the
project's environment has it; elsewhere ``pip install <this repository>``), not Home Assistant:

    scripts/bench ledger [--entries 1000000] [--keep DIR]
    scripts/bench ledger --entries 5000 --build-only DIR

Rates on shared machines are noisy, so each one is printed beside baselines measured in the same
run on the same entries: one fsync per entry; SQLite in WAL mode with synchronous=FULL and 1,000
rows per transaction (what a user might pick instead); bare SHA-256 chaining of the same bytes,
h = sha256(prev || bytes) (the floor under any hash chain). The ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import hashlib
import os
from pathlib import Path
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from energy_tokens_ledger import (
    Cause,
    CauseKind,
    Kind,
    Ledger,
    load_or_create_signing_key,
    verify_ledger,
)
from energy_tokens_ledger.framing import MAGIC_SIZE, BadFrame, scan_frames
from energy_tokens_ledger.layout import list_segments

METERING = Cause(CauseKind.METERING)
USER = Cause(CauseKind.USER, "9f2c1d7e4b8a4c6f9e0d1a2b3c4d5e6f")
DEVICES = [f"device:{name}" for name in ("dryer", "heater", "ev", "fridge", "dishwasher")]
ENTRIES_PER_PERIOD = 86_400  # 10 devices, a debit every 5 minutes, 30 days
TRIES = 3  # rates are the best of this many runs: the machines are shared and noisy
SQLITE_BATCH = 1000  # rows per SQLite transaction, as our group commit's batch


class Clock:
    """Epoch ms advancing 30 s per reading, like a household's debit stream."""

    def __init__(self) -> None:
        self.now = 1_795_000_000_000

    def __call__(self) -> int:
        self.now += 30_000
        return self.now


def workload(count: int, seed: int = 1) -> Iterator[tuple[Kind, dict[str, Any]]]:
    """A realistic mix: mostly metered debits, some transfers, a period every 86,400 entries."""
    rng = random.Random(seed)
    meters = dict.fromkeys(DEVICES, 1_000_000)
    for index in range(count):
        if index % ENTRIES_PER_PERIOD == 0:
            yield Kind.PERIOD_OPEN, {"data": {"period": index // ENTRIES_PER_PERIOD}}
            continue
        if index % ENTRIES_PER_PERIOD == ENTRIES_PER_PERIOD - 1:
            yield Kind.PERIOD_CLOSE, {"data": {"consumed": index}}
            continue
        device = rng.choice(DEVICES)
        if rng.random() < 0.02:
            yield (
                Kind.TRANSFER,
                {
                    "from_account": device,
                    "to_account": rng.choice([other for other in DEVICES if other != device]),
                    "amount": rng.randint(100, 3000),
                    "cause": USER,
                },
            )
            continue
        used = rng.randint(1, 400)
        start = meters[device]
        meters[device] = start + used
        yield (
            Kind.DEBIT,
            {
                "from_account": device,
                "to_account": "consumed",
                "amount": used,
                "cause": METERING,
                "data": {"meter": f"sensor.{device[7:]}_energy", "wh": [start, start + used]},
            },
        )


def build(directory: Path, count: int, batch: int) -> tuple[Ledger, float]:
    key = load_or_create_signing_key(directory.parent / f"{directory.name}.key")
    ledger = Ledger.create(directory, key, "bench", clock=Clock())
    ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=10**15)
    for device in DEVICES:
        ledger.append(Kind.ALLOCATE, from_account="pool", to_account=device, amount=10**13)
    ledger.commit()
    operations = list(workload(count))  # generated before timing: only the ledger is measured
    started = time.perf_counter()
    pending = 0
    for kind, options in operations:
        ledger.append(kind, **options)
        pending += 1
        if pending == batch:
            ledger.commit()
            pending = 0
    ledger.commit()
    elapsed = time.perf_counter() - started
    return ledger, elapsed


def bare_hash_rate(directory: Path) -> float:
    """Frames read and SHA-256 hashed, nothing else: the floor any verification stands on."""
    started = time.perf_counter()
    count = 0
    for path in list_segments(directory):
        with path.open("rb") as handle:
            for item in scan_frames(handle, MAGIC_SIZE):
                assert not isinstance(item, BadFrame)
                hashlib.sha256(item[1]).digest()
                count += 1
    return count / (time.perf_counter() - started)


def payloads_of(directory: Path) -> list[bytes]:
    """Every entry's encoded bytes, in order: what the baselines store and hash."""
    payloads = []
    for path in list_segments(directory):
        with path.open("rb") as handle:
            for item in scan_frames(handle, MAGIC_SIZE):
                assert not isinstance(item, BadFrame)
                payloads.append(bytes(item[1]))
    return payloads


def sha256_chain_rate(payloads: list[bytes]) -> float:
    """Bare chaining in memory, h = sha256(prev || bytes): no encoding, checks or files."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    head = bytes(32)
    for payload in payloads:
        head = sha256(head + payload).digest()
    return len(payloads) / (time.perf_counter() - started)


def sqlite_append_rate(path: Path, payloads: list[bytes]) -> float:
    """SQLite, WAL, synchronous=FULL: each entry's bytes and hash as a row, 1,000 per transaction.

    It is handed the bytes already encoded (only the hash is computed in the loop), which favours
    it: our appends include encoding and checking every entry against the chain's rules.
    """
    connection = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    try:
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(
            "CREATE TABLE entries"
            " (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, hash BLOB NOT NULL)"
        )
        sha256 = hashlib.sha256
        insert = "INSERT INTO entries VALUES (?, ?, ?)"
        started = time.perf_counter()
        for start in range(0, len(payloads), SQLITE_BATCH):
            rows = [
                (start + index + 1, payload, sha256(payload).digest())
                for index, payload in enumerate(payloads[start : start + SQLITE_BATCH])
            ]
            connection.execute("BEGIN")
            connection.executemany(insert, rows)
            connection.execute("COMMIT")
        return len(payloads) / (time.perf_counter() - started)
    finally:
        connection.close()


def sqlite_read_and_rehash_rate(path: Path) -> float:
    """SQLite's nearest thing to verifying: read every row in order and recheck its hash."""
    connection = sqlite3.connect(path)
    try:
        sha256 = hashlib.sha256
        started = time.perf_counter()
        count = 0
        for payload, digest in connection.execute("SELECT payload, hash FROM entries ORDER BY seq"):
            if sha256(payload).digest() != digest:
                raise AssertionError(f"row {count + 1} does not match its hash")
            count += 1
        return count / (time.perf_counter() - started)
    finally:
        connection.close()


def directory_bytes(directory: Path, pattern: str = "*") -> int:
    return sum(path.stat().st_size for path in directory.glob(pattern))


def emit(metric: str, value: float, unit: str) -> None:
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3f}"
    print(f"{metric}: {text} {unit}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="entries per group commit")
    parser.add_argument("--keep", type=Path, help="leave the large ledger in this folder")
    parser.add_argument(
        "--build-only", type=Path, metavar="DIR", help="only build a ledger of --entries in DIR"
    )
    args = parser.parse_args()
    if args.build_only is not None:
        built, _ = build(args.build_only, args.entries, args.batch)
        built.close()
        print(f"built: {args.build_only} ({built.seq} entries)")
        return
    work = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    try:
        run(work, args.entries, args.batch, args.keep)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, entries: int, batch: int, keep: Path | None) -> None:
    print(f"python: {sys.version.split()[0]} (rates: best of {TRIES} runs)")
    # 1. Durable appends: group commit against one fsync per entry, same run.
    single_count = 2000
    group_count = 200_000
    single = min(build(work / f"single{n}", single_count, 1)[1] for n in range(TRIES))
    grouped = min(build(work / f"grouped{n}", group_count, batch)[1] for n in range(TRIES))
    append_rate = group_count / grouped
    emit("durable_appends_per_entry_fsync", single_count / single, "entries/s")
    emit(f"durable_appends_group_commit_{batch}", append_rate, "entries/s")
    emit("group_commit_speedup", append_rate / (single_count / single), "x")

    # Baselines on the same entries: the bytes of one of the ledgers just built.
    appended = payloads_of(work / "grouped0")
    sqlite_rate = max(sqlite_append_rate(work / f"appends{n}.db", appended) for n in range(TRIES))
    chain_rate = max(sha256_chain_rate(appended) for _ in range(TRIES))
    del appended
    emit("sqlite_wal_full_appends_1000_per_transaction", sqlite_rate, "entries/s")
    emit("sha256_chain_floor_same_entries", chain_rate, "entries/s")
    emit("append_vs_sqlite_wal_full", append_rate / sqlite_rate, "x")
    emit("append_vs_sha256_chain_floor", append_rate / chain_rate, "x")

    # 2. A long ledger: build, then verify it fully.
    big = work / "big"
    ledger, build_s = build(big, entries, 10_000)
    ledger.close()
    total = ledger.seq
    emit("build_large_ledger", build_s, "s")
    emit("large_ledger_entries", total, "entries")
    verify_s = float("inf")
    for _ in range(TRIES):
        started = time.perf_counter()
        result = verify_ledger(big)
        verify_s = min(verify_s, time.perf_counter() - started)
        assert result.valid, result.reason
    verify_rate = total / verify_s
    emit("verified_entries_per_s", verify_rate, "entries/s")
    baseline = max(bare_hash_rate(big) for _ in range(TRIES))
    emit("bare_read_and_hash_per_s", baseline, "entries/s")
    emit("verify_cost_vs_bare_hash", baseline / verify_rate, "x")
    emit("checkpoints_verified", result.checkpoints_verified, "checkpoints")

    # Baselines on the same entries: the large ledger's bytes, chained in memory and in SQLite.
    verified = payloads_of(big)
    assert len(verified) == total
    chain_rate = max(sha256_chain_rate(verified) for _ in range(TRIES))
    sqlite_append_rate(work / "verify.db", verified)  # filled once, untimed here
    del verified
    sqlite_read = max(sqlite_read_and_rehash_rate(work / "verify.db") for _ in range(TRIES))
    emit("sqlite_read_and_rehash_per_s", sqlite_read, "entries/s")
    emit("sha256_chain_floor_per_s", chain_rate, "entries/s")
    emit("verify_vs_sqlite_read_and_rehash", verify_rate / sqlite_read, "x")
    emit("verify_vs_sha256_chain_floor", verify_rate / chain_rate, "x")

    # 3. Opening: after a clean close, and after a crash that left a full interval unsigned.
    key = load_or_create_signing_key(work / "big.key")
    started = time.perf_counter()
    reopened = Ledger.open(big, key)
    emit("open_after_close", time.perf_counter() - started, "s")
    for kind, options in workload(4095, seed=2):
        if kind in (Kind.PERIOD_OPEN, Kind.PERIOD_CLOSE):
            continue
        reopened.append(kind, **options)
    reopened.commit()  # no close: the tail is not covered by a checkpoint
    started = time.perf_counter()
    Ledger.open(big, key)
    emit("open_after_crash_4095_unsigned", time.perf_counter() - started, "s")

    # 4. Size on disk.
    emit("bytes_per_entry_segments", directory_bytes(big, "*.seg") / total, "bytes")
    emit("bytes_per_entry_all_files", directory_bytes(big) / total, "bytes")

    # 5. Verification memory: flat in the ledger's length (traced Python allocations).
    small = work / "small"
    small_ledger, _ = build(small, entries // 10, 10_000)
    small_ledger.close()
    peaks = []
    for directory in (small, big):
        tracemalloc.start()
        checked = verify_ledger(directory)
        assert checked.valid, f"{directory.name}: {checked.first_bad_seq} {checked.reason}"
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    emit(f"verify_peak_memory_{entries // 10}_entries", peaks[0] / 1024, "KiB")
    emit(f"verify_peak_memory_{entries}_entries", peaks[1] / 1024, "KiB")
    emit("verify_memory_growth_10x_entries", peaks[1] / peaks[0], "x")
    if keep is not None:
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(big, keep)
        print(f"kept: {keep}")
    os.sync()


if __name__ == "__main__":
    main()
