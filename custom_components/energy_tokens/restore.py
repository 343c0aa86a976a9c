"""Opening a household's ledger and folding it into the economy's state.

What a restart needs (the period, its consumption, cost and sales, who borrowed, each meter's
last recorded reading) is read back from the current period's entries, never from a second
store. Pure, and blocking (it reads files): the runtime runs it in the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from .economy import Economy
from .ledger import Entry, Kind, Ledger, load_or_create_signing_key
from .ledger.layout import segment_first_seq
from .metering import HeldSpike, MeterTracker
from .settings import DeviceSettings, HouseholdSettings

KEY_FILE = "signing.key"
LEDGER_FOLDER = "ledger"


@dataclass(slots=True)
class Baseline:
    """A meter's last reading recorded in the ledger, and what a tracker resumes with."""

    meter: str
    wh: int
    ts_ms: int
    cycle: tuple[str, float] | None = None  # a cycle meter's cycle, and its offset (Wh)
    jump: HeldSpike | None = None  # a jump held this period the meter has not come back from


def _baseline(data: dict[str, Any], wh: int, ts_ms: int, before: Baseline | None) -> Baseline:
    cycle = data.get("cycle")
    jump = before.jump if before is not None and before.meter == data["meter"] else None
    return Baseline(
        data["meter"], wh, ts_ms, None if cycle is None else (cycle[0], cycle[1] / 1000), jump
    )


def baselines(entries: Iterable[Entry]) -> dict[str, Baseline]:
    """Each device account's last recorded reading, from the running period's entries."""
    found: dict[str, Baseline] = {}
    for entry in entries:
        data = entry.data
        match entry.kind:
            case Kind.PERIOD_OPEN:
                for account, meter in data["meters"].items():
                    found[account] = _baseline(meter, meter["wh"], entry.ts_ms, found.get(account))
            # An accepted jump is charged after the fact: the meter had moved on from it already
            # (its baseline was recorded when it was held), so it is no reading position.
            case Kind.DEBIT if entry.from_account is not None and "spike" not in data:
                account = entry.from_account
                found[account] = _baseline(data, data["wh"][1], entry.ts_ms, found.get(account))
            case Kind.METER if "wh" in data:
                account = data["device"]
                read_ms = data.get("read_ms", entry.ts_ms)
                baseline = found[account] = _baseline(data, data["wh"], read_ms, found.get(account))
                if "held" in data:
                    start, end = data["held"]
                    baseline.jump = HeldSpike(start, end, read_ms, data["held_w"])
                elif "reset" in data or "glitch" in data:
                    baseline.jump = None  # the meter moved on from any jump
            case _:
                pass
    return found


def open_economy(
    directory: Path,
    settings: HouseholdSettings,
    devices: Iterable[DeviceSettings],
    *,
    household_id: str,
    name: str,
    clock: Callable[[], int],
    zone: tzinfo,
) -> Economy:
    """Open (or create) the ledger in ``directory`` and fold the running period into books.

    The signing key lives beside the ledger folder, never inside it. Raises the ledger's errors.
    """
    key = load_or_create_signing_key(directory / KEY_FILE)
    ledger = Ledger.open_or_create(directory / LEDGER_FOLDER, key, household_id)
    first = segment_first_seq(ledger.directory / ledger.segment)
    current = list(ledger.iter_entries(since_seq=first))
    ledger.remember(current)
    economy = Economy(ledger, settings, devices, name=name, clock=clock, zone=zone)
    for entry in current:
        economy.fold(entry)
    for account, baseline in baselines(current).items():
        device = economy.device_by_account(account)
        if device is not None and baseline.meter == device.settings.meter:
            cycle, offset_wh = baseline.cycle or (None, 0.0)
            device.tracker = MeterTracker(
                max_power_w=settings.max_power_w,
                committed_wh=baseline.wh,
                committed_ms=baseline.ts_ms,
                cycle=cycle,
                offset_wh=offset_wh,
                jump=baseline.jump,
            )
    economy.note_statuses()
    return economy
