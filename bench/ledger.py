"""Ledger benchmark: durable appends, verification, open time, size and verify memory.

Prints one ``metric: value unit`` line per metric. Needs the installed ledger package (the
project's environment has it; elsewhere ``pip install <this repository>``), not Home Assistant:

    scripts/bench ledger [--entries 1000000] [--keep DIR]
    scripts/bench ledger --entries 5000 --build-only DIR

Rates on shared machines are noisy, so each one is printed beside a baseline measured in the
same run (per-entry fsync for appends, bare SHA-256 over the same records for verification).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import hashlib
import os
from pathlib import Path
import random
import shutil
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
    emit("durable_appends_per_entry_fsync", single_count / single, "entries/s")
    emit(f"durable_appends_group_commit_{batch}", group_count / grouped, "entries/s")
    emit("group_commit_speedup", (group_count / grouped) / (single_count / single), "x")

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
    emit("verified_entries_per_s", total / verify_s, "entries/s")
    baseline = max(bare_hash_rate(big) for _ in range(TRIES))
    emit("bare_read_and_hash_per_s", baseline, "entries/s")
    emit("verify_cost_vs_bare_hash", baseline / (total / verify_s), "x")
    emit("checkpoints_verified", result.checkpoints_verified, "checkpoints")

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
