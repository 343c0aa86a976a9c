"""Following a household's meters: each state change becomes a reading in Wh.

A reading is timed by its state's own ``last_updated``, always: power is judged over the time
between readings, so two clocks must never be mixed. A power sensor's readings are integrated
into energy first (power.py), on the same clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
import functools
import math

from homeassistant.components.sensor import (
    ATTR_LAST_RESET,
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BaseUnitConverter, EnergyConverter, PowerConverter

from .books import Device
from .power import PowerIntegrator

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
    return _reading(state, SensorDeviceClass.ENERGY)


def reading_w(state: State | None) -> float | None:
    """The state's reading in W, or None when it is not a usable power reading."""
    return _reading(state, SensorDeviceClass.POWER)


def is_power(state: State | None) -> bool:
    """Whether the state is a power sensor's (by its unit), whatever its value."""
    return state is not None and (
        state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) in PowerConverter.VALID_UNITS
    )


_CONVERTERS: dict[str, tuple[type[BaseUnitConverter], str]] = {
    SensorDeviceClass.ENERGY: (EnergyConverter, UnitOfEnergy.WATT_HOUR),
    SensorDeviceClass.POWER: (PowerConverter, UnitOfPower.WATT),
}


def _reading(state: State | None, device_class: SensorDeviceClass) -> float | None:
    if state is None:
        return None
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit not in _CONVERTERS[device_class][0].VALID_UNITS:
        return None
    if state.attributes.get(ATTR_DEVICE_CLASS) not in (None, device_class):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None  # unavailable, unknown and anything else not a number
    if not math.isfinite(value) or value < 0:
        return None
    return _converter(device_class, unit)(value)


@functools.cache
def _converter(device_class: SensorDeviceClass, unit: str) -> Callable[[float], float]:
    """Home Assistant's converter from ``unit``, made once per unit (it runs per reading)."""
    converter, to_unit = _CONVERTERS[device_class]
    return converter.converter_factory(unit, to_unit)


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
        self._devices: dict[str, Device] = {}  # subentry id -> device: where a meter is at
        self._power: dict[str, PowerIntegrator] = {}  # power meter -> its energy so far
        self._timers: dict[str, CALLBACK_TYPE] = {}  # power meter -> its sub-interval timer
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
        self._devices = {device.settings.subentry_id: device for device in devices}
        meters = {device.settings.meter: key for key, device in self._devices.items()}
        new = {meter: key for meter, key in meters.items() if self._meters.get(meter) != key}
        changed = meters.keys() != self._meters.keys()
        for meter in [*new, *(self._meters.keys() - meters.keys())]:
            self._forget(meter)  # a power meter's energy goes on from its new device's position
        self._meters = meters
        if not self._active:
            return
        if changed or self._unsubscribe is None:
            self._subscribe()
        for meter, subentry_id in new.items():
            self._read(meter, subentry_id, self.hass.states.get(meter))

    @callback
    def async_stop(self) -> None:
        """Follow nothing any more."""
        self._active = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for meter in list(self._power):
            self._forget(meter)

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
        meter = event.data["entity_id"]
        if (subentry_id := self._meters.get(meter)) is not None:
            self._read(meter, subentry_id, event.data["new_state"])

    def _read(self, meter: str, subentry_id: str, state: State | None) -> None:
        at_ms = self._clock() if state is None else round(state.last_updated_timestamp * 1000)
        if not is_power(state) and meter not in self._power:
            self._on_reading(subentry_id, reading_wh(state), at_ms, cycle_of(state))
            return
        if (integrator := self._power.get(meter)) is None:
            position = self._devices[subentry_id].tracker.last_reading_wh
            integrator = self._power[meter] = PowerIntegrator(position or 0.0)
        energy = integrator.observe(reading_w(state), at_ms)
        self._schedule(meter, subentry_id)
        self._on_reading(subentry_id, energy, at_ms, None)

    def _schedule(self, meter: str, subentry_id: str) -> None:
        """A power meter's timer: its last power counts on when it reports nothing."""
        if (cancel := self._timers.pop(meter, None)) is not None:
            cancel()
        integrator = self._power.get(meter)
        if self._active and integrator is not None and integrator.integrating:
            self._timers[meter] = async_call_later(
                self.hass,
                integrator.max_sub_interval_ms / 1000,
                functools.partial(self._async_elapsed, meter, subentry_id),
            )

    @callback
    def _async_elapsed(self, meter: str, subentry_id: str, now: datetime) -> None:
        self._timers.pop(meter, None)
        if (integrator := self._power.get(meter)) is None:
            return
        at_ms = self._clock()
        if (energy := integrator.elapse(round(now.timestamp() * 1000), at_ms)) is not None:
            self._on_reading(subentry_id, energy, at_ms, None)
        self._schedule(meter, subentry_id)

    def _forget(self, meter: str) -> None:
        self._power.pop(meter, None)
        if (cancel := self._timers.pop(meter, None)) is not None:
            cancel()
