"""Storage faults are loud and lossless: a full disk, an I/O error, a read-only folder.

The ledger stops at the first failed write (it never half-writes a unit). The household then
says so once (a log line, a repair, unavailable entities, translated refusals), is retried by
Home Assistant with back-off and by the repair's "retry now", and once the disk writes again it
charges what the meters measured meanwhile, once, and says so once more.
"""

from collections.abc import Callable
from datetime import timedelta
import errno
import logging
from types import MappingProxyType

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import (
    ConfigEntryDisabler,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryData,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import framing, store, verify_ledger

from .conftest import device_subentry
from .helpers import device_id, state_of

DRYER = "sensor.dryer_energy"
FAULTS = {
    "disk full": OSError(errno.ENOSPC, "No space left on device"),
    "I/O error": OSError(errno.EIO, "Input/output error"),
    "read-only": OSError(errno.EROFS, "Read-only file system"),
}


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", DRYER, 30.0),
        device_subentry("Heater", "sensor.heater_energy", 50.0),
    ]


class Disk:
    """The ledger's writes, failing while ``fault`` is set."""

    def __init__(self) -> None:
        self.fault: OSError | None = None


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    disk = Disk()
    real = framing.write_all

    def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
        if disk.fault is not None:
            raise disk.fault
        real(fd, data)

    monkeypatch.setattr(store, "write_all", write_all)
    return disk


