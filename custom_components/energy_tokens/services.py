"""Actions: move, buy, sell and read tokens.

Handlers resolve their targets, then call the household's methods, which validate before
anything is written.
"""

from __future__ import annotations

from typing import Any, cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util.json import JsonValueType
import probatio

from .const import CONF_ALLOWANCE, DOMAIN
from .household import BudgetError, DeviceState, EnergyTokensConfigEntry, Household
from .ledger import Cause, CauseKind, VerifyResult
from .policies import POOL
from .settings import MILLI, to_milli

ATTR_HOUSEHOLD = "household"
ATTR_DEVICE = "device"
ATTR_FROM = "from_device"
ATTR_TO = "to_device"
ATTR_AMOUNT = "amount"
ATTR_NOTE = "note"
ATTR_WHEN = "when"
ATTR_SINCE = "since"
ATTR_LIMIT = "limit"

WHEN_NOW = "now"
WHEN_NEXT_PERIOD = "next_period"

SERVICE_TRANSFER = "transfer"
SERVICE_SET_ALLOWANCE = "set_allowance"
SERVICE_TOP_UP = "top_up"
SERVICE_SELL_SURPLUS = "sell_surplus"
SERVICE_CLOSE_PERIOD = "close_period"
SERVICE_VERIFY_LEDGER = "verify_ledger"
SERVICE_GET_BALANCES = "get_balances"
SERVICE_GET_LEDGER = "get_ledger"

AMOUNT = probatio.Coerce(float)

TRANSFER_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_FROM): cv.string,
        probatio.Required(ATTR_TO): cv.string,
        probatio.Required(ATTR_AMOUNT): AMOUNT,
        probatio.Optional(ATTR_NOTE, default=""): cv.string,
    }
)
SET_ALLOWANCE_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE): cv.string,
        probatio.Required(ATTR_AMOUNT): AMOUNT,
        probatio.Optional(ATTR_WHEN, default=WHEN_NEXT_PERIOD): probatio.In(
            [WHEN_NOW, WHEN_NEXT_PERIOD]
        ),
    }
)
HOUSEHOLD_SCHEMA = probatio.Schema({probatio.Required(ATTR_HOUSEHOLD): cv.string})
TOP_UP_SCHEMA = HOUSEHOLD_SCHEMA.extend(
    {probatio.Required(ATTR_AMOUNT): AMOUNT, probatio.Optional(ATTR_DEVICE): cv.string}
)
SELL_SCHEMA = probatio.Schema(
    {
        probatio.Exclusive(ATTR_DEVICE, "seller"): cv.string,
        probatio.Exclusive(ATTR_HOUSEHOLD, "seller"): cv.string,
        probatio.Optional(ATTR_AMOUNT): AMOUNT,
    }
)
GET_LEDGER_SCHEMA = HOUSEHOLD_SCHEMA.extend(
    {
        probatio.Optional(ATTR_DEVICE): cv.string,
        probatio.Optional(ATTR_SINCE, default=1): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1)
        ),
        probatio.Optional(ATTR_LIMIT, default=100): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=1000)
        ),
    }
)


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def resolve_household(hass: HomeAssistant, entry_id: str | None) -> Household:
    """The loaded household ``entry_id``; without one, the only loaded household."""
    if entry_id is None:
        loaded = hass.config_entries.async_loaded_entries(DOMAIN)
        if len(loaded) != 1:
            raise _error("household_required" if loaded else "no_household")
        entry_id = loaded[0].entry_id
    entry: EnergyTokensConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("unknown_household", household=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _error("household_not_loaded", household=entry.title)
    return entry.runtime_data


def _device(hass: HomeAssistant, device_id: str) -> tuple[Household, DeviceState]:
    device = dr.async_get(hass).async_get(device_id)
    if device is None or device.config_subentry_id is None or device.config_entry_id is None:
        raise _error("unknown_device", device=device_id)
    household = resolve_household(hass, device.config_entry_id)
    state = household.devices.get(device.config_subentry_id)
    if state is None:
        raise _error("unknown_device", device=device_id)
    return household, state


def _cause(call: ServiceCall) -> Cause:
    """Who asked: a user, or an automation or script (no user)."""
    if call.context.user_id:
        return Cause(CauseKind.USER, call.context.user_id)
    return Cause(CauseKind.AUTOMATION, call.context.id)


def _run(action: Any, *args: Any) -> Any:
    try:
        return action(*args)
    except BudgetError as err:
        raise _error(err.key, **err.placeholders) from err


async def _async_transfer(call: ServiceCall) -> None:
    household, source = _device(call.hass, call.data[ATTR_FROM])
    other, target = _device(call.hass, call.data[ATTR_TO])
    amount, cause, note = to_milli(call.data[ATTR_AMOUNT]), _cause(call), call.data[ATTR_NOTE]
    if other is household:
        _run(household.async_transfer, source, target, amount, cause, note)
    else:
        _run(household.async_send, source, other, target, amount, cause, note)


async def _async_set_allowance(call: ServiceCall) -> None:
    household, device = _device(call.hass, call.data[ATTR_DEVICE])
    amount = to_milli(call.data[ATTR_AMOUNT])
    if amount < 0:
        raise _error("amount_negative")
    if call.data[ATTR_WHEN] == WHEN_NOW:
        _run(household.async_adjust_allowance_now, device, amount, _cause(call))
        await household.async_commit()  # durable before the reload the new setting causes
    entry = household.entry
    subentry = entry.subentries[device.settings.subentry_id]
    call.hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_ALLOWANCE: amount / MILLI}
    )


