"""Subentry flows of the community: joining one, and admitting its members one by one.

Joining names the MQTT topic prefix the households share on the broker Home Assistant's MQTT
integration is connected to. Admitting lists the households that joined (their retained member
messages) with their key ids, to compare out of band: nothing is admitted automatically.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from .const import CONF_PREFIX, CONF_SHARE_TOTALS, SUBENTRY_COMMUNITY, SUBENTRY_MEMBER
from .ledger.community import MAX_NAME, valid_prefix
from .settings import MILLI

DEFAULT_PREFIX = "energy_tokens/community"
CONF_MEMBER = "member"


class CommunitySubentryFlow(ConfigSubentryFlow):
    """Join a community (one per household); leaving is deleting the subentry."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name the topic prefix and how the household is called in the community."""
        entry = self._get_entry()
        if any(s.subentry_type == SUBENTRY_COMMUNITY for s in entry.subentries.values()):
            return self.async_abort(reason="already_joined")
        if not self.hass.config_entries.async_loaded_entries("mqtt"):
            return self.async_abort(reason="mqtt_not_set_up")
        errors: dict[str, str] = {}
        if user_input is not None:
            prefix = user_input[CONF_PREFIX].strip().strip("/")
            name = user_input[CONF_NAME].strip()
            if not valid_prefix(prefix):
                errors[CONF_PREFIX] = "invalid_prefix"
            elif not 0 < len(name) <= MAX_NAME:
                errors[CONF_NAME] = "invalid_name"
            else:
                return self.async_create_entry(
                    title=prefix, data={CONF_PREFIX: prefix, CONF_NAME: name}, unique_id=prefix
                )
        schema = probatio.Schema(
            {
                probatio.Required(CONF_PREFIX, default=DEFAULT_PREFIX): TextSelector(),
                probatio.Required(CONF_NAME, default=entry.title): TextSelector(),
            }
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Opt in or out of publishing the periods' totals, seeing what would be published."""
        entry, subentry = self._get_entry(), self._get_reconfigure_subentry()
        if user_input is not None:
            share = {CONF_SHARE_TOTALS: bool(user_input[CONF_SHARE_TOTALS])}
            return self.async_update_and_abort(entry, subentry, data=dict(subentry.data) | share)
        link = getattr(getattr(entry, "runtime_data", None), "totals", None)
        totals = None if link is None else link.own
        names = ("period", "consumed", "consumed_kwh", "allowance", "surplus")
        shown = dict.fromkeys(names, "—")  # no period closed yet
        if totals is not None:
            shown = {
                "period": totals.period,
                "consumed": f"{totals.consumed / MILLI:g}",
                "consumed_kwh": f"{totals.consumed_kwh:g}",
                "allowance": f"{totals.allowance / MILLI:g}",
                "surplus": f"{totals.surplus / MILLI:g}",
            }
        default = bool(subentry.data.get(CONF_SHARE_TOTALS, False))
        schema = probatio.Schema(
            {probatio.Required(CONF_SHARE_TOTALS, default=default): BooleanSelector()}
        )
        return self.async_show_form(
            step_id="reconfigure", data_schema=schema, description_placeholders=shown
        )


class MemberSubentryFlow(ConfigSubentryFlow):
    """Admit a household that joined the community: it is witnessed, and witnesses."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose among the households seen on the community's topics, by name and key ids."""
        entry = self._get_entry()
        link = getattr(getattr(entry, "runtime_data", None), "community", None)
        if link is None:
            return self.async_abort(reason="not_in_community")
        admitted = {
            s.data.get("household")
            for s in entry.subentries.values()
            if s.subentry_type == SUBENTRY_MEMBER
        }
        waiting = {key: m for key, m in link.seen.items() if key not in admitted}
        if not waiting:
            return self.async_abort(reason="no_members_seen")
        # The one chosen may have left (or been admitted) while the form was open: asked again.
        if user_input is not None and (member := waiting.get(user_input[CONF_MEMBER])):
            return self.async_create_entry(
                title=member.name, data=member.as_data(), unique_id=member.household
            )
        options = [
            SelectOptionDict(value=key, label=f"{m.name} — key ids {m.key_ids}")
            for key, m in sorted(waiting.items(), key=lambda item: item[1].name)
        ]
        schema = probatio.Schema(
            {probatio.Required(CONF_MEMBER): SelectSelector(SelectSelectorConfig(options=options))}
        )
        return self.async_show_form(
            step_id="user",
            data_schema=schema,
            description_placeholders={"own_key_ids": link.own.key_ids},
        )


COMMUNITY_FLOWS: dict[str, type[ConfigSubentryFlow]] = {
    SUBENTRY_COMMUNITY: CommunitySubentryFlow,
    SUBENTRY_MEMBER: MemberSubentryFlow,
}
