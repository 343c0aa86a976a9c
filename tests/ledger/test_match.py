"""Matching two households' ledgers: each side of every transfer against the other's.

The entries are written as the integration writes them (exchange.py): offers into escrow,
receipts naming the offer, settlements linking the receipt, conclusions naming the decision.
Each broken shape below is what one side would show if it lied or lost an entry.
"""

import io
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Entry, Kind, Ledger
from custom_components.energy_tokens.ledger.cli import main
from custom_components.energy_tokens.ledger.match import Match, match_ledgers
from custom_components.energy_tokens.ledger.reader import iter_entries

from .conftest import FakeClock


class Home:
    """One household's ledger, written the way the integration writes transfers."""

    def __init__(self, folder: Path, household: str, clock: FakeClock) -> None:
        self.id, self.folder = household, folder
        self.ledger = Ledger.create(folder, Ed25519PrivateKey.generate(), household, clock=clock)
        self._write(Kind.PURCHASE, "provider", "device:a", 100_000, {})

    def _write(self, kind: Kind, source: str, target: str, amount: int, data: Any) -> Entry:
        entry = self.ledger.append(
            kind, from_account=source, to_account=target, amount=amount, data=data
        )
        self.ledger.commit()
        return entry

    def offer(self, to: Home, amount: int, *, remote: bool = True) -> Entry:
        data = {"peer_household": to.id} | ({"expires_ms": 2**40} if remote else {})
        return self._write(Kind.TRANSFER, "device:a", f"escrow:{to.id}", amount, data)

    def sell(self, amount: int) -> Entry:
        """A sale to the community: to whichever member buys it first."""
        data = {"price_micro": 250_000, "currency": "EUR", "expires_ms": 2**40}
        return self._write(Kind.TRANSFER, "device:a", "escrow:sale", amount, data)

    def buy(self, seller: Home, offer: Entry, price: int = 250_000) -> Entry:
        """A sale's receipt: with the price it was bought at."""
        data = {
            "peer_household": seller.id,
            "peer_seq": offer.seq,
            "peer_hash": offer.hash.hex(),
            "price_micro": price,
            "currency": "EUR",
        }
        target = f"incoming:{seller.id}"
        return self._write(Kind.TRANSFER, f"household:{seller.id}", target, offer.amount, data)

    def receive(self, sender: Home, offer: Entry, amount: int | None = None) -> Entry:
        """Across instances: into incoming:<sender> until the sender decides."""
        data = {"peer_household": sender.id, "peer_seq": offer.seq, "peer_hash": offer.hash.hex()}
        target = f"incoming:{sender.id}"
        return self._write(
            Kind.TRANSFER, f"household:{sender.id}", target, amount or offer.amount, data
        )

    def receive_locally(self, sender: Home, offer: Entry) -> Entry:
        """On one instance: straight to a device."""
        data = {"peer_household": sender.id, "peer_seq": offer.seq, "peer_hash": offer.hash.hex()}
        return self._write(Kind.TRANSFER, f"household:{sender.id}", "device:a", offer.amount, data)

    def settle(
        self, to: Home, offer: Entry, receipt: Entry | None, money: int | None = None
    ) -> Entry:
        """The escrow to ``household:<to>``, linked to the receipt (a wrong one if None)."""
        data: dict[str, Any] = {"escrow": offer.hash.hex()}
        if money is not None:
            data["sold_micro"] = money
        close = self._write(
            Kind.TRANSFER, offer.to_account or "", f"household:{to.id}", offer.amount, data
        )
        receipt_hash = receipt.hash.hex() if receipt else "00" * 32
        link = {"seq": offer.seq, "peer_household": to.id, "peer_seq": 1, "peer_hash": receipt_hash}
        self.ledger.append(Kind.LINK, data=link)
        self.ledger.commit()
        return close

    def refund(self, offer: Entry) -> Entry:
        data = {"escrow": offer.hash.hex(), "refund": "expired"}
        return self._write(Kind.TRANSFER, offer.to_account or "", "device:a", offer.amount, data)

    def conclude(
        self, receipt: Entry, decision: Entry, *, settled: bool, money: int | None = None
    ) -> Entry:
        sender = receipt.data["peer_household"]
        data: dict[str, Any] = {
            "incoming": receipt.hash.hex(),
            "decision_seq": decision.seq,
            "decision_hash": decision.hash.hex(),
        }
        target = "pool" if settled else f"household:{sender}"
        data |= {} if settled else {"refund": "refunded by the sender"}
        data |= {} if money is None else {"bought_micro": money}
        return self._write(Kind.TRANSFER, f"incoming:{sender}", target, receipt.amount, data)

    def match(self, other: Home) -> Match:
        return match_ledgers(
            (self.id, iter_entries(self.folder)), (other.id, iter_entries(other.folder))
        )


