"""Config flows: the household (config entry) and its devices (config subentries)."""

from __future__ import annotations

from collections.abc import Mapping
import math
from types import MappingProxyType
from typing import Any, Literal

from homeassistant.components.energy.data import async_get_manager as async_get_energy_manager
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import ATTR_DEVICE_CLASS, CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio

from .community_flow import COMMUNITY_FLOWS
from .const import (
    CONF_ALLOWANCE,
    CONF_APPLY_NOW,
    CONF_AUTO_BORROW,
    CONF_CAP_TOKENS,
    CONF_CUT_POLICY,
    CONF_DEBIT_INTERVAL,
    CONF_ENFORCE,
    CONF_LOAD,
    CONF_LOW_THRESHOLD,
    CONF_MAX_POWER_KW,
    CONF_MAY_LEND,
    CONF_METER,
    CONF_METERS,
    CONF_PERIOD,
    CONF_PERIOD_START_DAY,
    CONF_PERIOD_START_WEEKDAY,
    CONF_PRICE,
    CONF_PRIORITY,
    CONF_SELL_PRICE,
    CONF_SURPLUS,
    CONF_TOKEN_KWH,
    DEFAULTS,
    DOMAIN,
    LOAD_DOMAINS,
    SUBENTRY_DEVICE,
    WEEKDAYS,
    CutPolicy,
    Priority,
    Surplus,
)
from .periods import PeriodKind
from .runtime import EnergyTokensConfigEntry
from .settings import HouseholdSettings


def _number(
    minimum: float, maximum: float, step: float | Literal["any"], unit: str | None = None
) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _select(options: list[str], key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.DROPDOWN)
    )


def household_schema(currency: str) -> probatio.Schema:
    """The household settings form."""
    return probatio.Schema(
        {
            probatio.Required(CONF_TOKEN_KWH): _number(0.001, 1000, 0.001, "kWh"),
            probatio.Required(CONF_PERIOD): _select([k.value for k in PeriodKind], CONF_PERIOD),
            probatio.Required(CONF_PERIOD_START_DAY): _number(1, 28, 1),
            probatio.Required(CONF_PERIOD_START_WEEKDAY): _select(
                list(WEEKDAYS), CONF_PERIOD_START_WEEKDAY
            ),
            probatio.Required(CONF_CAP_TOKENS): _number(0, 1_000_000, 0.001),
            probatio.Required(CONF_PRICE): _number(0, 1_000_000, "any", currency),
            probatio.Required(CONF_SURPLUS): _select([s.value for s in Surplus], CONF_SURPLUS),
            probatio.Required(CONF_SELL_PRICE): _number(0, 1_000_000, "any", currency),
            probatio.Required(CONF_AUTO_BORROW): BooleanSelector(),
            probatio.Required(CONF_LOW_THRESHOLD): _number(0, 100, 1, "%"),
            probatio.Required(CONF_DEBIT_INTERVAL): _number(1, 60, 1, "min"),
            probatio.Required(CONF_MAX_POWER_KW): _number(0.1, 10_000, 0.1, "kW"),
        }
    )


def _clean_household(user_input: dict[str, Any]) -> dict[str, Any]:
    """Store numbers with their proper types."""
    cleaned = dict(user_input)
    for key in (CONF_PERIOD_START_DAY, CONF_LOW_THRESHOLD, CONF_DEBIT_INTERVAL):
        cleaned[key] = int(cleaned[key])
    for key in (CONF_TOKEN_KWH, CONF_CAP_TOKENS, CONF_PRICE, CONF_SELL_PRICE, CONF_MAX_POWER_KW):
        cleaned[key] = float(cleaned[key])
    return cleaned


class EnergyTokensConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create a household: one config entry per household."""

    VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """A household's devices, its community and the members it admitted: subentries."""
        return {SUBENTRY_DEVICE: DeviceSubentryFlow} | COMMUNITY_FLOWS

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the household and set its economy up."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if not name:
                errors[CONF_NAME] = "name_empty"
            else:
                self._async_abort_entries_match({CONF_NAME: name})
                data = _clean_household(user_input) | {CONF_NAME: name}
                return self.async_create_entry(title=name, data=data)
        schema = probatio.Schema({probatio.Required(CONF_NAME): TextSelector()}).extend(
            household_schema(self.hass.config.currency).schema
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or DEFAULTS),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the household's settings.

        Changes that affect money or allowances take effect at the next period, or now when the
        user asks: then the current period is settled and a new one opens with them.
        """
        entry: EnergyTokensConfigEntry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            apply_now = user_input.pop(CONF_APPLY_NOW, False)
            data = dict(entry.data) | _clean_household(user_input)
            data.pop(CONF_APPLY_NOW, None)  # a one-shot choice, never stored
            if apply_now and entry.state is not ConfigEntryState.LOADED:
                errors["base"] = "apply_now_not_loaded"  # it settles the running period
            else:
                if apply_now:
                    runtime = entry.runtime_data
                    settings = HouseholdSettings.from_data(data)
                    if settings.money() != runtime.economy.period_settings.money():
                        settled = runtime.async_close_period_now(settings)
                        # Durable before the household reloads with the new settings.
                        await runtime.async_commit(through=settled.entries[-1].seq)
                return self.async_update_and_abort(entry, data=data)
        schema = household_schema(self.hass.config.currency).extend(
            {probatio.Required(CONF_APPLY_NOW, default=False): BooleanSelector()}
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or dict(entry.data)),
            description_placeholders={"name": entry.title},
            errors=errors,
        )


def device_schema() -> probatio.Schema:
    """The device settings form."""
    return probatio.Schema(
        {
            probatio.Required(CONF_NAME): TextSelector(),
            probatio.Required(CONF_METER): EntitySelector(
                EntitySelectorConfig(
                    domain="sensor",
                    device_class=[SensorDeviceClass.ENERGY, SensorDeviceClass.POWER],
                )
            ),
            probatio.Required(CONF_ALLOWANCE): _number(0, 1_000_000, 0.001),
            probatio.Required(CONF_PRIORITY): _select([p.value for p in Priority], CONF_PRIORITY),
            probatio.Required(CONF_MAY_LEND): BooleanSelector(),
            probatio.Optional(CONF_LOAD): EntitySelector(
                EntitySelectorConfig(domain=list(LOAD_DOMAINS))
            ),
            probatio.Required(CONF_CUT_POLICY): _select(
                [c.value for c in CutPolicy], CONF_CUT_POLICY
            ),
        }
    )


DEVICE_DEFAULTS: dict[str, object] = {
    CONF_ALLOWANCE: 30.0,
    CONF_PRIORITY: Priority.NORMAL.value,
    CONF_MAY_LEND: True,
    CONF_CUT_POLICY: CutPolicy.NEVER.value,
}


class DeviceSubentryFlow(ConfigSubentryFlow):
    """Add or change the metered devices of a household."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add one device, or every device the Energy dashboard knows at once."""
        return self.async_show_menu(step_id="user", menu_options=["device", "energy_dashboard"])

    async def async_step_device(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a device."""
        return await self._async_device_form("device", user_input)

    async def async_step_energy_dashboard(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Offer the Energy dashboard's devices and untracked energy sensors in one step.

        Like a metering device that detects the consumers on its network: the chosen sensors
        become devices, sharing the tokens the cap leaves unallocated.
        """
        entry = self._get_entry()
        tracked = set(_metered(self.hass))
        dashboard = await _energy_dashboard_devices(self.hass)
        candidates = _candidates(self.hass, dashboard, tracked)
        if not candidates:
            return await self.async_step_nothing_to_add()
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = [meter for meter in user_input[CONF_METERS] if meter in candidates]
            if chosen:
                allowance = _split_allowance(entry, len(chosen))
                subentries = [
                    ConfigSubentry(
                        data=MappingProxyType(
                            DEVICE_DEFAULTS
                            | {
                                CONF_NAME: candidates[meter],
                                CONF_METER: meter,
                                CONF_ALLOWANCE: allowance,
                            }
                        ),
                        subentry_type=SUBENTRY_DEVICE,
                        title=candidates[meter],
                        unique_id=meter,
                    )
                    for meter in chosen
                ]
                for subentry in subentries[:-1]:
                    self.hass.config_entries.async_add_subentry(entry, subentry)
                last = subentries[-1]
                return self.async_create_entry(
                    title=last.title, data=dict(last.data), unique_id=last.unique_id
                )
            errors[CONF_METERS] = "none_chosen"
        return self.async_show_form(
            step_id="energy_dashboard",
            data_schema=_import_schema(candidates, dashboard),
            errors=errors,
            description_placeholders={"allowance": f"{_split_allowance(entry, 1):g}"},
        )

    async def async_step_nothing_to_add(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Every energy sensor is tracked already: say so, and offer the device form.

        A menu, not an abort: Home Assistant shows a subentry flow's abort without a title.
        """
        return self.async_show_menu(step_id="nothing_to_add", menu_options=["device"])

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a device; a new allowance applies from the next period."""
        return await self._async_device_form("reconfigure", user_input)

    async def _async_device_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        entry = self._get_entry()
        current = self._get_reconfigure_subentry() if step_id == "reconfigure" else None
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            meter = user_input[CONF_METER]
            skip = None if current is None else current.subentry_id
            household = _metered(self.hass, skip).get(meter)
            if not name:
                errors[CONF_NAME] = "name_empty"
            elif household is not None and household.entry_id == entry.entry_id:
                errors[CONF_METER] = "meter_taken"
            elif household is not None:  # a meter is charged to one household only
                errors[CONF_METER] = "meter_in_other_household"
                placeholders["household"] = household.title
            elif (
                user_input.get(CONF_LOAD) is None
                and user_input[CONF_CUT_POLICY] == CutPolicy.TURN_OFF
            ):
                errors[CONF_CUT_POLICY] = "cut_needs_load"
            else:
                data = dict(user_input) | {
                    CONF_NAME: name,
                    CONF_ALLOWANCE: float(user_input[CONF_ALLOWANCE]),
                }
                if current is not None and CONF_ENFORCE in current.data:
                    data[CONF_ENFORCE] = current.data[CONF_ENFORCE]  # the switch's, not the form's
                if current is None:
                    return self.async_create_entry(title=name, data=data, unique_id=meter)
                return self.async_update_and_abort(
                    entry, current, data=data, title=name, unique_id=meter
                )
        suggested = user_input or (dict(current.data) if current else DEVICE_DEFAULTS)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(device_schema(), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )


def _metered(hass: HomeAssistant, skip: str | None = None) -> dict[str, ConfigEntry]:
    """Every meter of every household's devices (but the device ``skip``), with its household."""
    return {
        sub.data[CONF_METER]: entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_DEVICE and sub.subentry_id != skip
    }


async def _energy_dashboard_devices(hass: HomeAssistant) -> dict[str, str | None]:
    """The Energy dashboard's individual devices: meter entity to the name given there."""
    manager = await async_get_energy_manager(hass)
    prefs: Mapping[str, Any] = manager.data or {}
    return {
        device["stat_consumption"]: device.get("name")
        for device in prefs.get("device_consumption", [])
    }


def _candidates(
    hass: HomeAssistant, dashboard: dict[str, str | None], tracked: set[str]
) -> dict[str, str]:
    """Untracked meters, the Energy dashboard's first, each with a device name."""
    energy_sensors = [
        state.entity_id
        for state in hass.states.async_all("sensor")
        if state.attributes.get(ATTR_DEVICE_CLASS) == SensorDeviceClass.ENERGY
    ]
    candidates: dict[str, str] = {}
    for meter in [*dashboard, *energy_sensors]:
        if meter in tracked or meter in candidates:
            continue
        state = hass.states.get(meter)
        candidates[meter] = dashboard.get(meter) or (state.name if state else meter)
    return candidates


def _import_schema(candidates: dict[str, str], dashboard: dict[str, str | None]) -> probatio.Schema:
    options = [SelectOptionDict(value=meter, label=name) for meter, name in candidates.items()]
    default = [meter for meter in candidates if meter in dashboard]
    return probatio.Schema(
        {
            probatio.Required(CONF_METERS, default=default): SelectSelector(
                SelectSelectorConfig(options=options, multiple=True, mode=SelectSelectorMode.LIST)
            )
        }
    )


def _split_allowance(entry: ConfigEntry, count: int) -> float:
    """Each new device's share of the tokens the cap leaves unallocated (never negative)."""
    allocated = sum(float(sub.data[CONF_ALLOWANCE]) for sub in entry.subentries.values())
    unallocated = max(float(entry.data[CONF_CAP_TOKENS]) - allocated, 0.0)
    return math.floor(unallocated / count * 1000) / 1000
