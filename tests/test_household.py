"""The household economy through the real harness: periods, allocation, metering, surplus."""

from collections.abc import Callable
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigSubentry, ConfigSubentryData
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import (
    CONF_CAP_TOKENS,
    CONF_PERIOD,
    CONF_PRICE,
    CONF_SURPLUS,
    DOMAIN,
)
from custom_components.energy_tokens.ledger import Kind, verify_ledger
from custom_components.energy_tokens.runtime import storage_directory

from .conftest import device_subentry
from .helpers import entries, state_of, subentry_id, tick

# Diagnostic entities are disabled by default (test_entities_default.py); these tests read them.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", DRYER, 30.0),
        device_subentry("Heater", HEATER, 50.0, priority="essential", may_lend=False),
    ]


async def test_first_period_buys_the_cap_and_allocates(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    ledger = loaded_entry.runtime_data.economy.ledger
    assert ledger.balances() == {
        "provider": -300_000,
        "pool": 220_000,
        "device:" + subentry_id(loaded_entry, "Heater"): 50_000,
        "device:" + subentry_id(loaded_entry, "Dryer"): 30_000,
    }
    [opened] = await entries(loaded_entry, Kind.PERIOD_OPEN)
    assert opened.data["period"] == "2026-11-01"
    assert opened.data["money"]["price_micro"] == 300_000
    allocations = await entries(loaded_entry, Kind.ALLOCATE)
    assert next(e.to_account for e in allocations) == "device:" + subentry_id(
        loaded_entry, "Heater"
    )  # essential first
    assert state_of(hass, "sensor.home_unallocated_pool") == "220.0"
    assert state_of(hass, "sensor.dryer_balance") == "30.0"
    assert state_of(hass, "sensor.dryer_allowance") == "30.0"
    assert state_of(hass, "sensor.home_cost_this_period") == "90.0"
    assert state_of(hass, "sensor.dryer_budget_status") == "ok"
    assert state_of(hass, "sensor.home_period_end").startswith("2026-12-01T08:00:00")  # US/Pacific
    for name in ("Dryer", "Heater"):
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, subentry_id(loaded_entry, name)), loaded_entry.entry_id
        )
        assert device is not None
        assert device.config_subentry_id == subentry_id(loaded_entry, name)
    dryer_entities = [
        e
        for e in er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
        if e.config_subentry_id == subentry_id(loaded_entry, "Dryer")
    ]
    assert len(dryer_entities) == 10


async def test_metering_debits_live_and_in_batches(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    set_meter(DRYER, 1200.0)  # first reading: a baseline, not consumption
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "30.0"
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 1201.5)
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "28.5"  # live, not yet in the ledger
    # Consumption moves with the balance it explains, debited or not.
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "1.5"
    assert state_of(hass, "sensor.home_top_consumer") == "Dryer"
    assert await entries(loaded_entry, Kind.DEBIT) == []
    await tick(hass, freezer, timedelta(minutes=5))  # the debit interval
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "1.5"
    [debit] = await entries(loaded_entry, Kind.DEBIT)
    assert debit.amount == 1500
    assert debit.data == {"meter": DRYER, "wh": [1_200_000, 1_201_500]}
    assert str(debit.cause) == "metering"
    assert state_of(hass, "sensor.dryer_balance") == "28.5"
    assert state_of(hass, "sensor.dryer_share_of_consumption") == "100.0"
    assert state_of(hass, "sensor.dryer_consumption_rank") == "1"
    assert state_of(hass, "sensor.home_top_consumer") == "Dryer"
    assert state_of(hass, "sensor.dryer_projected_run_out") not in ("unknown", "unavailable")
    markers = [e for e in await entries(loaded_entry, Kind.METER) if e.data.get("meter") == DRYER]
    assert markers[0].data["wh"] == 1_200_000


async def test_gaps_resets_and_noise_neither_create_nor_lose(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    readings: list[tuple[str | float, str]] = [
        (500.0, "kWh"),
        ("unavailable", "kWh"),
        ("unknown", "kWh"),
        ("garbage", "kWh"),
        ("nan", "kWh"),
        ("-3", "kWh"),
        (502.0, "kWh"),  # gap caught up: 2 kWh
        (501.9, "kWh"),  # noise
        (0.5021, "MWh"),  # unit change: 502.1 kWh, +0.1
        (4.0, "kWh"),  # a drop: a reset or a glitch, undecided
        (5.0, "kWh"),  # counting on from it: a reset, so 5 kWh from zero (as the statistics)
    ]
    for value, unit in readings:
        await tick(hass, freezer, timedelta(hours=1))
        set_meter(DRYER, value, unit)
        await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(minutes=5))
    debits = await entries(loaded_entry, Kind.DEBIT)
    assert sum(d.amount for d in debits) == 7_100
    assert all(d.amount > 0 for d in debits)
    assert state_of(hass, "sensor.dryer_balance") == "22.9"
    assert verify_ledger(loaded_entry.runtime_data.economy.ledger.directory).valid