@pytest.fixture
def homes(tmp_path: Path, clock: FakeClock) -> tuple[Home, Home]:
    return Home(tmp_path / "a", "home-a", clock), Home(tmp_path / "b", "home-b", clock)


def _settled(sender: Home, receiver: Home, amount: int) -> None:
    offer = sender.offer(receiver, amount)
    receipt = receiver.receive(sender, offer)
    close = sender.settle(receiver, offer, receipt)
    receiver.conclude(receipt, close, settled=True)


def test_transfers_both_ways_match_and_net_out(homes: tuple[Home, Home]) -> None:
    a, b = homes
    _settled(a, b, 3_000)
    _settled(b, a, 1_000)
    offer = a.offer(b, 500)  # refunded before b saw it: nothing moved
    a.refund(offer)
    offer = b.offer(a, 700)  # received, then refunded by its sender, given back by a
    receipt = a.receive(b, offer)
    a.conclude(receipt, b.refund(offer), settled=False)
    found = a.match(b)
    assert (found.matches, found.transfers, found.in_flight) == (True, 2, [])
    assert found.net == (2_000, -2_000)
    assert found.as_dict() == {
        "households": ["home-a", "home-b"],
        "matches": True,
        "transfers": 2,
        "problems": [],
        "in_flight": [],
        "net_milli": [2_000, -2_000],
    }


def test_transfers_under_way_are_in_flight_not_problems(homes: tuple[Home, Home]) -> None:
    a, b = homes
    a.offer(b, 1_000)  # not received, not decided
    offer = a.offer(b, 2_000)
    receipt = b.receive(a, offer)
    a.settle(b, offer, receipt)  # decided; b has not heard yet
    found = a.match(b)
    assert found.matches
    assert found.in_flight == [
        "home-a to home-b: offer 6 not decided yet",
        "home-a to home-b: offer 7 decided, not concluded by the receiver yet",
    ]


