"""The power integrator: the integration helper's trapezoids, gaps and sub-interval."""

import math

import pytest

from custom_components.energy_tokens.power import MAX_SUB_INTERVAL_MS, PowerIntegrator

MINUTE = 60_000


def test_trapezoids_between_readings() -> None:
    power = PowerIntegrator(1000.0)
    assert power.observe(600.0, 0) == 1000.0  # the first reading starts integrating
    assert power.observe(1800.0, 30 * MINUTE) == pytest.approx(1600.0)  # 1.2 kW for half an hour
    assert power.observe(0.0, 40 * MINUTE) == pytest.approx(1750.0)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -5.0, 1e13])
def test_a_reading_that_is_no_power_stops_integrating_for_the_gap(bad: float | None) -> None:
    power = PowerIntegrator()
    power.observe(1000.0, 0)
    assert power.observe(bad, 10 * MINUTE) is None
    assert not power.integrating
    assert power.elapse(20 * MINUTE, 20 * MINUTE) is None  # no power to go on with
    assert power.observe(1000.0, 70 * MINUTE) == 0.0  # nothing invented for the gap
    assert power.observe(1000.0, 76 * MINUTE) == pytest.approx(100.0)


def test_a_silent_sensor_counts_its_last_power_each_sub_interval() -> None:
    power = PowerIntegrator()
    power.observe(1200.0, 0)
    assert power.elapse(MAX_SUB_INTERVAL_MS, MAX_SUB_INTERVAL_MS) == pytest.approx(100.0)
    # The next reading's trapezoid starts where the sub-interval left off.
    assert power.observe(2400.0, 10 * MINUTE) == pytest.approx(100.0 + 150.0)
