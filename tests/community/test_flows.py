"""Joining a community and admitting members, through the subentry flows."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import (
    CONF_NAME,
    CONF_PREFIX,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_COMMUNITY,
    SUBENTRY_MEMBER,
)

from .conftest import PREFIX, Broker, start_household, wait_for


async def _household(hass: HomeAssistant) -> MockConfigEntry:
    entry = MockConfigEntry(domain=DOMAIN, title="Home", data={CONF_NAME: "Home", **DEFAULTS})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_joining_needs_mqtt(hass: HomeAssistant) -> None:
    entry = await _household(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_COMMUNITY), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_set_up"
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_MEMBER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_in_community"


async def test_join_then_admit(
    hass: HomeAssistant, broker: Broker, tmp_path: Path, stack: AsyncExitStack
) -> None:
    other = await start_household(stack, tmp_path / "other", "Other", broker.port)
    (tmp_path / "configuration.yaml").write_text("")
    mqtt_entry = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1", "port": broker.port})
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    entry = await _household(hass)
    assert not [e for e in hass.states.async_entity_ids() if "witness" in e]  # not in one yet

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_COMMUNITY), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    for user_input, errors in (
        ({CONF_PREFIX: "a/+/b", CONF_NAME: "Home"}, {CONF_PREFIX: "invalid_prefix"}),
        ({CONF_PREFIX: "a//b", CONF_NAME: "Home"}, {CONF_PREFIX: "invalid_prefix"}),
        ({CONF_PREFIX: PREFIX, CONF_NAME: "  "}, {CONF_NAME: "invalid_name"}),
    ):
        result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PREFIX: f" /{PREFIX}/ ", CONF_NAME: " Flat 1 "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_PREFIX: PREFIX, CONF_NAME: "Flat 1"}
    await hass.async_block_till_done()  # joining reloads the household, in the community

    runtime = entry.runtime_data
    assert runtime.community is not None
    assert hass.states.get("binary_sensor.home_witnessing_behind") is not None
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_COMMUNITY), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_joined"

    # The other household joined first: it is listed, with its key ids, to admit.
    await wait_for(lambda: other.entry.entry_id in entry.runtime_data.community.seen, "seen")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_MEMBER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    seen = entry.runtime_data.community.seen
    gone = seen.pop(other.entry.entry_id)  # it leaves while the form is open
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"member": other.entry.entry_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_members_seen"
    seen[gone.household] = gone
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_MEMBER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"member": other.entry.entry_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Other"
    await hass.async_block_till_done()
    assert list(entry.runtime_data.community.members) == [other.entry.entry_id]
    # Nobody else is waiting to be admitted.
    await wait_for(lambda: other.entry.entry_id in entry.runtime_data.community.seen, "seen")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_MEMBER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_members_seen"

    # Leaving: the community subentry deleted, the household reloads without it.
    (community,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_COMMUNITY]
    assert other.entry.entry_id not in other.link.members  # never admitted there
    await wait_for(lambda: entry.entry_id in other.link.seen, "the household seen by the other")
    assert hass.config_entries.async_remove_subentry(entry, community.subentry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.community is None
    # What it published is cleared: the other household sees it leave.
    await wait_for(lambda: entry.entry_id not in other.link.seen, "the household gone")


async def test_a_community_without_mqtt_is_a_repair(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        data={CONF_NAME: "Home", **DEFAULTS},
        subentries_data=[
            {
                "data": {CONF_PREFIX: PREFIX, CONF_NAME: "Home"},
                "subentry_type": SUBENTRY_COMMUNITY,
                "title": PREFIX,
                "unique_id": PREFIX,
            },
            {  # stored by hand, not by the flow: left out, with an error in the log
                "data": {"household": "x", "name": "Broken"},
                "subentry_type": SUBENTRY_MEMBER,
                "title": "Broken",
                "unique_id": "x",
            },
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"community_no_mqtt_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"household": "Home"}
    assert "The admitted member Broken is not one" in caplog.text
    assert entry.runtime_data.community.members == {}
    # Removing the household removes its issues.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not ir.async_get(hass).issues
