"""Cutting and restoring loads when budgets run out and come back.

Only loads this household cut are restored, and never against a manual override: a change to a
cut load made under any context but ours means someone took over, and the load is left alone.
Cuts are remembered across restarts in a small store (metadata, not money: the ledger keeps that).
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.components import persistent_notification
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.storage import Store

from .const import DOMAIN, EVENT_LOAD_CUT, EVENT_LOAD_RESTORED, CutPolicy
from .settings import MILLI

if TYPE_CHECKING:
    from .household import DeviceState, Household

_LOGGER = logging.getLogger(__name__)
STORE_VERSION = 1


def restore_threshold_milli(allowance_milli: int) -> int:
    """A cut load comes back once the balance reaches this; above zero, so loads don't flap."""
    return max(allowance_milli // 20, MILLI)


@dataclass(slots=True)
class Cut:
    """A load this household turned off, and the context it did it under."""

    entity_id: str
    context_id: str


class LoadController:
    """One household's cut loads."""

    def __init__(self, hass: HomeAssistant, household: Household) -> None:
        """Nothing is cut until ``async_load`` read what was."""
        self.hass = hass
        self.household = household
        self.cuts: dict[str, Cut] = {}  # by device subentry id
        self.paused: set[str] = set()  # devices whose enforcement switch is off
        self._store: Store[dict[str, dict[str, str]]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.{household.entry.entry_id}.loads"
        )
        self._unsubscribe: CALLBACK_TYPE | None = None

    async def async_load(self) -> None:
        """Read the cuts from before a restart; forget those someone undid meanwhile."""
        stored = await self._store.async_load() or {}
        for subentry_id, cut in stored.items():
            device = self.household.devices.get(subentry_id)
            state = self.hass.states.get(cut["entity_id"])
            if device is None or device.settings.load != cut["entity_id"]:
                continue
            if state is not None and state.state == STATE_ON:
                continue  # turned back on while we were away: an override
            self.cuts[subentry_id] = Cut(cut["entity_id"], cut["context_id"])
        self._follow()

    @callback
    def async_unload(self) -> None:
        """Stop following the loads."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @callback
    def async_exhausted(self, device: DeviceState) -> None:
        """A device ran out and nothing could be borrowed: apply its cut policy."""
        settings = device.settings
        if settings.cut_policy is CutPolicy.NOTIFY:
            persistent_notification.async_create(
                self.hass,
                f"{settings.name} ran out of tokens. Its load stays on; give it tokens with "
                "the transfer action or wait for the next period.",
                title=f"{settings.name}: budget exhausted",
                notification_id=f"{DOMAIN}_{settings.subentry_id}_exhausted",
            )
            return
        if (
            settings.cut_policy is not CutPolicy.TURN_OFF
            or settings.load is None
            or settings.subentry_id in self.paused
            or settings.subentry_id in self.cuts
        ):
            return
        state = self.hass.states.get(settings.load)
        if state is None or state.state == STATE_OFF:
            return  # nothing to cut
        context = Context()
        self.cuts[settings.subentry_id] = Cut(settings.load, context.id)
        self._follow()
        self._save()
        self.hass.async_create_task(
            self.hass.services.async_call(
                "homeassistant", "turn_off", {"entity_id": settings.load}, context=context
            ),
            f"{DOMAIN} cut {settings.load}",
        )
        self.household.fire(EVENT_LOAD_CUT, device, load=settings.load)
        _LOGGER.info("%s ran out of tokens: turned %s off", settings.name, settings.load)

    @callback
    def async_check_restores(self) -> None:
        """Turn back on the loads we cut whose devices have tokens again."""
        restored = False
        for subentry_id, cut in list(self.cuts.items()):
            device = self.household.devices.get(subentry_id)
            if device is None:
                continue
            balance = self.household.balance_milli(device)
            if balance < restore_threshold_milli(device.settings.allowance_milli):
                continue
            del self.cuts[subentry_id]  # no longer ours to watch once it is back on
            restored = True
            self.hass.async_create_task(
                self.hass.services.async_call(
                    "homeassistant", "turn_on", {"entity_id": cut.entity_id}, context=Context()
                ),
                f"{DOMAIN} restore {cut.entity_id}",
            )
            self.household.fire(EVENT_LOAD_RESTORED, device, load=cut.entity_id)
            _LOGGER.info("%s has tokens again: turned %s on", device.settings.name, cut.entity_id)
        if restored:
            self._save()
            self._follow()

    def _follow(self) -> None:
        """Watch the cut loads for changes that are not ours."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        entity_ids = [cut.entity_id for cut in self.cuts.values()]
        if entity_ids:
            self._unsubscribe = async_track_state_change_event(
                self.hass, entity_ids, self._async_load_changed
            )

    @callback
    def _async_load_changed(self, event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        old_state = event.data["old_state"]
        if new_state is None or old_state is None or new_state.state == old_state.state:
            return
        for subentry_id, cut in list(self.cuts.items()):
            if cut.entity_id == event.data["entity_id"] and new_state.context.id != cut.context_id:
                _LOGGER.info(
                    "%s was switched by someone else; it will not be restored automatically",
                    cut.entity_id,
                )
                del self.cuts[subentry_id]
                self._save()

    def _save(self) -> None:
        data: dict[str, dict[str, Any]] = {
            subentry_id: {"entity_id": cut.entity_id, "context_id": cut.context_id}
            for subentry_id, cut in self.cuts.items()
        }
        self._store.async_delay_save(lambda: data, 1)
