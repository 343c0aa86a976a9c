"""The actions, through Home Assistant's service registry: effects, permissions and refusals."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers.service import async_get_all_descriptions
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import Kind

from .conftest import device_subentry
from .helpers import consume, device_id, entries, state_of

# Diagnostic entities are disabled by default (test_entities_default.py); these tests read them.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", DRYER, 30.0), device_subentry("Heater", HEATER, 50.0)]


@pytest.fixture
async def other(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> MockConfigEntry:
    """A second household on the instance, with one device."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Cabin",
        data={**loaded_entry.data, "name": "Cabin"},
        subentries_data=[device_subentry("Sauna", "sensor.sauna_energy", 10.0)],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], user: User | None = None, **kwargs: Any
) -> Any:
    context = Context(user_id=user.id) if user else None
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, context=context, **kwargs
    )


async def _snapshot(entry: MockConfigEntry) -> tuple[int, dict[str, int]]:
    ledger = entry.runtime_data.economy.ledger
    return ledger.seq, ledger.balances()


async def test_transfer_moves_tokens_and_records_who(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_read_only_user: User
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    await _call(
        hass,
        "transfer",
        {"from_device": dryer, "to_device": heater, "amount": 3, "note": "cold night"},
        hass_read_only_user,  # moving tokens between devices is for everyone
    )
    household = loaded_entry.runtime_data
    assert state_of(hass, "sensor.dryer_balance") == "27.0"
    assert state_of(hass, "sensor.heater_balance") == "53.0"
    await household.async_commit()
    [transfer] = [e for e in household.economy.ledger.iter_entries() if e.kind is Kind.TRANSFER]
    assert transfer.amount == 3000
    assert str(transfer.cause) == f"user:{hass_read_only_user.id}"
    assert transfer.data == {"note": "cold night"}
    # From an automation (no user), the cause says so.
    await _call(hass, "transfer", {"from_device": heater, "to_device": dryer, "amount": 1})
    await household.async_commit()
    last = list(household.economy.ledger.iter_entries())[-1]
    assert str(last.cause).startswith("automation:")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"amount": 0}, "amount_not_positive"),
        ({"amount": -2}, "amount_not_positive"),
        ({"amount": 31}, "insufficient_balance"),
        ({"to_device": "same"}, "same_device"),
        ({"from_device": "nope"}, "unknown_device"),
        ({"to_device": None, "to_member": "Neighbours"}, "not_in_community"),
    ],
)
async def test_refused_transfers_write_nothing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, data: dict[str, Any], key: str
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    call = {"from_device": dryer, "to_device": heater, "amount": 2} | data
    if call["to_device"] == "same":
        call["to_device"] = dryer
    if call["to_device"] is None:  # to a member of a community this household is not in
        del call["to_device"]
    before = await _snapshot(loaded_entry)
    with pytest.raises(ServiceValidationError) as error:
        await _call(hass, "transfer", call)
    assert error.value.translation_key == key
    assert await _snapshot(loaded_entry) == before


async def test_transfer_between_households(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, other: MockConfigEntry
) -> None:
    from custom_components.energy_tokens.ledger import verify_ledger

    dryer = device_id(hass, loaded_entry, "Dryer")
    sauna = device_id(hass, other, "Sauna")
    await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 4})
    assert state_of(hass, "sensor.dryer_balance") == "26.0"
    assert state_of(hass, "sensor.sauna_balance") == "14.0"
    home, cabin = loaded_entry.runtime_data, other.runtime_data
    # Returned: both sides are durable already, no commit needed to read them.
    *_, offer, settlement = await entries(loaded_entry, Kind.TRANSFER)
    [link] = await entries(loaded_entry, Kind.LINK)
    received = (await entries(other, Kind.TRANSFER))[-1]
    assert offer.to_account == f"escrow:{other.entry_id}"  # the first phase: into escrow
    assert (settlement.from_account, settlement.to_account) == (
        f"escrow:{other.entry_id}",
        f"household:{other.entry_id}",
    )
    assert received.from_account == f"household:{loaded_entry.entry_id}"
    assert received.data["peer_hash"] == offer.hash.hex()  # each side names the other's entry
    assert link.data["peer_hash"] == received.hash.hex()
    assert link.data["seq"] == offer.seq
    for household in (home, cabin):
        assert sum(household.economy.ledger.balances().values()) == 0
        assert verify_ledger(household.economy.ledger.directory).valid
    with pytest.raises(ServiceValidationError) as error:
        await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 27})
    assert error.value.translation_key == "insufficient_balance"
    with pytest.raises(ServiceValidationError) as error:
        await _call(
            hass,
            "get_ledger",
            {"household": loaded_entry.entry_id, "device": sauna},
            return_response=True,
        )
    assert error.value.translation_key == "other_household"


