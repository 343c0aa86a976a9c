"""Voice: ask for balances and the household's state, and move tokens, in words.

The handlers read the same view and run the same economy operations, with the same validation
and permissions, as the actions; a refused or impossible request is answered in words and writes
nothing.
"""

from __future__ import annotations

from datetime import timedelta
import difflib
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv, device_registry as dr, intent
from homeassistant.util import dt as dt_util
import probatio

from .books import Device
from .const import DOMAIN
from .helpers import community_member, households
from .inputs import MAX_TOKENS, amount_milli
from .ledger import Cause, CauseKind, LedgerError
from .results import BudgetError
from .runtime import HouseholdRuntime
from .settings import MILLI
from .transfers import async_move_tokens

if TYPE_CHECKING:
    from .ledger.community import Member
    from .trade_link import TradeLink

INTENT_BALANCE = "EnergyTokensBalance"
INTENT_STATUS = "EnergyTokensStatus"
INTENT_TRANSFER = "EnergyTokensTransfer"


def _tokens(milli: int, *, exact: bool = False) -> str:
    """Tokens as spoken: one decimal at most (``exact``: every thousandth an amount has)."""
    value = milli / MILLI if exact else round(milli / MILLI, 1)
    return f"{value:g}"


def _count(milli: int, *, exact: bool = False) -> str:
    """A number of tokens, as said: "1 token", "2.5 tokens"."""
    spoken = _tokens(milli, exact=exact)
    return f"{spoken} {'token' if spoken == '1' else 'tokens'}"


def _normal(name: str) -> str:
    name = name.strip().lower()
    name = name.removeprefix("the ").removesuffix("'s").removesuffix("s'")
    return " ".join(name.split())


class _NotFound(Exception):
    """No device by that name; ``known`` lists the names there are."""

    def __init__(self, spoken: str, known: list[str]) -> None:
        super().__init__(spoken)
        self.spoken = spoken
        self.known = known


def find_device(hass: HomeAssistant, spoken: str) -> tuple[HouseholdRuntime, Device]:
    """The device a spoken name means: its name or the name its user gave it, else the closest."""
    registry = dr.async_get(hass)
    names: dict[str, tuple[HouseholdRuntime, Device]] = {}
    for household in households(hass):
        for device in household.economy.devices.values():
            names.setdefault(_normal(device.settings.name), (household, device))
            entry = registry.async_get_device_by_identifier(
                (DOMAIN, device.settings.subentry_id), household.entry.entry_id
            )
            if entry is not None and entry.name_by_user:
                names.setdefault(_normal(entry.name_by_user), (household, device))
    wanted = _normal(spoken)
    if wanted in names:
        return names[wanted]
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.7)
    if close:
        return names[close[0]]
    raise _NotFound(spoken, sorted({d.settings.name for _, d in names.values()}))


def _answer(intent_obj: intent.Intent, text: str) -> intent.IntentResponse:
    response = intent_obj.create_response()
    response.async_set_speech(text)
    return response


def _refuse(intent_obj: intent.Intent, text: str) -> intent.IntentResponse:
    """An answer that is an error (nothing was done), so Assist does not report it as done."""
    response = intent_obj.create_response()
    response.async_set_error(intent.IntentResponseErrorCode.FAILED_TO_HANDLE, text)
    return response


def _not_found(intent_obj: intent.Intent, err: _NotFound) -> intent.IntentResponse:
    if not err.known:
        return _refuse(intent_obj, "There are no Energy Tokens devices yet.")
    return _refuse(
        intent_obj,
        f"I don't know a device called {err.spoken}. Your devices are {', '.join(err.known)}.",
    )


class BalanceHandler(intent.IntentHandler):
    """How many tokens a device has left."""

    intent_type = INTENT_BALANCE
    description = (
        "Tells how many energy tokens a device (an appliance with an energy budget) has left "
        "this settlement period, and its allowance. One token pays for a set amount of energy."
    )
    slot_schema = {probatio.Required("device"): cv.string}  # noqa: RUF012 - as IntentHandler declares it

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Say the device's balance."""
        slots = self.async_validate_slots(intent_obj.slots)
        try:
            household, device = find_device(intent_obj.hass, slots["device"]["value"])
        except _NotFound as err:
            return _not_found(intent_obj, err)
        shown = household.current_view().devices[device.settings.subentry_id]
        balance = shown.balance_milli
        allowance = _tokens(shown.allowance_milli)
        name = shown.name
        if balance < 0:
            return _answer(
                intent_obj,
                f"The {name} is {_count(-balance)} over; its allowance is {allowance}.",
            )
        return _answer(intent_obj, f"The {name} has {_count(balance)} left of its {allowance}.")


def _time_left(household: HouseholdRuntime) -> str:
    period = household.view.period
    assert period is not None
    left = period.end - dt_util.utcnow()
    if left >= timedelta(days=2):
        return f"{left.days} days"
    if left >= timedelta(hours=2):
        return f"{int(left.total_seconds() // 3600)} hours"
    return f"{max(int(left.total_seconds() // 60), 1)} minutes"


