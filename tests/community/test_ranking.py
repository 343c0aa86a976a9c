"""Who consumes most: households on their own instances rank each other by what they publish."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.energy_tokens.const import (
    CONF_MAX_POWER_KW,
    CONF_SHARE_TOTALS,
    DOMAIN,
    SUBENTRY_COMMUNITY,
)
from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics
from custom_components.energy_tokens.ledger.totals import PeriodTotals, totals_topic
from custom_components.energy_tokens.websocket_api import household_view

from ..conftest import device_subentry
from ..helpers import state_of, subentry_id
from .conftest import PREFIX, Broker, Household, admitted_community, wait_for

DEVICES = [device_subentry("Heater", "sensor.heater_energy", 40)]
METER = "sensor.heater_energy"
ENERGY = {"unit_of_measurement": "kWh", "device_class": "energy", "state_class": "total_increasing"}


async def _consume(households: list[Household], kwh: list[float]) -> None:
    """Each household's heater: a first reading, then ``kwh`` more a second later."""
    for household in households:
        household.hass.states.async_set(METER, "0.0", ENERGY)
    await asyncio.sleep(1.1)  # the power stays under the (raised) ceiling
    for household, amount in zip(households, kwh, strict=True):
        household.hass.states.async_set(METER, str(amount), ENERGY)
        await household.hass.async_block_till_done()


async def _share(household: Household, share: bool) -> dict[str, Any]:
    """Opt in or out in the community's subentry; return the form's placeholders."""
    hass, entry = household.hass, household.entry
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_COMMUNITY),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id(entry, PREFIX)},
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "reconfigure")
    shown: dict[str, Any] = dict(result["description_placeholders"] or {})
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_SHARE_TOTALS: share}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await hass.async_block_till_done()  # the household reloads with the new choice
    await wait_for(lambda: _started(household), "the household back")
    return shown


async def _close(household: Household) -> None:
    await household.hass.services.async_call(
        DOMAIN, "close_period", {"household": household.entry.entry_id}, blocking=True
    )


def _started(household: Household) -> bool:
    totals = household.runtime.totals
    return totals is not None and totals.started


def _received(household: Household) -> set[str]:
    assert household.runtime.totals is not None
    return set(household.runtime.totals.received)


