"""Backups: a ledger is committed, signed and held still while Home Assistant copies it."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens import backup
from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.ledger import Cause, CauseKind, verify_ledger
from custom_components.energy_tokens.runtime import storage_directory

from .conftest import device_subentry
from .helpers import device_id, state_of

DRYER = "sensor.dryer_energy"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", DRYER, 30.0),
        device_subentry("Heater", "sensor.heater_energy", 50.0),
    ]


async def test_a_backup_copies_a_signed_ledger_and_actions_wait_for_it(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    entry = loaded_entry
    set_meter(DRYER, 100.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    freezer.tick(timedelta(hours=1))
    set_meter(DRYER, 102.0)  # not yet durable: the backup makes it so
    await hass.async_block_till_done()

    await backup.async_pre_backup(hass)
    ledger = entry.runtime_data.economy.ledger
    assert ledger.durable_seq == ledger.seq == ledger.checkpoint_size
    signed = ledger.checkpoint_size
    folder = storage_directory(hass, entry.entry_id) / "ledger"
    copy = tmp_path / "backup"
    await hass.async_add_executor_job(shutil.copytree, folder, copy)
    transfer = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "transfer",
            {
                "from_device": device_id(hass, entry, "Dryer"),
                "to_device": device_id(hass, entry, "Heater"),
                "amount": 3,
            },
            blocking=True,
        )
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert not transfer.done()  # its commit waits for the backup
    await backup.async_post_backup(hass)
    await transfer
    assert ledger.durable_seq == ledger.seq
    assert state_of(hass, "sensor.heater_balance") == "53.0"

    restored = await hass.async_add_executor_job(verify_ledger, copy)
    assert restored.valid
    assert restored.entries == signed  # every entry under the checkpoint signed for it
    assert restored.entries < ledger.seq  # the transfer came after


async def test_a_held_ledger_is_released_by_closing_or_in_time(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A backup that never says it is done does not stop the household for good."""
    runtime = loaded_entry.runtime_data
    await backup.async_pre_backup(hass)
    await backup.async_pre_backup(hass)  # twice: held once
    freezer.tick(timedelta(minutes=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await asyncio.wait_for(runtime.async_commit(), 1)  # writes again
    await backup.async_pre_backup(hass)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)  # no deadlock


async def test_a_backup_during_a_storage_fault_holds_nothing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeassistant.helpers import issue_registry as ir

    from custom_components.energy_tokens.ledger import store

    def disk_full(fd: int, data: object) -> None:
        raise OSError(28, "No space left on device")

    runtime = loaded_entry.runtime_data
    monkeypatch.setattr(store, "write_all", disk_full)
    runtime.economy.ledger.request_checkpoint()
    runtime.economy.top_up(1_000, Cause(CauseKind.USER, "u"))  # something to write
    await backup.async_pre_backup(hass)  # the commit fails: the fault is reported
    assert runtime.failure is not None
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"ledger_storage_{loaded_entry.entry_id}")
    assert not runtime._commit_lock.locked()  # nothing held
    await backup.async_post_backup(hass)
