"""Repair flows: accept or discard a held meter jump; retry a ledger that could not be written."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .issues import LEDGER_STORAGE
from .ledger import Cause, CauseKind
from .results import BudgetError
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime


class MeterSpikeRepairFlow(RepairsFlow):
    """Accept a held jump as consumption (a debit) or discard it (recorded as discarded)."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Keep the held jump's details from the issue."""
        self._data = data

    def _runtime(self) -> HouseholdRuntime | None:
        """The running household, while it still has the device; else None."""
        entry: EnergyTokensConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._data["entry_id"]
        )
        if (
            entry is None
            or entry.state is not ConfigEntryState.LOADED
            or self._data["subentry_id"] not in entry.runtime_data.economy.devices
        ):
            return None
        return entry.runtime_data

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Offer the two choices."""
        if self._runtime() is None:
            return self.async_abort(reason="household_not_loaded")
        return self.async_show_menu(step_id="init", menu_options=["accept", "discard"])

    async def async_step_accept(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Debit the jump."""
        return await self._async_resolve(accept=True)

    async def async_step_discard(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Drop the jump."""
        return await self._async_resolve(accept=False)

    async def _async_resolve(self, *, accept: bool) -> RepairsFlowResult:
        runtime = self._runtime()
        if runtime is None:  # the device was removed while the menu was open
            return self.async_abort(reason="household_not_loaded")
        data = self._data
        device = runtime.economy.devices[data["subentry_id"]]
        user_id = self.context.get("user_id")
        cause = Cause(CauseKind.USER, user_id if isinstance(user_id, str) else "")
        try:
            result = runtime.economy.resolve_spike(
                data["subentry_id"],
                data.get("meter", device.settings.meter),  # issues of earlier versions have none
                data["from_wh"],
                data["to_wh"],
                accept=accept,
                cause=cause,
            )
        except BudgetError:  # another flow for the same jump got there first
            return self.async_abort(reason="spike_resolved")
        await runtime.async_act(result)  # charged or discarded, durably, before it is done
        return self.async_create_entry(data={})


class StorageFaultRepairFlow(RepairsFlow):
    """Retry now: reload the household, which writes again if the disk lets it."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Keep the household's entry id from the issue."""
        self._entry_id: str = data["entry_id"]

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Explain, then retry."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Retry on submit; say so when it still fails."""
        errors: dict[str, str] = {}
        if user_input is not None:
            entry: EnergyTokensConfigEntry | None = self.hass.config_entries.async_get_entry(
                self._entry_id
            )
            if entry is None or entry.disabled_by is not None:  # nothing left running to fix
                ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
                return self.async_create_entry(data={})
            loaded = entry.state is ConfigEntryState.LOADED
            if not loaded or await entry.runtime_data.async_storage_writable():
                await self.hass.config_entries.async_reload(self._entry_id)
                if entry.state is ConfigEntryState.LOADED and entry.runtime_data.failure is None:
                    return self.async_create_entry(data={})
            errors["base"] = "still_failing"
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = dict(issue.translation_placeholders or {}) if issue else {}
        return self.async_show_form(
            step_id="confirm", errors=errors, description_placeholders=placeholders
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of a meter-spike or a storage-fault issue."""
    assert data is not None
    if issue_id.startswith(LEDGER_STORAGE):
        return StorageFaultRepairFlow(data)
    return MeterSpikeRepairFlow(data)