async def test_top_up_is_for_administrators(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_admin_user: User,
    hass_read_only_user: User,
) -> None:
    before = await _snapshot(loaded_entry)
    with pytest.raises(Unauthorized):
        await _call(
            hass, "top_up", {"household": loaded_entry.entry_id, "amount": 20}, hass_read_only_user
        )
    assert await _snapshot(loaded_entry) == before
    await _call(hass, "top_up", {"household": loaded_entry.entry_id, "amount": 20}, hass_admin_user)
    assert state_of(hass, "sensor.home_unallocated_pool") == "240.0"
    assert state_of(hass, "sensor.home_cost_this_period") == "96.0"  # 320 tokens at 0.30
    before = await _snapshot(loaded_entry)
    # Absurd amounts are refused with a message that says why; nothing is bought.
    for amount, key in [
        (0, "amount_not_positive"),
        (1e12, "amount_too_large"),
        (30_000.001, "top_up_too_large"),  # beyond 100 periods' cap of 300
        (float("nan"), "amount_not_finite"),
        (True, "amount_not_number"),
        (0.0001, "amount_too_precise"),
    ]:
        with pytest.raises(ServiceValidationError) as error:
            await _call(hass, "top_up", {"household": loaded_entry.entry_id, "amount": amount})
        assert error.value.translation_key == key, amount
        assert str(error.value)  # the translated message, with its placeholders filled
    assert await _snapshot(loaded_entry) == before
    await _call(hass, "top_up", {"household": loaded_entry.entry_id, "amount": 0.001})
    assert state_of(hass, "sensor.home_unallocated_pool") == "240.001"


