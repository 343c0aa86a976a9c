"""Joining the household's community at setup, when it joined one (a community subentry).

The MQTT side is imported only then: Home Assistant installs the MQTT client library with its
MQTT integration, which a household without a community does not need.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant

from . import witness_issues
from .community import CommunityError, Member
from .const import CONF_PREFIX, SUBENTRY_COMMUNITY, SUBENTRY_MEMBER

if TYPE_CHECKING:
    from .runtime import HouseholdRuntime
    from .witnessing import CommunityLink

_LOGGER = logging.getLogger(__name__)


def community_of(entry: ConfigEntry[Any]) -> tuple[str, str, dict[str, Member]] | None:
    """The community's topic prefix, the household's name in it, and the members admitted."""
    joined = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_COMMUNITY]
    if not joined:
        return None
    members: dict[str, Member] = {}
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_MEMBER:
            try:
                member = Member.from_data(subentry.data)
            except CommunityError as err:  # stored by the flow from a checked message
                _LOGGER.error("The admitted member %s is not one: %s", subentry.title, err)
                continue
            members[member.household] = member
    return joined[0].data[CONF_PREFIX], joined[0].data[CONF_NAME], members


async def async_open_community(hass: HomeAssistant, runtime: HouseholdRuntime) -> None:
    """Open the household's part in its community; it starts once MQTT is connected."""
    entry = runtime.entry
    community = runtime.community_config
    if community is None:
        witness_issues.async_clear_no_mqtt(hass, entry.entry_id)
        witness_issues.async_clear_member(hass, entry.entry_id)
        return
    from .witnessing import CommunityLink  # noqa: PLC0415 - needs the MQTT integration

    link = runtime.community = await CommunityLink.async_open(runtime, *community)
    entry.async_on_unload(link.async_stop)
    entry.async_create_background_task(hass, _async_start(hass, link), "energy_tokens community")


async def _async_start(hass: HomeAssistant, link: CommunityLink) -> None:
    from homeassistant.components import mqtt  # noqa: PLC0415

    entry = link.runtime.entry
    if not await mqtt.async_wait_for_mqtt_client(hass):
        witness_issues.async_report_no_mqtt(hass, entry)
        return
    witness_issues.async_clear_no_mqtt(hass, entry.entry_id)
    await link.async_start()
