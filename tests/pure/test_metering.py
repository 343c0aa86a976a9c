"""Metering pitfalls: each one has a test here (product brief, "Metering pitfalls")."""

import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.energy_tokens.metering import HeldSpike, MeterTracker, Outcome

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


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, -5.0, 1e16, 1e308])
def test_invalid_readings_change_nothing_and_the_gap_is_caught_up(bad: float | None) -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=1000, committed_ms=0)
    assert tracker.observe(1200.0, HOUR) is Outcome.CONSUMED
    for step in range(2, 6):
        assert tracker.observe(bad, step * HOUR) is Outcome.INVALID
    assert tracker.pending_wh == 200
    assert tracker.observe(1900.0, 6 * HOUR) is Outcome.CONSUMED  # the gap is caught up exactly
    assert tracker.take_ranges() == [(1000, 1900)]


def test_meter_reset_charges_what_it_counted_from_zero() -> None:
    """As the Energy dashboard does: a reset meter counted everything up to its first reading."""
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=10_000, committed_ms=0)
    tracker.observe(10_800.0, HOUR)
    # A drop is undecided until the meter says what it was: nothing is charged or lost meanwhile.
    assert tracker.observe(40.0, 2 * HOUR) is Outcome.ANOMALY
    assert tracker.pending_wh == 800
    assert tracker.observe(340.0, 3 * HOUR) is Outcome.RESET  # counting on from the low value
    ranges = tracker.take_ranges()
    assert ranges == [(10_000, 10_800), (0, 340)]
    assert sum(end - start for start, end in ranges) == 1140  # 800 before, 40 + 300 after


def test_repeated_resets_each_count_from_zero() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=5000, committed_ms=0)
    for step, (value, outcome) in enumerate(
        [
            (0.0, Outcome.ANOMALY),
            (200.0, Outcome.RESET),
            (0.0, Outcome.ANOMALY),
            (0.0, Outcome.ANOMALY),
            (150.0, Outcome.RESET),
        ]
    ):
        assert tracker.observe(value, (step + 1) * HOUR) is outcome
    assert tracker.take_ranges() == [(0, 200), (0, 150)]


def test_reset_at_a_restart_counts_from_zero() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=50_000, committed_ms=0)
    assert tracker.observe(12.0, HOUR) is Outcome.ANOMALY
    assert tracker.take_ranges() == []
    assert tracker.observe(512.0, 2 * HOUR) is Outcome.RESET
    assert tracker.take_ranges() == [(0, 512)]


def test_a_reset_to_more_than_the_meter_could_count_is_held() -> None:
    """A meter replaced by one reading 9 MWh: the 9 MWh are asked about, never charged blind."""
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=50_000, committed_ms=0)
    assert tracker.observe(9_000_000.0, HOUR) is Outcome.ANOMALY  # a jump, undecided
    assert tracker.observe(9_000_100.0, 2 * HOUR) is Outcome.SPIKE_HELD  # it stayed up
    assert tracker.take_ranges() == [(9_000_000, 9_000_100)]
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=9_000_000, committed_ms=0)
    assert tracker.observe(4_000_000.0, HOUR) is Outcome.ANOMALY  # a drop, undecided
    assert tracker.observe(4_000_100.0, 2 * HOUR) is Outcome.SPIKE_HELD  # 4 MWh from zero: held
    assert tracker.spike is not None
    assert (tracker.spike.from_wh, tracker.spike.to_wh) == (0, 4_000_000)
    assert tracker.take_ranges() == [(4_000_000, 4_000_100)]


@pytest.mark.parametrize(
    ("low", "back_after_ms"), [(0.0, 5 * HOUR), (85_000.0, 40 * 60_000), (0.0, 10 * 60_000)]
)
def test_a_drop_and_return_is_a_glitch_not_two_resets(low: float, back_after_ms: int) -> None:
    """1 kWh truly used around a drop to 0 (or 85 %) and back: 1 kWh charged, not 101.5 kWh."""
    tracker = MeterTracker(max_power_w=25_000, committed_wh=100_000, committed_ms=0)
    assert tracker.observe(100_500.0, HOUR) is Outcome.CONSUMED
    assert tracker.observe(low, HOUR + 1000) is Outcome.ANOMALY
    assert tracker.observe(low, HOUR + 2000) is Outcome.ANOMALY  # still down: undecided
    assert tracker.observe(101_000.0, HOUR + back_after_ms) is Outcome.GLITCH
    assert tracker.glitch == (100_500, int(low))
    assert tracker.take_ranges() == [(100_000, 101_000)]