async def test_members_who_opt_in_are_ranked_on_every_instance(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    one, two, three = households = await admitted_community(
        stack,
        tmp_path,
        broker,
        hass,
        "One",
        "Two",
        "Three",
        devices=DEVICES,
        settings={CONF_MAX_POWER_KW: 100_000.0},
    )
    # Opting in shows what would be published: nothing closed yet.
    assert await _share(one, True) == dict.fromkeys(
        ("period", "consumed", "consumed_kwh", "allowance", "surplus"), "—"
    )
    await _share(two, True)
    await wait_for(lambda: all(_started(h) for h in households), "the ranking to start")
    await _consume(households, [1.0, 0.5, 0.25])
    for household in households:
        await _close(household)
    # Three did not opt in: the others never receive its totals.
    await wait_for(lambda: _received(one) == {two.entry.entry_id}, "Two's totals at One")
    await wait_for(lambda: _received(three) == {one.entry.entry_id, two.entry.entry_id}, "at 3")
    await asyncio.sleep(0.5)
    assert _received(two) == {one.entry.entry_id}

    h = one.hass
    assert state_of(h, "sensor.one_community_rank") == "1"  # One consumed the most
    assert state_of(h, "sensor.one_share_of_community_consumption") == "66.7"
    two_at_one = h.states.get("sensor.two_consumption_last_period")
    assert two_at_one is not None
    assert two_at_one.state == "0.5"
    assert two_at_one.attributes["rank"] == 2
    assert two_at_one.attributes["share"] == 33.3
    assert two_at_one.attributes["allowance"] == 40.0
    assert two_at_one.attributes["surplus"] == 39.5
    assert state_of(h, "sensor.three_consumption_last_period") == "unknown"
    # Three shares nothing, but ranks itself among those who do, from its own ledger.
    assert state_of(three.hass, "sensor.three_community_rank") == "3"
    assert state_of(three.hass, "sensor.three_share_of_community_consumption") == "14.3"

    # The card lists them: ranked first; at One, Three is missing (it published nothing).
    view = household_view(one.runtime)["ranking"]
    period = view["period"]
    assert view["households"] == [
        {
            "name": "One",
            "own": True,
            "consumed_kwh": 1.0,
            "period": period,
            "rank": 1,
            "share": 66.7,
        },
        {
            "name": "Two",
            "own": False,
            "consumed_kwh": 0.5,
            "period": period,
            "rank": 2,
            "share": 33.3,
        },
    ]

    # What Three would publish is shown before it opts in: its latest closed period.
    shown = await _share(three, False)
    assert shown["consumed"] == "0.25"
    assert shown["consumed_kwh"] == "0.25"
    assert shown["allowance"] == "40"
    assert shown["surplus"] == "39.75"

    # Two opts out: what it published is taken back everywhere.
    await _share(two, False)
    await wait_for(lambda: _received(one) == set(), "Two's totals withdrawn at One")
    assert state_of(h, "sensor.two_consumption_last_period") == "unknown"
    assert state_of(h, "sensor.one_community_rank") == "1"
    assert state_of(h, "sensor.one_share_of_community_consumption") == "100.0"


async def test_totals_of_strangers_or_forged_are_ignored(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    one, two = households = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    await wait_for(lambda: all(_started(h) for h in households), "the ranking to start")
    forged = PeriodTotals(two.entry.entry_id, "2026-11-01", 1, 1, 0, 1000, 5, "ab" * 32)
    # Signed by One's key, on Two's topic; Two's totals on a stranger's topic; a stranger's.
    await mqtt.async_publish(
        two.hass,
        totals_topic(PREFIX, two.entry.entry_id),
        forged.encode(one.runtime.economy.ledger.sign),
        retain=True,
    )
    await mqtt.async_publish(
        two.hass, totals_topic(PREFIX, "mallory"), forged.encode(two.runtime.economy.ledger.sign)
    )
    await mqtt.async_publish(two.hass, totals_topic(PREFIX, one.entry.entry_id + "x"), "{}")
    # Two's own signature, on its own topic, over totals that say they are One's.
    lying = PeriodTotals(one.entry.entry_id, "2026-11-01", 1, 1, 0, 1000, 5, "ab" * 32)
    await mqtt.async_publish(
        two.hass,
        totals_topic(PREFIX, two.entry.entry_id),
        lying.encode(two.runtime.economy.ledger.sign),
    )
    link = one.runtime.totals
    assert link is not None
    await wait_for(lambda: link.ignored == 4, "all four ignored")
    assert link.received == {}
    diagnostics = await async_get_config_entry_diagnostics(one.hass, one.entry)
    assert diagnostics["community"]["ranking"] == {
        "shares_totals": False,
        "published": None,
        "members_with_totals": 0,
        "ignored_messages": 4,
    }


async def test_totals_survive_a_broker_restart_and_leave_with_the_household(
    hass: HomeAssistant,
    broker: Broker,
    tmp_path: Path,
    stack: AsyncExitStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Published on reconnecting (a refusal is logged, not raised) and at every start; another
    household's period closing publishes nothing; leaving the community clears them."""
    one, two = await admitted_community(stack, tmp_path, broker, hass, "One", "Two")
    await _share(one, True)
    await _close(one)
    await wait_for(lambda: _received(two) == {one.entry.entry_id}, "One's totals at Two")
    link = one.runtime.totals
    assert link is not None
    own = link.own
    assert own is not None
    diagnostics = await async_get_config_entry_diagnostics(one.hass, one.entry)
    assert diagnostics["community"]["ranking"]["published"] == own.body()
    assert diagnostics["community"]["ranking"]["shares_totals"] is True
    # Another household's period (of the same instance) closing: nothing to do.
    one.hass.bus.async_fire("energy_tokens_period_closed", {"household_id": two.entry.entry_id})
    await one.hass.async_block_till_done()
    assert link.own is own

    publish = mqtt.async_publish
    refused: list[str] = []

    async def refusing(hass: HomeAssistant, topic: str, *args: Any, **kwargs: Any) -> None:
        if "/totals/" in topic and not refused:
            refused.append(topic)
            raise HomeAssistantError("MQTT is not ready")
        await publish(hass, topic, *args, **kwargs)

    monkeypatch.setattr(mqtt, "async_publish", refusing)
    broker.stop()  # it forgets what was retained
    await wait_for(lambda: not mqtt.is_connected(one.hass), "One to see the broker gone")
    broker.start()
    await wait_for(lambda: refused != [], "the first publish, refused")
    # The broker holds nothing of One (its publish on reconnecting was refused): restarted,
    # One publishes its totals again, and Two, restarted, receives them.
    await wait_for(lambda: mqtt.is_connected(one.hass), "One connected again")
    await one.reload()
    await two.reload()
    await wait_for(lambda: _received(two) == {one.entry.entry_id}, "One's totals again")

    # One leaves the community: its totals are cleared from the broker.
    community = subentry_id(one.entry, PREFIX)
    assert one.hass.config_entries.async_remove_subentry(one.entry, community)
    await one.hass.async_block_till_done()
    await wait_for(lambda: _received(two) == set(), "One's totals withdrawn")
