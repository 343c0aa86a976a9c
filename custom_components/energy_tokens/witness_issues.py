"""The repairs and events a household's witnessing raises.

A member caught rewriting its ledger, a member's keys changed, the community unreachable because
MQTT is not set up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, EVENT_WITNESS_REFUSED
from .ledger.community import Member
from .ledger.witness import WitnessRefusal

_LOGGER = logging.getLogger(__name__)

WITNESS_REFUSED = "witness_refused"  # a member's checkpoint contradicts one cosigned: evidence
MEMBER_KEY_CHANGED = "member_key_changed"  # a member now announces other keys than admitted
COMMUNITY_NO_MQTT = "community_no_mqtt"  # a community is joined but MQTT is not set up


@callback
def async_report_refused(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    member: Member,
    refusal: WitnessRefusal,
    path: Path,
) -> None:
    """A member's checkpoint proves it rewrote or forked its ledger: log, event, repair.

    The repair is persistent: the evidence stays true after a restart. The user dismisses it
    once they looked, or removes the member.
    """
    reason = str(refusal.reason)
    _LOGGER.error(
        "%s published a checkpoint that contradicts one %s cosigned (%s): %s. Kept as "
        "evidence in %s",
        member.name,
        entry.title,
        reason,
        refusal,
        path,
    )
    hass.bus.async_fire(
        EVENT_WITNESS_REFUSED,
        {
            "entry_id": entry.entry_id,
            "member": member.household,
            "member_name": member.name,
            "reason": reason,
            "evidence": str(path),
        },
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{WITNESS_REFUSED}_{entry.entry_id}_{member.household}",
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=WITNESS_REFUSED,
        translation_placeholders={
            "household": entry.title,
            "member": member.name,
            "reason": reason,
            "evidence": str(path),
        },
    )


@callback
def async_key_changed(
    hass: HomeAssistant, entry: ConfigEntry[Any], member: Member, changed: bool
) -> None:
    """A member announces other keys than admitted (not witnessed under them), or those again."""
    issue_id = f"{MEMBER_KEY_CHANGED}_{entry.entry_id}_{member.household}"
    if not changed:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=MEMBER_KEY_CHANGED,
        translation_placeholders={
            "household": entry.title,
            "member": member.name,
            "key_ids": member.key_ids,
        },
    )


@callback
def async_report_no_mqtt(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """The household joined a community, but Home Assistant's MQTT integration is not set up."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{COMMUNITY_NO_MQTT}_{entry.entry_id}",
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=COMMUNITY_NO_MQTT,
        translation_placeholders={"household": entry.title},
    )


@callback
def async_clear_no_mqtt(hass: HomeAssistant, entry_id: str) -> None:
    """MQTT is there (again), or the household left the community."""
    ir.async_delete_issue(hass, DOMAIN, f"{COMMUNITY_NO_MQTT}_{entry_id}")


@callback
def async_clear_members(hass: HomeAssistant, entry_id: str, admitted: set[str]) -> None:
    """Members removed (or the household left): their issues go."""
    for domain, name in list(ir.async_get(hass).issues):
        for kind in (WITNESS_REFUSED, MEMBER_KEY_CHANGED):
            prefix = f"{kind}_{entry_id}_"
            if domain == DOMAIN and name.startswith(prefix) and name[len(prefix) :] not in admitted:
                ir.async_delete_issue(hass, DOMAIN, name)
