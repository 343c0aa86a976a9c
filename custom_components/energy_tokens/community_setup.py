"""The community a household joined, as its config entry holds it (subentries)."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME

from .const import CONF_PREFIX, SUBENTRY_COMMUNITY, SUBENTRY_MEMBER
from .ledger.community import CommunityError, Member

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
