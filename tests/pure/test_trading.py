"""Transfers between households on different instances: the protocol, under every fault.

Real ledgers on disk and the real economy; the network between them is simulated so that
messages can be dropped, delivered twice and out of order, a broker can lose its retained
messages and a household can crash before or after making a step durable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import os
from pathlib import Path
import random

import pytest

from custom_components.energy_tokens.const import DEFAULTS
from custom_components.energy_tokens.ledger import (
    Cause,
    CauseKind,
    Entry,
    iter_entries,
    verify_ledger,
)
from custom_components.energy_tokens.ledger.community import CommunityError
from custom_components.energy_tokens.ledger.match import match_ledgers
from custom_components.energy_tokens.ledger.trade import (
    CLOCK_SKEW_MS,
    Offer,
    TradeTopic,
    parse_trade_topic,
)
from custom_components.energy_tokens.restore import LEDGER_FOLDER, open_economy
from custom_components.energy_tokens.results import BudgetError
from custom_components.energy_tokens.settings import HouseholdSettings
from custom_components.energy_tokens.trading import Publish, Step, TradeBook, Trader

from .conftest import ZONE, Clock, device

PREFIX = "community/test"
USER = Cause(CauseKind.USER, "user-1")
MINUTE = 60_000
HOUSEHOLDS = ("alpha", "bravo", "charlie")


class Home:
    """A household with its ledger on disk, as an instance runs it."""

    def __init__(self, root: Path, household: str, clock: Clock, keys: dict[str, bytes]) -> None:
        self.folder = root / household
        self.household = household
        self.clock = clock
        self.keys = keys
        self.open()

    def open(self) -> None:
        self.economy = open_economy(
            self.folder,
            HouseholdSettings.from_data(dict(DEFAULTS)),
            [device("Heater", 40), device("Oven", 20)],
            household_id=self.household,
            name=self.household.title(),
            clock=self.clock,
            zone=ZONE,
        )
        self.economy.ledger.commit()
        self.economy.settle()
        self.economy.ledger.commit()
        ledger = self.economy.ledger
        self.keys[self.household] = ledger.public_key
        self.trader = Trader(
            self.economy,
            TradeBook.read(ledger.iter_entries()),
            household=self.household,
            prefix=PREFIX,
            keys=lambda h: None if h == self.household else self.keys.get(h),
            sign=ledger.sign,
            clock=self.clock,
        )

    def crash(self) -> None:
        """Killed: what was not committed is lost; the ledger is opened again from disk."""
        ledger = self.economy.ledger
        if ledger._fd is not None:
            os.close(ledger._fd)
        self.open()

    def close(self) -> None:
        self.economy.ledger.close()

    def tokens(self) -> int:
        """Tokens the household holds: its devices', its pool's and those under way."""
        return sum(
            balance
            for account, balance in self.economy.ledger.balances().items()
            if account.split(":")[0] in ("device", "pool", "escrow", "incoming")
        )


@dataclass
class Network:
    """A broker and its deliveries, with faults on demand."""

    rng: random.Random
    queue: list[tuple[str, str]] = field(default_factory=list)
    retained: dict[str, str] = field(default_factory=dict)

    def publish(self, messages: list[Publish]) -> None:
        for name, payload, retain in messages:
            if retain:
                if payload:
                    self.retained[name] = payload
                else:
                    self.retained.pop(name, None)
            if payload:
                self.queue.append((name, payload))

    def subscribed(self, household: str) -> None:
        """A household (re)subscribes: the retained messages addressed to it are delivered."""
        for name, payload in self.retained.items():
            if parse_trade_topic(PREFIX, name)[1] == household:  # type: ignore[index]
                self.queue.append((name, payload))

    def restart(self) -> None:
        """The broker restarts without persistence: retained and queued messages are gone."""
        self.retained.clear()
        self.queue.clear()


class Community:
    """Households on their instances, the broker between them."""

    def __init__(self, root: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.keys: dict[str, bytes] = {}
        self.homes = {h: Home(root, h, self.clock, self.keys) for h in HOUSEHOLDS}
        self.net = Network(self.rng)
        self.start = sum(home.tokens() for home in self.homes.values())

    def apply(self, home: Home, step: Step, *, faults: bool) -> None:
        """As the integration does: durable first, then published; a crash may cut in."""
        fate = self.rng.random() if faults else 1.0
        if fate < 0.05:  # killed before the unit reached the disk
            home.crash()
            self.net.subscribed(home.household)
            return
        home.economy.ledger.commit()
        if fate < 0.10:  # killed after the commit, before publishing
            home.crash()
            self.net.subscribed(home.household)
            return
        self.net.publish(step.publish)

    def send(
        self, sender: Home, receiver: Home, amount: int, expires_in: int, *, faults: bool = True
    ) -> bool:
        try:
            step = sender.trader.send(
                sender.economy.devices["heater"],
                receiver.household,
                amount,
                USER,
                "",
                expires_ms=self.clock.now + expires_in,
            )
        except BudgetError:
            return False
        self.apply(sender, step, faults=faults)
        return True

    def deliver(self, *, faults: bool) -> None:
        net = self.net
        index = self.rng.randrange(len(net.queue)) if faults else 0
        name, payload = net.queue[index]
        if not faults or self.rng.random() > 0.2:  # else delivered again later: a duplicate
            net.queue.pop(index)
        if faults and self.rng.random() < 0.15:
            return  # dropped
        kind, to, sender, offer_id = parse_trade_topic(PREFIX, name)  # type: ignore[misc]
        home = self.homes[to]
        self.apply(home, home.trader.receive(kind, sender, offer_id, payload), faults=faults)

    def tick(self, home: Home, *, faults: bool) -> None:
        self.apply(home, home.trader.due(), faults=faults)
        self.net.publish(home.trader.outstanding())

    def run(self, actions: int) -> None:
        rng, homes = self.rng, list(self.homes.values())
        for _ in range(actions):
            roll = rng.random()
            if roll < 0.3:
                sender, receiver = rng.sample(homes, 2)
                self.send(sender, receiver, rng.randint(1, 5_000), rng.randint(1, 30) * MINUTE)
            elif roll < 0.75 and self.net.queue:
                self.deliver(faults=True)
            elif roll < 0.85:
                self.tick(rng.choice(homes), faults=True)
            elif roll < 0.9:
                home = rng.choice(homes)
                home.crash()
                self.net.subscribed(home.household)
            elif roll < 0.93:
                self.net.restart()
            else:
                self.clock.advance(rng.randint(0, 10) * MINUTE)

    def settle_down(self) -> None:
        """No more faults: every offer expires or is answered, every message arrives."""
        for advance in (0, 31 * MINUTE + CLOCK_SKEW_MS, 0, 0):
            self.clock.advance(advance)
            for home in self.homes.values():
                self.tick(home, faults=False)
            while self.net.queue:
                self.deliver(faults=False)

    def check(self) -> None:
        """Every ledger verifies, every pair matches, and no token was made or lost."""
        for home in self.homes.values():
            balances = home.economy.ledger.balances()
            assert sum(balances.values()) == 0, home.household
            assert not any(
                b for a, b in balances.items() if a.startswith(("escrow:", "incoming:"))
            ), (home.household, balances)
        assert sum(home.tokens() for home in self.homes.values()) == self.start
        for home in self.homes.values():
            home.close()
            assert verify_ledger(home.folder / LEDGER_FOLDER).valid
        for a, b in (("alpha", "bravo"), ("alpha", "charlie"), ("bravo", "charlie")):
            found = match_ledgers(self._entries(a), self._entries(b))
            assert found.matches, found.problems
            assert not found.in_flight
            assert sum(found.net) == 0

    def _entries(self, household: str) -> tuple[str, Iterator[Entry]]:
        return household, iter_entries(self.homes[household].folder / LEDGER_FOLDER)


@pytest.fixture
def community(tmp_path: Path) -> Community:
    return Community(tmp_path, seed=0)


def test_a_transfer_between_instances_settles_on_both_sides(community: Community) -> None:
    """Offer, receipt, decision: the sender's escrow goes to the receiver's pool."""
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    pool_before = bravo.economy.pool_milli
    heater_before = alpha.economy.ledger.balance("device:heater")
    assert community.send(alpha, bravo, 3_000, 10 * MINUTE, faults=False)
    assert alpha.economy.ledger.balance("escrow:bravo") == 3_000
    community.settle_down()
    assert alpha.economy.ledger.balance("device:heater") == heater_before - 3_000
    assert alpha.economy.ledger.balance("household:bravo") == 3_000
    assert bravo.economy.ledger.balance("household:alpha") == -3_000
    assert bravo.economy.pool_milli == pool_before + 3_000
    community.check()


def test_an_offer_not_received_before_its_expiry_is_refunded(community: Community) -> None:
    """The receiver never saw it: after expiry and the skew allowed, the sender refunds."""
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    step = alpha.trader.send(
        alpha.economy.devices["heater"],
        "bravo",
        2_000,
        USER,
        "",
        expires_ms=community.clock.now + MINUTE,
    )
    alpha.economy.ledger.commit()
    community.clock.advance(MINUTE + CLOCK_SKEW_MS)
    assert not alpha.trader.due().result.entries  # the skew allowance is not over yet
    community.clock.advance(1)
    refund = alpha.trader.due()
    assert [e.data.get("refund") for e in refund.result.entries] == ["expired"]
    # The offer, arriving now, is no longer taken.
    name, payload, _ = step.publish[0]
    _, _, sender, offer_id = parse_trade_topic(PREFIX, name)  # type: ignore[misc]
    assert not bravo.trader.receive(TradeTopic.OFFER, sender, offer_id, payload).result.entries
    alpha.economy.ledger.commit()
    community.check()


def test_a_receipt_after_the_refund_is_answered_with_it(community: Community) -> None:
    """Received in time, but the receipt reached the sender too late: the receiver gives back."""
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    offered = alpha.trader.send(
        alpha.economy.devices["heater"],
        "bravo",
        2_000,
        USER,
        "",
        expires_ms=community.clock.now + MINUTE,
    )
    alpha.economy.ledger.commit()
    name, payload, _ = offered.publish[0]
    received = bravo.trader.receive(TradeTopic.OFFER, "alpha", name.rsplit("/", 1)[1], payload)
    bravo.economy.ledger.commit()
    assert bravo.economy.ledger.balance("incoming:alpha") == 2_000
    community.clock.advance(MINUTE + CLOCK_SKEW_MS + 1)
    community.net.publish(received.publish)  # late
    community.settle_down()
    assert bravo.economy.ledger.balance("household:alpha") == 0
    assert alpha.economy.ledger.balance("household:bravo") == 0
    community.check()


def test_messages_that_do_not_verify_change_nothing(community: Community) -> None:
    """Another household's key, another topic, a tampered amount, a stranger: ignored."""
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    charlie = community.homes["charlie"]
    offered = alpha.trader.send(
        alpha.economy.devices["heater"],
        "bravo",
        2_000,
        USER,
        "",
        expires_ms=community.clock.now + MINUTE,
    )
    alpha.economy.ledger.commit()
    name, payload, _ = offered.publish[0]
    offer_id = name.rsplit("/", 1)[1]
    seq = bravo.economy.ledger.seq
    tampered = payload.replace('"amount":2000', '"amount":9000')
    forged = Offer.decode(payload, community.keys["alpha"])
    for sender, body in (
        ("alpha", tampered),
        ("charlie", payload),  # on another sender's topic
        ("alpha", forged.encode(charlie.economy.ledger.sign)),  # signed by another household
        ("alpha", "not json"),
    ):
        with pytest.raises(CommunityError):
            bravo.trader.receive(TradeTopic.OFFER, sender, offer_id, body)
    with pytest.raises(CommunityError):  # a stranger, not admitted
        bravo.trader.receive(TradeTopic.OFFER, "mallory", offer_id, payload)
    with pytest.raises(CommunityError):  # the offer's id is the topic's
        bravo.trader.receive(TradeTopic.OFFER, "alpha", "0" * 64, payload)
    assert bravo.economy.ledger.seq == seq
    assert bravo.trader.ignored == 6


def test_an_offer_to_a_stranger_or_beyond_the_balance_is_refused(community: Community) -> None:
    alpha = community.homes["alpha"]
    heater = alpha.economy.devices["heater"]
    seq = alpha.economy.ledger.seq
    for receiver, amount, key in (
        ("mallory", 1_000, "not_a_member"),
        ("alpha", 1_000, "not_a_member"),
        ("bravo", 10**9, "insufficient_balance"),
        ("bravo", 0, "amount_not_positive"),
    ):
        with pytest.raises(BudgetError) as refused:
            alpha.trader.send(
                heater, receiver, amount, USER, "", expires_ms=community.clock.now + 1
            )
        assert refused.value.key == key
    with pytest.raises(BudgetError):
        alpha.trader.send(heater, "bravo", 1, USER, "", expires_ms=community.clock.now)
    assert alpha.economy.ledger.seq == seq


@pytest.mark.parametrize("seed", range(60))
def test_faults_never_make_or_lose_tokens(tmp_path: Path, seed: int) -> None:
    """Drops, duplicates, reordering, crashes and broker restarts at random, 60 trials."""
    community = Community(tmp_path, seed)
    community.run(actions=80)
    community.settle_down()
    community.check()
