"""Transfers between households on different instances: the protocol, under every fault.

Real ledgers on disk and the real economy; the network between them is simulated so that
messages can be dropped, delivered twice and out of order, a broker can lose its retained
messages and a household can crash before or after making a step durable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
import os
from pathlib import Path
import random

import pytest

from custom_components.energy_tokens.const import CONF_SELL_PRICE, CONF_SURPLUS, DEFAULTS
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
    SaleOffer,
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


def _addressed(name: str, household: str) -> bool:
    to = parse_trade_topic(PREFIX, name)[1]  # type: ignore[index]
    return to in (household, "*")


@dataclass
class Network:
    """A broker and its deliveries, with faults on demand."""

    rng: random.Random
    queue: list[tuple[str, str, str]] = field(default_factory=list)  # to whom, topic, payload
    retained: dict[str, str] = field(default_factory=dict)

    def publish(self, messages: list[Publish]) -> None:
        for name, payload, retain in messages:
            if retain:
                if payload:
                    self.retained[name] = payload
                else:
                    self.retained.pop(name, None)
            for household in HOUSEHOLDS:  # a sale, and a sale cleared, reach every member
                if _addressed(name, household):
                    self.queue.append((household, name, payload))

    def subscribed(self, household: str) -> None:
        """A household (re)subscribes: the retained messages addressed to it are delivered."""
        for name, payload in self.retained.items():
            if _addressed(name, household):
                self.queue.append((household, name, payload))

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

    def sell(self, seller: Home, amount: int, expires_in: int, *, faults: bool = True) -> bool:
        """Offer the pool's tokens for sale at 0.30 per token."""
        try:
            step = seller.trader.sell(
                None, amount, 300_000, USER, "", expires_ms=self.clock.now + expires_in
            )
        except BudgetError:
            return False
        self.apply(seller, step, faults=faults)
        return True

    def buy(self, buyer: Home, *, faults: bool = True) -> bool:
        """Take one of the sale offers the buyer sees, if any."""
        listed = buyer.trader.offers_for_sale()
        if not listed:
            return False
        offer_id = self.rng.choice(listed)[1].offer_id
        self.apply(buyer, buyer.trader.buy(offer_id, USER), faults=faults)
        return True

    def deliver(self, *, faults: bool) -> None:
        net = self.net
        index = self.rng.randrange(len(net.queue)) if faults else 0
        to, name, payload = net.queue[index]
        if not faults or self.rng.random() > 0.2:  # else delivered again later: a duplicate
            net.queue.pop(index)
        if faults and self.rng.random() < 0.15:
            return  # dropped
        kind, _to, sender, offer_id = parse_trade_topic(PREFIX, name)  # type: ignore[misc]
        home = self.homes[to]
        self.apply(home, home.trader.receive(kind, sender, offer_id, payload), faults=faults)

    def tick(self, home: Home, *, faults: bool) -> None:
        self.apply(home, home.trader.due(), faults=faults)
        self.net.publish(home.trader.outstanding())

    def run(self, actions: int) -> None:
        rng, homes = self.rng, list(self.homes.values())
        for _ in range(actions):
            roll = rng.random()
            if roll < 0.2:
                sender, receiver = rng.sample(homes, 2)
                self.send(sender, receiver, rng.randint(1, 5_000), rng.randint(1, 30) * MINUTE)
            elif roll < 0.26:
                self.sell(rng.choice(homes), rng.randint(1, 5_000), rng.randint(1, 30) * MINUTE)
            elif roll < 0.38:
                self.buy(rng.choice(homes))
            elif roll < 0.78 and self.net.queue:
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
        self.sales = _money(self.homes.values())
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


def _money(homes: Collection[Home]) -> int:
    """Each seller's sales to each buyer are what that buyer owes it; return how many sales."""
    sold: dict[tuple[str, str], int] = defaultdict(int)
    bought: dict[tuple[str, str], int] = defaultdict(int)
    for home in homes:
        for entry in home.economy.ledger.iter_entries():
            if "sold_micro" in entry.data:
                buyer = (entry.to_account or "").removeprefix("household:")
                sold[home.household, buyer] += entry.data["sold_micro"]
            if "bought_micro" in entry.data:
                seller = (entry.from_account or "").removeprefix("incoming:")
                bought[seller, home.household] += entry.data["bought_micro"]
    assert sold == bought
    return sum(
        1 for home in homes for e in home.economy.ledger.iter_entries() if "sold_micro" in e.data
    )


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
    SALES[seed] = community.sales