async def _async_top_up(call: ServiceCall) -> None:
    household = resolve_household(call.hass, call.data[ATTR_HOUSEHOLD])
    device = None
    if ATTR_DEVICE in call.data:
        other, device = _device(call.hass, call.data[ATTR_DEVICE])
        if other is not household:
            raise _error("other_household")
    _run(household.async_top_up, to_milli(call.data[ATTR_AMOUNT]), _cause(call), device)


async def _async_sell_surplus(call: ServiceCall) -> None:
    amount = call.data.get(ATTR_AMOUNT)
    milli = None if amount is None else to_milli(amount)
    if ATTR_DEVICE in call.data:
        household, device = _device(call.hass, call.data[ATTR_DEVICE])
        _run(household.async_sell, device, milli, _cause(call))
    elif ATTR_HOUSEHOLD in call.data:
        household = resolve_household(call.hass, call.data[ATTR_HOUSEHOLD])
        _run(household.async_sell, None, milli, _cause(call))
    else:
        raise _error("seller_missing")


async def _async_close_period(call: ServiceCall) -> None:
    resolve_household(call.hass, call.data[ATTR_HOUSEHOLD]).async_close_period_now()


async def _async_verify_ledger(call: ServiceCall) -> ServiceResponse:
    household = resolve_household(call.hass, call.data[ATTR_HOUSEHOLD])
    await household.async_commit()  # verify what has been recorded up to now
    return _verification_response(await household.async_verify())


def _verification_response(result: VerifyResult) -> ServiceResponse:
    """The verification result as response data: valid, entries, head, first_bad_seq, reason."""
    data: dict[str, Any] = result.as_dict()
    del data["checkpoints_verified"]
    return data


async def _async_get_balances(call: ServiceCall) -> ServiceResponse:
    household = resolve_household(call.hass, call.data[ATTR_HOUSEHOLD])
    return balances_response(household)


def balances_response(household: Household) -> dict[str, Any]:
    """Every device's id, balance, allowance, consumption, status and projected run-out."""
    registry = dr.async_get(household.hass)
    entry_id = household.entry.entry_id
    devices = []
    for device in household.devices.values():
        run_out = household.run_out(device)
        registered = registry.async_get_device_by_identifier(
            (DOMAIN, device.settings.subentry_id), entry_id
        )
        devices.append(
            {
                "device": device.settings.name,
                "device_id": None if registered is None else registered.id,
                "balance": household.balance_milli(device) / MILLI,
                "allowance": device.settings.allowance_milli / MILLI,
                "consumed": household.consumed_milli(device) / MILLI,
                "status": household.status_of(device).value,
                "run_out": None if run_out is None else run_out.isoformat(),
            }
        )
    return {
        "household": household.entry.title,
        "pool": household.ledger.balance(POOL) / MILLI,
        "period_end": None if household.period is None else household.period.end.isoformat(),
        "devices": devices,
    }


async def _async_get_ledger(call: ServiceCall) -> ServiceResponse:
    household = resolve_household(call.hass, call.data[ATTR_HOUSEHOLD])
    account = None
    if ATTR_DEVICE in call.data:
        other, device = _device(call.hass, call.data[ATTR_DEVICE])
        if other is not household:
            raise _error("other_household")
        account = device.settings.account
    await household.async_commit()  # reading sees durable entries
    entries = await call.hass.async_add_executor_job(
        _read_entries, household, call.data[ATTR_SINCE], call.data[ATTR_LIMIT], account
    )
    return {"entries": cast(JsonValueType, entries)}


def _read_entries(
    household: Household, since: int, limit: int, account: str | None
) -> list[dict[str, Any]]:
    found = []
    for entry in household.ledger.iter_entries(since_seq=since):
        if account is not None and account not in (entry.from_account, entry.to_account):
            continue
        found.append(entry.as_dict())
        if len(found) == limit:
            break
    return found


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for every household)."""
    hass.services.async_register(DOMAIN, SERVICE_TRANSFER, _async_transfer, TRANSFER_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SELL_SURPLUS, _async_sell_surplus, SELL_SCHEMA)
    # Actions that create money or change allowances are for administrators.
    async_register_admin_service(
        hass, DOMAIN, SERVICE_SET_ALLOWANCE, _async_set_allowance, SET_ALLOWANCE_SCHEMA
    )
    async_register_admin_service(hass, DOMAIN, SERVICE_TOP_UP, _async_top_up, TOP_UP_SCHEMA)
    async_register_admin_service(
        hass, DOMAIN, SERVICE_CLOSE_PERIOD, _async_close_period, HOUSEHOLD_SCHEMA
    )
    for name, handler, schema in (
        (SERVICE_VERIFY_LEDGER, _async_verify_ledger, HOUSEHOLD_SCHEMA),
        (SERVICE_GET_BALANCES, _async_get_balances, HOUSEHOLD_SCHEMA),
        (SERVICE_GET_LEDGER, _async_get_ledger, GET_LEDGER_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema, supports_response=SupportsResponse.ONLY
        )