def test_transfers_on_one_instance_match(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.offer(b, 1_500, remote=False)
    a.settle(b, offer, b.receive_locally(a, offer))
    found = a.match(b)
    assert (found.matches, found.transfers, found.net) == (True, 1, (1_500, -1_500))


def _problems(a: Home, b: Home) -> list[str]:
    found = a.match(b)
    assert not found.matches
    return found.problems


def test_a_receipt_of_no_offer(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.offer(b, 1_000)
    offer_of_nobody = Home(a.folder.parent / "c", "home-a", FakeClock()).offer(b, 1_000)
    b.receive(a, offer_of_nobody)
    b.receive(a, offer)
    assert "home-a to home-b: a receipt (entry 7) of no offer" in _problems(a, b)


def test_a_receipt_of_another_amount_or_twice(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.offer(b, 1_000)
    b.receive(a, offer, amount=9_000)
    assert _problems(a, b) == ["home-a to home-b: offer 6 received as another amount"]
    b.receive(a, offer, amount=1_000)
    assert _problems(a, b) == [
        "home-a to home-b: offer 6 received as another amount",
        "home-a to home-b: an offer received 2 times",
    ]


def test_a_settlement_without_its_receipt(homes: tuple[Home, Home]) -> None:
    a, b = homes
    a.settle(b, a.offer(b, 1_000), None)
    assert _problems(a, b) == ["home-a to home-b: offer 6 settled without its receipt"]


def test_a_conclusion_the_sender_contradicts(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.offer(b, 1_000)
    receipt = b.receive(a, offer)
    b.conclude(receipt, a.refund(offer), settled=True)  # kept what a took back
    assert _problems(a, b) == [
        "home-a to home-b: offer 6 concluded by the receiver as the sender did not"
    ]


def test_a_conclusion_on_another_decision(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.offer(b, 1_000)
    receipt = b.receive(a, offer)
    a.settle(b, offer, receipt)
    b.conclude(receipt, offer, settled=True)  # names the offer, not the decision
    assert _problems(a, b) == [
        "home-a to home-b: offer 6 concluded on another decision than the sender's"
    ]


def test_a_refund_the_receiver_kept(homes: tuple[Home, Home]) -> None:
    """On one instance a receipt goes straight to a device: a refund then contradicts it."""
    a, b = homes
    offer = a.offer(b, 1_000, remote=False)
    b.receive_locally(a, offer)
    a.refund(offer)
    assert _problems(a, b) == ["home-a to home-b: offer 6 refunded though the receiver recorded it"]


def test_balances_that_do_not_cancel(homes: tuple[Home, Home]) -> None:
    """Tokens booked against the other household outside any transfer."""
    a, b = homes
    _settled(a, b, 1_000)
    b._write(Kind.TRANSFER, "household:home-a", "pool", 4_000, {})
    assert _problems(a, b) == [
        "the ledgers disagree on what home-a and home-b exchanged: 1000 and -5000 milli-tokens "
        "do not cancel out"
    ]


def _cli(*args: Any) -> tuple[int, str]:
    out = io.StringIO()
    return main([str(arg) for arg in args], out=out), out.getvalue()


def test_the_auditor_matches_two_ledgers(homes: tuple[Home, Home], tmp_path: Path) -> None:
    a, b = homes
    _settled(a, b, 3_000)
    for home in homes:
        home.ledger.close()
    assert _cli("match", a.folder, b.folder) == (
        0,
        "MATCH 1 transfers between home-a and home-b\nnet: 3.000 and -3.000 tokens\n",
    )
    code, out = _cli("match", b.folder, a.folder, "--json")
    assert (code, json.loads(out)["net_milli"]) == (0, [-3_000, 3_000])
    assert _cli("match", a.folder, tmp_path / "nowhere") == (2, "")


def test_the_auditor_reports_in_flight_mismatch_and_tampering(homes: tuple[Home, Home]) -> None:
    a, b = homes
    b.receive(a, a.offer(b, 1_000))
    assert _cli("match", a.folder, b.folder) == (
        0,
        "MATCH 0 transfers between home-a and home-b\n1 in flight:\n"
        "  home-a to home-b: offer 6 not decided yet\n",
    )
    b.receive(a, a.offer(b, 1_000), amount=2)
    assert _cli("match", a.folder, b.folder) == (
        1,
        "MISMATCH\n  home-a to home-b: offer 7 received as another amount\n",
    )
    for home in homes:
        home.ledger.close()
    segment = sorted(b.folder.glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0xFF
    segment.write_bytes(bytes(data))
    code, out = _cli("match", a.folder, b.folder)
    assert (code, out.split(" at entry")[0]) == (1, f"TAMPERED {b.folder}")


def test_a_sale_matches_its_buyer_and_every_buyer_refunded(
    homes: tuple[Home, Home], clock: FakeClock
) -> None:
    """Two members bought one sale: it went to b; c was refunded; neither pair has a problem."""
    a, b = homes
    c = Home(a.folder.parent / "c", "home-c", clock)
    offer = a.sell(2_000)
    won, lost = b.buy(a, offer), c.buy(a, offer)
    close = a.settle(b, offer, won, money=500_000)  # 2 tokens at 0.25
    b.conclude(won, close, settled=True, money=500_000)
    c.conclude(lost, close, settled=False)  # answered: sold to another member
    found = a.match(b)
    assert (found.matches, found.transfers, found.net) == (True, 1, (2_000, -2_000))
    found = a.match(c)
    assert (found.matches, found.transfers, found.net, found.in_flight) == (True, 0, (0, 0), [])
    unsold = a.sell(500)  # nobody bought it: no other household's business
    assert a.match(c).in_flight == []
    c.buy(a, unsold)
    assert a.match(c).in_flight == ["home-a to home-c: sale 10 not decided yet"]


def test_a_sale_whose_sides_record_other_money(homes: tuple[Home, Home]) -> None:
    a, b = homes
    offer = a.sell(2_000)
    receipt = b.buy(a, offer, price=1)  # b says it bought at another price
    b.conclude(receipt, a.settle(b, offer, receipt, money=500_000), settled=True, money=500_000)
    assert _problems(a, b) == [
        "home-a to home-b: sale 6: bought at another price than it was offered"
    ]
    offer = a.sell(1_000)
    receipt = b.buy(a, offer)
    b.conclude(receipt, a.settle(b, offer, receipt, money=250_000), settled=True, money=1)
    assert _problems(a, b)[1] == (
        "home-a to home-b: sale 10: the seller records 250000 micro-units earned, the buyer 1 owed"
    )


def test_a_sale_kept_by_a_buyer_it_was_not_sold_to(
    homes: tuple[Home, Home], clock: FakeClock
) -> None:
    a, b = homes
    c = Home(a.folder.parent / "c", "home-c", clock)
    offer = a.sell(2_000)
    won, lost = b.buy(a, offer), c.buy(a, offer)
    close = a.settle(b, offer, won, money=500_000)
    c.conclude(lost, close, settled=True, money=500_000)  # c keeps tokens a sold to b
    assert _problems(a, c) == [
        "home-a to home-c: sale 6 concluded by the receiver as the sender did not"
    ]
    a.settle(c, a.sell(1_000), None)  # sold to c, but c never bought it
    assert "home-a to home-c: sale 10 settled without its receipt" in _problems(a, c)
