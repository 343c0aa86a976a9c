"""Exactly once: what an action acknowledged is on disk, and crashes lose or double nothing.

Each test stands for a failure seen by killing a real instance; the real-process crash test is
tests/crash/.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import (
    Entry,
    Kind,
    LedgerError,
    iter_entries,
    verify_ledger,
)
from custom_components.energy_tokens.ledger.layout import list_segments
from custom_components.energy_tokens.ledger.store import Ledger
from custom_components.energy_tokens.runtime import HouseholdRuntime, storage_directory
from custom_components.energy_tokens.transfers import async_join_exchange

from .conftest import device_subentry
from .helpers import device_id, entries, state_of, tick

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", DRYER, 30.0), device_subentry("Heater", HEATER, 50.0)]


@pytest.fixture
async def cabin(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> MockConfigEntry:
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


def on_disk(hass: HomeAssistant, entry: MockConfigEntry) -> list[Entry]:
    """What a crash right now would leave: the entries in the files."""
    return list(iter_entries(storage_directory(hass, entry.entry_id) / "ledger"))


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any]) -> None:
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


async def test_an_acknowledged_action_is_on_disk_when_it_returns(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """1. Acknowledged actions were lost by a kill within the commit delay."""
    dryer = device_id(hass, loaded_entry, "Dryer")
    heater = device_id(hass, loaded_entry, "Heater")
    household = {"household": loaded_entry.entry_id}
    for service, data in [
        ("transfer", {"from_device": dryer, "to_device": heater, "amount": 1, "note": "ack"}),
        ("top_up", {**household, "amount": 2}),
        ("sell_surplus", {"device": dryer, "amount": 1}),
        ("set_allowance", {"device": dryer, "amount": 35, "when": "now"}),
        ("close_period", household),
    ]:
        seq = loaded_entry.runtime_data.economy.ledger.seq
        await _call(hass, service, data)  # no time passes: no scheduled commit runs
        written = on_disk(hass, loaded_entry)
        assert written[-1].seq == loaded_entry.runtime_data.economy.ledger.seq > seq, service
    kinds = [e.kind for e in on_disk(hass, loaded_entry)]
    assert kinds.count(Kind.PERIOD_CLOSE) == kinds.count(Kind.PERIOD_OPEN) - 1 == 1


async def test_where_counting_starts_is_on_disk_at_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A first reading lost to a kill before the group commit lost what the meter rose since."""
    set_meter(DRYER, 100)
    # No time passes, so no scheduled group commit runs: only the reading's own commit.
    await hass.async_block_till_done(wait_background_tasks=True)
    baselines = [e.data for e in on_disk(hass, loaded_entry) if e.kind is Kind.METER]
    assert [(d["meter"], d["wh"]) for d in baselines] == [(DRYER, 100_000)]
    freezer.tick(timedelta(hours=1))  # a plausible pace; no timer fires
    set_meter(DRYER, 100.2)  # an ordinary reading waits for the group commit
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [e.data for e in on_disk(hass, loaded_entry) if e.kind is Kind.METER] == baselines


