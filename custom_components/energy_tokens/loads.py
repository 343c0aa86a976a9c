"""Cutting and restoring loads when budgets run out and come back.

Only loads this household cut are restored, and never against a manual override: a change to a
cut load made under any context but ours means someone took over, and the load is left alone.
Cuts are remembered across restarts in a small store (metadata, not money: the ledger keeps that).
Load control knows households only through the small ``Budgets`` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Any, Protocol

from homeassistant.components import persistent_notification
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.storage import Store

from .const import DOMAIN, CutPolicy
from .events import BudgetEvent
from .settings import MILLI, DeviceSettings

_LOGGER = logging.getLogger(__name__)
STORE_VERSION = 1


def restore_threshold_milli(allowance_milli: int) -> int:
    """A cut load comes back once the balance reaches this; above zero, so loads don't flap."""
    return max(allowance_milli // 20, MILLI)


def loads_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where a household remembers the loads it cut."""
    return Store(hass, STORE_VERSION, f"{DOMAIN}.{entry_id}.loads")


class Budgets(Protocol):
    """What load control needs to know of a household."""

    def device_settings(self, subentry_id: str) -> DeviceSettings | None:
        """A device's settings; None when there is no such device (any more)."""

    def device_balance(self, subentry_id: str) -> int:
        """A device's balance in milli-tokens, including consumption not yet debited."""

    def device_allowance(self, subentry_id: str) -> int:
        """A device's allowance this period, in milli-tokens."""

    def fire(
        self, event: BudgetEvent, subentry_id: str, context: Context | None = None, **extra: Any
    ) -> None:
        """Fire a budget event about a device (under ``context``: who caused it)."""


@dataclass(slots=True)
class Cut:
    """A load this household turned off, and the context it did it under."""

    entity_id: str
    context_id: str


class LoadController:
    """One household's cut loads."""

    def __init__(self, hass: HomeAssistant, budgets: Budgets, entry_id: str) -> None:
        """Nothing is cut until ``async_load`` read what was."""
        self.hass = hass
        self.budgets = budgets
        self.cuts: dict[str, Cut] = {}  # by device subentry id
        self.overridden: set[str] = set()  # devices whose cut load someone switched back on
        self._store = loads_store(hass, entry_id)
        self._unsubscribe: CALLBACK_TYPE | None = None

    async def async_load(self) -> None:
        """Read the cuts and overrides from before a restart; tell of overrides meanwhile."""
        stored: dict[str, Any] = await self._store.async_load() or {}
        if "cuts" not in stored:  # the first version kept only the cuts, by device
            stored = {"cuts": stored}
        self.overridden = set(stored.get("overridden", ()))  # their warnings stay until tokens
        for subentry_id, cut in stored["cuts"].items():
            state = self.hass.states.get(cut["entity_id"])
            if state is not None and state.state == STATE_ON:  # switched on while we were away
                self._overridden(subentry_id, state)
                continue
            self.cuts[subentry_id] = Cut(cut["entity_id"], cut["context_id"])
        self.async_devices_changed()
        self._follow()

    @callback
    def async_unload(self) -> None:
        """Stop following the loads."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @callback
    def async_devices_changed(self) -> None:
        """Forget cuts of devices that are gone or now switch another load."""
        gone = [
            subentry_id
            for subentry_id, cut in self.cuts.items()
            if (settings := self.budgets.device_settings(subentry_id)) is None
            or settings.load != cut.entity_id
        ]
        for subentry_id in gone:
            del self.cuts[subentry_id]
        if gone:
            self._save()

    @callback
    def async_exhausted(self, subentry_id: str) -> None:
        """A device ran out and nothing could be borrowed: apply its cut policy."""
        settings = self.budgets.device_settings(subentry_id)
        if settings is None:
            return
        if settings.cut_policy is CutPolicy.NOTIFY:
            persistent_notification.async_create(
                self.hass,
                f"{settings.name} ran out of tokens. Its load stays on; give it tokens with "
                "the transfer action or wait for the next period.",
                title=f"{settings.name}: budget exhausted",
                notification_id=f"{DOMAIN}_{subentry_id}_exhausted",
            )
            return
        if (
            settings.cut_policy is not CutPolicy.TURN_OFF
            or settings.load is None
            or not settings.enforce
            or subentry_id in self.cuts
        ):
            return
        state = self.hass.states.get(settings.load)
        if state is None or state.state == STATE_OFF:
            return  # nothing to cut
        context = Context()
        self.cuts[subentry_id] = Cut(settings.load, context.id)
        self._save()
        self._switch(settings.load, "turn_off", context)
        self.budgets.fire(
            BudgetEvent.LOAD_CUT, subentry_id, load=settings.load, load_name=state.name
        )
        _LOGGER.info("%s ran out of tokens: turned %s off", settings.name, settings.load)

    @callback
    def async_check_restores(self) -> None:
        """Turn back on the loads we cut whose devices have tokens again."""
        restored = []
        for subentry_id, cut in self.cuts.items():
            settings = self.budgets.device_settings(subentry_id)
            if settings is None:
                continue
            balance = self.budgets.device_balance(subentry_id)
            if balance >= restore_threshold_milli(self.budgets.device_allowance(subentry_id)):
                restored.append((subentry_id, cut, settings.name))
        for subentry_id, cut, name in restored:
            del self.cuts[subentry_id]  # no longer ours to watch once it is back on
            self._switch(cut.entity_id, "turn_on", Context())
            state = self.hass.states.get(cut.entity_id)
            load_name = cut.entity_id if state is None else state.name
            self.budgets.fire(
                BudgetEvent.LOAD_RESTORED, subentry_id, load=cut.entity_id, load_name=load_name
            )
            _LOGGER.info("%s has tokens again: turned %s on", name, cut.entity_id)
        if restored:
            self._save()
        ended = [
            subentry_id  # the override's warning ends with tokens (or with the device)
            for subentry_id in self.overridden
            if self.budgets.device_settings(subentry_id) is None
            or self.budgets.device_balance(subentry_id)
            >= restore_threshold_milli(self.budgets.device_allowance(subentry_id))
        ]
        for subentry_id in ended:
            self.overridden.discard(subentry_id)
            persistent_notification.async_dismiss(self.hass, _override_id(subentry_id))
        if ended:
            self._save()

    def _switch(self, entity_id: str, service: str, context: Context) -> None:
        self.hass.async_create_task(
            self.hass.services.async_call(
                "homeassistant", service, {"entity_id": entity_id}, context=context
            ),
            f"{DOMAIN} {service} {entity_id}",
        )

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
        if new_state.state in _GONE:
            return  # a plug that dropped off the network: still cut, nobody took over
        for subentry_id, cut in list(self.cuts.items()):
            if cut.entity_id != event.data["entity_id"] or new_state.context.id == cut.context_id:
                continue
            if old_state.state in _GONE and new_state.state != STATE_OFF:
                # Back from a power cut in its old state: nobody switched it, it stays cut.
                self._switch(cut.entity_id, "turn_off", Context(id=cut.context_id))
                continue
            del self.cuts[subentry_id]  # someone took over: never switched against them
            self._save()
            if new_state.state != STATE_OFF:
                self._overridden(subentry_id, new_state)

    def _overridden(self, subentry_id: str, state: State) -> None:
        """A load we cut was switched back on by someone else: say so, loudly, once."""
        settings = self.budgets.device_settings(subentry_id)
        if settings is None:
            return
        load_name = state.name
        self.overridden.add(subentry_id)
        self._save()
        self.budgets.fire(
            BudgetEvent.LOAD_OVERRIDE,
            subentry_id,
            state.context,  # the logbook names who did it
            load=state.entity_id,
            load_name=load_name,
        )
        persistent_notification.async_create(
            self.hass,
            f"{load_name} was switched back on while {settings.name} has no tokens left. It "
            f"stays on, and what it uses is charged as overage at the period's end. Energy "
            f"Tokens will not switch it off again until {settings.name} has tokens and runs out "
            "again; give it tokens with the transfer action, or switch it off.",
            title=f"{settings.name}: load switched back on without tokens",
            notification_id=_override_id(subentry_id),
        )
        _LOGGER.warning(
            "%s was switched back on while %s has no tokens; it will not be switched off again",
            state.entity_id,
            settings.name,
        )

    def _save(self) -> None:
        """Remember the cuts (soon, in one write) and follow what is cut now."""
        self._follow()
        cuts = {
            subentry_id: {"entity_id": cut.entity_id, "context_id": cut.context_id}
            for subentry_id, cut in self.cuts.items()
        }
        data = {"cuts": cuts, "overridden": sorted(self.overridden)}
        self._store.async_delay_save(lambda: data, 1)


_GONE = (STATE_UNAVAILABLE, STATE_UNKNOWN)


def _override_id(subentry_id: str) -> str:
    return f"{DOMAIN}_{subentry_id}_override"