def test_a_jump_and_straight_back_is_a_glitch() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=1000, committed_ms=0)
    assert tracker.observe(1500.0, HOUR) is Outcome.CONSUMED
    assert tracker.observe(1e9, HOUR + 1000) is Outcome.ANOMALY
    assert tracker.pending_wh == 500
    assert tracker.observe(1600.0, 2 * HOUR) is Outcome.GLITCH
    assert tracker.glitch == (1500, 1_000_000_000)
    assert tracker.spike is None  # nothing for the user to decide
    assert tracker.take_ranges() == [(1000, 1600)]


def test_a_held_jump_the_meter_returns_from_is_a_glitch_and_keeps_what_was_counted() -> None:
    """Discarding a held jump never makes the bogus value the baseline of the true one."""
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=1000, committed_ms=0)
    tracker.observe(1500.0, HOUR)
    assert tracker.observe(61_500.0, HOUR + 60_000) is Outcome.ANOMALY
    assert tracker.observe(61_600.0, 2 * HOUR) is Outcome.SPIKE_HELD  # it stayed up
    assert tracker.take_ranges() == [(1000, 1500), (61_500, 61_600)]
    assert tracker.observe(1_900.0, 3 * HOUR) is Outcome.GLITCH  # back where it could be
    assert tracker.glitch == (1500, 61_500)  # the held jump's range: it can be discarded
    # 1500 -> 1900 is 400 Wh; 100 of them were counted on from the jump already.
    assert tracker.take_ranges() == [(1600, 1900)]
    assert tracker.observe(2_000.0, 4 * HOUR) is Outcome.CONSUMED
    assert tracker.take_ranges() == [(1900, 2000)]


def test_a_cycle_meter_counts_each_cycle_from_zero() -> None:
    """``total`` with ``last_reset``: a daily meter, and a delta sensor (a new cycle per value)."""
    tracker = MeterTracker(max_power_w=KW_20)
    assert tracker.observe(300.0, 0, "day1") is Outcome.BASELINE
    assert tracker.observe(800.0, HOUR, "day1") is Outcome.CONSUMED
    assert tracker.observe(0.0, 2 * HOUR, "day2") is Outcome.UNCHANGED  # the new day starts at 0
    assert tracker.observe(250.0, 3 * HOUR, "day3") is Outcome.CONSUMED  # a first value counts
    assert tracker.cycle == ("day3", 800.0)
    for step in range(4, 10):  # a delta sensor: 100 Wh each interval, each its own cycle
        assert tracker.observe(100.0, step * HOUR, f"t{step}") is Outcome.CONSUMED
    assert sum(end - start for start, end in tracker.take_ranges()) == 500 + 250 + 600
    resumed = MeterTracker(
        max_power_w=KW_20, committed_wh=1650, committed_ms=9 * HOUR, cycle="t9", offset_wh=1550.0
    )
    assert resumed.observe(100.0, 10 * HOUR, "t9") is Outcome.UNCHANGED  # the same value again
    assert resumed.observe(40.0, 11 * HOUR, "t11") is Outcome.CONSUMED
    assert resumed.take_ranges() == [(1650, 1690)]


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
    assert tracker.observe(61_500.0, HOUR + 60_000) is Outcome.ANOMALY
    assert tracker.observe(61_700.0, 2 * HOUR) is Outcome.SPIKE_HELD  # it stayed up
    assert tracker.pending_wh == 700  # what came before stays; the spike is not pending
    spike = tracker.spike
    assert spike is not None
    assert (spike.from_wh, spike.to_wh, spike.wh) == (1500, 61_500, 60_000)
    assert spike.power_w == pytest.approx(3_600_000.0)
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