async def test_household_targets_are_checked(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as error:
        await _call(hass, "top_up", {"household": "not-an-entry", "amount": 1})
    assert error.value.translation_key == "service_config_entry_not_found"  # core's own check
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    with pytest.raises(ServiceValidationError) as error:
        await _call(hass, "top_up", {"household": loaded_entry.entry_id, "amount": 1})
    assert error.value.translation_key == "service_config_entry_not_loaded"


async def test_set_allowance_from_next_period_and_now(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_admin_user: User,
    hass_read_only_user: User,
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    household = {"household": loaded_entry.entry_id}
    with pytest.raises(Unauthorized):
        await _call(hass, "set_allowance", {"device": dryer, "amount": 40}, hass_read_only_user)
    await _call(hass, "set_allowance", {"device": dryer, "amount": 40}, hass_admin_user)
    await hass.async_block_till_done(wait_background_tasks=True)
    # The running period keeps its allowance; the next one's is shown beside it.
    allowance = hass.states.get("sensor.dryer_allowance")
    assert allowance is not None
    assert (allowance.state, allowance.attributes.get("next_period")) == ("30.0", 40.0)
    assert state_of(hass, "sensor.dryer_balance") == "30.0"
    balances = await _call(hass, "get_balances", household, return_response=True)
    [shown] = [d for d in balances["devices"] if d["device"] == "Dryer"]
    assert (shown["allowance"], shown["next_period_allowance"]) == (30.0, 40.0)
    [marker] = await entries(loaded_entry, Kind.ALLOWANCE)
    assert marker.cause.ref == hass_admin_user.id
    assert marker.data == {
        "device": marker.data["device"],
        "allowance": 40_000,
        "after": "2026-11-01",  # from the period after this one, whenever it opens
    }
    # "Now" moves the difference from this period's allowance (30), not the next one's (40).
    await _call(hass, "set_allowance", {"device": dryer, "amount": 45, "when": "now"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_balance") == "45.0"
    allowance = hass.states.get("sensor.dryer_allowance")
    assert allowance is not None
    assert (allowance.state, allowance.attributes.get("next_period")) == ("45.0", None)
    await _call(hass, "set_allowance", {"device": dryer, "amount": 20, "when": "now"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_balance") == "20.0"
    assert state_of(hass, "sensor.home_unallocated_pool") == "230.0"  # 220 - 15 + 25
    markers = await entries(loaded_entry, Kind.ALLOWANCE)
    assert [(m.data["allowance"], m.data.get("period"), m.data.get("after")) for m in markers] == [
        (40_000, None, "2026-11-01"),  # from the period after this one
        (45_000, "2026-11-01", None),  # in this one
        (20_000, "2026-11-01", None),
    ]
    for amount, key in [(-1, "amount_negative"), (1000, "pool_too_small")]:
        with pytest.raises(ServiceValidationError) as error:
            await _call(hass, "set_allowance", {"device": dryer, "amount": amount, "when": "now"})
        assert error.value.translation_key == key
    assert len(await entries(loaded_entry, Kind.ALLOWANCE)) == 3  # a refusal records nothing


async def test_the_next_period_allowance_then_now_moves_the_whole_difference(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """3 this period, 4 from the next, then 5 now: the device receives 2, not 1."""
    dryer = device_id(hass, loaded_entry, "Dryer")
    await _call(hass, "set_allowance", {"device": dryer, "amount": 3, "when": "now"})
    await _call(hass, "set_allowance", {"device": dryer, "amount": 4})
    await _call(hass, "set_allowance", {"device": dryer, "amount": 5, "when": "now"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_balance") == "5.0"
    assert state_of(hass, "sensor.dryer_allowance") == "5.0"


async def test_lowering_below_what_was_used_leaves_the_device_below_zero(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    await consume(hass, set_meter, freezer, "sensor.dryer_energy", 12.0)
    assert state_of(hass, "sensor.dryer_balance") == "18.0"
    await _call(hass, "set_allowance", {"device": dryer, "amount": 10, "when": "now"})
    await hass.async_block_till_done(wait_background_tasks=True)
    # 10 allowed, 12 used: -2, and running out borrows as it does on a reading (the deficit
    # and a tenth of the allowance, from the heater).
    assert state_of(hass, "sensor.dryer_balance") == "1.0"
    assert state_of(hass, "sensor.dryer_allowance") == "10.0"
    assert state_of(hass, "sensor.dryer_budget_status") == "borrowing"
    assert state_of(hass, "sensor.home_unallocated_pool") == "240.0"  # 20 back to the pool


async def test_sell_surplus_of_a_device_and_of_the_pool(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    await _call(hass, "sell_surplus", {"device": dryer, "amount": 5})
    assert state_of(hass, "sensor.dryer_balance") == "25.0"
    await _call(hass, "sell_surplus", {"household": loaded_entry.entry_id})  # all of the pool
    assert state_of(hass, "sensor.home_unallocated_pool") == "0.0"
    household = loaded_entry.runtime_data
    assert household.economy.sales_micro == (5_000 + 220_000) * 100_000 // 1000
    for data, key in [
        ({"household": loaded_entry.entry_id}, "nothing_to_sell"),
        ({"device": dryer, "amount": 26}, "insufficient_balance"),
        ({"household": loaded_entry.entry_id, "amount": 1}, "insufficient_balance"),
        ({}, "seller_missing"),
    ]:
        with pytest.raises(ServiceValidationError) as error:
            await _call(hass, "sell_surplus", data)
        assert error.value.translation_key == key


async def test_close_period_is_for_administrators(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_read_only_user: User
) -> None:
    before = await _snapshot(loaded_entry)
    with pytest.raises(Unauthorized):
        await _call(hass, "close_period", {"household": loaded_entry.entry_id}, hass_read_only_user)
    assert await _snapshot(loaded_entry) == before


async def test_top_up_to_a_device_of_another_household_is_refused(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, other: MockConfigEntry
) -> None:
    before = await _snapshot(loaded_entry)
    with pytest.raises(ServiceValidationError) as error:
        await _call(
            hass,
            "top_up",
            {
                "household": loaded_entry.entry_id,
                "device": device_id(hass, other, "Sauna"),
                "amount": 1,
            },
        )
    assert error.value.translation_key == "other_household"
    assert await _snapshot(loaded_entry) == before


async def test_close_period_now(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    freezer.tick(timedelta(hours=2))
    async_fire_time_changed(hass)
    await _call(hass, "close_period", {"household": loaded_entry.entry_id})
    household = loaded_entry.runtime_data
    await household.async_commit()
    kinds = [e.kind for e in household.economy.ledger.iter_entries()]
    assert kinds.count(Kind.PERIOD_CLOSE) == 1
    assert kinds.count(Kind.PERIOD_OPEN) == 2
    assert household.economy.period is not None
    assert household.economy.period.start_ms == round(freezer().timestamp() * 1000)


async def test_verify_ledger_and_get_balances_and_ledger(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, set_meter: Callable[..., None]
) -> None:
    household = {"household": loaded_entry.entry_id}
    result = await _call(hass, "verify_ledger", household, return_response=True)
    ledger = loaded_entry.runtime_data.economy.ledger
    assert result == {
        "valid": True,
        "entries": ledger.seq,
        "head": ledger.head.hex(),
        "first_bad_seq": None,
        "reason": None,
    }
    balances = await _call(hass, "get_balances", household, return_response=True)
    assert balances["pool"] == 220.0
    assert {d["device"]: (d["balance"], d["status"]) for d in balances["devices"]} == {
        "Dryer": (30.0, "ok"),
        "Heater": (50.0, "ok"),
    }
    assert {d["device"]: d["device_id"] for d in balances["devices"]} == {
        name: device_id(hass, loaded_entry, name) for name in ("Dryer", "Heater")
    }
    everything = await _call(hass, "get_ledger", household, return_response=True)
    assert [e["seq"] for e in everything["entries"]] == list(range(1, ledger.seq + 1))
    dryer = device_id(hass, loaded_entry, "Dryer")
    only_dryer = await _call(
        hass, "get_ledger", {**household, "device": dryer, "limit": 5}, return_response=True
    )
    assert [e["kind"] for e in only_dryer["entries"]] == ["account", "allocate"]
    tail = await _call(hass, "get_ledger", {**household, "since": ledger.seq}, return_response=True)
    assert [e["seq"] for e in tail["entries"]] == [ledger.seq]
    assert tail["entries"][0]["hash"] == ledger.head.hex()


async def test_a_thousand_concurrent_transfers(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Random directions, all at once: the ledger verifies, sums to zero, nobody overdraws."""
    import asyncio
    import random

    from custom_components.energy_tokens.ledger import verify_ledger

    rng = random.Random(7)
    devices = [device_id(hass, loaded_entry, name) for name in ("Dryer", "Heater")]
    refused = 0
    refused_keys: set[str | None] = set()

    async def one() -> None:
        nonlocal refused
        source, target = rng.sample(devices, 2)
        try:
            await _call(
                hass,
                "transfer",
                {"from_device": source, "to_device": target, "amount": rng.randint(1, 9000) / 1000},
            )
        except ServiceValidationError as err:
            refused_keys.add(err.translation_key)
            refused += 1

    await asyncio.gather(*(one() for _ in range(1000)))
    assert refused_keys <= {"insufficient_balance"}  # the only refusal random transfers meet
    household = loaded_entry.runtime_data
    await household.async_commit()
    balances = household.economy.ledger.balances()
    assert sum(balances.values()) == 0
    devices_total = sum(v for k, v in balances.items() if k.startswith("device:"))
    assert devices_total == 80_000  # transfers only move tokens between the two devices
    assert all(v >= 0 for k, v in balances.items() if k.startswith("device:"))
    transfers = [e for e in household.economy.ledger.iter_entries() if e.kind is Kind.TRANSFER]
    assert len(transfers) + refused == 1000
    assert len(transfers) > 500
    result = verify_ledger(household.economy.ledger.directory)
    assert result.valid, result.reason


@pytest.mark.parametrize(
    ("service", "extra", "response"),
    [
        ("top_up", {"amount": 1}, False),
        ("close_period", {}, False),
        ("sell_surplus", {}, False),
        ("verify_ledger", {}, True),
        ("get_balances", {}, True),
        ("get_ledger", {}, True),
    ],
)
async def test_every_household_action_refuses_an_unknown_household(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    service: str,
    extra: dict[str, Any],
    response: bool,
) -> None:
    before = await _snapshot(loaded_entry)
    with pytest.raises(ServiceValidationError) as error:
        await _call(
            hass, service, {"household": "not-a-household", **extra}, return_response=response
        )
    assert (error.value.translation_domain, error.value.translation_key) == (
        "homeassistant",
        "service_config_entry_not_found",
    )
    assert await _snapshot(loaded_entry) == before


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("set_allowance", {"device": "not-a-device", "amount": 1}),
        ("sell_surplus", {"device": "not-a-device"}),
        ("transfer", {"from_device": "not-a-device", "to_device": "nor-this", "amount": 1}),
    ],
)
async def test_every_device_action_refuses_an_unknown_device(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, service: str, data: dict[str, Any]
) -> None:
    before = await _snapshot(loaded_entry)
    with pytest.raises(ServiceValidationError) as error:
        await _call(hass, service, data)
    assert error.value.translation_key == "unknown_device"
    assert await _snapshot(loaded_entry) == before


async def test_an_action_right_after_set_allowance_succeeds(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Allowances change in place: no reload, so nothing is briefly unavailable or refused."""
    runtime = loaded_entry.runtime_data
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    unavailable: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            unavailable.append(event.data["entity_id"])
            if event.data["new_state"] is not None
            and event.data["new_state"].state == "unavailable"
            else None
        ),
    )
    await _call(hass, "set_allowance", {"device": dryer, "amount": 40})
    await _call(hass, "transfer", {"from_device": dryer, "to_device": heater, "amount": 1})
    await _call(hass, "set_allowance", {"device": heater, "amount": 60, "when": "now"})
    await _call(hass, "top_up", {"household": loaded_entry.entry_id, "device": heater, "amount": 2})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data is runtime
    assert state_of(hass, "sensor.dryer_allowance") == "30.0"  # 40 from the next period
    assert state_of(hass, "sensor.heater_balance") == "63.0"  # 50 + 1 + 10 now + 2 bought
    assert unavailable == []


async def test_concurrent_allowance_changes_move_the_difference_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    import asyncio

    dryer = device_id(hass, loaded_entry, "Dryer")
    pool = loaded_entry.runtime_data.economy.pool_milli
    await asyncio.gather(
        *(
            _call(hass, "set_allowance", {"device": dryer, "amount": 40, "when": "now"})
            for _ in range(3)
        )
    )
    assert loaded_entry.runtime_data.economy.pool_milli == pool - 10_000
    assert state_of(hass, "sensor.dryer_balance") == "40.0"


async def test_allowances_across_a_restart_and_a_period_boundary(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    await _call(hass, "set_allowance", {"device": dryer, "amount": 40})
    await _call(hass, "set_allowance", {"device": heater, "amount": 55, "when": "now"})
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    def allowance(name: str) -> tuple[str, Any]:
        state = hass.states.get(f"sensor.{name}_allowance")
        assert state is not None
        return state.state, state.attributes.get("next_period")

    # Restored from the ledger: this period's allowances, the next one's waiting.
    assert allowance("dryer") == ("30.0", 40.0)
    assert allowance("heater") == ("55.0", None)
    period = loaded_entry.runtime_data.economy.period
    assert period is not None
    freezer.move_to(period.end + timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert allowance("dryer") == ("40.0", None)
    assert allowance("heater") == ("55.0", None)
    assert state_of(hass, "sensor.dryer_balance") == "40.0"
    assert state_of(hass, "sensor.heater_balance") == "55.0"


async def test_selling_the_pool_is_for_administrators(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_admin_user: User,
    hass_member_user: User,
) -> None:
    household = {"household": loaded_entry.entry_id, "amount": 5}
    before = await _snapshot(loaded_entry)
    with pytest.raises(ServiceValidationError) as refused:
        await _call(hass, "sell_surplus", household, hass_member_user)
    assert refused.value.translation_key == "pool_sale_admin_only"
    assert await _snapshot(loaded_entry) == before
    dryer = device_id(hass, loaded_entry, "Dryer")
    await _call(hass, "sell_surplus", {"device": dryer, "amount": 1}, hass_member_user)
    await _call(hass, "sell_surplus", household, hass_admin_user)
    await _call(hass, "sell_surplus", household)  # an automation
    assert state_of(hass, "sensor.home_unallocated_pool") == "210.0"


async def test_every_action_is_described_as_home_assistant_reads_it(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """services.yaml passes Home Assistant's own schema (else the UI shows no fields)."""
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == set(hass.services.async_services_for_domain(DOMAIN))
    for name, description in descriptions.items():
        assert description["fields"] or name == "sell_surplus", name
    price = descriptions["offer_for_sale"]["fields"]["price"]
    assert price["selector"]["number"]["step"] == "any"