async def test_restart_neither_redebits_nor_drops(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    set_meter(DRYER, 100.0)
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 102.25)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(household_entry.entry_id)  # pending is debited
    await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(minutes=30))
    set_meter(DRYER, 103.0)  # consumed while the household was down
    await tick(hass, freezer, timedelta(hours=2))
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(minutes=5))
    debits = await entries(household_entry, Kind.DEBIT)
    assert [d.data["wh"] for d in debits] == [[100_000, 102_250], [102_250, 103_000]]
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "3.0"
    assert state_of(hass, "sensor.dryer_balance") == "27.0"


async def test_crossing_the_low_threshold_is_written_at_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    set_meter(DRYER, 0.0)
    await tick(hass, freezer, timedelta(hours=3))
    set_meter(DRYER, 25.0)  # 5 of 30 tokens left: under 20%
    await hass.async_block_till_done()
    assert [d.amount for d in await entries(loaded_entry, Kind.DEBIT)] == [25_000]
    assert state_of(hass, "sensor.dryer_budget_status") == "low"
    assert state_of(hass, "binary_sensor.dryer_budget_low") == "on"
    assert state_of(hass, "binary_sensor.dryer_budget_exhausted") == "off"
    await tick(hass, freezer, timedelta(hours=2))
    set_meter(DRYER, 31.0)
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_budget_status") == "exhausted"
    assert state_of(hass, "binary_sensor.dryer_budget_exhausted") == "on"
    assert state_of(hass, "sensor.dryer_balance") == "-1.0"
    await tick(hass, freezer, timedelta(minutes=5))
    assert state_of(hass, "sensor.dryer_projected_run_out") == "unknown"


@pytest.mark.parametrize("accept", [True, False])
async def test_meter_spike_is_held_and_resolved_in_repairs(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    accept: bool,
) -> None:
    set_meter(DRYER, 10.0)
    await tick(hass, freezer, timedelta(seconds=30))
    set_meter(DRYER, 70.0)  # +60 kWh in 30 s: 7.2 MW
    set_meter(DRYER, 70_000.0, "Wh")  # it stayed up (the same reading in Wh): held
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "30.0"
    [issue] = [i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith("meter_spike")]
    held = issue_registry.async_get_issue(DOMAIN, issue)
    assert held is not None
    assert held.is_fixable
    assert held.translation_placeholders == {
        "device": "Dryer",
        "energy": "60.000",
        "power": "7200.0",
    }

    household = loaded_entry.runtime_data
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": issue})
    assert result["type"] == "menu"
    assert result["menu_options"] == ["accept", "discard"]
    result = await manager.async_configure(
        result["flow_id"], {"next_step_id": "accept" if accept else "discard"}
    )
    assert result["type"] == "create_entry"
    assert issue_registry.async_get_issue(DOMAIN, issue) is None  # resolved
    await household.async_commit()
    debits = await entries(loaded_entry, Kind.DEBIT)
    if accept:
        assert [d.amount for d in debits] == [60_000]
        assert debits[0].data["spike"] == "accepted"
        assert state_of(hass, "sensor.dryer_balance") == "-30.0"
    else:
        assert debits == []
        assert any("discarded" in e.data for e in await entries(loaded_entry, Kind.METER))
        assert state_of(hass, "sensor.dryer_balance") == "30.0"


async def test_spike_fix_flow_aborts_when_the_household_is_gone(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        "meter_spike_gone_1",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="meter_spike",
        data={"entry_id": "gone", "subentry_id": "s", "from_wh": 0, "to_wh": 1},
    )
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, context={"issue_id": "meter_spike_gone_1"})
    assert result["type"] == "abort"
    assert result["reason"] == "household_not_loaded"


