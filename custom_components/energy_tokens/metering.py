"""Metering: an energy meter's readings turned into debitable consumption, safe from its pitfalls.

Pure: readings arrive in Wh (the runtime converts a sensor's state with Home Assistant's
EnergyConverter). ``MeterTracker`` holds one meter's consumption that the ledger has not yet
recorded, as reading ranges in whole Wh:

- unavailable, unknown, non-numeric, NaN, infinite and negative readings change nothing; after a
  gap, consumption is caught up from the last good reading (cumulative meters make this exact);
- a drop of more than 10% is a meter reset: what was consumed before it is kept, counting goes
  on from the new value, and nothing is ever debited negative or twice;
- smaller dips are noise and are ignored;
- a rise faster than the power ceiling over the time since the last reading is held back for
  the user to accept or discard, never silently debited;
- readings are converted to Wh, so a unit change (kWh to MWh) changes nothing.

Only whole Wh are handed out; the fraction stays pending, so nothing drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import math

RESET_RATIO = 0.9  # a reading under 90% of the last one is a meter reset
MS_PER_HOUR = 3_600_000
MIN_ELAPSED_MS = 1_000  # readings closer than this are judged over one second


def _whole(value_wh: float) -> int:
    """Whole Wh of a reading, after rounding away unit-conversion noise.

    0.5021 MWh is 502099.99999999994 Wh as a float, and must count as 502100.
    """
    return math.floor(round(value_wh, 6))


class Outcome(enum.StrEnum):
    """What a reading did to the tracker."""

    BASELINE = "baseline"  # the first reading: counting starts here
    CONSUMED = "consumed"
    UNCHANGED = "unchanged"
    INVALID = "invalid"  # no usable reading: nothing changes
    NOISE = "noise"  # a small dip: ignored
    RESET = "reset"  # the meter restarted from a lower value
    SPIKE_HELD = "spike_held"  # an implausible rise: held for the user


@dataclass(frozen=True, slots=True)
class HeldSpike:
    """A rise faster than the power ceiling, kept out of the balance until the user decides."""

    from_wh: int
    to_wh: int
    at_ms: int
    power_w: float

    @property
    def wh(self) -> int:
        """The energy the spike claims."""
        return self.to_wh - self.from_wh


type TrackerState = tuple[
    int | None, float | None, int | None, list[tuple[int, int]], int, HeldSpike | None
]


class MeterTracker:
    """One meter's readings since the last reading the ledger has recorded."""

    def __init__(
        self,
        *,
        max_power_w: float,
        committed_wh: int | None = None,
        committed_ms: int | None = None,
    ) -> None:
        """Resume from the ledger's last recorded reading (None: wait for a first reading)."""
        self.max_power_w = max_power_w
        self._open_from = committed_wh  # start of the range not yet recorded
        self._last = None if committed_wh is None else float(committed_wh)
        self._last_ms = committed_ms
        self._closed: list[tuple[int, int]] = []  # ranges ended by a reset or a spike
        self._closed_wh = 0
        self.spike: HeldSpike | None = None  # the latest rise held back, for the caller to report

    @property
    def baseline_wh(self) -> int | None:
        """Where counting currently goes on from (what a meter marker records)."""
        return self._open_from

    @property
    def last_reading_wh(self) -> float | None:
        """The last good reading."""
        return self._last

    @property
    def pending_wh(self) -> int:
        """Whole Wh consumed but not yet taken for a debit."""
        pending = self._closed_wh
        if self._last is not None and self._open_from is not None:
            pending += max(_whole(self._last) - self._open_from, 0)
        return pending

    def state(self) -> TrackerState:
        """Everything the tracker holds, to put back if what it was used for is undone."""
        return (
            self._open_from,
            self._last,
            self._last_ms,
            list(self._closed),
            self._closed_wh,
            self.spike,
        )

    def set_state(self, state: TrackerState) -> None:
        """Put back what ``state`` returned."""
        (
            self._open_from,
            self._last,
            self._last_ms,
            closed,
            self._closed_wh,
            self.spike,
        ) = state
        self._closed = list(closed)

    def observe(self, value_wh: float | None, at_ms: int) -> Outcome:
        """Take one reading (None: no usable reading)."""
        if value_wh is None or not math.isfinite(value_wh) or value_wh < 0:
            return Outcome.INVALID
        last, last_ms = self._last, self._last_ms
        if last is None or self._open_from is None or last_ms is None:
            self._restart_from(value_wh, at_ms)
            return Outcome.BASELINE
        if value_wh < last:
            if value_wh < last * RESET_RATIO:
                self._close_open_range()
                self._restart_from(value_wh, at_ms)
                return Outcome.RESET
            return Outcome.NOISE
        if value_wh == last:
            self._last_ms = at_ms
            return Outcome.UNCHANGED
        elapsed_ms = max(at_ms - last_ms, MIN_ELAPSED_MS)
        power_w = (value_wh - last) * MS_PER_HOUR / elapsed_ms
        if power_w > self.max_power_w:
            self._close_open_range()
            self.spike = HeldSpike(_whole(last), _whole(value_wh), at_ms, power_w)
            self._restart_from(value_wh, at_ms)
            return Outcome.SPIKE_HELD
        self._last = value_wh
        self._last_ms = at_ms
        return Outcome.CONSUMED

    def take_ranges(self) -> list[tuple[int, int]]:
        """Hand out the pending ranges for debits; they count as recorded from now on."""
        ranges = self._ranges()
        self._closed.clear()
        self._closed_wh = 0
        if self._last is not None:
            self._open_from = _whole(self._last)
        return ranges

    def _ranges(self) -> list[tuple[int, int]]:
        ranges = list(self._closed)
        if self._last is not None and self._open_from is not None:
            end = _whole(self._last)
            if end > self._open_from:
                ranges.append((self._open_from, end))
        return ranges

    def _close_open_range(self) -> None:
        if self._last is not None and self._open_from is not None:
            end = _whole(self._last)
            if end > self._open_from:
                self._closed.append((self._open_from, end))
                self._closed_wh += end - self._open_from

    def _restart_from(self, value_wh: float, at_ms: int) -> None:
        self._open_from = _whole(value_wh)
        self._last = value_wh
        self._last_ms = at_ms
