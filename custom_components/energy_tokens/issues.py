"""Every repair issue the integration raises, its id, and when it goes away."""

from __future__ import annotations

import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .ledger import CorruptLedgerError, VerifyResult
from .ledger.layout import CHECKPOINTS_FILE
from .ledger.store import TornTail
from .metering import HeldSpike
from .settings import DeviceSettings

_LOGGER = logging.getLogger(__name__)

LEDGER_TAMPERED = "ledger_tampered"
LEDGER_TORN_TAIL = "ledger_torn_tail"
LEDGER_CHECKPOINT_TORN = "ledger_checkpoint_torn"
LEDGER_REFUSED = "ledger_refused"
METER_SPIKE = "meter_spike"
LEDGER_STORAGE = "ledger_storage"  # the ledger cannot be written (disk full, I/O, permissions)


@callback
def async_report_storage_fault(
    hass: HomeAssistant, entry_id: str, title: str, err: Exception
) -> None:
    """The ledger stopped writing: one error in the log, a repair that says what to do."""
    if storage_fault_reported(hass, entry_id):
        return  # reported already: setup retries fail the same way until the disk is fixed
    _LOGGER.error(
        "The ledger of %s cannot be written (%s): its entities are unavailable and actions "
        "are refused until it can; meters are caught up then. Retrying",
        title,
        err,
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{LEDGER_STORAGE}_{entry_id}",
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=LEDGER_STORAGE,
        translation_placeholders={"household": title, "error": str(err)},
        data={"entry_id": entry_id},
    )


def storage_fault_reported(hass: HomeAssistant, entry_id: str) -> bool:
    """Whether the household's ledger is known not to write (its repair is open)."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{LEDGER_STORAGE}_{entry_id}") is not None


@callback
def async_clear_storage_fault(hass: HomeAssistant, entry_id: str, title: str) -> None:
    """The ledger writes again: one line in the log, and the repair goes."""
    issue_id = f"{LEDGER_STORAGE}_{entry_id}"
    if ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None:
        _LOGGER.info("The ledger of %s can be written again", title)
        ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_report_torn_tail(hass: HomeAssistant, entry_id: str, title: str, torn: TornTail) -> None:
    """A file of the ledger ended in a write a crash cut short; opening set it aside."""
    checkpoints = torn.segment == CHECKPOINTS_FILE
    _LOGGER.warning(
        "The ledger of %s: %s bytes at the end of %s could not be read (%s) and were moved "
        "aside into %s",
        title,
        torn.dropped_bytes,
        torn.segment,
        torn.reason,
        torn.kept,
    )
    _ledger_issue(
        hass,
        LEDGER_CHECKPOINT_TORN if checkpoints else LEDGER_TORN_TAIL,
        entry_id,
        ir.IssueSeverity.WARNING,
        household=title,
        seq=str(torn.first_lost_seq),
        bytes=str(torn.dropped_bytes),
        kept=torn.kept,
    )


@callback
def async_report_refused(
    hass: HomeAssistant, entry_id: str, title: str, err: CorruptLedgerError
) -> None:
    """The ledger cannot be opened as it is (damaged where signed, missing, replaced, cut)."""
    _LOGGER.error("The ledger of %s is refused at entry %s: %s", title, err.seq, err.reason)
    _ledger_issue(
        hass,
        LEDGER_REFUSED,
        entry_id,
        ir.IssueSeverity.ERROR,
        household=title,
        seq=str(err.seq),
        reason=err.reason,
    )


@callback
def async_clear_refused(hass: HomeAssistant, entry_id: str) -> None:
    """The ledger opens again as it should."""
    ir.async_delete_issue(hass, DOMAIN, f"{LEDGER_REFUSED}_{entry_id}")


@callback
def async_report_verification(
    hass: HomeAssistant, entry_id: str, title: str, result: VerifyResult
) -> None:
    """Raise the tampering issue when verification failed; clear it when it passes."""
    issue_id = f"{LEDGER_TAMPERED}_{entry_id}"
    if result.valid:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    _LOGGER.error(
        "The ledger of %s failed verification at entry %s: %s",
        title,
        result.first_bad_seq,
        result.reason,
    )
    _ledger_issue(
        hass,
        LEDGER_TAMPERED,
        entry_id,
        ir.IssueSeverity.ERROR,
        household=title,
        seq=str(result.first_bad_seq),
        reason=str(result.reason),
    )


def _ledger_issue(
    hass: HomeAssistant,
    key: str,
    entry_id: str,
    severity: ir.IssueSeverity,
    **placeholders: str,
) -> None:
    """A household's ledger issue: one per household and kind, nothing the user can fix here."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{key}_{entry_id}",
        is_fixable=False,
        is_persistent=False,
        severity=severity,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@callback
def async_report_spike(
    hass: HomeAssistant, entry_id: str, device: DeviceSettings, meter: str, spike: HeldSpike
) -> None:
    """A meter jump held back: the user accepts or discards it in Repairs (repairs.py)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{METER_SPIKE}_{device.subentry_id}_{spike.at_ms}",
        is_fixable=True,
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=METER_SPIKE,
        translation_placeholders={
            "device": device.name,
            "energy": f"{spike.wh / 1000:.3f}",
            "power": f"{spike.power_w / 1000:.1f}",
        },
        data={
            "entry_id": entry_id,
            "subentry_id": device.subentry_id,
            "meter": meter,
            "from_wh": spike.from_wh,
            "to_wh": spike.to_wh,
        },
    )
    _LOGGER.warning(
        "%s: the meter %s jumped by %.3f kWh (%.1f kW); held back for review in Repairs",
        device.name,
        meter,
        spike.wh / 1000,
        spike.power_w / 1000,
    )


@callback
def async_clear_spikes(
    hass: HomeAssistant,
    *,
    entry_id: str,
    subentry_id: str | None = None,
    wh: tuple[int, int] | None = None,
) -> None:
    """Delete the held meter jumps of a household, of one of its devices, or one jump."""
    registry = ir.async_get(hass)
    for (domain, issue_id), held in list(registry.issues.items()):
        data = held.data or {}
        if (
            domain == DOMAIN
            and issue_id.startswith(METER_SPIKE)
            and data.get("entry_id") == entry_id
            and subentry_id in (None, data.get("subentry_id"))
            and wh in (None, (data.get("from_wh"), data.get("to_wh")))
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_clear_household(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every issue of a removed household, held meter jumps included."""
    for issue in (
        LEDGER_TAMPERED,
        LEDGER_TORN_TAIL,
        LEDGER_CHECKPOINT_TORN,
        LEDGER_STORAGE,
        LEDGER_REFUSED,
    ):
        ir.async_delete_issue(hass, DOMAIN, f"{issue}_{entry_id}")
    async_clear_spikes(hass, entry_id=entry_id)
