"""Setting up, unloading, reloading and removing a household."""

from datetime import timedelta
from pathlib import Path
import stat

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.energy_tokens.binary_sensor import HOUSEHOLD_BINARY_SENSORS
from custom_components.energy_tokens.const import CONF_PERIOD, DOMAIN
from custom_components.energy_tokens.ledger import Kind, verify_ledger
from custom_components.energy_tokens.ledger.layout import (
    CHECKPOINTS_FILE,
    list_segments,
    segment_first_seq,
)
from custom_components.energy_tokens.runtime import storage_directory
from custom_components.energy_tokens.sensor import HOUSEHOLD_SENSORS

from .helpers import state_of

# Diagnostic entities are disabled by default (test_entities_default.py); these tests read them.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")


async def test_setup_creates_ledger_key_device_and_entities(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    assert loaded_entry.state is ConfigEntryState.LOADED
    folder = storage_directory(hass, loaded_entry.entry_id)
    key = folder / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not (folder / "ledger" / "signing.key").exists()
    result = verify_ledger(folder / "ledger")
    assert result.valid
    assert result.household_id == loaded_entry.entry_id

    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, loaded_entry.entry_id), loaded_entry.entry_id
    )
    assert device is not None
    assert device.name == "Home"
    entities = er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
    keys = [d.key for d in (*HOUSEHOLD_SENSORS, *HOUSEHOLD_BINARY_SENSORS)]
    assert {e.unique_id for e in entities} == {f"{loaded_entry.entry_id}_{key}" for key in keys}
    assert all(e.device_id == device.id for e in entities)

    ledger = loaded_entry.runtime_data.economy.ledger
    assert state_of(hass, "sensor.home_ledger_entries") == str(ledger.seq)
    assert state_of(hass, "binary_sensor.home_ledger_integrity") == "off"