class StatusHandler(intent.IntentHandler):
    """The household's pool, top consumer and time left in the period."""

    intent_type = INTENT_STATUS
    description = (
        "Tells the state of the household's energy token budget: unallocated tokens, the "
        "device that consumed the most this period, and the time left in the period."
    )

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Say each household's state."""
        loaded = households(intent_obj.hass)
        if not loaded:
            return _refuse(intent_obj, "There is no Energy Tokens household yet.")
        parts = []
        for household in loaded:
            view = household.view  # as the household's sensors show it
            top_text = f" The {view.top_consumer} consumed the most." if view.top_consumer else ""
            parts.append(
                f"{view.name} has {_count(view.pool_milli)} "
                f"unallocated.{top_text} The period ends in {_time_left(household)}."
            )
        return _answer(intent_obj, " ".join(parts))


class TransferHandler(intent.IntentHandler):
    """Move tokens from one device to another."""

    intent_type = INTENT_TRANSFER
    description = (
        "Moves energy tokens from one device's budget to another's, e.g. to let the heater use "
        "tokens the dryer does not need. Both devices are named; the amount is in tokens. The "
        "recipient may also be a member household of the community, by its name."
    )
    slot_schema = {  # noqa: RUF012 - as IntentHandler declares it
        probatio.Required("from_device"): cv.string,
        probatio.Required("to_device"): cv.string,
        # A number for the LLM's tool schema; the value as given is what inputs.amount_milli
        # checks (a boolean coerces to 1.0 here, and is refused there).
        probatio.Required("amount"): probatio.Coerce(float),
    }

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Move the tokens, or say why not."""
        slots = self.async_validate_slots(intent_obj.slots)
        hass = intent_obj.hass
        spoken_to = slots["to_device"]["value"]
        try:
            household, source = find_device(hass, slots["from_device"]["value"])
        except _NotFound as err:
            return _not_found(intent_obj, err)
        try:
            peer, target = find_device(hass, spoken_to)
        except _NotFound as err:  # not a device here: perhaps a member of the community
            if (member := _member(household, spoken_to)) is None:
                return _not_found(intent_obj, err)
            return await self._async_offer(intent_obj, household, source, *member)
        cause = Cause(CauseKind.VOICE, intent_obj.context.user_id or "")
        amount = 0
        try:
            amount = amount_milli(intent_obj.slots["amount"]["value"])
            await async_move_tokens(household, source, peer, target, amount, cause, "by voice")
        except LedgerError:
            return _refuse(intent_obj, "The tokens could not be recorded, so nothing moved.")
        except HomeAssistantError:  # between households, unfinished: it completes later
            return _refuse(
                intent_obj,
                "The transfer is not finished: a ledger could not be written. The tokens arrive, "
                "or go back, once it can be.",
            )
        except BudgetError as err:
            return _refuse(intent_obj, _refusal(err, household, source, amount))
        received = peer.view.devices[target.settings.subentry_id]
        return _answer(
            intent_obj,
            f"Moved {_count(amount, exact=True)} from the {source.settings.name} to the "
            f"{received.name}. The {received.name} now has {_count(received.balance_milli)}.",
        )

    async def _async_offer(
        self,
        intent_obj: intent.Intent,
        household: HouseholdRuntime,
        source: Device,
        link: TradeLink,
        member: Member,
    ) -> intent.IntentResponse:
        """To a member of the community, on another instance: offered, and on its way."""
        cause = Cause(CauseKind.VOICE, intent_obj.context.user_id or "")
        amount = 0
        try:
            amount = amount_milli(intent_obj.slots["amount"]["value"])
            await link.async_send(source, member.household, amount, cause, "by voice")
        except LedgerError:
            return _refuse(intent_obj, "The tokens could not be recorded, so nothing moved.")
        except BudgetError as err:
            return _refuse(intent_obj, _refusal(err, household, source, amount))
        return _answer(
            intent_obj,
            f"Offered {_count(amount, exact=True)} from the {source.settings.name} to "
            f"{member.name}. They arrive once {member.name}'s Home Assistant takes them.",
        )


def _member(household: HouseholdRuntime, spoken: str) -> tuple[TradeLink, Member] | None:
    """The household's community member a spoken name means, if it has a community."""
    try:
        return community_member(household, _normal(spoken))
    except HomeAssistantError:
        return None


def _refusal(err: BudgetError, household: HouseholdRuntime, source: Device, amount: int) -> str:
    name = source.settings.name
    match err.key:
        case "insufficient_balance":
            balance = household.current_view().devices[source.settings.subentry_id].balance_milli
            return (
                f"The {name} has only {_count(balance)}, "
                f"so it can't give {_tokens(amount, exact=True)}."
            )
        case "same_device":
            return "Tokens can't move from a device to itself."
        case "amount_too_large":
            return f"I can move at most {MAX_TOKENS:,} tokens at once."
        case "amount_too_precise":
            return "Tokens are counted in thousandths; say an amount with at most three decimals."
        case "amount_not_positive":
            return "The amount has to be more than zero tokens."
        case _:  # not a number, or not a finite one
            return "I didn't understand the amount; say a number of tokens."


async def async_setup_intents(hass: HomeAssistant) -> None:
    """Register the intents; Home Assistant's intent integration calls this.

    They also become tools for LLM assistants (llm.py).
    """
    for handler in (BalanceHandler(), StatusHandler(), TransferHandler()):
        intent.async_register(hass, handler)
