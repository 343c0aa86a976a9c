"""A running household shows its figures: the view, and the signals that tell entities.

Readers (actions, voice, the card) compute a fresh view without publishing it; entities follow
their own pace (view.worth_showing) and are told only what changed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util

from .policies import Status
from .signals import signal_device, signal_household, signal_view
from .view import (
    DeviceView,
    HouseholdView,
    changed_aspects,
    household_view,
    ledger_view,
    worth_showing,
)

if TYPE_CHECKING:
    from typing import Any

    from .economy import Economy
    from .ledger import VerifyResult


class Publisher:
    """The view part of a household's runtime (runtime.py)."""

    hass: HomeAssistant
    entry: ConfigEntry[Any]
    economy: Economy
    view: HouseholdView
    verification: VerifyResult | None

    def current_view(self, now: datetime | None = None) -> HouseholdView:
        """Every figure as it is now, for a reader (an action, voice, the card), not published.

        Entities keep their own pace (view.worth_showing), so reading never rewrites them.
        """
        # Run-outs steadied against the ones the entities show: the card says what they say.
        return household_view(self.economy, now or dt_util.now(), self.view.ledger, shown=self.view)

    @callback
    def refresh(self, *, everything: bool = False, fresh: str | None = None) -> HouseholdView:
        """Compute every figure anew and tell the entities whose figures changed (or all).

        After a reading of the ``fresh`` device, only its figures and what they sum into.
        """
        old = self.view
        self.view = new = household_view(
            self.economy, dt_util.now(), old.ledger, shown=old, fresh=fresh
        )
        everything |= old.period != new.period  # per-period totals start again: all of them
        for subentry_id, after in new.devices.items():
            self._publish(subentry_id, None if everything else old.devices.get(subentry_id), after)
        if everything or replace(old, devices={}) != replace(new, devices={}):
            async_dispatcher_send(self.hass, signal_household(self.entry.entry_id))
        async_dispatcher_send(self.hass, signal_view(self.entry.entry_id))
        return new

    @callback
    def _refresh_ledger(self) -> None:
        """The ledger's figures changed (a commit, a verification)."""
        valid = None if self.verification is None else self.verification.valid
        self.view.ledger = ledger_view(self.economy, valid)
        async_dispatcher_send(self.hass, signal_household(self.entry.entry_id))
        async_dispatcher_send(self.hass, signal_view(self.entry.entry_id))

    def _show_live(self, subentry_id: str, balance_milli: int, status: Status) -> None:
        """After a reading: every figure anew, when the reading is worth showing.

        Not the balance alone: the consumption, shares, ranks and totals beside it agree with it.
        """
        if worth_showing(self.view.devices[subentry_id], balance_milli, status):
            self.refresh(fresh=subentry_id)

    def _publish(self, subentry_id: str, before: DeviceView | None, after: DeviceView) -> None:
        for aspect in changed_aspects(before, after):
            async_dispatcher_send(
                self.hass, signal_device(self.entry.entry_id, subentry_id, aspect)
            )
