"""Power meters: a power sensor's readings (W) integrated into energy, as the helper does.

Pure. As Home Assistant's ``integration`` helper with its trapezoidal method and a maximum
sub-interval. The energy is a cumulative reading in Wh, handed to the same ``MeterTracker`` as
an energy sensor's, so a power meter has the same guarantees (the power ceiling included: a
bogus 1 GW reading becomes a jump held for the user). As the helper does:

- between two power readings the energy is the trapezoid: the mean of the two, times the time;
- a reading that is no power (unavailable, unknown, not a number) stops integrating: nothing is
  invented for a gap, and integrating starts again from the next reading;
- when the sensor reports nothing for ``max_sub_interval_ms``, its last power is taken as
  constant up to now (so a steady load is not frozen), and the next reading's trapezoid starts
  from then;
- after a restart, integrating goes on from the ledger's last position and the sensor's state
  as it is then, at its own time: the helper does the same after a reload, and after a Home
  Assistant restart, whose states are new, neither guesses the time it was down.

Negative power is no consumption: it is treated as no reading (the helper would subtract it),
as is a power above a terawatt.
"""

from __future__ import annotations

MS_PER_HOUR = 3_600_000
MAX_SUB_INTERVAL_MS = 5 * 60_000  # the helper's option, as this integration sets it
MAX_POWER_W = 1e12  # a terawatt is no household's power: above it a reading is garbage


class PowerIntegrator:
    """One power sensor's energy so far, in Wh, as a cumulative meter would count it."""

    def __init__(
        self, energy_wh: float = 0.0, max_sub_interval_ms: int = MAX_SUB_INTERVAL_MS
    ) -> None:
        """Go on from ``energy_wh`` (the ledger's last position), at the first reading."""
        self.energy_wh = energy_wh
        self.max_sub_interval_ms = max_sub_interval_ms
        self._last_w: float | None = None  # the last power reading; None: not integrating
        self._last_ms = 0  # when the energy was last brought up to date

    @property
    def integrating(self) -> bool:
        """Whether a power is known to integrate on from (what the sub-interval timer needs)."""
        return self._last_w is not None

    def observe(self, power_w: float | None, at_ms: int) -> float | None:
        """Take a power reading at ``at_ms``; the energy so far, or None for no reading."""
        if power_w is None or not 0 <= power_w <= MAX_POWER_W:  # NaN compares false too
            self._last_w = None
            return None
        if self._last_w is not None:
            self.energy_wh += (self._last_w + power_w) / 2 * (at_ms - self._last_ms) / MS_PER_HOUR
        self._last_w, self._last_ms = power_w, at_ms
        return self.energy_wh

    def elapse(self, fired_ms: int, now_ms: int) -> float | None:
        """The sub-interval timer fired (at ``fired_ms``) with no reading: the last power counts.

        As the helper: the energy is counted up to the time the timer was given, and the next
        trapezoid starts from the clock's time (the two differ by the timer's latency at most).
        """
        if self._last_w is None:
            return None
        self.energy_wh += self._last_w * (fired_ms - self._last_ms) / MS_PER_HOUR
        self._last_ms = now_ms
        return self.energy_wh
