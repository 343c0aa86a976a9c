"""Device triggers and logbook lines for the budget events."""

from typing import Any

from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.energy_tokens import logbook
from custom_components.energy_tokens.const import DOMAIN

from .conftest import device_subentry
from .helpers import device_id


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry("Dryer", "sensor.dryer_energy", 10.0)]


async def test_metered_devices_offer_budget_triggers(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    dryer = dr.async_get(hass).async_get(device_id(hass, loaded_entry, "Dryer"))
    assert dryer is not None
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, dryer.id)
    ours = sorted(t["type"] for t in triggers if t["domain"] == DOMAIN)
    assert ours == [
        "borrowed",
        "exhausted",
        "load_cut",
        "load_override",
        "load_restored",
        "low_balance",
    ]
    household = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, loaded_entry.entry_id), loaded_entry.entry_id
    )
    assert household is not None
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, household.id)
    assert not [t for t in triggers if t["domain"] == DOMAIN]


async def test_device_trigger_runs_an_automation(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    calls = async_mock_service(hass, "test", "automation")
    dryer = dr.async_get(hass).async_get(device_id(hass, loaded_entry, "Dryer"))
    assert dryer is not None
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": dryer.id,
                    "type": "exhausted",
                },
                "action": {
                    "service": "test.automation",
                    "data_template": {"device": "{{ trigger.event.data.device }}"},
                },
            }
        },
    )
    hass.bus.async_fire("energy_tokens_exhausted", {"device_id": "another", "device": "Other"})
    hass.bus.async_fire("energy_tokens_low_balance", {"device_id": dryer.id, "device": "Dryer"})
    hass.bus.async_fire("energy_tokens_exhausted", {"device_id": dryer.id, "device": "Dryer"})
    await hass.async_block_till_done()
    assert [call.data["device"] for call in calls] == ["Dryer"]


@pytest.mark.parametrize(
    ("event_type", "data", "name", "message"),
    [
        (
            "energy_tokens_low_balance",
            {"device": "Dryer", "balance": 1.5, "allowance": 10.0},
            "Dryer",
            "is low on tokens: 1.5 of 10 left",
        ),
        (
            "energy_tokens_exhausted",
            {"device": "Dryer", "balance": -0.25},
            "Dryer",
            "ran out of tokens (-0.25)",
        ),
        (
            "energy_tokens_borrowed",
            {"device": "Dryer", "amount": 3.0, "lender": "Heater"},
            "Dryer",
            "borrowed 3 tokens from Heater",
        ),
        (
            "energy_tokens_load_cut",
            {"device": "Dryer", "load": "switch.dryer", "load_name": "Dryer plug"},
            "Dryer",
            "ran out of tokens: turned Dryer plug off",
        ),
        (
            "energy_tokens_load_restored",
            {"device": "Dryer", "load": "switch.dryer", "load_name": "Dryer plug"},
            "Dryer",
            "has tokens again: turned Dryer plug back on",
        ),
        (  # an event fired before load names were in it
            "energy_tokens_load_cut",
            {"device": "Dryer", "load": "switch.dryer"},
            "Dryer",
            "ran out of tokens: turned switch.dryer off",
        ),
        (
            "energy_tokens_load_override",
            {"device": "Dryer", "load": "switch.dryer", "load_name": "Dryer plug"},
            "Dryer",
            "is out of tokens, but Dryer plug was switched back on by hand: it stays on and is "
            "charged as overage",
        ),
        (
            "energy_tokens_period_closed",
            {"household": "Home", "period": "2026-11-01", "cost": 90.0, "sales": 2.5},
            "Home",
            "closed period 2026-11-01: cost 90, sales 2.5",
        ),
    ],
)
def test_logbook_lines(event_type: str, data: dict[str, Any], name: str, message: str) -> None:
    described: dict[str, Any] = {}

    def collect(domain: str, kind: str, describe: Any) -> None:
        assert domain == DOMAIN
        described[kind] = describe

    logbook.async_describe_events(None, collect)  # type: ignore[arg-type]
    assert set(described) == {
        "energy_tokens_low_balance",
        "energy_tokens_exhausted",
        "energy_tokens_borrowed",
        "energy_tokens_load_cut",
        "energy_tokens_load_restored",
        "energy_tokens_load_override",
        "energy_tokens_period_closed",
    }
    line = described[event_type](Event(event_type, data))
    assert line == {"name": name, "message": message}


async def test_no_triggers_for_unknown_or_foreign_devices(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    from types import MappingProxyType

    from homeassistant.config_entries import ConfigSubentry

    from custom_components.energy_tokens.device_trigger import async_get_triggers

    assert await async_get_triggers(hass, "no-such-device") == []
    foreign = MockConfigEntry(domain="other")
    foreign.add_to_hass(hass)
    hass.config_entries.async_add_subentry(
        foreign,
        ConfigSubentry(data=MappingProxyType({}), subentry_type="x", title="x", unique_id="x"),
    )
    [subentry] = foreign.subentries.values()
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=foreign.entry_id,
        config_subentry_id=subentry.subentry_id,
        identifiers={("other", "plug")},
    )
    assert await async_get_triggers(hass, device.id) == []


def test_every_event_in_the_table_has_a_logbook_line_and_its_trigger_a_name() -> None:
    """A new budget event needs only a row in events.py: this finds what else it is missing."""
    import json
    from pathlib import Path

    from custom_components.energy_tokens.events import DEVICE_TRIGGERS, EVENTS, BudgetEvent

    translations = json.loads(
        (
            Path(__file__).resolve().parents[1]
            / "custom_components/energy_tokens/translations/en.json"
        ).read_text(encoding="utf-8")
    )
    trigger_names = translations["device_automation"]["trigger_type"]
    described: dict[str, Any] = {}
    logbook.async_describe_events(
        None,  # type: ignore[arg-type]
        lambda _domain, kind, describe: described.setdefault(kind, describe),
    )
    assert set(EVENTS) == set(BudgetEvent)
    assert set(described) == {event.event_type for event in BudgetEvent}
    assert set(trigger_names) == {event.value for event in DEVICE_TRIGGERS}
    assert BudgetEvent.PERIOD_CLOSED not in DEVICE_TRIGGERS  # a household's event


async def test_a_logbook_line_of_a_removed_device_has_no_entity_to_link(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    described: dict[str, Any] = {}
    logbook.async_describe_events(
        hass, lambda _domain, kind, describe: described.setdefault(kind, describe)
    )
    describe = described["energy_tokens_low_balance"]
    data = {"device": "Dryer", "balance": 1.0, "allowance": 10.0}
    gone = describe(Event("energy_tokens_low_balance", data | {"device_id": "gone"}))
    assert gone == {"name": "Dryer", "message": "is low on tokens: 1 of 10 left"}
    dryer = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, next(iter(loaded_entry.subentries))), loaded_entry.entry_id
    )
    assert dryer is not None
    here = describe(Event("energy_tokens_low_balance", data | {"device_id": dryer.id}))
    assert here["entity_id"].endswith("_balance")
