"""Load cutting: off when a budget runs out, on when tokens return, never against the user."""

from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.loads import restore_threshold_milli

from .conftest import device_subentry
from .helpers import consume, device_id, state_of

DRYER = "sensor.dryer_energy"
HEATER = "sensor.heater_energy"
PLUG = "input_boolean.dryer_plug"


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [
        device_subentry("Dryer", DRYER, 10.0, load=PLUG, cut_policy="turn_off"),
        device_subentry("Heater", HEATER, 50.0, cut_policy="notify"),
    ]


@pytest.fixture
def household_settings(household_settings: dict[str, object]) -> dict[str, object]:
    return {**household_settings, "auto_borrow": False}


@pytest.fixture(autouse=True)
async def plug(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"dryer_plug": {"initial": True}}}
    )


async def _settle(hass: HomeAssistant) -> None:
    await hass.async_block_till_done()


async def _give(hass: HomeAssistant, entry: MockConfigEntry, tokens: float) -> None:
    await hass.services.async_call(
        DOMAIN,
        "transfer",
        {
            "from_device": device_id(hass, entry, "Heater"),
            "to_device": device_id(hass, entry, "Dryer"),
            "amount": tokens,
        },
        blocking=True,
    )
    await _settle(hass)


def test_restore_threshold() -> None:
    assert restore_threshold_milli(10_000) == 1_000  # at least one token
    assert restore_threshold_milli(100_000) == 5_000  # a twentieth of the allowance


async def test_cut_when_exhausted_and_restored_when_tokens_return(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    cut = async_capture_events(hass, "energy_tokens_load_cut")
    restored = async_capture_events(hass, "energy_tokens_load_restored")
    await consume(hass, set_meter, freezer, DRYER, 11.0)  # -1 token
    assert state_of(hass, PLUG) == "off"
    assert [(e.data["load"], e.data["load_name"]) for e in cut] == [(PLUG, "dryer plug")]
    await _give(hass, loaded_entry, 1.5)  # 0.5: above zero, under the restore threshold of 1
    assert state_of(hass, PLUG) == "off"
    await _give(hass, loaded_entry, 1.0)  # 1.5: back on
    assert state_of(hass, PLUG) == "on"
    assert [(e.data["device"], e.data["load_name"]) for e in restored] == [("Dryer", "dryer plug")]


async def test_never_against_a_manual_override(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    restored = async_capture_events(hass, "energy_tokens_load_restored")
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    user = Context()  # anyone else: a person at the wall switch, another automation
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": PLUG}, blocking=True, context=user
    )
    await hass.services.async_call(
        "input_boolean", "turn_off", {"entity_id": PLUG}, blocking=True, context=user
    )
    await _give(hass, loaded_entry, 5.0)
    assert state_of(hass, PLUG) == "off"  # the user took over: we leave it alone
    assert restored == []


async def test_a_load_switched_back_on_without_tokens_is_told(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
    hass_admin_user: User,
) -> None:
    from homeassistant.components import persistent_notification

    overrides = async_capture_events(hass, "energy_tokens_load_override")
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    person = Context(user_id=hass_admin_user.id)
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": PLUG}, blocking=True, context=person
    )
    await _settle(hass)
    [event] = overrides
    assert event.context.user_id == hass_admin_user.id  # the logbook names who it was
    assert event.data["device"] == "Dryer"
    assert (event.data["load"], event.data["load_name"]) == (PLUG, "dryer plug")
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    [notice] = [n for key, n in notifications.items() if key.endswith("_override")]
    assert notice["title"] == "Dryer: load switched back on without tokens"
    assert state_of(hass, PLUG) == "on"  # never switched against the person
    await _give(hass, loaded_entry, 5.0)  # tokens again: the warning goes
    assert not [key for key in notifications if key.endswith("_override")]
    assert len(overrides) == 1


async def test_paused_enforcement_cuts_nothing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.dryer_budget_enforcement"}, blocking=True
    )
    assert state_of(hass, "switch.dryer_budget_enforcement") == "off"
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "on"
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.dryer_budget_enforcement"}, blocking=True
    )
    assert state_of(hass, "switch.dryer_budget_enforcement") == "on"


