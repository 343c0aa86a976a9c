"""What the ledger says each device's meters measured, period by period.

Pure: a fold over a household's entries, for reconciling with Home Assistant's statistics
(reconcile.py) and for a device's own history (its consumption in past periods). Per device
account and meter: the Wh charged (debits and readings too small to debit, accepted jumps
included), and what explains a difference from the statistics - jumps held, accepted or
discarded, glitches the meter came back from, resets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .ledger import CauseKind, Entry, Kind


@dataclass(slots=True)
class Jump:
    """A jump of a meter held for the user, and what became of it."""

    from_wh: int
    to_wh: int
    status: str = "held"  # held, accepted, discarded, or glitch (the meter came back from it)

    @property
    def wh(self) -> int:
        """The energy the jump claims."""
        return self.to_wh - self.from_wh


@dataclass(slots=True)
class MeterRecord:
    """One meter of one device in one period."""

    wh: int = 0  # charged
    jumps: list[Jump] = field(default_factory=list)
    glitches: int = 0
    resets: int = 0


@dataclass(slots=True)
class PeriodRecord:
    """One period: its time, and what every device's meters measured in it."""

    key: str
    start_ms: int
    end_ms: int
    closed_ms: int | None = None  # when it was closed (at its end, or early)
    meters: dict[tuple[str, str], MeterRecord] = field(default_factory=dict)  # account, meter

    def consumed_wh(self, account: str) -> int:
        """What a device was charged for in the period, over all its meters."""
        return sum(record.wh for (owner, _), record in self.meters.items() if owner == account)

    def record(self, account: str, meter: str) -> MeterRecord:
        """The record of one meter of a device (made when first needed)."""
        return self.meters.setdefault((account, meter), MeterRecord())


def metered_periods(entries: Iterable[Entry]) -> list[PeriodRecord]:
    """Every period the entries open, oldest first, with what its meters measured."""
    periods: list[PeriodRecord] = []
    jumps: dict[tuple[str, str, int, int], Jump] = {}  # held, while the user decides
    for entry in entries:
        data = entry.data
        if entry.kind is Kind.PERIOD_OPEN:
            periods.append(PeriodRecord(data["period"], data["start_ms"], data["end_ms"]))
            continue
        if not periods:
            continue
        period = periods[-1]
        match entry.kind:
            case Kind.PERIOD_CLOSE:
                period.closed_ms = entry.ts_ms
            case Kind.DEBIT if entry.from_account is not None and "wh" in data:
                start, end = data["wh"]
                period.record(entry.from_account, data["meter"]).wh += end - start
                if "spike" in data:
                    key = (entry.from_account, data["meter"], start, end)
                    if (jump := jumps.pop(key, None)) is not None:
                        jump.status = "accepted"
            case Kind.METER:
                record = period.record(data["device"], data["meter"])
                if "range" in data:
                    start, end = data["range"]
                    record.wh += end - start
                if "held" in data:
                    jump = Jump(*data["held"])
                    jumps[(data["device"], data["meter"], jump.from_wh, jump.to_wh)] = jump
                    record.jumps.append(jump)
                if "discarded" in data:
                    key = (data["device"], data["meter"], *data["discarded"])
                    if (jump := jumps.pop(key, None)) is not None:
                        glitch = entry.cause.kind is CauseKind.METERING
                        jump.status = "glitch" if glitch else "discarded"
                if "glitch" in data:
                    record.glitches += 1
                if "reset" in data:
                    record.resets += 1
            case _:
                pass
    return periods
