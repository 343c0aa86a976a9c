"""Actions: move, buy, sell and read tokens.

Handlers resolve their targets (helpers.py), then run an operation of the household's economy,
which refuses before anything is written; the runtime follows it up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util.json import JsonValueType
import probatio

from .books import Device
from .const import CONF_ALLOWANCE, DOMAIN
from .helpers import (
    async_require_admin,
    community_link,
    community_member,
    device,
    household,
    offers_response,
    refusals_translated,
    translated_error,
)
from .inputs import amount_milli, price_micro
from .ledger import Cause, CauseKind, Entry
from .reconcile import async_reconcile
from .runtime import HouseholdRuntime
from .settings import MILLI
from .transfers import async_move_tokens
from .view import HouseholdView

ATTR_HOUSEHOLD = "household"
ATTR_DEVICE = "device"
ATTR_FROM = "from_device"
ATTR_TO = "to_device"
ATTR_TO_MEMBER = "to_member"
ATTR_EXPIRES_IN = "expires_in"
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
SERVICE_RECONCILE = "reconcile"
ATTR_PERIOD = "period"
ATTR_PRICE = "price"
ATTR_OFFER = "offer"
SERVICE_OFFER_FOR_SALE = "offer_for_sale"
SERVICE_BUY_OFFER = "buy_offer"
SERVICE_GET_OFFERS = "get_offers"

# Amounts are taken as given and checked by inputs.amount_milli, whose refusals are translated
# and say what is wrong (a schema error would not); the selector offers a number anyway.
AMOUNT = probatio.Any(int, float, str)
EXPIRES_IN = probatio.All(probatio.Coerce(float), probatio.Range(min=0.1, max=168))  # hours

TRANSFER_SCHEMA = probatio.All(
    probatio.Schema(
        {
            probatio.Required(ATTR_FROM): cv.string,
            probatio.Exclusive(ATTR_TO, "recipient"): cv.string,
            probatio.Exclusive(ATTR_TO_MEMBER, "recipient"): cv.string,
            probatio.Required(ATTR_AMOUNT): AMOUNT,
            probatio.Optional(ATTR_NOTE, default=""): cv.string,
            probatio.Optional(ATTR_EXPIRES_IN, default=24): EXPIRES_IN,
        }
    ),
    cv.has_at_least_one_key(ATTR_TO, ATTR_TO_MEMBER),
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
RECONCILE_SCHEMA = HOUSEHOLD_SCHEMA.extend({probatio.Optional(ATTR_PERIOD): cv.string})
OFFER_FOR_SALE_SCHEMA = SELL_SCHEMA.extend(
    {
        probatio.Required(ATTR_AMOUNT): AMOUNT,
        probatio.Required(ATTR_PRICE): AMOUNT,
        probatio.Optional(ATTR_NOTE, default=""): cv.string,
        probatio.Optional(ATTR_EXPIRES_IN, default=24): EXPIRES_IN,
    }
)
BUY_OFFER_SCHEMA = HOUSEHOLD_SCHEMA.extend({probatio.Required(ATTR_OFFER): cv.string})


def _cause(call: ServiceCall) -> Cause:
    """Who asked: a user, or an automation or script (no user)."""
    if call.context.user_id:
        return Cause(CauseKind.USER, call.context.user_id)
    return Cause(CauseKind.AUTOMATION, call.context.id)


async def _async_transfer(call: ServiceCall) -> None:
    runtime, source = device(call.hass, call.data[ATTR_FROM])
    if ATTR_TO_MEMBER in call.data:  # a household on another instance, over the community
        link, member = community_member(runtime, call.data[ATTR_TO_MEMBER])
        expires = timedelta(hours=call.data[ATTR_EXPIRES_IN])
        with refusals_translated():
            amount, note = amount_milli(call.data[ATTR_AMOUNT]), call.data[ATTR_NOTE]
            await link.async_send(source, member.household, amount, _cause(call), note, expires)
        return
    peer, target = device(call.hass, call.data[ATTR_TO])
    with refusals_translated():
        amount, note = amount_milli(call.data[ATTR_AMOUNT]), call.data[ATTR_NOTE]
        await async_move_tokens(runtime, source, peer, target, amount, _cause(call), note)


async def _async_set_allowance(call: ServiceCall) -> None:
    runtime, books = device(call.hass, call.data[ATTR_DEVICE])
    now = call.data[ATTR_WHEN] == WHEN_NOW
    with refusals_translated():
        amount = amount_milli(call.data[ATTR_AMOUNT], zero_allowed=True)
        result = runtime.economy.set_allowance(books, amount, _cause(call), now=now)
        await runtime.async_act(result)
    # Stored once recorded (a failed write leaves the setting as it was); the economy has the
    # new allowance already, so storing it records nothing twice.
    runtime.async_update_device(books.settings.subentry_id, **{CONF_ALLOWANCE: amount / MILLI})


async def _async_top_up(call: ServiceCall) -> None:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    books = None
    if ATTR_DEVICE in call.data:
        other, books = device(call.hass, call.data[ATTR_DEVICE])
        if other is not runtime:
            raise translated_error("other_household")
    with refusals_translated():
        amount = amount_milli(call.data[ATTR_AMOUNT])
        await runtime.async_act(runtime.economy.top_up(amount, _cause(call), books))


async def _async_seller(call: ServiceCall) -> tuple[HouseholdRuntime, Device | None]:
    """The household and the device whose tokens are sold; None: the household's pool."""
    if ATTR_DEVICE in call.data:
        return device(call.hass, call.data[ATTR_DEVICE])
    if ATTR_HOUSEHOLD in call.data:
        # The pool is everyone's: selling it is for administrators, as buying it is.
        await async_require_admin(call.hass, call.context, "pool_sale_admin_only")
        return household(call.hass, call.data[ATTR_HOUSEHOLD]), None
    raise translated_error("seller_missing")