async def test_a_period_closed_and_not_reopened_is_reopened_on_start(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2. A kill between a boundary's two segments left a close without its open."""
    folder = storage_directory(hass, loaded_entry.entry_id) / "ledger"
    before = {path.name for path in list_segments(folder)}
    balances = dict(loaded_entry.runtime_data.economy.ledger.balances())
    real_fd = Ledger._segment_fd

    def crash_at_the_new_segment(ledger: Ledger, name: str) -> int:
        if name not in before:
            raise OSError("killed between the two segments")
        return real_fd(ledger, name)

    monkeypatch.setattr(Ledger, "_segment_fd", crash_at_the_new_segment)
    with pytest.raises(HomeAssistantError) as failed:
        await _call(hass, "close_period", {"household": loaded_entry.entry_id})
    assert failed.value.translation_key == "ledger_write_failed"
    monkeypatch.undo()
    kinds = [e.kind for e in on_disk(hass, loaded_entry)]
    assert kinds[-1] is Kind.PERIOD_CLOSE  # the close reached the disk, the open did not
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    kinds = [e.kind for e in await entries(loaded_entry)]
    assert kinds.count(Kind.PERIOD_OPEN) == 2
    assert kinds.count(Kind.PERIOD_CLOSE) == 1
    ledger = loaded_entry.runtime_data.economy.ledger
    dryer = next(k for k in balances if k.startswith("device:"))
    assert ledger.balance(dryer) == balances[dryer]  # allocated again: not left at zero
    assert state_of(hass, "sensor.dryer_balance") == "30.0"


async def test_an_accepted_jump_is_charged_once_across_a_restart(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """3. Accepting a held jump and restarting charged everything since the jump twice."""
    set_meter(DRYER, 1.0)
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 50.0)  # held
    await tick(hass, freezer, timedelta(hours=1))
    set_meter(DRYER, 52.0)  # then 2 kWh
    await tick(hass, freezer, timedelta(minutes=5))
    [issue] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, context={"issue_id": issue})
    await manager.async_configure(flow["flow_id"], {"next_step_id": "accept"})
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    set_meter(DRYER, 53.0)
    await tick(hass, freezer, timedelta(minutes=5))
    charged = sum(d.amount for d in await entries(loaded_entry, Kind.DEBIT))
    assert charged == 52_000  # the meter moved 52 kWh: 49 held and accepted, then 2, then 1


async def test_a_transfer_the_receiver_could_not_record_is_refunded(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cabin: MockConfigEntry
) -> None:
    """4. A transfer refused on the receiving side still debited the sender."""
    dryer = device_id(hass, loaded_entry, "Dryer")
    sauna = device_id(hass, cabin, "Sauna")
    real_fd = Ledger._segment_fd

    def sender_fails(ledger: Ledger, name: str) -> int:
        if ledger.household_id == loaded_entry.entry_id:
            raise OSError("the sender's disk is full")
        return real_fd(ledger, name)

    with patch.object(Ledger, "_segment_fd", sender_fails), pytest.raises(HomeAssistantError):
        await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 4})
    assert loaded_entry.runtime_data.economy.ledger.usable is False  # the sender's disk failed
    # The sender's ledger stopped at its offer: nothing reached the receiver.
    assert not [e for e in on_disk(hass, cabin) if e.kind is Kind.TRANSFER]