MAX_W = 100_000.0
MINUTE = 60_000
UNITS = [1.0, 1000.0, 1_000_000.0]  # a reading in Wh, kWh or MWh, converted back to Wh
consumption = st.tuples(st.just("use"), st.integers(0, 1000), st.integers(1, 60), st.booleans())
# What decides a reset or a glitch: the meter reporting again, counting on or back.
reported_use = st.tuples(st.just("use"), st.integers(1, 1000), st.integers(1, 60), st.just(True))
sequence_op = st.one_of(
    consumption,
    st.tuples(st.just("gap"), st.integers(1, 5)),
    st.tuples(st.just("reset"), st.integers(0, 500), reported_use),
    st.tuples(st.just("drop"), st.integers(1, 3), st.sampled_from([0.0, 0.5, 0.85]), reported_use),
    st.tuples(st.just("jump"), reported_use),
    st.tuples(st.just("held"), st.lists(reported_use, min_size=1, max_size=3), reported_use),
    st.tuples(st.just("restart")),
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(20_000, 10_000_000),
    ops=st.lists(sequence_op, max_size=40),
    unit=st.sampled_from(UNITS),
)
def test_charged_is_the_true_energy_of_any_reading_sequence(
    start: int, ops: list[tuple[object, ...]], unit: float
) -> None:
    """Resets, glitches, gaps, unit changes and restarts: every true Wh charged, once."""
    now = 0
    meter = reported = start  # what an honest meter shows, and its last reading
    true_wh = 0  # what the readings imply
    charged = 0

    def read(value: float | None) -> None:
        nonlocal reported
        tracker.observe(None if value is None else value / unit * unit, now)
        if value == meter:
            reported = meter

    def use(op: tuple[object, ...]) -> None:
        nonlocal meter, true_wh, now
        _, wh, minutes, reported = op
        assert isinstance(wh, int)
        assert isinstance(minutes, int)
        meter += wh
        true_wh += wh
        now += minutes * MINUTE
        if reported:  # or not: a meter that reports rarely
            read(meter)

    tracker = MeterTracker(max_power_w=MAX_W)
    read(meter)
    for op in ops:
        match op:
            case ("use", *_):
                use(op)
            case ("gap", count):
                assert isinstance(count, int)
                for _ in range(count):
                    now += MINUTE
                    read(None)
            case ("reset", low, then) if meter >= 20_000:
                assert isinstance(low, int)
                now += MINUTE
                # What it counted and never reported before it reset is lost to everyone.
                true_wh -= meter - reported
                meter = low  # the meter counted ``low`` from zero since: true energy too
                true_wh += low
                read(meter)
                assert isinstance(then, tuple)
                use(then)
            case ("drop", count, share, then):
                assert isinstance(count, int)
                assert isinstance(share, float)
                for _ in range(count):
                    now += 1000
                    read(meter * share)
                assert isinstance(then, tuple)
                use(then)
            case ("jump", then):
                now += 1000
                read(meter + 1e9)
                assert isinstance(then, tuple)
                use(then)
            case ("held", up, then):  # a jump the meter stays at, counting on, then back
                now += 1000
                assert isinstance(up, list)
                bogus = 1e9
                for use_up in up:
                    _, wh, minutes, _ = use_up
                    assert isinstance(wh, int)
                    assert isinstance(minutes, int)
                    now += minutes * MINUTE
                    meter += wh
                    true_wh += wh
                    read(meter + bogus)
                assert isinstance(then, tuple)
                use(then)
            case ("restart",):
                charged += sum(end - begin for begin, end in tracker.take_ranges())
                tracker = MeterTracker(
                    max_power_w=MAX_W, committed_wh=tracker.baseline_wh, committed_ms=now
                )
                now += MINUTE
                read(meter)  # the state as it is at the start
            case _:
                pass
    now += MINUTE
    read(meter)  # the meter's last word
    charged += sum(end - begin for begin, end in tracker.take_ranges())
    assert abs(charged - true_wh) <= 1


def test_a_held_jump_is_remembered_across_a_restart() -> None:
    """The ledger records the jump held: a restarted tracker still knows the meter's return."""
    jump = HeldSpike(1500, 61_500, HOUR, 3_600_000.0)
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=61_600, committed_ms=2 * HOUR, jump=jump)
    assert tracker.observe(1_900.0, 3 * HOUR) is Outcome.GLITCH
    assert tracker.glitch == (1500, 61_500)
    assert tracker.take_ranges() == [(1600, 1900)]  # 100 Wh were counted on from the jump


def test_a_cycle_meter_whose_sum_would_pass_any_meter_is_no_reading() -> None:
    tracker = MeterTracker(max_power_w=1e30)
    assert tracker.observe(9e14, 0, "a") is Outcome.BASELINE
    assert tracker.observe(9e14, HOUR, "b") is Outcome.INVALID  # 1.8e15 Wh in all: garbage
    assert tracker.observe(1000.0, 2 * HOUR, "c") is Outcome.CONSUMED