def _lines(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_storage_fault_is_loud_and_loses_nothing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    disk: Disk,
    fault: str,
) -> None:
    caplog.set_level(logging.INFO)
    set_meter(DRYER, 100.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(hours=1))
    set_meter(DRYER, 101.0)  # 1 kWh, not yet durable when the disk fails
    await hass.async_block_till_done()

    disk.fault = FAULTS[fault]
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "transfer",
            {
                "from_device": device_id(hass, loaded_entry, "Dryer"),
                "to_device": device_id(hass, loaded_entry, "Heater"),
                "amount": 5,
            },
            blocking=True,
        )
    assert refused.value.translation_key == "ledger_write_failed"
    await hass.async_block_till_done(wait_background_tasks=True)
    # The household stops writing and says so: unavailable entities, a repair, one error line.
    assert state_of(hass, "sensor.dryer_balance") == "unavailable"
    assert state_of(hass, "binary_sensor.home_ledger_integrity") == "unavailable"
    issue_id = f"ledger_storage_{loaded_entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders is not None
    assert str(FAULTS[fault].strerror) in issue.translation_placeholders["error"]

    freezer.tick(timedelta(hours=1))
    set_meter(DRYER, 103.0)  # the meter goes on while the ledger cannot write
    for _ in range(3):  # retries with back-off, the disk still full: no new error line
        freezer.tick(timedelta(minutes=10))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_balance") == "unavailable"
    assert len(_lines(caplog, logging.ERROR, "cannot be written")) == 1

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    assert (flow["type"], flow["step_id"]) == (FlowResultType.FORM, "confirm")
    flow = await manager.async_configure(flow["flow_id"], {})  # retry now: still failing
    assert flow["errors"] == {"base": "still_failing"}
    disk.fault = None  # space freed
    flow = await manager.async_configure(flow["flow_id"], {})
    assert flow["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)

    assert loaded_entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert len(_lines(caplog, logging.INFO, "can be written again")) == 1
    # Nothing lost, nothing doubled: 3 kWh since the first reading, the refused transfer absent.
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "3.0"
    assert state_of(hass, "sensor.dryer_balance") == "27.0"
    runtime = loaded_entry.runtime_data
    await runtime.async_commit()
    assert verify_ledger(runtime.economy.ledger.directory).valid
    assert sum(runtime.economy.ledger.balances().values()) == 0


async def test_a_fault_in_the_background_commit_is_reported_not_raised(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    disk: Disk,
) -> None:
    """A reading's commit fails with nobody waiting: a repair, no stray traceback; the retry
    reloads once the disk writes again."""
    disk.fault = FAULTS["disk full"]
    set_meter(DRYER, 100.0)  # a first reading: committed at once, in the background
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "Task exception was never retrieved" not in caplog.text
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")
    disk.fault = None
    freezer.tick(timedelta(seconds=11))  # the first retry finds the disk writable
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert loaded_entry.runtime_data.failure is None
    assert state_of(hass, "sensor.dryer_balance") == "30.0"
    assert not ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")


async def test_a_disk_full_at_start_retries_setup(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    disk: Disk,
) -> None:
    """Opening a new ledger writes its first period: with the disk full, setup waits."""
    disk.fault = FAULTS["disk full"]
    assert not await hass.config_entries.async_setup(household_entry.entry_id)
    assert household_entry.state is ConfigEntryState.SETUP_RETRY
    issue_id = f"ledger_storage_{household_entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    disk.fault = None
    freezer.tick(timedelta(minutes=2))  # Home Assistant's own retry
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert household_entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_fault_when_start_writes_retries_setup(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    disk: Disk,
) -> None:
    """The ledger opens, but settling the boundary passed while stopped cannot be written."""
    period = loaded_entry.runtime_data.economy.period
    assert period is not None
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    freezer.move_to(period.end + timedelta(hours=1))
    disk.fault = FAULTS["I/O error"]
    assert not await hass.config_entries.async_setup(loaded_entry.entry_id)
    assert loaded_entry.state is ConfigEntryState.SETUP_RETRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")
    disk.fault = None
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.state is ConfigEntryState.LOADED
    economy = loaded_entry.runtime_data.economy
    assert economy.period is not None
    assert economy.period.start == period.end  # the boundary settled once, at its time


async def test_a_checkpoint_that_cannot_be_written_leaves_the_action_done_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entries reached the disk, the checkpoint after them did not: the action stands."""
    ledger = loaded_entry.runtime_data.economy.ledger

    def no_checkpoint(*_args: object) -> None:
        raise FAULTS["disk full"]

    monkeypatch.setattr(store.Ledger, "_write_checkpoint", no_checkpoint)
    ledger.request_checkpoint()
    dryer, heater = (device_id(hass, loaded_entry, name) for name in ("Dryer", "Heater"))
    await hass.services.async_call(  # returns: it is durable
        DOMAIN, "transfer", {"from_device": dryer, "to_device": heater, "amount": 5}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.dryer_balance") == "unavailable"  # the ledger stopped
    monkeypatch.undo()
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_balance") == "25.0"  # once
    assert state_of(hass, "sensor.heater_balance") == "55.0"


async def test_what_a_fault_meets_is_refused_in_words_and_changes_nothing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    disk: Disk,
) -> None:
    """Reads that commit first, a new allowance, a device added, a reload: all during a fault."""
    dryer = device_id(hass, loaded_entry, "Dryer")
    disk.fault = FAULTS["disk full"]
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN, "set_allowance", {"device": dryer, "amount": 7}, blocking=True
        )
    assert refused.value.translation_key == "ledger_write_failed"
    [subentry] = [s for s in loaded_entry.subentries.values() if s.title == "Dryer"]
    assert subentry.data["allowance"] == 30.0  # the setting stays as it was
    for service in ("verify_ledger", "get_ledger"):
        with pytest.raises(HomeAssistantError) as refused:
            await hass.services.async_call(
                DOMAIN,
                service,
                {"household": loaded_entry.entry_id},
                blocking=True,
                return_response=True,
            )
        assert refused.value.translation_key == "ledger_write_failed"
    oven = device_subentry("Oven", "sensor.oven_energy", 5.0)
    hass.config_entries.async_add_subentry(
        loaded_entry,
        ConfigSubentry(
            data=MappingProxyType(dict(oven["data"])),
            subentry_type=oven["subentry_type"],
            title=oven["title"],
            unique_id=oven["unique_id"],
        ),
    )
    await hass.async_block_till_done()  # taken in once the ledger writes again, no traceback
    # A reload while the disk is still full does not pretend it writes again.
    assert not await hass.config_entries.async_reload(loaded_entry.entry_id)
    assert loaded_entry.state is ConfigEntryState.SETUP_RETRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")
    disk.fault = None
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert "Oven" in {d.settings.name for d in loaded_entry.runtime_data.economy.devices.values()}


async def test_the_repair_of_a_disabled_household_goes_away(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, disk: Disk
) -> None:
    disk.fault = FAULTS["disk full"]
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, "close_period", {"household": loaded_entry.entry_id}, blocking=True
        )
    await hass.config_entries.async_set_disabled_by(loaded_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = f"ledger_storage_{loaded_entry.entry_id}"
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, context={"issue_id": issue_id})
    flow = await manager.async_configure(flow["flow_id"], {})
    assert flow["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_fault_first_met_at_unload_is_reported_and_retried(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    disk: Disk,
) -> None:
    set_meter(DRYER, 100.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(hours=1))
    set_meter(DRYER, 102.0)  # pending: the unload's commit writes it
    await hass.async_block_till_done()
    disk.fault = FAULTS["I/O error"]
    assert not await hass.config_entries.async_reload(loaded_entry.entry_id)
    assert loaded_entry.state is ConfigEntryState.SETUP_RETRY  # not a failed unload
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")
    disk.fault = None
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert state_of(hass, "sensor.dryer_consumed_this_period") == "2.0"  # once