async def test_a_receipt_that_cannot_be_written_waits_in_escrow_then_is_refunded(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    cabin: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Whether a failed write reached the disk is not known: the offer waits for the receiver.

    Once the receiver's ledger writes again it reopens, finds no receipt, and the sender
    refunds; a receipt that had reached the disk would be settled instead.
    """
    dryer = device_id(hass, loaded_entry, "Dryer")
    sauna = device_id(hass, cabin, "Sauna")
    real_fd = Ledger._segment_fd

    def receiver_fails(ledger: Ledger, name: str) -> int:
        if ledger.household_id == cabin.entry_id:
            raise OSError("the receiver's disk is full")
        return real_fd(ledger, name)

    with (
        patch.object(Ledger, "_segment_fd", receiver_fails),
        pytest.raises(HomeAssistantError) as failed,
    ):
        await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 4})
    assert failed.value.translation_key == "transfer_unfinished"
    escrow = f"escrow:{cabin.entry_id}"
    assert loaded_entry.runtime_data.economy.ledger.balance(escrow) == 4_000
    freezer.tick(timedelta(seconds=11))  # the receiver's disk writes again: it reopens
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    home = on_disk(hass, loaded_entry)
    offer, refund = [e for e in home if e.kind is Kind.TRANSFER][-2:]
    assert refund.data == {"escrow": offer.hash.hex(), "refund": "not received"}
    assert loaded_entry.runtime_data.economy.ledger.balance(escrow) == 0
    assert state_of(hass, "sensor.dryer_balance") == "30.0"  # nothing left the dryer for good
    assert not [e for e in on_disk(hass, cabin) if e.kind is Kind.TRANSFER]


async def test_an_offer_a_crash_left_in_escrow_is_concluded_at_start(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cabin: MockConfigEntry
) -> None:
    """A crash after the receipt and before the settlement: the next start settles it."""
    dryer = device_id(hass, loaded_entry, "Dryer")
    sauna = device_id(hass, cabin, "Sauna")
    with (
        patch(
            "custom_components.energy_tokens.economy.Economy.settle_offer",
            side_effect=SystemExit("killed"),
        ),
        pytest.raises(SystemExit),
    ):
        await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 4})
    escrow = f"escrow:{cabin.entry_id}"
    assert loaded_entry.runtime_data.economy.ledger.balance(escrow) == 4_000
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    ledger = loaded_entry.runtime_data.economy.ledger
    assert ledger.balance(escrow) == 0
    assert ledger.balance(f"household:{cabin.entry_id}") == 4_000  # settled, not refunded
    [link] = await entries(loaded_entry, Kind.LINK)
    [receipt] = [e for e in await entries(cabin, Kind.TRANSFER) if "peer_hash" in e.data]
    assert link.data["peer_hash"] == receipt.hash.hex()
    # And an offer whose receiver never wrote its receipt is refunded.
    with (
        patch(
            "custom_components.energy_tokens.economy.Economy.receive",
            side_effect=SystemExit("killed"),
        ),
        pytest.raises(SystemExit),
    ):
        await _call(hass, "transfer", {"from_device": dryer, "to_device": sauna, "amount": 2})
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    ledger = loaded_entry.runtime_data.economy.ledger
    assert ledger.balance(escrow) == 0
    assert state_of(hass, "sensor.dryer_balance") == "26.0"  # 4 went to the sauna, 2 came back
    for entry in (loaded_entry, cabin):
        folder: Path = storage_directory(hass, entry.entry_id) / "ledger"
        assert verify_ledger(folder).valid
        assert sum(entry.runtime_data.economy.ledger.balances().values()) == 0


async def _leave_in_escrow(
    hass: HomeAssistant, home: MockConfigEntry, cabin: MockConfigEntry, amount: float
) -> str:
    """A transfer to the Cabin killed after its receipt, before its settlement."""
    data = {
        "from_device": device_id(hass, home, "Dryer"),
        "to_device": device_id(hass, cabin, "Sauna"),
        "amount": amount,
    }
    with (
        patch(
            "custom_components.energy_tokens.economy.Economy.settle_offer",
            side_effect=SystemExit("killed"),
        ),
        pytest.raises(SystemExit),
    ):
        await _call(hass, "transfer", data)
    escrow = f"escrow:{cabin.entry_id}"
    assert home.runtime_data.economy.ledger.balance(escrow) == amount * 1000
    return escrow


async def test_households_starting_together_conclude_their_offers(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cabin: MockConfigEntry
) -> None:
    """Starting at once, neither household saw the other loaded: the offer stayed in escrow."""
    escrow = await _leave_in_escrow(hass, loaded_entry, cabin, 3)
    for entry in (loaded_entry, cabin):
        assert await hass.config_entries.async_unload(entry.entry_id)
    arrived: list[str] = []
    both = asyncio.Event()
    real_join = async_join_exchange

    async def join(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
        arrived.append(runtime.entry.entry_id)
        if len(arrived) == 2:
            both.set()
        await both.wait()  # neither is loaded yet when either joins
        await real_join(hass, runtime)

    with patch("custom_components.energy_tokens.async_join_exchange", join):
        await asyncio.gather(
            *(hass.config_entries.async_setup(e.entry_id) for e in (loaded_entry, cabin))
        )
    await hass.async_block_till_done(wait_background_tasks=True)
    ledger = loaded_entry.runtime_data.economy.ledger
    assert ledger.balance(escrow) == 0
    assert ledger.balance(f"household:{cabin.entry_id}") == 3_000  # settled: the Cabin has it


async def test_a_household_starting_leaves_a_transfer_under_way_alone(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cabin: MockConfigEntry
) -> None:
    """A third household's start found an offer under way, without its receipt yet, and
    refunded it; the transfer then settled it too."""
    await _leave_in_escrow(hass, loaded_entry, cabin, 1)  # something for the start to conclude
    garage = MockConfigEntry(
        domain=DOMAIN,
        title="Garage",
        data={**loaded_entry.data, "name": "Garage"},
        subentries_data=[device_subentry("Charger", "sensor.charger_energy", 10.0)],
    )
    garage.add_to_hass(hass)
    receiving, go_on = asyncio.Event(), asyncio.Event()
    real_act = HouseholdRuntime.async_act

    async def slow_receiver(runtime: HouseholdRuntime, result: Any) -> Any:
        if runtime.entry is cabin:  # the receipt waits until the Garage is starting
            receiving.set()
            await go_on.wait()
        return await real_act(runtime, result)

    data = {
        "from_device": device_id(hass, loaded_entry, "Dryer"),
        "to_device": device_id(hass, cabin, "Sauna"),
        "amount": 2,
    }
    joining = asyncio.Event()
    real_join = async_join_exchange

    async def join(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
        joining.set()
        await real_join(hass, runtime)

    with (
        patch.object(HouseholdRuntime, "async_act", slow_receiver),
        patch("custom_components.energy_tokens.async_join_exchange", join),
    ):
        transfer = hass.async_create_task(_call(hass, "transfer", data))
        await receiving.wait()  # the offer is on disk, its receipt not yet
        starting = hass.async_create_task(hass.config_entries.async_setup(garage.entry_id))
        await joining.wait()  # the Garage joins, and waits for the transfer under way
        for _ in range(10):
            await asyncio.sleep(0)
        assert not starting.done()
        go_on.set()
        await transfer
        assert await starting
    await hass.async_block_till_done(wait_background_tasks=True)
    home = on_disk(hass, loaded_entry)
    assert not [e for e in home if "refund" in e.data]
    assert loaded_entry.runtime_data.economy.ledger.balance(f"escrow:{cabin.entry_id}") == 0
    assert loaded_entry.runtime_data.economy.ledger.balance(f"household:{cabin.entry_id}") == 3_000
    receipts = [e for e in on_disk(hass, cabin) if "peer_hash" in e.data]
    assert sorted(e.amount for e in receipts) == [1_000, 2_000]


async def test_an_offer_to_a_deleted_household_is_refunded(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cabin: MockConfigEntry
) -> None:
    data = {
        "from_device": device_id(hass, loaded_entry, "Dryer"),
        "to_device": device_id(hass, cabin, "Sauna"),
        "amount": 2,
    }
    with (
        patch(
            "custom_components.energy_tokens.economy.Economy.receive",
            side_effect=SystemExit("killed"),
        ),
        pytest.raises(SystemExit),
    ):
        await _call(hass, "transfer", data)
    assert await hass.config_entries.async_remove(cabin.entry_id)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    [refund] = [e for e in await entries(loaded_entry, Kind.TRANSFER) if "refund" in e.data]
    assert refund.data["refund"] == "not received"
    assert loaded_entry.runtime_data.economy.ledger.balance(f"escrow:{cabin.entry_id}") == 0
    assert state_of(hass, "sensor.dryer_balance") == "30.0"


async def test_an_offer_that_cannot_be_concluded_waits_for_the_next_start(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    cabin: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    escrow = await _leave_in_escrow(hass, loaded_entry, cabin, 2)
    with patch(
        "custom_components.energy_tokens.transfers._async_conclude",
        side_effect=LedgerError("the disk is full"),
    ):
        assert await hass.config_entries.async_reload(loaded_entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert "offers left in escrow could not be concluded: the disk is full" in caplog.text
    assert loaded_entry.runtime_data.economy.ledger.balance(escrow) == 2_000  # still there
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data.economy.ledger.balance(escrow) == 0


async def test_a_held_jump_is_asked_again_after_a_restart(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The repair issue is saved later than the ledger: a crash before it must not lose the jump."""
    set_meter(DRYER, 1.0)
    await tick(hass, freezer, timedelta(seconds=10))
    set_meter(DRYER, 50.0)  # a jump
    set_meter(DRYER, 50_000.0, "Wh")  # it stayed up (the same reading in Wh): held
    await hass.async_block_till_done()
    [issue] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    await loaded_entry.runtime_data.async_commit()
    ir.async_delete_issue(hass, DOMAIN, issue)  # as if the crash came before it was saved
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    [again] = [i for (d, i) in issue_registry.issues if d == DOMAIN]
    assert again == issue
    held = issue_registry.async_get_issue(DOMAIN, again)
    assert held is not None
    assert held.data is not None
    assert (held.data["meter"], held.data["from_wh"], held.data["to_wh"]) == (DRYER, 1_000, 50_000)
