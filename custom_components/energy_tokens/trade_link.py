"""Transfers with households on other instances, over Home Assistant's MQTT integration.

trading.py decides; this runs it. Every step's unit is durable before its messages are
published, one message (or timer tick) at a time, so a crash at any moment leaves the ledger
ahead of what the community was told, never behind: what was not published yet is published
again from the ledger (every minute, and on connecting), and what is delivered twice is
recognised in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval

from .books import Device
from .economy import Economy
from .events import BudgetEvent
from .ledger import Cause, LedgerError
from .ledger.community import CommunityError, Member
from .ledger.trade import TradeTopic, parse_trade_topic, trade_subscriptions
from .results import Result
from .signals import signal_view
from .trading import Publish, Step, TradeBook, Trader

_LOGGER = logging.getLogger(__name__)

RETRY = timedelta(minutes=1)  # open offers and receipts are published again this often
DEFAULT_EXPIRY = timedelta(hours=24)


class TradeLink:
    """One household's transfers with the community's other instances."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        act: tuple[Callable[[Result], Awaitable[Result]], Callable[[], Awaitable[int]]],
        prefix: str,
        trader: Trader,
    ) -> None:
        """Use ``async_open``; ``act`` makes a unit durable, ``commit`` all (the runtime's)."""
        self.hass = hass
        self.entry = entry
        self._act, self._commit = act
        self.prefix = prefix
        self.trader = trader
        self._lock = asyncio.Lock()
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._stopped = False
        self.started = False  # subscribed: messages addressed to the household arrive

    @classmethod
    async def async_open(
        cls,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        economy: Economy,
        act: tuple[Callable[[Result], Awaitable[Result]], Callable[[], Awaitable[int]]],
        community: tuple[str, str, dict[str, Member]],
    ) -> TradeLink:
        """Read what the ledger holds of transfers under way (in the executor)."""
        prefix, _name, members = community
        ledger = economy.ledger
        book = await hass.async_add_executor_job(lambda: TradeBook.read(ledger.iter_entries()))
        keys = {household: m.log_key.public_key for household, m in members.items()}
        trader = Trader(
            economy,
            book,
            household=entry.entry_id,
            prefix=prefix,
            keys=keys.get,
            sign=ledger.sign,
            clock=economy.clock,
            currency=str(hass.config.currency),  # YAML gives a str subclass the ledger refuses
        )
        return cls(hass, entry, act, prefix, trader)

    async def async_start(self) -> None:
        """Subscribe to what is addressed to the household; publish what is still open."""
        household = self.trader.household
        for topic_filter in trade_subscriptions(self.prefix, household):
            self._unsubscribe.append(
                await mqtt.async_subscribe(
                    self.hass, topic_filter, self._async_message, qos=1, encoding=None
                )
            )
        self._unsubscribe += [
            mqtt.async_subscribe_connection_status(self.hass, self._async_connection),
            async_track_time_interval(self.hass, self._async_tick, RETRY),
            self.hass.bus.async_listen(
                BudgetEvent.PERIOD_CLOSED.event_type, self._async_period_closed
            ),
        ]
        self.started = True
        # From now on a period's unused tokens may be offered (the policy): someone refunds them.
        economy = self.trader.economy
        economy.community, economy.currency = True, self.trader.currency
        await self._async_tick()

    @callback
    def async_stop(self) -> None:
        """Stop (the household unloads); what is under way resumes at its next start."""
        self._stopped = True
        self.trader.economy.community = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def async_send(
        self,
        source: Device,
        receiver: str,
        amount_milli: int,
        cause: Cause,
        note: str,
        expires: timedelta = DEFAULT_EXPIRY,
    ) -> None:
        """Offer tokens to a member; return once the offer is durable (and published if online).

        Raises BudgetError before anything is written, LedgerError if it could not be.
        """
        async with self._lock:
            expires_ms = self.trader.clock() + int(expires.total_seconds() * 1000)
            step = self.trader.send(
                source, receiver, amount_milli, cause, note, expires_ms=expires_ms
            )
            await self._async_apply(step)

    async def async_sell(
        self,
        source: Device | None,
        amount_milli: int,
        price_micro: int,
        cause: Cause,
        note: str,
        expires: timedelta = DEFAULT_EXPIRY,
    ) -> None:
        """Offer tokens for sale to the members; return once durable (and published if online)."""
        async with self._lock:
            expires_ms = self.trader.clock() + int(expires.total_seconds() * 1000)
            step = self.trader.sell(
                source, amount_milli, price_micro, cause, note, expires_ms=expires_ms
            )
            await self._async_apply(step)

    async def async_buy(self, offer_id: str, cause: Cause) -> None:
        """Buy a member's sale offer; return once the receipt is durable (the seller decides)."""
        async with self._lock:
            await self._async_apply(self.trader.buy(offer_id, cause))
        self._market_changed()

    # ----- under way

    async def _async_period_closed(self, event: Event[dict[str, Any]]) -> None:
        """A period closed: the unused tokens it offered for sale are published now.

        The trader's book took the offer in with the close (the runtime follows every unit).
        """
        if event.data.get("household_id") != self.trader.household or self._stopped:
            return
        async with self._lock:
            try:
                await self._commit()  # the close is durable before it is offered
            except LedgerError as err:  # published by a tick once it is durable
                _LOGGER.warning("The period's surplus is not offered yet: %s", err)
                return
            for message in self.trader.outstanding():
                await self._async_publish(message)

    @callback
    def _market_changed(self) -> None:
        async_dispatcher_send(self.hass, signal_view(self.entry.entry_id))

    @callback
    def _async_connection(self, connected: bool) -> None:
        if connected and not self._stopped:  # the broker may have lost what was retained
            self.entry.async_create_background_task(
                self.hass, self._async_tick(), "energy_tokens transfers"
            )

    async def _async_tick(self, _now: datetime | None = None) -> None:
        """Refund what expired, and publish again what is still open."""
        async with self._lock:
            try:
                await self._async_apply(self.trader.due())
            except LedgerError as err:  # a storage fault, reported by the runtime
                _LOGGER.warning("Expired offers not refunded yet: %s", err)
            for message in self.trader.outstanding():
                await self._async_publish(message)

    async def _async_message(self, message: mqtt.ReceiveMessage) -> None:
        parsed = parse_trade_topic(self.prefix, message.topic)
        if parsed is None or parsed[1] not in (self.trader.household, "*"):
            self.trader.ignored += 1
            return
        kind, _to, sender, offer_id = parsed
        async with self._lock:
            if self._stopped:
                return
            try:
                step = self.trader.receive(kind, sender, offer_id, message.payload)
                await self._async_apply(step)
                if kind is TradeTopic.SALE:
                    self._market_changed()
            except CommunityError as err:
                _LOGGER.debug("Ignored %s: %s", message.topic, err)
            except LedgerError as err:  # not recorded: the message comes again
                _LOGGER.warning("A transfer message waits for the ledger: %s", err)

    async def _async_apply(self, step: Step) -> None:
        """Make the step's unit durable, then publish its messages."""
        if step.result.entries:
            await self._act(step.result)
        for message in step.publish:
            await self._async_publish(message)

    async def _async_publish(self, message: Publish) -> None:
        name, payload, retain = message
        if self._stopped or not mqtt.is_connected(self.hass):
            return  # published again on connecting
        try:
            await mqtt.async_publish(self.hass, name, payload, qos=1, retain=retain)
        except HomeAssistantError as err:
            _LOGGER.debug("Not published to %s: %s", name, err)
