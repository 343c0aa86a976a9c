"""A meter's state becomes a reading in Wh with Home Assistant's own unit converter."""

from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import State
import pytest

from custom_components.energy_tokens.metering import MeterTracker
from custom_components.energy_tokens.meters import reading_wh

HOUR = 3_600_000
KW_20 = 20_000.0


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """States and the converter only: no Home Assistant instance needed."""


def energy(value: str, unit: str | None = "kWh", device_class: str | None = "energy") -> State:
    attributes = {}
    if unit is not None:
        attributes[ATTR_UNIT_OF_MEASUREMENT] = unit
    if device_class is not None:
        attributes[ATTR_DEVICE_CLASS] = device_class
    return State("sensor.dryer_energy", value, attributes)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (energy("1.5"), 1500.0),
        (energy("1500", "Wh"), 1500.0),
        (energy("0.0015", "MWh"), 1500.0),
        (energy("1.5", device_class=None), 1500.0),
        (energy("0"), 0.0),
        (energy("unavailable"), None),
        (energy("unknown"), None),
        (energy("twelve"), None),
        (energy("nan"), None),
        (energy("inf"), None),
        (energy("-1"), None),
        (energy("1.5", unit=None), None),
        (energy("1.5", unit="W"), None),
        (energy("1.5", device_class="power"), None),
        (None, None),
    ],
)
def test_reading_wh_uses_the_energy_converter(state: State | None, expected: float | None) -> None:
    result = reading_wh(state)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_other_energy_units_convert() -> None:
    assert reading_wh(energy("3.6", "MJ")) == pytest.approx(1000.0)


def test_conversion_noise_is_not_a_lost_watt_hour() -> None:
    tracker = MeterTracker(max_power_w=KW_20, committed_wh=502_000, committed_ms=0)
    tracker.observe(reading_wh(energy("0.5021", "MWh")), HOUR)
    assert tracker.take_ranges() == [(502_000, 502_100)]


def test_unit_change_changes_nothing() -> None:
    """The kWh to MWh switch that corrupts utility_meter (#89529): readings are Wh here."""
    tracker = MeterTracker(max_power_w=KW_20)
    tracker.observe(reading_wh(energy("1999.5")), 0)
    tracker.observe(reading_wh(energy("2.0", "MWh")), HOUR)
    tracker.observe(reading_wh(energy("2000.2")), 2 * HOUR)
    assert tracker.take_ranges() == [(1_999_500, 2_000_200)]