async def test_only_an_administrator_switches_enforcement_off(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_admin_user: User,
    hass_member_user: User,
) -> None:
    switch = {"entity_id": "switch.dryer_budget_enforcement"}
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            "switch",
            "turn_off",
            switch,
            blocking=True,
            context=Context(user_id=hass_member_user.id),
        )
    assert refused.value.translation_key == "enforcement_admin_only"
    assert state_of(hass, "switch.dryer_budget_enforcement") == "on"
    await hass.services.async_call(
        "switch", "turn_off", switch, blocking=True, context=Context(user_id=hass_admin_user.id)
    )
    assert state_of(hass, "switch.dryer_budget_enforcement") == "off"
    await hass.services.async_call(  # back on: anyone may
        "switch", "turn_on", switch, blocking=True, context=Context(user_id=hass_member_user.id)
    )
    assert state_of(hass, "switch.dryer_budget_enforcement") == "on"


async def test_notify_policy_leaves_the_load_and_tells(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    from homeassistant.components import persistent_notification

    notifications = persistent_notification._async_get_or_create_notifications(hass)
    await consume(hass, set_meter, freezer, HEATER, 51.0)
    [notification] = [n for key, n in notifications.items() if "exhausted" in key]
    assert notification["title"] == "Heater: budget exhausted"


async def test_a_cut_survives_a_restart(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)  # the store's delayed save
    await _settle(hass)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _give(hass, loaded_entry, 3.0)
    assert state_of(hass, PLUG) == "on"


async def test_a_load_turned_on_while_down_is_an_override(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)
    await _settle(hass)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.services.async_call("input_boolean", "turn_on", {"entity_id": PLUG}, blocking=True)
    overrides = async_capture_events(hass, "energy_tokens_load_override")
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data.loads.cuts == {}
    assert [e.data["load"] for e in overrides] == [PLUG]  # told, though it happened meanwhile


async def test_a_load_already_off_is_not_cut(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    cut = async_capture_events(hass, "energy_tokens_load_cut")
    await hass.services.async_call("input_boolean", "turn_off", {"entity_id": PLUG}, blocking=True)
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert cut == []
    assert loaded_entry.runtime_data.loads.cuts == {}


async def test_an_update_that_keeps_the_state_is_no_override(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    hass.states.async_set(PLUG, "off", {"friendly_name": "Dryer plug"})  # attributes only
    await _settle(hass)
    assert loaded_entry.runtime_data.loads.cuts
    await _give(hass, loaded_entry, 3.0)
    assert state_of(hass, PLUG) == "on"


async def test_a_changed_load_setting_drops_the_stored_cut(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)
    await _settle(hass)
    subentry = next(s for s in loaded_entry.subentries.values() if s.title == "Dryer")
    hass.config_entries.async_update_subentry(
        loaded_entry, subentry, data={**subentry.data, "load": "switch.other"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.runtime_data.loads.cuts == {}


async def test_devices_without_a_cut_policy_are_left_alone(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    subentry = next(s for s in household_entry.subentries.values() if s.title == "Dryer")
    hass.config_entries.async_update_subentry(
        household_entry, subentry, data={**subentry.data, "cut_policy": "never"}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "on"


async def test_enforcement_choice_survives_a_restart(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    from homeassistant.core import State
    from pytest_homeassistant_custom_component.common import mock_restore_cache

    mock_restore_cache(hass, [State("switch.dryer_budget_enforcement", "off")])
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "switch.dryer_budget_enforcement") == "off"
    # Earlier versions kept the choice only there: it moves into the device's settings.
    subentry = next(s for s in household_entry.subentries.values() if s.title == "Dryer")
    assert subentry.data["enforce"] is False
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "on"


async def test_a_top_up_to_the_device_restores_its_load(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    await hass.services.async_call(
        DOMAIN,
        "top_up",
        {
            "household": loaded_entry.entry_id,
            "device": device_id(hass, loaded_entry, "Dryer"),
            "amount": 5,
        },
        blocking=True,
    )
    await _settle(hass)
    assert state_of(hass, "sensor.dryer_balance") == "4.0"
    assert state_of(hass, PLUG) == "on"


async def test_a_new_period_restores_a_cut_load(
    hass: HomeAssistant,
    household_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.config_entries.async_update_entry(
        household_entry, data={**household_entry.data, "period": "daily"}
    )
    assert await hass.config_entries.async_setup(household_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    freezer.tick(timedelta(days=1))
    async_fire_time_changed(hass)
    await _settle(hass)
    assert state_of(hass, PLUG) == "on"


async def test_the_enforcement_choice_is_stored_with_the_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.dryer_budget_enforcement"}, blocking=True
    )
    subentry = next(s for s in loaded_entry.subentries.values() if s.title == "Dryer")
    assert subentry.data["enforce"] is False
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "switch.dryer_budget_enforcement") == "off"
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "on"  # not cut
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.dryer_budget_enforcement"}, blocking=True
    )
    assert state_of(hass, "switch.dryer_budget_enforcement") == "on"
    subentry = next(s for s in loaded_entry.subentries.values() if s.title == "Dryer")
    assert subentry.data["enforce"] is True


async def test_an_allowance_lowered_below_use_runs_out_like_a_reading(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    exhausted = async_capture_events(hass, "energy_tokens_exhausted")
    await consume(hass, set_meter, freezer, DRYER, 5.0)
    await hass.services.async_call(
        DOMAIN,
        "set_allowance",
        {"device": device_id(hass, loaded_entry, "Dryer"), "amount": 2, "when": "now"},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(hass, "sensor.dryer_budget_status") == "exhausted"
    assert [e.data["balance"] for e in exhausted] == [-3.0]
    assert state_of(hass, PLUG) == "off"  # its cut policy applies at once


async def test_a_cut_load_returns_at_this_periods_threshold(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A larger allowance set for the next period does not raise this period's threshold."""
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    dryer = device_id(hass, loaded_entry, "Dryer")
    await hass.services.async_call(
        DOMAIN, "set_allowance", {"device": dryer, "amount": 200}, blocking=True
    )
    await _give(hass, loaded_entry, 3.0)
    assert state_of(hass, "sensor.dryer_balance") == "2.0"
    assert state_of(hass, PLUG) == "on"  # 2 tokens reach a twentieth of 10 (and one token)


async def test_a_cut_load_back_from_a_power_cut_stays_cut(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    """A plug that drops off the network and comes back in its old state: nobody overrode it."""
    overrides = async_capture_events(hass, "energy_tokens_load_override")
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    assert state_of(hass, PLUG) == "off"
    hass.states.async_set(PLUG, "unavailable")
    await _settle(hass)
    hass.states.async_set(PLUG, "on")  # its own restored state, not a person
    await _settle(hass)
    assert state_of(hass, PLUG) == "off"  # cut again, under the cut's own context
    assert overrides == []
    assert loaded_entry.runtime_data.loads.cuts


async def test_an_override_warning_outlives_a_reload_until_tokens_return(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    set_meter: Callable[..., None],
    freezer: FrozenDateTimeFactory,
) -> None:
    from homeassistant.components import persistent_notification

    notifications = persistent_notification._async_get_or_create_notifications(hass)
    await consume(hass, set_meter, freezer, DRYER, 11.0)
    await hass.services.async_call("input_boolean", "turn_on", {"entity_id": PLUG}, blocking=True)
    await _settle(hass)
    assert [key for key in notifications if key.endswith("_override")]
    freezer.tick(timedelta(seconds=5))
    async_fire_time_changed(hass)  # the store's delayed save
    await _settle(hass)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [key for key in notifications if key.endswith("_override")]  # still no tokens
    await _give(hass, loaded_entry, 5.0)
    assert not [key for key in notifications if key.endswith("_override")]