@pytest.mark.parametrize(
    ("surplus", "dryer_kind", "pool_kind", "sales"),
    [
        ("rollover", Kind.ROLLOVER, None, "0.0"),
        ("sell", Kind.SALE, Kind.SALE, "24.0"),
        ("forfeit", Kind.FORFEIT, Kind.FORFEIT, "0.0"),
    ],
)
async def test_period_close_handles_surplus_and_overage(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    household_settings: dict[str, Any],
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    surplus: str,
    dryer_kind: Kind,
    pool_kind: Kind | None,
    sales: str,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry,
        data={
            **household_entry.data,
            CONF_SURPLUS: surplus,
            CONF_PERIOD: "daily",
            "auto_borrow": False,  # the heater's overage is bought at close, not borrowed
        },
    )
    set_meter(HEATER, 0.0)
    set_meter(DRYER, 0.0)
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(hours=12))
    set_meter(HEATER, 53.0)  # 3 over its 50
    set_meter(DRYER, 10.0)  # 20 of 30 left
    await hass.async_block_till_done()
    await tick(hass, freezer, timedelta(days=1))  # past the boundary
    household = household_entry.runtime_data
    [close] = await entries(household_entry, Kind.PERIOD_CLOSE)
    dryer = "device:" + subentry_id(household_entry, "Dryer")
    heater = "device:" + subentry_id(household_entry, "Heater")
    assert close.data["consumed_milli"] == {dryer: 10_000, heater: 53_000}
    moved = [
        e
        for e in household.economy.ledger.iter_entries()
        if e.kind is dryer_kind and e.from_account == dryer
    ]
    assert [e.amount for e in moved] == [20_000]
    overage = [e for e in await entries(household_entry, Kind.PURCHASE) if e.data.get("overage")]
    assert [(e.to_account, e.amount) for e in overage] == [(heater, 3_000)]
    if pool_kind is not None:
        assert any(
            e.kind is pool_kind and e.from_account == "pool"
            for e in household.economy.ledger.iter_entries()
        )
    assert close.data["cost_micro"] == 300_000 * 300 + 3_000 * 300
    opened = await entries(household_entry, Kind.PERIOD_OPEN)
    assert len(opened) == 2
    purchases = [
        e for e in await entries(household_entry, Kind.PURCHASE) if not e.data.get("overage")
    ]
    if surplus == "rollover":  # rolled-over tokens pay part of the next purchase
        assert purchases[-1].amount == 300_000 - (220_000 + 20_000)  # pool + the dryer's 20
    else:
        assert purchases[-1].amount == 300_000
    assert household.economy.ledger.balance(dryer) == 30_000
    assert household.economy.ledger.balance(heater) == 50_000
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "0.0"
    assert state_of(hass, "sensor.home_sales_credit_this_period") == "0.0"
    assert close.data["sales_micro"] == (round(float(sales) * 1_000_000))
    assert sum(household.economy.ledger.balances().values()) == 0


async def test_missed_boundaries_are_closed_on_start_with_their_times(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, CONF_PERIOD: "daily"}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_unload(household_entry.entry_id)
    freezer.tick(timedelta(days=3))
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    opened = await entries(household_entry, Kind.PERIOD_OPEN)
    closed = await entries(household_entry, Kind.PERIOD_CLOSE)
    assert [e.data["period"] for e in opened] == [
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
    ]
    assert [e.ts_ms for e in closed] == [e.data["start_ms"] for e in opened[1:]]
    assert verify_ledger(storage_directory(hass, household_entry.entry_id) / "ledger").valid


async def test_money_changes_wait_for_the_next_period_unless_applied_now(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    async def reconfigure(apply_now: bool, **changes: Any) -> None:
        result = await loaded_entry.start_reconfigure_flow(hass)
        settings = {k: v for k, v in loaded_entry.data.items() if k not in ("name", "ledger_seen")}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**settings, **changes, "apply_now": apply_now}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done(wait_background_tasks=True)

    await reconfigure(False, **{CONF_PRICE: 0.5, CONF_CAP_TOKENS: 100.0})
    household = loaded_entry.runtime_data  # reloaded by the update listener
    assert household.economy.settings.price_micro == 500_000
    assert household.economy.period_settings.price_micro == 300_000  # the period keeps its price
    assert len(await entries(loaded_entry, Kind.PERIOD_OPEN)) == 1
    await reconfigure(True)
    assert "apply_now" not in loaded_entry.data  # a one-shot choice is never stored
    household = loaded_entry.runtime_data
    assert household.economy.period_settings.price_micro == 500_000
    assert len(await entries(loaded_entry, Kind.PERIOD_OPEN)) == 2
    assert len(await entries(loaded_entry, Kind.PERIOD_CLOSE)) == 1
    # The rolled-over 300 tokens exceed the new cap of 100: nothing is bought this time.
    assert len(await entries(loaded_entry, Kind.PURCHASE)) == 1
    assert household.economy.ledger.balance("pool") == 300_000 - 80_000
    await reconfigure(True)  # nothing changed: nothing is settled
    assert len(await entries(loaded_entry, Kind.PERIOD_CLOSE)) == 1


