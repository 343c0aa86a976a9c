"""Following a household's energy meters: each state change becomes a reading in Wh.

A reading is timed by its state's own ``last_updated``, always: power is judged over the time
between readings, so two clocks must never be mixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import functools
import math

from homeassistant.components.sensor import (
    ATTR_LAST_RESET,
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, UnitOfEnergy
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from .books import Device

type ReadingCallback = Callable[[str, float | None, int, str | None], None]


def cycle_of(state: State | None) -> str | None:
    """A cycle meter's cycle: the ``last_reset`` of a ``state_class: total`` sensor, in UTC.

    As Home Assistant's statistics read it: a new ``last_reset`` starts counting from zero;
    ``total_increasing`` sensors have no cycles (their drops are resets or glitches).
    """
    if state is None or state.attributes.get(ATTR_STATE_CLASS) != SensorStateClass.TOTAL:
        return None
    last_reset = state.attributes.get(ATTR_LAST_RESET)
    if not isinstance(last_reset, str) or (moment := dt_util.parse_datetime(last_reset)) is None:
        return None
    return dt_util.as_utc(moment).isoformat()


def reading_wh(state: State | None) -> float | None:
    """The state's reading in Wh, or None when it is not a usable energy reading."""
    if state is None:
        return None
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit not in EnergyConverter.VALID_UNITS:
        return None
    device_class = state.attributes.get(ATTR_DEVICE_CLASS)
    if device_class not in (None, SensorDeviceClass.ENERGY):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None  # unavailable, unknown and anything else not a number
    if not math.isfinite(value) or value < 0:
        return None
    return _to_wh(unit)(value)


@functools.cache
def _to_wh(unit: str) -> Callable[[float], float]:
    """Home Assistant's converter from ``unit`` to Wh, made once per unit (it runs per reading)."""
    return EnergyConverter.converter_factory(unit, UnitOfEnergy.WATT_HOUR)


class MeterFollower:
    """Follows the meters of a household's devices and hands their readings on."""

    def __init__(
        self, hass: HomeAssistant, on_reading: ReadingCallback, clock: Callable[[], int]
    ) -> None:
        """Follow nothing until ``async_start``; ``clock`` times a meter that has no state."""
        self.hass = hass
        self._on_reading = on_reading
        self._clock = clock
        self._meters: dict[str, str] = {}  # meter entity id -> device subentry id
        self._active = False
        self._unsubscribe: CALLBACK_TYPE | None = None

    @callback
    def async_start(self, devices: Iterable[Device]) -> None:
        """Home Assistant has started: follow the meters and read each one's state now."""
        self._active = True
        self._meters = {}
        self.async_follow(devices)

    @callback
    def async_follow(self, devices: Iterable[Device]) -> None:
        """Follow these devices' meters; a meter followed anew is read at once."""
        meters = {device.settings.meter: device.settings.subentry_id for device in devices}
        new = {meter: key for meter, key in meters.items() if self._meters.get(meter) != key}
        changed = meters.keys() != self._meters.keys()
        self._meters = meters
        if not self._active:
            return
        if changed or self._unsubscribe is None:
            self._subscribe()
        for meter, subentry_id in new.items():
            self._read(subentry_id, self.hass.states.get(meter))

    @callback
    def async_stop(self) -> None:
        """Follow nothing any more."""
        self._active = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _subscribe(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._meters:
            self._unsubscribe = async_track_state_change_event(
                self.hass, list(self._meters), self._async_changed
            )

    @callback
    def _async_changed(self, event: Event[EventStateChangedData]) -> None:
        subentry_id = self._meters.get(event.data["entity_id"])
        if subentry_id is not None:
            self._read(subentry_id, event.data["new_state"])

    def _read(self, subentry_id: str, state: State | None) -> None:
        at_ms = self._clock() if state is None else round(state.last_updated_timestamp * 1000)
        self._on_reading(subentry_id, reading_wh(state), at_ms, cycle_of(state))