SALES: dict[int, int] = {}  # sales settled in each fault trial


def test_the_fault_trials_include_sales(tmp_path: Path) -> None:
    """The trials are not only transfers: about half of them settle sales too (42 in all)."""
    for seed in range(60):
        if seed not in SALES:  # run alone: the trial is run here
            test_faults_never_make_or_lose_tokens(tmp_path / str(seed), seed)
    assert sum(SALES.values()) >= 40
    assert sum(1 for sales in SALES.values() if sales) >= 25


def _sell(community: Community, seller: Home, amount: int, expires_in: int = 10 * MINUTE) -> str:
    """Offer the seller's pool tokens; deliver the offer to everyone; return its id."""
    assert community.sell(seller, amount, expires_in, faults=False)
    while community.net.queue:
        community.deliver(faults=False)
    return next(reversed(seller.trader.book.offers))


def test_a_sale_goes_to_the_first_buyer_and_both_ledgers_record_the_money(
    community: Community,
) -> None:
    """Two members buy the same offer: the first receipt the seller sees wins, the other is
    refunded; the seller earns what the buyer owes."""
    alpha, bravo, charlie = (community.homes[h] for h in HOUSEHOLDS)
    pools = {h.household: h.economy.pool_milli for h in (alpha, bravo, charlie)}
    offer_id = _sell(community, alpha, 2_500)
    assert alpha.economy.pool_milli == pools["alpha"] - 2_500
    assert alpha.economy.ledger.balance("escrow:sale") == 2_500
    for buyer in (bravo, charlie):
        listed = buyer.trader.offers_for_sale()
        assert [(seller, sale.amount, sale.price_micro) for seller, sale in listed] == [
            ("alpha", 2_500, 300_000)
        ]
    assert not alpha.trader.offers_for_sale()  # its own is not for it to buy
    community.apply(charlie, charlie.trader.buy(offer_id, USER), faults=False)
    community.apply(bravo, bravo.trader.buy(offer_id, USER), faults=False)
    assert bravo.economy.ledger.balance("incoming:alpha") == 2_500  # until alpha decides
    community.settle_down()
    assert alpha.economy.ledger.balance("household:charlie") == 2_500  # the first receipt
    assert charlie.economy.pool_milli == pools["charlie"] + 2_500
    assert bravo.economy.pool_milli == pools["bravo"]  # refunded
    assert alpha.economy.sales_micro == 750_000  # 2.5 tokens at 0.30
    assert alpha.economy.sold_milli == 2_500
    assert charlie.economy.cost_micro - bravo.economy.cost_micro == 750_000
    assert not bravo.trader.offers_for_sale()  # sold: cleared for everyone
    alpha.crash()  # the money is the ledger's: read back the same after a restart
    charlie_cost = charlie.economy.cost_micro
    charlie.crash()
    assert (alpha.economy.sales_micro, alpha.economy.sold_milli) == (750_000, 2_500)
    assert charlie.economy.cost_micro == charlie_cost
    community.check()
    assert community.sales == 1


def test_a_sale_nobody_buys_returns_to_the_pool_and_cannot_be_bought_late(
    community: Community,
) -> None:
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    pool = alpha.economy.pool_milli
    offer_id = _sell(community, alpha, 1_000, MINUTE)
    community.clock.advance(MINUTE + 1)
    with pytest.raises(BudgetError) as late:
        bravo.trader.buy(offer_id, USER)
    assert late.value.key == "offer_expired"
    assert not bravo.trader.offers_for_sale()  # expired: no longer listed
    assert offer_id not in bravo.trader.market
    community.clock.advance(CLOCK_SKEW_MS)
    community.tick(alpha, faults=False)
    assert alpha.economy.pool_milli == pool
    assert alpha.economy.sales_micro == 0
    community.check()
    assert community.sales == 0


