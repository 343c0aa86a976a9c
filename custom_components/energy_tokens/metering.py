"""Metering: an energy meter's readings turned into debitable consumption, safe from its pitfalls.

Pure: readings arrive in Wh (the runtime converts a sensor's state with Home Assistant's
EnergyConverter). ``MeterTracker`` holds one meter's consumption that the ledger has not yet
recorded, as reading ranges in whole Wh. It counts what Home Assistant's long-term statistics
count (the Energy dashboard), except where noted:

- unavailable, unknown, non-numeric, NaN, infinite, negative and absurd (over a petawatt-hour)
  readings change nothing; after a
  gap, consumption is caught up from the last good reading (cumulative meters make this exact);
- a drop of more than 10% is an *anomaly* until the next reading that differs says what it was:
  a reading back in the old range makes it a glitch (nothing is charged for it, the consumption
  on either side is kept); a reading counting on from the low value makes it a meter reset, and
  everything the meter counted from zero is charged, as the statistics do;
- a rise faster than the power ceiling is an anomaly too: a return to what the meter could have
  reached from before the jump is a glitch; a meter that stays up holds the jump for the user to
  accept or discard, never silently debited, and a later return to the old range is still a
  glitch, so the real consumption around it is kept;
- smaller dips are noise and are ignored (the statistics subtract them, then add them back);
- a cycle meter (``state_class: total`` with a ``last_reset``) counts each new cycle from zero,
  as the statistics do, delta sensors included; the tracker adds the cycles up;
- readings are converted to Wh, so a unit change (kWh to MWh) changes nothing.

Only whole Wh are handed out; the fraction stays pending, so nothing drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import math
from typing import TypedDict

RESET_RATIO = 0.9  # a reading under 90% of the last one is a drop: a reset or a glitch
# No household meter reads a petawatt-hour: above it a reading is garbage, not a meter (and its
# arithmetic could overflow).
MAX_READING_WH = 1e15
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
    ANOMALY = "anomaly"  # a drop or an implausible rise: the next reading decides
    RESET = "reset"  # the meter restarted counting from zero
    GLITCH = "glitch"  # a drop or jump the meter came back from: nothing charged for it
    SPIKE_HELD = "spike_held"  # an implausible rise the meter stayed at: held for the user


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


class GlitchedSpike(TypedDict):
    """A held jump the meter came back from: its device and range."""

    subentry_id: str
    wh: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Anomaly:
    """A reading not yet believed: a drop (``value`` below the last) or a jump (above)."""

    value: float
    at_ms: int
    power_w: float = 0.0  # a jump's, from the last trusted reading


@dataclass(frozen=True, slots=True)
class _Before:
    """Where the meter was before a jump held for the user, to tell its return from a reset."""

    value: float
    at_ms: int
    spike: tuple[int, int]  # the held jump's range
    counted_wh: float = 0.0  # what the meter counted on from the jump since


type TrackerState = tuple[
    int | None,
    float | None,
    int | None,
    list[tuple[int, int]],
    int,
    str | None,
    float,
    _Anomaly | None,
    _Before | None,
    HeldSpike | None,
    tuple[int, int] | None,
    tuple[int, int] | None,
]


class MeterTracker:
    """One meter's readings since the last reading the ledger has recorded."""

    def __init__(
        self,
        *,
        max_power_w: float,
        committed_wh: int | None = None,
        committed_ms: int | None = None,
        cycle: str | None = None,
        offset_wh: float = 0.0,
        jump: HeldSpike | None = None,
    ) -> None:
        """Resume from the ledger's last recorded reading (None: wait for a first reading).

        A cycle meter resumes in its recorded cycle, whose readings count from ``offset_wh``;
        ``jump`` is a jump held this period that the meter has not come back from.
        """
        self.max_power_w = max_power_w
        self._open_from = committed_wh  # start of the range not yet recorded
        self._last = None if committed_wh is None else float(committed_wh)
        self._last_ms = committed_ms
        self._closed: list[tuple[int, int]] = []  # ranges ended by a reset or a spike
        self._closed_wh = 0
        self._cycle = cycle  # a cycle meter's last_reset
        self._offset = offset_wh  # where its cycle's readings count from
        self._anomaly: _Anomaly | None = None
        self._before: _Before | None = None
        if jump is not None and committed_wh is not None and committed_wh >= jump.to_wh:
            # Judged from the jump's time, the earliest the last trusted reading may have been.
            counted = float(committed_wh - jump.to_wh)
            spike = (jump.from_wh, jump.to_wh)
            self._before = _Before(float(jump.from_wh), jump.at_ms, spike, counted)
        self.spike: HeldSpike | None = None  # the latest jump held, for the caller to record
        self.glitch: tuple[int, int] | None = None  # the latest glitch: where from, where to
        self.reset: tuple[int, int] | None = None  # the latest reset: where from, where to

    @property
    def baseline_wh(self) -> int | None:
        """Where counting currently goes on from (what a meter marker records)."""
        return self._open_from

    @property
    def last_reading_wh(self) -> float | None:
        """The last trusted reading (a cycle meter's readings added up)."""
        return self._last

    @property
    def cycle(self) -> tuple[str, float] | None:
        """A cycle meter's cycle and the offset its readings count from (for the ledger)."""
        return None if self._cycle is None else (self._cycle, self._offset)

    @property
    def pending_wh(self) -> int:
        """Whole Wh consumed but not yet taken for a debit."""
        pending = self._closed_wh
        if self._last is not None and self._open_from is not None:
            pending += max(_whole(self._last) - self._open_from, 0)
        return pending

    @property
    def undecided_wh(self) -> int:
        """Whole Wh of a jump the next reading decides on (a glitch, or held for the user)."""
        anomaly, last = self._anomaly, self._last
        if anomaly is None or last is None or anomaly.value < last:
            return 0
        return _whole(anomaly.value) - _whole(last)

    def state(self) -> TrackerState:
        """Everything the tracker holds, to put back if what it was used for is undone."""
        return (
            self._open_from,
            self._last,
            self._last_ms,
            list(self._closed),
            self._closed_wh,
            self._cycle,
            self._offset,
            self._anomaly,
            self._before,
            self.spike,
            self.glitch,
            self.reset,
        )

    def set_state(self, state: TrackerState) -> None:
        """Put back what ``state`` returned."""
        (
            self._open_from,
            self._last,
            self._last_ms,
            closed,
            self._closed_wh,
            self._cycle,
            self._offset,
            self._anomaly,
            self._before,
            self.spike,
            self.glitch,
            self.reset,
        ) = state
        self._closed = list(closed)

    def observe(self, value_wh: float | None, at_ms: int, cycle: str | None = None) -> Outcome:
        """Take one reading (None: no usable reading); ``cycle`` is a cycle meter's last_reset."""
        if value_wh is None or not 0 <= value_wh <= MAX_READING_WH:  # NaN compares false too
            return Outcome.INVALID
        if self._last is None or self._open_from is None or self._last_ms is None:
            self._cycle, self._offset = cycle, 0.0
            self._restart_from(value_wh, at_ms)
            return Outcome.BASELINE
        # A new cycle counts from zero, on top of everything trusted before it.
        new_cycle = cycle is not None and cycle != self._cycle
        offset = self._last if new_cycle else self._offset
        if offset + value_wh > MAX_READING_WH:  # a cycle meter's sum, beyond any meter
            return Outcome.INVALID
        if new_cycle:
            self._cycle, self._offset = cycle, offset
            self._anomaly = self._before = None
        return self._judge(offset + value_wh, at_ms)

    def hold_undecided(self) -> bool:
        """The meter is left with a jump undecided: hold it for the user (True if one was)."""
        anomaly, last = self._anomaly, self._last
        self._anomaly = None
        if anomaly is None or last is None or anomaly.value < last:
            return False
        self._close_open_range()
        self._hold(last, anomaly, before=last)
        return True

    def _judge(self, value: float, at_ms: int) -> Outcome:
        last = self._last
        assert last is not None
        assert self._last_ms is not None
        anomaly = self._anomaly
        if anomaly is not None:
            if anomaly.value < last:
                return self._after_drop(anomaly, value, at_ms)
            return self._after_jump(anomaly, value, at_ms)
        if value < last:
            if value < last * RESET_RATIO:
                if self._returned(value, at_ms):
                    return Outcome.GLITCH
                self._anomaly = _Anomaly(value, at_ms)
                return Outcome.ANOMALY
            return Outcome.NOISE
        if value == last:
            self._last_ms = at_ms
            return Outcome.UNCHANGED
        power_w = self._power(last, self._last_ms, value, at_ms)
        if power_w > self.max_power_w:
            self._anomaly = _Anomaly(value, at_ms, power_w)
            return Outcome.ANOMALY
        self._consume(value, at_ms)
        return Outcome.CONSUMED

    def _after_drop(self, drop: _Anomaly, value: float, at_ms: int) -> Outcome:
        last = self._last
        assert last is not None
        if value >= last * RESET_RATIO:  # back in the old range: the drop was a glitch
            self._anomaly = None
            self.glitch = (_whole(last), _whole(drop.value))
            self._judge(value, at_ms)
            return Outcome.GLITCH
        if value <= drop.value or self._power(drop.value, drop.at_ms, value, at_ms) > (
            self.max_power_w
        ):  # still down, or a rise no meter counting on from the low value makes: undecided
            self._anomaly = _Anomaly(value, at_ms)
            return Outcome.ANOMALY
        self._anomaly = None
        if self._returned(value, at_ms):  # by way of a drop: back from a held jump
            return Outcome.GLITCH
        # Counting on from the low value: the meter reset, and counted from zero.
        self._before = None
        self.reset = (_whole(last), _whole(drop.value))
        self._close_open_range()
        zero, last_ms = self._offset, self._last_ms
        assert last_ms is not None
        power_w = self._power(zero, last_ms, drop.value, drop.at_ms)
        if power_w > self.max_power_w:
            # A "reset" to more than the meter could have counted since: held for the user.
            outcome = self._hold(zero, _Anomaly(drop.value, drop.at_ms, power_w), before=last)
            self._judge(value, at_ms)
            return outcome
        self._open_from = _whole(zero)
        self._last, self._last_ms = value, at_ms
        return Outcome.RESET

    def _after_jump(self, jump: _Anomaly, value: float, at_ms: int) -> Outcome:
        last, last_ms = self._last, self._last_ms
        assert last is not None
        assert last_ms is not None
        plausible = self._power(last, last_ms, value, at_ms) <= self.max_power_w
        if value >= last * RESET_RATIO and plausible:  # back from the jump: a glitch
            self._anomaly = None
            self.glitch = (_whole(last), _whole(jump.value))
            self._judge(value, at_ms)
            return Outcome.GLITCH
        # The meter stayed up: the jump is held for the user, counting goes on from it.
        self._anomaly = None
        self._close_open_range()
        outcome = self._hold(last, jump, before=last)
        self._judge(value, at_ms)
        return outcome

    def _hold(self, start: float, jump: _Anomaly, *, before: float) -> Outcome:
        """Hold a rise from ``start`` for the user; ``before`` is the last trusted reading."""
        assert self._last_ms is not None
        spike = HeldSpike(_whole(start), _whole(jump.value), jump.at_ms, jump.power_w)
        self._before = _Before(before, self._last_ms, (spike.from_wh, spike.to_wh))
        self.spike = spike
        self._restart_from(jump.value, jump.at_ms)
        return Outcome.SPIKE_HELD

    def _returned(self, value: float, at_ms: int) -> bool:
        """A drop back to where the meter could be from before a held jump: a glitch."""
        before = self._before
        if before is None:
            return False
        start = before.value + before.counted_wh
        if value < before.value * RESET_RATIO:
            return False
        if self._power(start, before.at_ms, value, at_ms) > self.max_power_w:
            return False
        self.glitch = before.spike
        self._before = None
        self._close_open_range()
        # What the meter counted from the jump is charged already: count on from past it.
        self._open_from = _whole(min(start, value))
        self._last, self._last_ms = value, at_ms
        return True

    def _consume(self, value: float, at_ms: int) -> None:
        if self._before is not None and self._last is not None:
            before = self._before
            counted = before.counted_wh + value - self._last
            self._before = _Before(before.value, before.at_ms, before.spike, counted)
        self._last, self._last_ms = value, at_ms

    def _power(self, start: float, start_ms: int, end: float, end_ms: int) -> float:
        """The power a rise from ``start`` to ``end`` implies, in W."""
        elapsed_ms = max(end_ms - start_ms, MIN_ELAPSED_MS)
        return (end - start) * MS_PER_HOUR / elapsed_ms

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
