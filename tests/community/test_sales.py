"""Tokens sold to the community: offers every member sees, the first buyer, money both sides."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.util.yaml.objects import NodeStrClass
import pytest

from custom_components.energy_tokens.const import CONF_SELL_PRICE, CONF_SURPLUS, DOMAIN
from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics
from custom_components.energy_tokens.websocket_api import household_view

from ..helpers import device_id
from .conftest import Broker, Household, wait_for
from .test_transfers import (  # noqa: F401 (quick_retry: a fixture, used by name)
    _buy,
    _community,
    _match,
    _settled,
    _tokens,
    _trader,
    quick_retry,
)


async def _offers(household: Household) -> list[dict[str, Any]]:
    response = await household.hass.services.async_call(
        DOMAIN,
        "get_offers",
        {"household": household.entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    offers: list[dict[str, Any]] = response["offers"]  # type: ignore[assignment]
    return offers


def _listed(household: Household) -> bool:
    """Whether the household sees a member's sale offer."""
    return bool(_trader(household).market)


def _money(household: Household) -> tuple[int, int]:
    economy = household.runtime.economy
    return economy.sales_micro, economy.cost_micro


async def test_a_sale_goes_to_the_first_buyer_and_both_ledgers_record_the_money(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    one, two, three = households = await _community(
        stack, tmp_path, broker, hass, "One", "Two", "Three"
    )
    total = _tokens(households)
    money = {h.entry.title: _money(h) for h in households}
    pools = {h.entry.title: h.runtime.economy.pool_milli for h in households}
    await one.hass.services.async_call(
        DOMAIN,
        "offer_for_sale",
        {
            "device": device_id(one.hass, one.entry, "Heater"),
            "amount": 2.5,
            "price": "0.3",
            "note": "sunny week",
        },
        blocking=True,
    )
    assert one.runtime.economy.ledger.balance("escrow:sale") == 2_500  # durable, nobody's
    for buyer in (two, three):
        await wait_for(partial(_listed, buyer), "the offer listed")
        [listed] = await _offers(buyer)
        assert {k: v for k, v in listed.items() if k not in ("offer", "expires")} == {
            "seller": "One",
            "amount": 2.5,
            "price": 0.3,
            "currency": "EUR",
            "note": "sunny week",
        }
    assert await _offers(one) == []  # not its own
    assert household_view(two.runtime)["offers"][0]["seller"] == "One"  # the card's list
    diagnostics = await async_get_config_entry_diagnostics(two.hass, two.entry)
    assert diagnostics["community"]["transfers"]["offers_for_sale"] == 1
    # A user who is not an administrator cannot spend the household's money.
    await three.hass.auth.async_create_user("Owner")  # the first user of an instance owns it
    viewer = await three.hass.auth.async_create_user("Member", group_ids=[GROUP_ID_USER])
    assert not viewer.is_admin
    seq = three.runtime.economy.ledger.seq
    with pytest.raises(Unauthorized):
        await _buy(three, listed["offer"], Context(user_id=viewer.id))
    assert three.runtime.economy.ledger.seq == seq
    with pytest.raises(ServiceValidationError) as refused:  # nor sell the household's pool
        await three.hass.services.async_call(
            DOMAIN,
            "offer_for_sale",
            {"household": three.entry.entry_id, "amount": 1, "price": 0},
            blocking=True,
            context=Context(user_id=viewer.id),
        )
    assert refused.value.translation_key == "pool_sale_admin_only"
    assert three.runtime.economy.ledger.seq == seq
    await _buy(two, listed["offer"])
    await _buy(three, listed["offer"].upper())  # the id as printed, in any case
    await wait_for(lambda: _settled(households), "the sale to settle")
    assert _tokens(households) == total
    winners = [h for h in (two, three) if h.runtime.economy.pool_milli > pools[h.entry.title]]
    [winner] = winners  # exactly one buyer got the tokens; the other was refunded
    [loser] = [h for h in (two, three) if h is not winner]
    assert winner.runtime.economy.pool_milli == pools[winner.entry.title] + 2_500
    assert loser.runtime.economy.pool_milli == pools[loser.entry.title]
    assert _money(one) == (money["One"][0] + 750_000, money["One"][1])  # 2.5 tokens at 0.30
    assert _money(winner)[1] == money[winner.entry.title][1] + 750_000
    assert _money(loser) == money[loser.entry.title]
    await wait_for(lambda: not _listed(two), "the sold offer withdrawn")
    assert await _offers(three) == []
    assert (await _match(one, winner)).startswith("MATCH 1 transfers")
    assert (await _match(one, loser)).startswith("MATCH 0 transfers")


async def test_bad_offers_and_purchases_are_refused_in_words_and_write_nothing(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    one, two = await _community(stack, tmp_path, broker, hass, "One", "Two")
    heater = device_id(one.hass, one.entry, "Heater")
    seq = one.runtime.economy.ledger.seq
    for amount, price, key in (
        (1, "nan", "price_not_finite"),
        (1, float("inf"), "price_not_finite"),
        (1, True, "price_not_number"),
        (1, -1, "price_negative"),
        (1, 1e12, "price_too_large"),
        (1, "0.0000001", "price_too_precise"),
        (1, "cheap", "price_not_number"),
        (float("inf"), 1, "amount_not_finite"),
        (1e12, 1, "amount_too_large"),
        (float("nan"), 1, "amount_not_finite"),
        (41, 1, "insufficient_balance"),
    ):
        with pytest.raises(ServiceValidationError) as refused:
            await one.hass.services.async_call(
                DOMAIN,
                "offer_for_sale",
                {"device": heater, "amount": amount, "price": price},
                blocking=True,
            )
        assert refused.value.translation_key == key, (amount, price)
    with pytest.raises(ServiceValidationError) as refused:  # a 1 MB note
        await one.hass.services.async_call(
            DOMAIN,
            "offer_for_sale",
            {"device": heater, "amount": 1, "price": 1, "note": "x" * 1_000_000},
            blocking=True,
        )
    assert refused.value.translation_key == "note_too_long"
    assert one.runtime.economy.ledger.seq == seq
    with pytest.raises(ServiceValidationError) as refused:
        await _buy(two, "ab" * 32)
    assert refused.value.translation_key == "unknown_offer"
    assert "get_offers" in str(refused.value)  # translated, saying where the ids are


async def test_a_period_s_unused_tokens_are_offered_to_the_community(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    """The community surplus policy: at the close, the pool's tokens go on sale for a day."""
    settings = {CONF_SURPLUS: "community", CONF_SELL_PRICE: 0.2}
    one, two = households = await _community(
        stack, tmp_path, broker, hass, "One", "Two", settings=settings
    )
    # The currency as configuration.yaml gives it: a subclass of str, written as plain text.
    one.hass.config.currency = NodeStrClass("EUR")
    await one.reload()
    await wait_for(lambda: bool(one.runtime.trade and one.runtime.trade.started), "One back")
    unused = one.runtime.economy.pool_milli + 40_000  # the pool's and the heater's allowance
    sales = _money(one)[0]
    await one.hass.services.async_call(
        DOMAIN, "close_period", {"household": one.entry.entry_id}, blocking=True
    )
    assert one.runtime.economy.ledger.balance("escrow:sale") == unused
    total = _tokens(households)  # the new period's tokens bought, the unused on sale
    await wait_for(partial(_listed, two), "the surplus listed")
    [listed] = await _offers(two)
    assert (listed["seller"], listed["amount"], listed["price"]) == ("One", unused / 1000, 0.2)
    await _buy(two, listed["offer"])
    await wait_for(lambda: _settled(households), "the sale to settle")
    assert _tokens(households) == total
    assert _money(one)[0] == sales + unused * 200_000 // 1000
    assert (await _match(one, two)).startswith("MATCH 1 transfers")


async def test_a_full_disk_refuses_a_purchase_and_holds_a_sale_back_without_loss(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    caplog: pytest.LogCaptureFixture,
    full_disk: set[str],
) -> None:
    """The buyer's disk is full when it buys: refused, translated, nothing owed. The seller's
    is full when the purchase arrives: it waits, and settles once the seller writes again."""
    one, two = households = await _community(stack, tmp_path, broker, hass, "One", "Two")
    await one.hass.services.async_call(
        DOMAIN,
        "offer_for_sale",
        {"device": device_id(one.hass, one.entry, "Heater"), "amount": 2, "price": 0.5},
        blocking=True,
    )
    await wait_for(partial(_listed, two), "the offer listed")
    [listed] = await _offers(two)
    full_disk.add(f"{two.folder}/")
    with pytest.raises(HomeAssistantError) as refused:
        await _buy(two, listed["offer"])
    assert refused.value.translation_key == "ledger_write_failed"
    full_disk.clear()
    await two.reload()  # space freed: the repair's retry (or Home Assistant's) reloads
    assert two.runtime.economy.ledger.balance(f"incoming:{one.entry.entry_id}") == 0
    total = _tokens(households)
    earned, owed = _money(one)[0], _money(two)[1]
    await wait_for(partial(_listed, two), "the offer listed again")
    full_disk.add(f"{one.folder}/")
    await _buy(two, listed["offer"])
    await wait_for(lambda: "A transfer message waits for the ledger" in caplog.text, "One")
    full_disk.clear()
    await one.reload()
    await wait_for(lambda: _settled(households), "the sale once One writes again")
    assert _tokens(households) == total
    assert (_money(one)[0] - earned, _money(two)[1] - owed) == (1_000_000, 1_000_000)
    assert (await _match(one, two)).startswith("MATCH 1 transfers")