def test_refused_sales_and_purchases_write_nothing(community: Community) -> None:
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    offer_id = _sell(community, alpha, 1_000)
    seqs = {h: h.economy.ledger.seq for h in (alpha, bravo)}
    now = community.clock.now
    for amount, expires, key in (
        (0, now + MINUTE, "amount_not_positive"),
        (10**12, now + MINUTE, "insufficient_balance"),
        (1_000, now, "offer_expired"),
    ):
        with pytest.raises(BudgetError) as refused:
            alpha.trader.sell(None, amount, 300_000, USER, "", expires_ms=expires)
        assert refused.value.key == key
    with pytest.raises(BudgetError) as refused:
        alpha.trader.buy(offer_id, USER)  # its own
    assert refused.value.key == "unknown_offer"
    with pytest.raises(BudgetError) as refused:
        bravo.trader.buy("0" * 64, USER)
    assert refused.value.key == "unknown_offer"
    bravo.trader.currency = "CHF"
    assert not bravo.trader.offers_for_sale()  # listed only where it can be bought
    with pytest.raises(BudgetError) as refused:
        bravo.trader.buy(offer_id, USER)
    assert (refused.value.key, refused.value.placeholders) == (
        "other_currency",
        {"currency": "EUR"},
    )
    bravo.trader.currency = "EUR"
    del community.keys["alpha"]  # the seller is no longer admitted
    with pytest.raises(BudgetError) as refused:
        bravo.trader.buy(offer_id, USER)
    assert refused.value.key == "not_a_member"
    assert {h: h.economy.ledger.seq for h in (alpha, bravo)} == seqs
    community.keys["alpha"] = alpha.economy.ledger.public_key
    community.apply(bravo, bravo.trader.buy(offer_id, USER), faults=False)
    with pytest.raises(BudgetError) as refused:
        bravo.trader.buy(offer_id, USER)  # bought already (its receipt is recorded)
    assert refused.value.key == "already_bought"


def test_forged_and_misplaced_sale_offers_are_ignored(community: Community) -> None:
    alpha, bravo, charlie = (community.homes[h] for h in HOUSEHOLDS)
    step = alpha.trader.sell(
        None, 1_000, 300_000, USER, "", expires_ms=community.clock.now + MINUTE
    )
    name, payload, _ = step.publish[0]
    offer_id = name.rsplit("/", 1)[1]
    sale = SaleOffer.decode(payload, community.keys["alpha"])
    for sender, body, topic_id in (
        ("alpha", payload.replace('"price_micro":300000', '"price_micro":1'), offer_id),
        ("alpha", sale.encode(charlie.economy.ledger.sign), offer_id),  # not alpha's key
        ("charlie", payload, offer_id),  # on another seller's topic
        ("alpha", payload, "0" * 64),  # under another id
        ("mallory", payload, offer_id),  # a stranger
    ):
        with pytest.raises(CommunityError):
            bravo.trader.receive(TradeTopic.SALE, sender, topic_id, body)
    assert not bravo.trader.offers_for_sale()
    assert bravo.trader.ignored == 5
    bravo.trader.receive(TradeTopic.SALE, "alpha", offer_id, payload)
    assert [listed.offer_id for _, listed in bravo.trader.offers_for_sale()] == [offer_id]
    # Another member can neither replace alpha's offer under its id, nor withdraw it.
    copied = SaleOffer("charlie", offer_id, 1, 1_000, 1, "EUR", sale.expires_ms, "")
    with pytest.raises(CommunityError, match="another member's offer id"):
        bravo.trader.receive(
            TradeTopic.SALE, "charlie", offer_id, copied.encode(charlie.economy.ledger.sign)
        )
    bravo.trader.receive(TradeTopic.SALE, "charlie", offer_id, "")
    assert [seller for seller, _ in bravo.trader.offers_for_sale()] == ["alpha"]
    bravo.trader.receive(TradeTopic.SALE, "alpha", offer_id, "")  # withdrawn (sold)
    assert not bravo.trader.offers_for_sale()


