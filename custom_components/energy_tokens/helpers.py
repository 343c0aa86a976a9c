"""Finding households and devices for actions, voice and the WebSocket API; refusals translated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_get_config_entry
from homeassistant.util import dt as dt_util

from .books import Device
from .const import DOMAIN
from .ledger import LedgerError
from .ledger.community import Member
from .results import BudgetError
from .runtime import EnergyTokensConfigEntry, HouseholdRuntime
from .settings import MICRO, MILLI

if TYPE_CHECKING:
    from .trade_link import TradeLink


def translated_error(key: str, **placeholders: str) -> ServiceValidationError:
    """A refusal in the user's language (``exceptions.<key>`` in the translations)."""
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def async_require_admin(hass: HomeAssistant, context: Context | None, key: str) -> None:
    """Refuse, translated (``key``), when a user who is not an administrator asked.

    Automations and scripts (no user) may: whoever wrote them could do it by hand.
    """
    user_id = None if context is None else context.user_id
    if user_id is None:
        return
    user = await hass.auth.async_get_user(user_id)
    if user is None or not user.is_admin:
        raise translated_error(key)


@contextmanager
def refusals_translated() -> Iterator[None]:
    """Turn the economy's refusals (which wrote nothing) into translated errors.

    A ledger that cannot be written refuses too: the action is not recorded.
    """
    try:
        yield
    except BudgetError as err:
        raise translated_error(err.key, **err.placeholders) from err
    except LedgerError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="ledger_write_failed",
            translation_placeholders={"error": str(err)},
        ) from err


def household(hass: HomeAssistant, entry_id: str | None) -> HouseholdRuntime:
    """The loaded household ``entry_id``; without one, the only loaded household."""
    entry: EnergyTokensConfigEntry = async_get_config_entry(hass, DOMAIN, entry_id)
    return entry.runtime_data


def households(hass: HomeAssistant) -> list[HouseholdRuntime]:
    """Every loaded household."""
    entries: list[EnergyTokensConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return [entry.runtime_data for entry in entries if entry.state is ConfigEntryState.LOADED]


def community_link(runtime: HouseholdRuntime) -> TradeLink:
    """The household's link for trading with its community; refused outside one."""
    if runtime.trade is None or runtime.community is None:
        raise translated_error("not_in_community", household=runtime.entry.title)
    return runtime.trade


def offers_response(runtime: HouseholdRuntime) -> list[dict[str, Any]]:
    """The members' sale offers the household may buy (none outside a community)."""
    if runtime.trade is None or runtime.community is None:
        return []
    members = runtime.community.members
    return [
        {
            "offer": sale.offer_id,
            "seller": members[seller].name if seller in members else seller,
            "amount": sale.amount / MILLI,
            "price": sale.price_micro / MICRO,
            "currency": sale.currency,
            "expires": dt_util.utc_from_timestamp(sale.expires_ms / 1000).isoformat(),
            "note": sale.note,
        }
        for seller, sale in runtime.trade.trader.offers_for_sale()
    ]


def community_member(runtime: HouseholdRuntime, wanted: str) -> tuple[TradeLink, Member]:
    """The household's transfers link and an admitted member, by household id or name."""
    link = community_link(runtime)
    assert runtime.community is not None
    members = runtime.community.members.values()
    folded = wanted.strip().casefold()
    found = [m for m in members if m.household == wanted or m.name.casefold() == folded]
    if len(found) != 1:
        raise translated_error("unknown_member", member=wanted)
    return link, found[0]


def device(hass: HomeAssistant, device_id: str) -> tuple[HouseholdRuntime, Device]:
    """The household and books of a metered device, by its Home Assistant device id."""
    registered = dr.async_get(hass).async_get(device_id)
    if (
        registered is None
        or registered.config_subentry_id is None
        or registered.config_entry_id is None
        or not any(domain == DOMAIN for domain, _ in registered.identifiers)
    ):
        raise translated_error("unknown_device", device=device_id)
    runtime = household(hass, registered.config_entry_id)
    books = runtime.economy.devices.get(registered.config_subentry_id)
    if books is None:
        raise translated_error("unknown_device", device=device_id)
    return runtime, books