async def test_unload_flushes_and_signs_and_reload_reopens(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    household = loaded_entry.runtime_data
    household.economy.ledger.append(
        Kind.ADJUST, from_account="provider", to_account="pool", amount=5
    )
    entries, pool = household.economy.ledger.seq, household.economy.ledger.balance("pool")
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    folder = storage_directory(hass, loaded_entry.entry_id) / "ledger"
    result = verify_ledger(folder)
    assert result.valid
    assert result.entries == entries
    assert result.checkpoints_verified >= 1  # unloading signs a checkpoint

    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data.economy.ledger.balance("pool") == pool
    assert loaded_entry.runtime_data.economy.ledger.seq == entries  # reopening wrote nothing new
    assert state_of(hass, "sensor.home_ledger_entries") == str(entries)
    assert state_of(hass, "sensor.home_last_signed_checkpoint") not in ("unknown", None)


async def test_scheduled_group_commit(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    from datetime import timedelta

    from pytest_homeassistant_custom_component.common import async_fire_time_changed

    household = loaded_entry.runtime_data
    durable = household.economy.ledger.durable_seq
    for _ in range(3):
        household.economy.ledger.append(
            Kind.ADJUST, from_account="provider", to_account="pool", amount=1
        )
        household.async_schedule_commit()
    assert household.economy.ledger.durable_seq == durable
    freezer.tick(timedelta(seconds=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert household.economy.ledger.durable_seq == household.economy.ledger.seq == durable + 3
    assert state_of(hass, "sensor.home_ledger_entries") == str(durable + 3)


async def test_home_assistant_stop_flushes(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    household = loaded_entry.runtime_data
    household.economy.ledger.append(
        Kind.ADJUST, from_account="provider", to_account="pool", amount=2
    )
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert household.economy.ledger.durable_seq == household.economy.ledger.seq
    assert household.economy.ledger.checkpoint_size == household.economy.ledger.seq


async def test_removal_archives_ledger_and_key(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Deleting a household never deletes its evidence: the folder moves to the archive."""
    from homeassistant.components import persistent_notification

    folder = storage_directory(hass, loaded_entry.entry_id)
    assert folder.exists()
    seq = loaded_entry.runtime_data.economy.ledger.seq
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not folder.exists()
    [archived] = list((folder.parent / "archive").iterdir())
    assert archived.name.startswith(f"{loaded_entry.entry_id}-")
    assert (archived / "signing.key").exists()
    result = verify_ledger(archived / "ledger")
    assert (result.valid, result.entries) == (True, seq)
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    [notice] = [n for key, n in notifications.items() if key.endswith("_archived")]
    assert str(archived) in notice["message"]


def _damage(folder: Path, segment_index: int, offset_from_end: int) -> None:
    segment = list_segments(folder)[segment_index]
    data = bytearray(segment.read_bytes())
    data[-offset_from_end] ^= 0xFF
    segment.write_bytes(bytes(data))


async def _prepare_ledger(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> Path:
    """Run a daily household over two period boundaries, unload; return the ledger folder."""
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PERIOD: "daily"})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(2):
        freezer.tick(timedelta(days=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    folder = storage_directory(hass, entry.entry_id) / "ledger"
    assert len(list_segments(folder)) == 4  # genesis, then three daily periods
    return folder


async def test_tampering_under_a_checkpoint_raises_a_repair_issue(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    folder = await _prepare_ledger(hass, household_entry, freezer)
    _damage(folder, 1, 3)  # the first period: fast open does not read it, verification does
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert household_entry.state is ConfigEntryState.LOADED
    assert state_of(hass, "binary_sensor.home_ledger_integrity") == "on"
    issue = issue_registry.async_get_issue(DOMAIN, f"ledger_tampered_{household_entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    segment = list_segments(folder)[1]
    last_of_first_period = segment_first_seq(list_segments(folder)[2]) - 1
    assert issue.translation_placeholders["seq"] == str(last_of_first_period)
    assert segment.exists()
    # Once the damage is repaired (a backup restored), the next verification clears it.
    _damage(folder, 1, 3)
    result = await household_entry.runtime_data.async_verify()
    assert result.valid
    assert (
        issue_registry.async_get_issue(DOMAIN, f"ledger_tampered_{household_entry.entry_id}")
        is None
    )
    assert state_of(hass, "binary_sensor.home_ledger_integrity") == "off"


async def test_refused_ledger_fails_setup_with_a_clear_error(
    hass: HomeAssistant, household_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    folder = await _prepare_ledger(hass, household_entry, freezer)
    last = list_segments(folder)[-1]
    last.write_bytes(last.read_bytes()[:20])  # shorter than its last signed checkpoint
    assert not await hass.config_entries.async_setup(household_entry.entry_id)
    assert household_entry.state is ConfigEntryState.SETUP_ERROR
    assert household_entry.reason is not None
    assert "damaged at entry" in household_entry.reason


async def test_unreadable_ledger_is_retried(
    hass: HomeAssistant, household_entry: MockConfigEntry
) -> None:
    folder = storage_directory(hass, household_entry.entry_id)
    folder.mkdir(parents=True)
    (folder / "signing.key").write_text("not a key")
    assert not await hass.config_entries.async_setup(household_entry.entry_id)
    assert household_entry.state is ConfigEntryState.SETUP_RETRY


async def test_torn_tail_is_reported(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
    freezer: FrozenDateTimeFactory,
) -> None:
    folder = await _prepare_ledger(hass, household_entry, freezer)
    with list_segments(folder)[-1].open("ab") as handle:
        handle.write(b"\x30\x00\x00\x00partial")
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "were moved aside into quarantine/" in caplog.text
    issue = issue_registry.async_get_issue(DOMAIN, f"ledger_torn_tail_{household_entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert state_of(hass, "binary_sensor.home_ledger_integrity") == "off"
    assert (folder / CHECKPOINTS_FILE).exists()
    # Never deleted: the bytes are kept in the quarantine folder, and diagnostics list them.
    [kept] = (folder / "quarantine").iterdir()
    assert kept.read_bytes() == b"\x30\x00\x00\x00partial"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["kept"] == f"quarantine/{kept.name}"
    from custom_components.energy_tokens.diagnostics import async_get_config_entry_diagnostics

    diagnostics = await async_get_config_entry_diagnostics(hass, household_entry)
    assert diagnostics["ledger"]["quarantine"] == {kept.name: len(b"\x30\x00\x00\x00partial")}
    assert diagnostics["ledger"]["torn_tail"]["kept"] == f"quarantine/{kept.name}"


async def test_a_damaged_checkpoint_is_set_aside_not_deleted(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    folder = await _prepare_ledger(hass, household_entry, freezer)
    checkpoints = folder / CHECKPOINTS_FILE
    intact = checkpoints.read_bytes()
    # The last checkpoint seen with one flipped bit: damage to signed evidence, refused as is.
    flipped = bytearray(intact)
    flipped[-5] ^= 0x01
    checkpoints.write_bytes(bytes(flipped))
    assert not await hass.config_entries.async_setup(household_entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, f"ledger_refused_{household_entry.entry_id}")
    assert checkpoints.read_bytes() == bytes(flipped)  # nothing cut, nothing set aside
    # A checkpoint write a crash cut short after it (never seen): set aside, not deleted.
    damaged = intact + b"\x40\x00\x00\x00partial checkpoint"
    checkpoints.write_bytes(damaged)
    assert await hass.config_entries.async_reload(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(
        DOMAIN, f"ledger_checkpoint_torn_{household_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    kept = folder / issue.translation_placeholders["kept"]
    start = len(damaged) - len(kept.read_bytes())
    assert damaged[start:] == kept.read_bytes()  # the damaged record, byte for byte
    result = await hass.async_add_executor_job(verify_ledger, folder)
    assert result.valid  # what stays verifies; what went is kept beside it


async def test_removing_a_household_that_never_started_archives_nothing(
    hass: HomeAssistant, household_entry: MockConfigEntry
) -> None:
    from homeassistant.components import persistent_notification

    assert await hass.config_entries.async_remove(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not storage_directory(hass, household_entry.entry_id).parent.joinpath("archive").exists()
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    assert not [key for key in notifications if key.endswith("_archived")]


@pytest.mark.parametrize("change", ["deleted", "replaced", "cut"])
async def test_a_ledger_that_is_not_the_one_last_seen_is_refused(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
    change: str,
) -> None:
    """Deleted, replaced by a fresh one, or cut back to an earlier copy: never started over."""
    import shutil

    folder = storage_directory(hass, household_entry.entry_id) / "ledger"
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_unload(household_entry.entry_id)
    early = folder.parent / "early-copy"
    shutil.copytree(folder, early)  # a copy from before the periods that follow
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(2):
        await hass.services.async_call(
            DOMAIN, "close_period", {"household": household_entry.entry_id}, blocking=True
        )
    assert await hass.config_entries.async_unload(household_entry.entry_id)
    seen = household_entry.data["ledger_seen"]
    assert seen["size"] == verify_ledger(folder).entries  # kept outside the ledger folder
    assert seen["size"] > verify_ledger(early).entries
    shutil.rmtree(folder)
    if change == "replaced":  # a new ledger in its place (as Home Assistant used to start)
        key = folder.parent / "signing.key"
        from custom_components.energy_tokens.ledger import Ledger, load_or_create_signing_key

        Ledger.create(folder, load_or_create_signing_key(key), household_entry.entry_id).close()
    elif change == "cut":
        shutil.copytree(early, folder)
    assert not await hass.config_entries.async_setup(household_entry.entry_id)
    assert household_entry.state is ConfigEntryState.SETUP_ERROR
    issue = issue_registry.async_get_issue(DOMAIN, f"ledger_refused_{household_entry.entry_id}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert (folder.exists(), change) != (True, "deleted")  # no new ledger was started