async def _async_sell_surplus(call: ServiceCall) -> None:
    runtime, books = await _async_seller(call)
    with refusals_translated():
        amount = call.data.get(ATTR_AMOUNT)
        milli = None if amount is None else amount_milli(amount)
        await runtime.async_act(runtime.economy.sell(books, milli, _cause(call)))


async def _async_offer_for_sale(call: ServiceCall) -> None:
    runtime, books = await _async_seller(call)
    link = community_link(runtime)
    expires = timedelta(hours=call.data[ATTR_EXPIRES_IN])
    with refusals_translated():
        amount, price = amount_milli(call.data[ATTR_AMOUNT]), price_micro(call.data[ATTR_PRICE])
        note = call.data[ATTR_NOTE]
        await link.async_sell(books, amount, price, _cause(call), note, expires)


async def _async_buy_offer(call: ServiceCall) -> None:
    link = community_link(household(call.hass, call.data[ATTR_HOUSEHOLD]))
    with refusals_translated():
        await link.async_buy(call.data[ATTR_OFFER].strip().lower(), _cause(call))


async def _async_get_offers(call: ServiceCall) -> ServiceResponse:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    return {"offers": cast(JsonValueType, offers_response(runtime))}


async def _async_close_period(call: ServiceCall) -> None:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    with refusals_translated():
        closed = runtime.async_close_period_now(cause=_cause(call))
        await runtime.async_commit(through=closed.entries[-1].seq)


async def _async_verify_ledger(call: ServiceCall) -> ServiceResponse:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    with refusals_translated():
        await runtime.async_commit()  # verify what has been recorded up to now
    data: dict[str, Any] = (await runtime.async_verify()).as_dict()
    del data["checkpoints_verified"]
    return data


async def _async_get_balances(call: ServiceCall) -> ServiceResponse:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    return balances_response(runtime, runtime.current_view())


def balances_response(runtime: HouseholdRuntime, view: HouseholdView) -> dict[str, Any]:
    """Every device's id, balance, allowance, consumption, status and projected run-out."""
    return {
        "household": view.name,
        "pool": view.pool,
        "period_end": None if view.period is None else view.period.end.isoformat(),
        "devices": [
            {
                "device": device_view.name,
                "device_id": runtime.device_id(subentry_id),
                "balance": device_view.balance,
                "allowance": device_view.allowance,
                **(
                    {}
                    if device_view.next_allowance is None
                    else {"next_period_allowance": device_view.next_allowance}
                ),
                "consumed": device_view.consumed,
                "status": device_view.status.value,
                "run_out": None if device_view.run_out is None else device_view.run_out.isoformat(),
            }
            for subentry_id, device_view in view.devices.items()
        ],
    }


async def _async_get_ledger(call: ServiceCall) -> ServiceResponse:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    account = None
    if ATTR_DEVICE in call.data:
        other, books = device(call.hass, call.data[ATTR_DEVICE])
        if other is not runtime:
            raise translated_error("other_household")
        account = books.settings.account
    with refusals_translated():
        await runtime.async_commit()  # reading sees durable entries
    entries = await call.hass.async_add_executor_job(
        _read_entries, runtime, call.data[ATTR_SINCE], call.data[ATTR_LIMIT], account
    )
    return {"entries": cast(JsonValueType, entries)}


def _read_entries(
    runtime: HouseholdRuntime, since: int, limit: int, account: str | None
) -> list[dict[str, Any]]:
    found = []
    entry: Entry
    for entry in runtime.economy.ledger.iter_entries(since_seq=since):
        if account is not None and account not in (entry.from_account, entry.to_account):
            continue
        found.append(entry.as_dict())
        if len(found) == limit:
            break
    return found


async def _async_reconcile(call: ServiceCall) -> ServiceResponse:
    runtime = household(call.hass, call.data[ATTR_HOUSEHOLD])
    with refusals_translated():
        return await async_reconcile(call.hass, runtime, call.data.get(ATTR_PERIOD))


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for every household)."""
    hass.services.async_register(DOMAIN, SERVICE_TRANSFER, _async_transfer, TRANSFER_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SELL_SURPLUS, _async_sell_surplus, SELL_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_OFFER_FOR_SALE, _async_offer_for_sale, OFFER_FOR_SALE_SCHEMA
    )
    # Actions that create or spend money or change allowances are for administrators.
    for name, action, schema in (
        (SERVICE_SET_ALLOWANCE, _async_set_allowance, SET_ALLOWANCE_SCHEMA),
        (SERVICE_TOP_UP, _async_top_up, TOP_UP_SCHEMA),
        (SERVICE_CLOSE_PERIOD, _async_close_period, HOUSEHOLD_SCHEMA),
        (SERVICE_BUY_OFFER, _async_buy_offer, BUY_OFFER_SCHEMA),
    ):
        async_register_admin_service(hass, DOMAIN, name, action, schema)
    for name, handler, schema in (
        (SERVICE_VERIFY_LEDGER, _async_verify_ledger, HOUSEHOLD_SCHEMA),
        (SERVICE_GET_BALANCES, _async_get_balances, HOUSEHOLD_SCHEMA),
        (SERVICE_GET_LEDGER, _async_get_ledger, GET_LEDGER_SCHEMA),
        (SERVICE_RECONCILE, _async_reconcile, RECONCILE_SCHEMA),
        (SERVICE_GET_OFFERS, _async_get_offers, HOUSEHOLD_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema, supports_response=SupportsResponse.ONLY
        )