async def test_removed_device_returns_its_tokens_and_disappears(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    dryer = subentry_id(loaded_entry, "Dryer")
    pool = loaded_entry.runtime_data.economy.ledger.balance("pool")
    assert hass.config_entries.async_remove_subentry(loaded_entry, dryer)
    await hass.async_block_till_done(wait_background_tasks=True)
    household = loaded_entry.runtime_data
    assert household.economy.ledger.balance("device:" + dryer) == 0
    assert household.economy.ledger.balance("pool") == pool + 30_000
    [adjust] = await entries(loaded_entry, Kind.ADJUST)
    assert adjust.data == {"reason": "device removed"}
    assert (
        device_registry.async_get_device_by_identifier((DOMAIN, dryer), loaded_entry.entry_id)
        is None
    )
    assert hass.states.get("sensor.dryer_balance") is None
    assert not [
        e
        for e in er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
        if e.config_subentry_id == dryer
    ]


async def test_restart_in_a_new_period_resumes_from_the_marker_baseline(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, CONF_PERIOD: "daily"}
    )
    set_meter(DRYER, 10.0)
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(days=1))  # a new period: baselines go in its marker
    assert await hass.config_entries.async_unload(household_entry.entry_id)
    set_meter(DRYER, 12.0)
    await tick(hass, freezer, timedelta(hours=1))
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(minutes=5))
    [debit] = await entries(household_entry, Kind.DEBIT)
    assert debit.data["wh"] == [10_000, 12_000]  # not a new baseline: nothing lost


async def test_readings_below_a_milli_token_are_still_recorded(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, "token_kwh": 1000.0}
    )
    set_meter(DRYER, 0.0)
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 0.0005)  # 0.5 Wh: nothing whole yet
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 0.0009)  # 0.9 Wh: still under a milli-token of 1 MWh
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 0.9991)  # 999 Wh: under a milli-token too (1 milli-token is 1 kWh)
    await tick(hass, freezer, timedelta(minutes=5))
    assert await entries(household_entry, Kind.DEBIT) == []
    [recorded] = [e for e in await entries(household_entry, Kind.METER) if "range" in e.data]
    assert recorded.data["range"] == [0, 999]
    assert await hass.config_entries.async_reload(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    set_meter(DRYER, 1.0001)  # 1000 Wh in the period: the first whole milli-token
    await tick(hass, freezer, timedelta(hours=1))
    await tick(hass, freezer, timedelta(minutes=5))
    [debit] = await entries(household_entry, Kind.DEBIT)
    assert debit.amount == 1
    assert debit.data["wh"] == [999, 1000]


async def test_restart_restores_money_and_borrowing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
) -> None:
    household = loaded_entry.runtime_data
    dryer = "device:" + subentry_id(loaded_entry, "Dryer")
    heater = "device:" + subentry_id(loaded_entry, "Heater")
    # What the borrowing and selling actions record (see the budget actions).
    household.economy.ledger.append(
        Kind.BORROW, from_account=dryer, to_account=heater, amount=2_000
    )
    household.economy.ledger.append(
        Kind.SALE,
        from_account=dryer,
        to_account="market",
        amount=5_000,
        data={"price_micro": 100_000},
    )
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.heater_budget_status") == "borrowing"
    assert state_of(hass, "sensor.dryer_budget_status") == "ok"
    assert state_of(hass, "sensor.home_sales_credit_this_period") == "0.5"
    assert state_of(hass, "sensor.home_cost_this_period") == "90.0"


async def test_a_changed_period_kind_starts_at_the_old_end(
    hass: HomeAssistant, household_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, CONF_PERIOD: "daily"}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, CONF_PERIOD: "monthly"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await tick(hass, freezer, timedelta(days=1))
    opened = await entries(household_entry, Kind.PERIOD_OPEN)
    assert [e.data["period"] for e in opened] == ["2026-11-23", "2026-11-24"]
    assert opened[1].data["start_ms"] == opened[0].data["end_ms"]  # from the old end
    household = household_entry.runtime_data
    assert household.economy.period is not None
    assert opened[1].data["end_ms"] == household.economy.period.end_ms
    assert household.economy.period.end.isoformat().startswith(
        "2026-12-01"
    )  # to the monthly boundary


