"""Who consumes most: the household's periods' totals published, the members' received.

ledger/totals.py has the topic and the message; ranking.py ranks. A household that opted in
publishes the totals of its latest closed period, retained, at start and whenever a period
closes (once the close is durable); one that did not clears its topic, so opting out takes back
what was published. Members' totals are kept only from admitted members and only if their
signature verifies and they name the topic's household; anything else is ignored and counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .events import BudgetEvent
from .ledger import Kind
from .ledger.community import CommunityError, Member
from .ledger.layout import segment_first_seq
from .ledger.store import Ledger
from .ledger.totals import PeriodTotals, parse_totals_topic, totals_topic
from .ranking import Ranking, rank
from .signals import signal_ranking, signal_view

_LOGGER = logging.getLogger(__name__)


def latest_totals(ledger: Ledger) -> PeriodTotals | None:
    """The totals of the ledger's latest closed period (blocking: run it in the executor).

    A period-open marker starts a segment, so the close before it is the entry just before
    the current segment.
    """
    first = segment_first_seq(ledger.directory / ledger.segment)
    close = next(ledger.iter_entries(since_seq=first - 1), None) if first > 1 else None
    if close is None or close.kind is not Kind.PERIOD_CLOSE:
        return None
    return PeriodTotals.of_close(ledger.household_id, close)


class TotalsLink:
    """One household's part in its community's ranking."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        ledger: Ledger,
        commit: Callable[[], Awaitable[int]],
        community: tuple[str, str, dict[str, Member]],
        share: bool,
    ) -> None:
        """``commit`` makes what the household appended durable (the runtime's)."""
        self.hass = hass
        self.entry = entry
        self.ledger = ledger
        self._commit = commit
        self.prefix, self.name, self.members = community
        self.share = share  # opted in to publish its totals
        self.own: PeriodTotals | None = None  # its latest closed period's
        self.received: dict[str, PeriodTotals] = {}  # members' latest, verified
        self.ignored = 0  # totals not from an admitted member, or not verifying
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._stopped = False
        self.started = False  # subscribed, and its own totals published (or cleared)

    @property
    def ranking(self) -> Ranking:
        """The household among its members, for its latest closed period."""
        household = self.entry.entry_id
        members = {h: (m.name, self.received.get(h)) for h, m in self.members.items()}
        return rank((household, self.name, self.own), members)

    async def async_start(self) -> None:
        """Read the latest totals, subscribe to the members', publish (or clear) its own."""
        self.own = await self.hass.async_add_executor_job(latest_totals, self.ledger)
        self._unsubscribe += [
            await mqtt.async_subscribe(
                self.hass, totals_topic(self.prefix, "+"), self._async_message, qos=1
            ),
            mqtt.async_subscribe_connection_status(self.hass, self._async_connection),
            self.hass.bus.async_listen(
                BudgetEvent.PERIOD_CLOSED.event_type, self._async_period_closed
            ),
        ]
        await self._async_publish()
        self.started = True
        self._async_changed()

    @callback
    def async_stop(self) -> None:
        """Stop (the household unloads); what is retained stays on the broker."""
        self._stopped = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def async_withdraw(self) -> None:
        """The household left the community: its published totals are cleared."""
        self.share = False
        await self._async_publish()

    @callback
    def _async_connection(self, connected: bool) -> None:
        if connected and not self._stopped:  # the broker may have lost what was retained
            self.entry.async_create_background_task(
                self.hass, self._async_publish(), "energy_tokens totals"
            )

    async def _async_period_closed(self, event: Event[dict[str, Any]]) -> None:
        if event.data.get("household_id") != self.entry.entry_id or self._stopped:
            return
        await self._commit()  # published only once the close is on disk
        self.own = await self.hass.async_add_executor_job(latest_totals, self.ledger)
        await self._async_publish()
        self._async_changed()

    async def _async_publish(self) -> None:
        """Its totals, retained, when it shares them; otherwise its topic cleared."""
        if self._stopped or not mqtt.is_connected(self.hass):
            return  # published on connecting
        payload = ""
        if self.share and self.own is not None:
            payload = self.own.encode(self.ledger.sign)
        name = totals_topic(self.prefix, self.entry.entry_id)
        try:
            await mqtt.async_publish(self.hass, name, payload, qos=1, retain=True)
        except HomeAssistantError as err:
            _LOGGER.debug("Totals not published: %s", err)

    @callback
    def _async_message(self, message: mqtt.ReceiveMessage) -> None:
        household = parse_totals_topic(self.prefix, message.topic)
        if household == self.entry.entry_id:
            return  # its own, as retained
        member = None if household is None else self.members.get(household)
        if member is None or household is None:
            self.ignored += 1
            return
        if not message.payload:  # the member opted out: what it published is taken back
            self.received.pop(household, None)
        else:
            try:
                totals = PeriodTotals.decode(message.payload, member.log_key.public_key)
                if totals.household != household:
                    raise CommunityError("totals of another household")
            except CommunityError as err:
                self.ignored += 1
                _LOGGER.debug("Ignored totals on %s: %s", message.topic, err)
                return
            self.received[household] = totals
        self._async_changed()

    @callback
    def _async_changed(self) -> None:
        """The ranking's sensors and the card follow."""
        async_dispatcher_send(self.hass, signal_ranking(self.entry.entry_id))
        async_dispatcher_send(self.hass, signal_view(self.entry.entry_id))
