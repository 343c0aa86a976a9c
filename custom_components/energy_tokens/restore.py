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

from .economy import Economy
from .ledger import Entry, Kind, Ledger, load_or_create_signing_key
from .ledger.layout import segment_first_seq
from .metering import MeterTracker
from .settings import DeviceSettings, HouseholdSettings

KEY_FILE = "signing.key"
LEDGER_FOLDER = "ledger"


@dataclass(slots=True)
class Baseline:
    """A meter's last reading recorded in the ledger."""

    meter: str
    wh: int
    ts_ms: int


def baselines(entries: Iterable[Entry]) -> dict[str, Baseline]:
    """Each device account's last recorded reading, from the running period's entries."""
    found: dict[str, Baseline] = {}
    for entry in entries:
        data = entry.data
        match entry.kind:
            case Kind.PERIOD_OPEN:
                for account, meter in data["meters"].items():
                    found[account] = Baseline(meter["meter"], meter["wh"], entry.ts_ms)
            # An accepted jump is charged after the fact: the meter had moved on from it already
            # (its baseline was recorded when it was held), so it is no reading position.
            case Kind.DEBIT if entry.from_account is not None and "spike" not in data:
                found[entry.from_account] = Baseline(data["meter"], data["wh"][1], entry.ts_ms)
            case Kind.METER if "wh" in data:
                read_ms = data.get("read_ms", entry.ts_ms)
                found[data["device"]] = Baseline(data["meter"], data["wh"], read_ms)
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
            device.tracker = MeterTracker(
                max_power_w=settings.max_power_w,
                committed_wh=baseline.wh,
                committed_ms=baseline.ts_ms,
            )
    economy.note_statuses()
    return economy