@pytest.mark.parametrize("in_community", [True, False])
def test_a_period_s_unused_tokens_are_offered_to_the_community_or_rolled_over(
    tmp_path: Path, in_community: bool
) -> None:
    """The community surplus policy: the close offers the pool at the sell price for a day;
    outside a community the tokens roll over as with the roll-over policy."""
    clock = Clock()
    settings = dict(DEFAULTS) | {CONF_SURPLUS: "community", CONF_SELL_PRICE: 0.2}
    economy = open_economy(
        tmp_path,
        HouseholdSettings.from_data(settings),
        [device("Heater", 40)],
        household_id="alpha",
        name="Alpha",
        clock=clock,
        zone=ZONE,
    )
    economy.community = in_community
    economy.settle()
    unused = economy.pool_milli + economy.ledger.balance("device:heater")
    cap = economy.settings.cap_milli
    closed = economy.close_period_now()
    sale = [e for e in closed.entries if e.to_account == "escrow:sale"]
    if not in_community:
        assert sale == []
        assert economy.pool_milli == cap - 40_000  # the unused paid part of the new purchase
        return
    [offer] = sale
    assert (offer.amount, offer.data["price_micro"]) == (unused, 200_000)
    assert offer.data["expires_ms"] == offer.ts_ms + 24 * 3_600_000
    assert economy.pool_milli == cap - 40_000  # the new period bought its whole cap
    economy.ledger.commit()
    book = TradeBook()
    book.follow(economy.ledger.iter_entries())
    book.follow(economy.ledger.iter_entries())  # read again after the close: taken in once
    assert list(book.offers) == [offer.hash.hex()]
    trader = Trader(
        economy,
        book,
        household="alpha",
        prefix=PREFIX,
        keys=lambda _household: None,
        sign=economy.ledger.sign,
        clock=clock,
    )
    [(name, payload, retained)] = trader.outstanding()
    assert name == f"{PREFIX}/sale/alpha/{offer.hash.hex()}"
    assert retained
    published = SaleOffer.decode(payload, economy.ledger.public_key)
    assert (published.amount, published.price_micro, published.currency) == (unused, 200_000, "EUR")


def test_an_offer_is_published_only_once_durable_and_a_sold_one_cleared_again(
    community: Community,
) -> None:
    alpha = community.homes["alpha"]
    economy = alpha.economy
    result = economy.offer_sale(None, 1_000, 1, USER, "", community.clock.now + MINUTE, "EUR")
    alpha.trader.book.follow(result.entries)  # as the runtime follows a period's close
    assert alpha.trader.outstanding() == []  # not on disk yet: a crash could take it back
    economy.ledger.commit()
    [(name, payload, _)] = alpha.trader.outstanding()
    offer_id = name.rsplit("/", 1)[1]
    # Its own retained offer, delivered back to it: nothing while open; cleared once decided.
    assert alpha.trader.receive(TradeTopic.SALE, "alpha", offer_id, payload).publish == []
    community.clock.advance(MINUTE + CLOCK_SKEW_MS + 1)
    community.apply(alpha, alpha.trader.due(), faults=False)
    again = alpha.trader.receive(TradeTopic.SALE, "alpha", offer_id, payload)
    assert again.publish == [(name, "", True)]
    assert not again.result.entries


def test_an_offer_beyond_what_one_call_may_move_is_not_bought(community: Community) -> None:
    """An admitted member's signed offer of a billion tokens: listed, never bought."""
    alpha, bravo = community.homes["alpha"], community.homes["bravo"]
    huge = SaleOffer("alpha", "ab" * 32, 1, 10**12, 1, "EUR", community.clock.now + MINUTE, "")
    bravo.trader.receive(
        TradeTopic.SALE, "alpha", "ab" * 32, huge.encode(alpha.economy.ledger.sign)
    )
    seq = bravo.economy.ledger.seq
    with pytest.raises(BudgetError) as refused:
        bravo.trader.buy("ab" * 32, USER)
    assert refused.value.key == "amount_too_large"
    assert bravo.economy.ledger.seq == seq