async def test_a_small_cap_serves_essential_devices_first(
    hass: HomeAssistant, household_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, CONF_CAP_TOKENS: 60.0, CONF_PERIOD: "daily"}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    ledger = household_entry.runtime_data.economy.ledger
    assert ledger.balance("device:" + subentry_id(household_entry, "Heater")) == 50_000  # essential
    assert (
        ledger.balance("device:" + subentry_id(household_entry, "Dryer")) == 10_000
    )  # what is left
    assert ledger.balance("pool") == 0
    await tick(hass, freezer, timedelta(days=1))  # nothing used: all rolls over, nothing bought
    assert len(await entries(household_entry, Kind.PURCHASE)) == 1


async def test_removing_the_household_clears_its_spike_repairs(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    set_meter(DRYER, 1.0)
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 90.0)
    set_meter(DRYER, 90_000.0, "Wh")  # it stayed up (the same reading in Wh): held
    await hass.async_block_till_done()
    assert [i for (d, i) in issue_registry.issues if d == DOMAIN]
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for (d, i) in issue_registry.issues if d == DOMAIN]


async def test_a_reading_rewrites_only_the_live_balance(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED

    set_meter(DRYER, 100.0)
    await tick(hass, freezer, timedelta(hours=1))
    written: list[str] = []

    def record(event: Any) -> None:
        written.append(event.data["entity_id"])

    @callback
    def every_entity(_data: Any) -> bool:
        return True

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    hass.bus.async_listen(EVENT_STATE_REPORTED, record, event_filter=every_entity)
    await tick(hass, freezer, timedelta(seconds=30))
    written.clear()
    set_meter(DRYER, 100.05)  # under a tenth of a token: nothing of ours is written
    await hass.async_block_till_done()
    assert written == [DRYER]
    await tick(hass, freezer, timedelta(seconds=30))
    written.clear()
    set_meter(DRYER, 100.15)  # the balance, and the figures that must agree with it
    await hass.async_block_till_done()
    # The first consumption: shares appear, and a top consumer.
    assert sorted(written) == sorted(
        [
            DRYER,
            "sensor.dryer_balance",
            "sensor.dryer_consumed_this_period",
            "sensor.dryer_share_of_consumption",
            "sensor.heater_share_of_consumption",
            "sensor.home_consumed_this_period",
            "sensor.home_top_consumer",
        ]
    )
    await tick(hass, freezer, timedelta(seconds=30))
    written.clear()
    set_meter(DRYER, 100.3)  # the next step: only what it changed (its pace now has an end)
    await hass.async_block_till_done()
    assert sorted(written) == sorted(
        [
            DRYER,
            "sensor.dryer_balance",
            "sensor.dryer_consumed_this_period",
            "sensor.dryer_projected_run_out",
            "sensor.home_consumed_this_period",
        ]
    )
    await tick(hass, freezer, timedelta(hours=2))
    written.clear()
    set_meter(DRYER, 126.0)  # crosses into low: the status entities follow too
    await hass.async_block_till_done()
    assert {"sensor.dryer_budget_status", "binary_sensor.dryer_budget_low"} <= set(written)
    assert "sensor.home_consumed_this_period" in written  # the household's total agrees
    assert not [w for w in written if w.startswith("sensor.heater")]  # idle, share still 0 %


async def test_readings_are_timed_by_their_state_not_the_wall_clock(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A meter whose state is an hour old when metering starts: its next rise is judged
    over the time since that state, from the state's own timestamp."""
    set_meter(DRYER, 100.0)
    await tick(hass, freezer, timedelta(hours=1))
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    [baseline] = [e for e in await entries(household_entry, Kind.METER) if e.data["meter"] == DRYER]
    state = hass.states.get(DRYER)
    assert state is not None
    assert baseline.data["read_ms"] == round(state.last_updated_timestamp * 1000)
    assert baseline.ts_ms > baseline.data["read_ms"]  # entries never go back in time
    await tick(hass, freezer, timedelta(minutes=30))
    set_meter(DRYER, 130.0)  # 30 kWh over 1.5 hours since the state: 20 kW, plausible
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "0.0"
    # After a restart the baseline's time comes from the marker's reading time, not its entry.
    assert await hass.config_entries.async_reload(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    device = next(iter(household_entry.runtime_data.economy.devices.values()))
    assert device.tracker.baseline_wh == 130_000


async def test_live_balance_moves_in_tenths_and_is_exact_each_interval(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    set_meter(DRYER, 100.0)
    await tick(hass, freezer, timedelta(minutes=5))
    for value, shown in [(100.04, "30.0"), (100.08, "30.0"), (100.12, "29.88"), (100.15, "29.88")]:
        await tick(hass, freezer, timedelta(seconds=30))
        set_meter(DRYER, value)
        await hass.async_block_till_done()
        assert state_of(hass, "sensor.dryer_balance") == shown
    await tick(hass, freezer, timedelta(minutes=5))  # the interval shows the exact balance
    assert state_of(hass, "sensor.dryer_balance") == "29.85"


async def test_every_figure_agrees_with_the_live_balance_at_any_moment(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A device page never shows "Balance 2.28, Consumed 0.00": they move together."""
    set_meter(DRYER, 100.0)
    set_meter(HEATER, 10.0)
    await tick(hass, freezer, timedelta(minutes=5))
    dryer, heater = 100.0, 10.0
    for step in range(40):
        await tick(hass, freezer, timedelta(seconds=20))
        if step % 3:
            dryer += 0.037
            set_meter(DRYER, round(dryer, 3))
        else:
            heater += 0.061
            set_meter(HEATER, round(heater, 3))
        await hass.async_block_till_done()
        figures = {
            name: (
                float(state_of(hass, f"sensor.{name}_balance")),
                float(state_of(hass, f"sensor.{name}_consumed_this_period")),
                _number(state_of(hass, f"sensor.{name}_share_of_consumption")),
                int(state_of(hass, f"sensor.{name}_consumption_rank")),
            )
            for name in ("dryer", "heater")
        }
        (dryer_left, dryer_used, dryer_share, dryer_rank) = figures["dryer"]
        (heater_left, heater_used, heater_share, heater_rank) = figures["heater"]
        assert dryer_left + dryer_used == pytest.approx(30.0), step
        assert heater_left + heater_used == pytest.approx(50.0), step
        total = float(state_of(hass, "sensor.home_consumed_this_period"))
        assert total == pytest.approx(dryer_used + heater_used), step
        if total:
            assert dryer_share == pytest.approx(round(dryer_used * 100 / total, 1)), step
            assert heater_share == pytest.approx(round(heater_used * 100 / total, 1)), step
            top = "Dryer" if dryer_used >= heater_used else "Heater"
            assert state_of(hass, "sensor.home_top_consumer") == top, step
            assert (dryer_rank, heater_rank) == ((1, 2) if top == "Dryer" else (2, 1)), step


def _number(state: str | None) -> float:
    """A state as a number; "unknown" (a share before anyone consumed) as 0."""
    return 0.0 if state in (None, "unknown") else float(state)


def _start_adding_device(
    hass: HomeAssistant, entry: MockConfigEntry, name: str, allowance: float
) -> None:
    data = device_subentry(name, f"sensor.{name.lower()}_energy", allowance)
    hass.config_entries.async_add_subentry(  # the household takes it in, no reload
        entry,
        ConfigSubentry(
            data=MappingProxyType(data["data"]),
            subentry_type=data["subentry_type"],
            title=data["title"],
            unique_id=data["unique_id"],
        ),
    )


async def _add_device(
    hass: HomeAssistant, entry: MockConfigEntry, name: str, allowance: float
) -> None:
    _start_adding_device(hass, entry, name, allowance)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_a_device_added_during_a_period_gets_its_allowance_at_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    assert state_of(hass, "sensor.home_unallocated_pool") == "220.0"
    await _add_device(hass, loaded_entry, "Oven", 40.0)
    assert state_of(hass, "sensor.oven_balance") == "40.0"
    assert state_of(hass, "sensor.home_unallocated_pool") == "180.0"
    # Once: a restart finds the device's account and allocates nothing more.
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.oven_balance") == "40.0"
    assert state_of(hass, "sensor.home_unallocated_pool") == "180.0"
    ledger = loaded_entry.runtime_data.economy.ledger
    await loaded_entry.runtime_data.async_commit()
    [added] = [e for e in ledger.iter_entries() if e.data.get("reason") == "device added"]
    assert (added.kind, added.amount, added.from_account) == (Kind.ALLOCATE, 40_000, "pool")
    # As far as the pool covers it: the next device gets what is left.
    await _add_device(hass, loaded_entry, "Sauna", 500.0)
    assert state_of(hass, "sensor.sauna_balance") == "180.0"
    assert state_of(hass, "sensor.home_unallocated_pool") == "0.0"
    assert verify_ledger(ledger.directory).valid


async def test_devices_come_and_go_without_a_reload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Adding and removing devices never takes the household's entities away, not even briefly."""
    runtime = loaded_entry.runtime_data
    unavailable: list[str] = []

    @callback
    def watch(event: Any) -> None:
        new_state = event.data["new_state"]
        if new_state is not None and new_state.state == "unavailable":
            unavailable.append(event.data["entity_id"])

    hass.bus.async_listen("state_changed", watch)
    _start_adding_device(hass, loaded_entry, "Oven", 10.0)
    _start_adding_device(hass, loaded_entry, "Sauna", 10.0)  # before the first is taken in
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data is runtime  # the same household: no reload
    assert runtime.economy.devices.keys() == loaded_entry.subentries.keys()
    assert state_of(hass, "sensor.sauna_balance") == "10.0"
    assert state_of(hass, "sensor.oven_balance") == "10.0"
    assert hass.config_entries.async_remove_subentry(
        loaded_entry, subentry_id(loaded_entry, "Oven")
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data is runtime
    assert hass.states.get("sensor.oven_balance") is None
    assert state_of(hass, "sensor.home_unallocated_pool") == "210.0"  # the oven's 10 came back
    assert unavailable == []


async def test_a_new_meter_counts_from_its_first_reading_without_a_reload(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    runtime = loaded_entry.runtime_data
    set_meter(DRYER, 10.0)
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 12.0)  # 2 tokens on the old meter
    await hass.async_block_till_done()
    set_meter("sensor.new_dryer_meter", 500.0)
    subentry = loaded_entry.subentries[subentry_id(loaded_entry, "Dryer")]
    hass.config_entries.async_update_subentry(
        loaded_entry, subentry, data={**subentry.data, "meter": "sensor.new_dryer_meter"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data is runtime
    set_meter(DRYER, 20.0)  # the old meter is no longer followed
    await tick(hass, freezer, timedelta(hours=1))
    set_meter("sensor.new_dryer_meter", 501.5)
    await tick(hass, freezer, timedelta(minutes=5))
    debits = await entries(loaded_entry, Kind.DEBIT)
    assert [(d.data["meter"], d.amount) for d in debits] == [
        (DRYER, 2_000),  # what the old meter recorded is debited at the change
        ("sensor.new_dryer_meter", 1_500),
    ]
    baselines = [e.data for e in await entries(loaded_entry, Kind.METER) if "read_ms" in e.data]
    assert baselines[-1]["meter"] == "sensor.new_dryer_meter"
    assert baselines[-1]["wh"] == 500_000  # its first reading starts the count
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "3.5"


async def test_a_removed_devices_held_jump_goes_with_it(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    set_meter(DRYER, 1.0)
    set_meter(HEATER, 1.0)
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 90.0)
    set_meter(HEATER, 90.0)
    set_meter(DRYER, 90_000.0, "Wh")  # they stayed up: held
    set_meter(HEATER, 90_000.0, "Wh")
    await hass.async_block_till_done()
    held = {i for (d, i) in issue_registry.issues if d == DOMAIN}
    assert len(held) == 2
    dryer = subentry_id(loaded_entry, "Dryer")
    assert hass.config_entries.async_remove_subentry(loaded_entry, dryer)
    await hass.async_block_till_done(wait_background_tasks=True)
    left = {i for (d, i) in issue_registry.issues if d == DOMAIN}
    assert len(left) == 1
    assert dryer not in next(iter(left))  # the heater's stays


async def test_reading_the_household_rewrites_no_entity(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    hass_ws_client: Any,
) -> None:
    """Balances read by an action, the card, voice or diagnostics leave entities at their pace."""
    from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
    from homeassistant.helpers import intent

    from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics

    assert await async_setup_component(hass, "intent", {})
    client = await hass_ws_client(hass)  # logged in before time moves on
    set_meter(DRYER, 100.0)
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 100.05)  # under the live step: the balance sensor keeps 30.0
    await hass.async_block_till_done()
    written: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        written.append(event.data["entity_id"])

    for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED):
        hass.bus.async_listen(event_type, record, event_filter=callback(lambda _data: True))
    balances = await hass.services.async_call(
        DOMAIN,
        "get_balances",
        {"household": loaded_entry.entry_id},
        blocking=True,
        return_response=True,
    )
    devices: Any = balances["devices"] if balances else []
    assert devices[0]["balance"] == 29.95  # the exact figure
    await client.send_json_auto_id({"type": "energy_tokens/household"})
    assert (await client.receive_json())["success"]
    await intent.async_handle(hass, "test", "EnergyTokensBalance", {"device": {"value": "dryer"}})
    await async_get_config_entry_diagnostics(hass, loaded_entry)
    await hass.async_block_till_done()
    assert [w for w in written if w.startswith(("sensor.", "binary_sensor.", "switch."))] == []
    assert state_of(hass, "sensor.dryer_balance") == "30.0"


async def test_renames_take_effect_without_a_reload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    runtime = loaded_entry.runtime_data
    subentry = loaded_entry.subentries[subentry_id(loaded_entry, "Dryer")]
    hass.config_entries.async_update_subentry(
        loaded_entry, subentry, data={**subentry.data, "name": "Tumbler"}, title="Tumbler"
    )
    hass.config_entries.async_update_entry(loaded_entry, title="Cottage")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data is runtime
    tumbler = device_registry.async_get_device_by_identifier(
        (DOMAIN, subentry.subentry_id), loaded_entry.entry_id
    )
    household = device_registry.async_get_device_by_identifier(
        (DOMAIN, loaded_entry.entry_id), loaded_entry.entry_id
    )
    assert tumbler is not None
    assert household is not None
    assert (tumbler.name, household.name) == ("Tumbler", "Cottage")
    state = hass.states.get("sensor.dryer_balance")  # the entity id stays
    assert state is not None
    assert state.attributes["friendly_name"] == "Tumbler Balance"
    assert runtime.view.name == "Cottage"


async def test_a_device_added_while_the_ledger_opens_is_taken_in(
    hass: HomeAssistant, household_entry: MockConfigEntry
) -> None:
    import threading
    from unittest.mock import patch

    from custom_components.energy_tokens.restore import open_economy as real_open

    opening, go_on = threading.Event(), threading.Event()

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        opening.set()
        go_on.wait(5)
        return real_open(*args, **kwargs)

    with patch("custom_components.energy_tokens.runtime.open_economy", slow_open):
        setup = hass.async_create_task(hass.config_entries.async_setup(household_entry.entry_id))
        assert await hass.async_add_executor_job(opening.wait, 5)
        _start_adding_device(hass, household_entry, "Oven", 10.0)  # nobody listens yet
        go_on.set()
        assert await setup
    await hass.async_block_till_done(wait_background_tasks=True)
    runtime = household_entry.runtime_data
    assert runtime.economy.devices.keys() == household_entry.subentries.keys()
    assert state_of(hass, "sensor.oven_balance") == "10.0"


async def test_the_repair_of_a_removed_devices_jump_ends_cleanly(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    set_meter(DRYER, 1.0)
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 90.0)
    set_meter(DRYER, 90_000.0, "Wh")  # it stayed up (the same reading in Wh): held
    await hass.async_block_till_done()
    [issue] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    first = await manager.async_init(DOMAIN, context={"issue_id": issue})
    second = await manager.async_init(DOMAIN, context={"issue_id": issue})
    result = await manager.async_configure(first["flow_id"], {"next_step_id": "accept"})
    assert result["type"] == "create_entry"
    result = await manager.async_configure(second["flow_id"], {"next_step_id": "accept"})
    assert (result["type"], result["reason"]) == ("abort", "spike_resolved")  # charged once
    assert [d.amount for d in await entries(loaded_entry, Kind.DEBIT)] == [89_000]
    await tick(hass, freezer, timedelta(days=1))
    set_meter(DRYER, 200.0)  # plausible over a day
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 300.0)  # another jump
    set_meter(DRYER, 300_000.0, "Wh")  # held
    await hass.async_block_till_done()
    [issue] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    flow = await manager.async_init(DOMAIN, context={"issue_id": issue})
    assert hass.config_entries.async_remove_subentry(
        loaded_entry, subentry_id(loaded_entry, "Dryer")
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await manager.async_configure(flow["flow_id"], {"next_step_id": "discard"})
    assert (result["type"], result["reason"]) == ("abort", "household_not_loaded")


async def test_devices_are_listed_under_their_household(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """The household is a service (the budget); each metered device is a device under it."""
    household = device_registry.async_get_device_by_identifier(
        (DOMAIN, loaded_entry.entry_id), loaded_entry.entry_id
    )
    assert household is not None
    assert household.entry_type is dr.DeviceEntryType.SERVICE
    for key in loaded_entry.runtime_data.economy.devices:
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, key), loaded_entry.entry_id
        )
        assert device is not None
        assert device.via_device_id == household.id
        assert device.entry_type is None
        assert device.model == "Metered device"
