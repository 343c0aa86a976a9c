"""Reconciling with Home Assistant's statistics: an action, and a repair when they differ.

Per device and meter, what the ledger charged in a period (metered.py) beside the change of the
meter's long-term statistics sum over the same time (what the Energy dashboard shows), and what
explains a difference: jumps held, accepted or discarded, glitches, resets. After a period closes
(and once at start, for the last closed one), a difference above the threshold raises a repair.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance

from .const import DOMAIN
from .events import BudgetEvent
from .helpers import translated_error
from .ledger import LedgerError
from .metered import MeterRecord, PeriodRecord, metered_periods
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime

_LOGGER = logging.getLogger(__name__)

CONSUMPTION_DIFFERS = "consumption_differs"
# The recorder compiles each five minutes' statistics shortly after they end: a closed period is
# compared once they are in.
CHECK_DELAY = timedelta(minutes=15)
THRESHOLD_WH = 100  # a difference is reported above 0.1 kWh ...
THRESHOLD_SHARE = 0.02  # ... and above 2 % of what the statistics count


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else round(wh / 1000, 3)


async def async_reconcile(
    hass: HomeAssistant, runtime: HouseholdRuntime, period_key: str | None = None
) -> dict[str, Any]:
    """Each device's charged consumption and the statistics' for a period (default: this one)."""
    await runtime.async_commit()  # the ledger read back is what has been recorded
    periods = await hass.async_add_executor_job(_periods, runtime)
    if period_key is None and periods:
        period = periods[-1]
    elif (found := next((p for p in reversed(periods) if p.key == period_key), None)) is None:
        raise translated_error("period_unknown", period=period_key or "")
    else:
        period = found
    current = period is periods[-1] and period.closed_ms is None
    if current:  # this period: every device, and what is metered but not yet debited
        for device in runtime.economy.devices.values():
            record = period.record(device.settings.account, device.settings.meter)
            record.wh += device.tracker.pending_wh
    end_ms = period.closed_ms or min(period.end_ms, runtime.economy.clock())
    rows = [
        await _row(hass, runtime, account, meter, record, period.start_ms, end_ms)
        for (account, meter), record in period.meters.items()
    ]
    return {
        "household": runtime.entry.title,
        "period": period.key,
        "start": _iso(period.start_ms),
        "end": _iso(end_ms),
        "closed": not current,
        "devices": rows,
    }


def _periods(runtime: HouseholdRuntime) -> list[PeriodRecord]:
    return metered_periods(runtime.economy.ledger.iter_entries())


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def _row(
    hass: HomeAssistant,
    runtime: HouseholdRuntime,
    account: str,
    meter: str,
    record: MeterRecord,
    start_ms: int,
    end_ms: int,
) -> dict[str, Any]:
    economy = runtime.economy
    device = economy.device_by_account(account)
    recorder_wh = await _statistics_change_wh(hass, meter, start_ms, end_ms)
    return {
        "device": device.settings.name if device else economy.labels.get(account, account),
        "device_id": runtime.device_id(device.settings.subentry_id) if device else None,
        "meter": meter,
        "charged_kwh": _kwh(record.wh),
        "recorder_kwh": _kwh(recorder_wh),
        "difference_kwh": None if recorder_wh is None else _kwh(record.wh - recorder_wh),
        "held_jumps": [{"kwh": _kwh(jump.wh), "status": jump.status} for jump in record.jumps],
        "glitches": record.glitches,
        "resets": record.resets,
    }


async def _statistics_change_wh(
    hass: HomeAssistant, meter: str, start_ms: int, end_ms: int
) -> float | None:
    """The change of the meter's statistics sum over the time, in Wh (None: no statistics)."""
    if "recorder" not in hass.config.components:
        return None
    # Imported here: the recorder is optional (after_dependencies), and heavy.
    from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
        statistic_during_period,
    )

    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    end = datetime.fromtimestamp(end_ms / 1000, UTC)
    found = await get_instance(hass).async_add_executor_job(
        statistic_during_period, hass, start, end, meter, {"change"}, {"energy": "Wh"}
    )
    change = found.get("change")
    return None if change is None else float(change)


def differs(row: dict[str, Any]) -> bool:
    """Whether a closed period's difference is worth a repair."""
    if row["recorder_kwh"] is None:
        return False
    charged, recorder = float(row["charged_kwh"]) * 1000, float(row["recorder_kwh"]) * 1000
    return abs(charged - recorder) > max(THRESHOLD_WH, THRESHOLD_SHARE * abs(recorder))


async def async_check_last_closed(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
    """Raise a repair for each device whose last closed period differs from the statistics."""
    try:
        periods = await hass.async_add_executor_job(_periods, runtime)
        closed = [period for period in periods if period.closed_ms is not None]
        if not closed:
            return
        report = await async_reconcile(hass, runtime, closed[-1].key)
    except LedgerError:  # reported as a storage fault already; the next start compares again
        return
    for row in report["devices"]:
        issue_id = (
            f"{CONSUMPTION_DIFFERS}_{runtime.entry.entry_id}_{report['period']}_{row['meter']}"
        )
        if not differs(row):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            continue
        jumps = [jump for jump in row["held_jumps"] if jump["status"] != "accepted"]
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=CONSUMPTION_DIFFERS,
            translation_placeholders={
                "device": row["device"],
                "period": report["period"],
                "charged": f"{row['charged_kwh']:.3f}",
                "recorder": f"{row['recorder_kwh']:.3f}",
                "glitches": str(row["glitches"]),
                "jumps": str(len(jumps)),
                "jumps_kwh": f"{sum(jump['kwh'] for jump in jumps):.3f}",
                "resets": str(row["resets"]),
            },
        )
        _LOGGER.warning(
            "%s: %s was charged %.3f kWh in period %s, the statistics count %.3f kWh",
            runtime.entry.title,
            row["device"],
            row["charged_kwh"],
            report["period"],
            row["recorder_kwh"],
        )


@callback
def async_setup_reconcile(hass: HomeAssistant, entry: EnergyTokensConfigEntry) -> None:
    """Compare the last closed period once at start and after each period closes."""

    @callback
    def _check(_now: datetime) -> None:
        if entry.runtime_data.failure is None:
            entry.async_create_background_task(
                hass,
                async_check_last_closed(hass, entry.runtime_data),
                f"{DOMAIN} reconcile {entry.title}",
            )

    @callback
    def _closed(event: Event) -> None:
        if event.data.get("household_id") == entry.entry_id:
            entry.async_on_unload(async_call_later(hass, CHECK_DELAY, _check))

    entry.async_on_unload(async_call_later(hass, CHECK_DELAY, _check))
    entry.async_on_unload(hass.bus.async_listen(BudgetEvent.PERIOD_CLOSED.event_type, _closed))
