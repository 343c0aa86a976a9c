"""Metering pitfalls: each one has a test here (product brief, "Metering pitfalls")."""

import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_tokens.metering import MeterTracker, Outcome

HOUR = 3_600_000
KW_20 = 20_000.0


def test_first_reading_is_a_baseline_not_a_debit() -> None:
    tracker = MeterTracker(max_power_w=KW_20)
    assert tracker.observe(5_000_000.0, 0) is Outcome.BASELINE  # a meter at 5 MWh
    assert tracker.pending_wh == 0
    assert tracker.baseline_wh == 5_000_000
    assert tracker.observe(5_000_400.0, HOUR) is Outcome.CONSUMED
    assert tracker.take_ranges() == [(5_000_000, 5_000_400)]
    assert tracker.take_ranges() == []


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, -5.0])
def test_invalid_readings_change_nothing_and_the_gap_is_caught_up(bad: float | None) -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=1000, committed_ms=0)
    assert tracker.observe(1200.0, HOUR) is Outcome.CONSUMED
    for step in range(2, 6):
        assert tracker.observe(bad, step * HOUR) is Outcome.INVALID
    assert tracker.pending_wh == 200
    assert tracker.observe(1900.0, 6 * HOUR) is Outcome.CONSUMED  # the gap is caught up exactly
    assert tracker.take_ranges() == [(1000, 1900)]


def test_meter_reset_keeps_what_came_before_and_never_goes_negative() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=10_000, committed_ms=0)
    tracker.observe(10_800.0, HOUR)
    assert tracker.observe(40.0, 2 * HOUR) is Outcome.RESET  # the meter restarted near zero
    assert tracker.baseline_wh == 40
    tracker.observe(340.0, 3 * HOUR)
    ranges = tracker.take_ranges()
    assert ranges == [(10_000, 10_800), (40, 340)]
    assert all(end > start for start, end in ranges)
    assert (
        sum(end - start for start, end in ranges) == 1100
    )  # not the full 40 Wh again, not negative


def test_reset_at_a_restart_continues_from_the_new_value() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=50_000, committed_ms=0)
    assert tracker.observe(12.0, HOUR) is Outcome.RESET
    assert tracker.take_ranges() == []
    tracker.observe(512.0, 2 * HOUR)
    assert tracker.take_ranges() == [(12, 512)]


def test_small_dips_are_noise() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=10_000, committed_ms=0)
    tracker.observe(10_500.0, HOUR)
    assert tracker.observe(10_400.0, 2 * HOUR) is Outcome.NOISE  # 1% lower: noise
    assert tracker.pending_wh == 500
    assert tracker.observe(10_450.0, 3 * HOUR) is Outcome.NOISE  # still under the high mark
    assert tracker.observe(10_600.0, 4 * HOUR) is Outcome.CONSUMED
    assert tracker.take_ranges() == [(10_000, 10_600)]


def test_unchanged_reading() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=100, committed_ms=0)
    assert tracker.observe(100.0, HOUR) is Outcome.UNCHANGED
    assert tracker.pending_wh == 0


def test_implausible_jump_is_held_back_and_resolved_by_the_user() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=1000, committed_ms=0)
    tracker.observe(1500.0, HOUR)
    # +60 kWh within a minute (3.6 MW): the spike powercalc users saw (#2802).
    assert tracker.observe(61_500.0, HOUR + 60_000) is Outcome.SPIKE_HELD
    assert tracker.pending_wh == 500  # what came before stays; the spike is not pending
    spike = tracker.spike
    assert spike is not None
    assert (spike.from_wh, spike.to_wh, spike.wh) == (1500, 61_500, 60_000)
    assert spike.power_w == pytest.approx(3_600_000.0)
    tracker.observe(61_700.0, 2 * HOUR)  # counting goes on from the new value
    assert tracker.take_ranges() == [(1000, 1500), (61_500, 61_700)]  # the spike is not among them


def test_long_gap_is_plausible_not_a_spike() -> None:
    """HA down for ten hours: 30 kWh over ten hours is 3 kW, caught up in full."""
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=0, committed_ms=0)
    assert tracker.observe(30_000.0, 10 * HOUR) is Outcome.CONSUMED
    assert tracker.take_ranges() == [(0, 30_000)]


def test_restart_neither_redebits_nor_drops() -> None:
    """The ledger's last recorded reading is where a restarted tracker goes on (#48206, #72943)."""
    before = MeterTracker(max_power_w=KW_20, committed_wh=7000, committed_ms=0)
    before.observe(7250.7, HOUR)
    [(start, end)] = before.take_ranges()
    assert (start, end) == (7000, 7250)  # the 0.7 Wh fraction stays pending
    after = MeterTracker(max_power_w=KW_20, committed_wh=end, committed_ms=HOUR)
    after.observe(7600.2, 3 * HOUR)  # consumed while Home Assistant was down
    assert after.take_ranges() == [(7250, 7600)]


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    steps=st.lists(
        st.one_of(
            st.floats(min_value=0, max_value=5000, allow_nan=False),
            st.none(),
            st.just("take"),
        ),
        max_size=80,
    ),
)
def test_consumption_is_conserved(start: float, steps: list[float | str | None]) -> None:
    """Whatever the gaps and batching, debited Wh equal the meter's whole-Wh advance."""
    tracker = MeterTracker(max_power_w=1e12)
    now = 0
    tracker.observe(start, now)
    value = start
    debited = 0
    for step in steps:
        now += 60_000
        if step == "take":
            debited += sum(end - start for start, end in tracker.take_ranges())
        elif step is None:
            assert tracker.observe(None, now) is Outcome.INVALID
        else:
            assert isinstance(step, float)
            value += step
            tracker.observe(value, now)
    debited += sum(end - start for start, end in tracker.take_ranges())
    assert debited == math.floor(round(value, 6)) - math.floor(round(start, 6))
    assert tracker.pending_wh == 0
