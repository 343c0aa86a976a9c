"""The community a household joined, as its config entry holds it (subentries)."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME

from .const import CONF_PREFIX, CONF_SHARE_TOTALS, SUBENTRY_COMMUNITY, SUBENTRY_MEMBER
from .ledger.community import CommunityError, Member

_LOGGER = logging.getLogger(__name__)


def community_of(entry: ConfigEntry[Any]) -> tuple[str, str, dict[str, Member]] | None:
    """The community's topic prefix, the household's name in it, and the members admitted."""
    joined = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_COMMUNITY]
    if not joined:
        return None
    members = {member.household: member for member in members_of(entry).values()}
    return joined[0].data[CONF_PREFIX], joined[0].data[CONF_NAME], members


def members_of(entry: ConfigEntry[Any]) -> dict[str, Member]:
    """The admitted members, by their subentry's id."""
    members: dict[str, Member] = {}
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type == SUBENTRY_MEMBER:
            try:
                members[subentry_id] = Member.from_data(subentry.data)
            except CommunityError as err:  # stored by the flow from a checked message
                _LOGGER.error("The admitted member %s is not one: %s", subentry.title, err)
    return members


def shares_totals(entry: ConfigEntry[Any]) -> bool:
    """Whether the household opted in to publish its periods' totals (off unless it did)."""
    joined = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_COMMUNITY]
    return bool(joined) and bool(joined[0].data.get(CONF_SHARE_TOTALS, False))
