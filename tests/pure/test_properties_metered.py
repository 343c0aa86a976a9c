"""Property-based: meters, held jumps, devices coming and going, and a second household.

Whatever happens, every Wh a meter counted after its first reading is charged once, waits to be
(pending, or held for review), or was discarded by the user — never lost, never twice; both
ledgers sum to zero and verify; and reopening folds back the books exactly.
"""

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
import tempfile
from typing import Any

from hypothesis import HealthCheck, example, given, settings, strategies as st

from custom_components.energy_tokens.ledger import Cause, CauseKind, Kind, verify_ledger
from custom_components.energy_tokens.metering import HeldSpike
from custom_components.energy_tokens.results import BudgetError

from .conftest import HOUR, Clock, device, open_books_in
from .test_properties import _restorable

USER = Cause(CauseKind.USER, "user-1")
HOME = [device("Dryer", 10.0), device("Heater", 20.0, may_lend=False)]
CABIN = [device("Sauna", 10.0)]
names = st.sampled_from(["dryer", "heater", "oven"])
operation = st.one_of(
    st.tuples(st.just("read"), names, st.integers(0, 9_000), st.integers(1, 3 * HOUR)),
    st.tuples(st.just("resolve"), st.booleans()),
    st.tuples(st.just("send"), names, st.integers(-100, 12_000)),
    st.tuples(st.just("transfer"), names, names, st.integers(1, 12_000)),
    st.tuples(st.just("add_oven")),
    st.tuples(st.just("remove_oven")),
    st.tuples(st.just("new_meter"), names),
    st.tuples(st.just("flush")),
    st.tuples(st.just("close")),
    st.tuples(st.just("days"), st.integers(1, 2)),
)


class World:
    """Two households, their meters, and what the test knows happened to every Wh."""

    def __init__(self, folder: Path, clock: Clock) -> None:
        self.clock = clock
        self.home_dir, self.cabin_dir = folder / "home", folder / "cabin"
        self.home = open_books_in(self.home_dir, clock, HOME, cap_tokens=60.0)
        self.cabin = open_books_in(self.cabin_dir, clock, CABIN)
        self.meters: dict[str, int] = {}  # meter entity -> its reading in Wh
        self.first: dict[str, int] = {}  # meter -> the reading its counting started from
        self.held: list[tuple[str, str, HeldSpike]] = []  # subentry id, meter, held jump
        self.renames = 0
        self.ovens = 0  # each oven added is a new subentry, with a new id and meter

    def run(self, op: tuple[Any, ...]) -> None:
        home = self.home
        books = dict(home.devices)
        if (oven := f"oven{self.ovens}") in books:
            books["oven"] = books[oven]
        match op:
            case ("read", name, wh, elapsed) if name in books:
                meter = books[name].settings.meter
                self.meters[meter] = self.meters.get(meter, 1_000_000) + wh
                self.first.setdefault(meter, self.meters[meter])
                reading = home.observe(
                    books[name], float(self.meters[meter]), self.clock.advance(elapsed)
                )
                self.held += [] if reading.result is None else reading.result.spikes
            case ("resolve", accept) if self.held and self.held[0][0] in home.devices:
                subentry_id, meter, spike = self.held.pop(0)
                home.resolve_spike(
                    subentry_id, meter, spike.from_wh, spike.to_wh, accept=accept, cause=USER
                )
            case ("send", name, amount) if name in books:
                [offer] = home.offer(books[name], "household-2", amount, USER, "").entries
                if amount % 3:  # received, then settled
                    sauna = self.cabin.devices["sauna"]
                    [receipt] = self.cabin.receive("household-1", offer, sauna, USER, "").entries
                    home.settle_offer(offer, receipt.seq, receipt.hash.hex())
                else:  # never received: refunded
                    home.refund_offer(offer, "not received")
            case ("transfer", source, target, amount) if source in books and target in books:
                home.transfer(books[source], books[target], amount, USER, "")
            case ("add_oven",) if "oven" not in books:
                self.ovens += 1
                new = device("Oven", 5.0, meter=f"sensor.oven_{self.ovens}")
                home.add_devices([replace(new, subentry_id=f"oven{self.ovens}")])
            case ("remove_oven",) if "oven" in books:
                home.remove_device(f"oven{self.ovens}")
            case ("new_meter", name) if name in books:
                self.renames += 1
                settings = books[name].settings
                moved = home.update_device(replace(settings, meter=f"sensor.meter_{self.renames}"))
                self.held += moved.spikes  # a jump the old meter left undecided
            case ("flush",):
                home.flush_all()
            case ("close",):
                home.close_period_now()
            case ("days", days):
                self.clock.advance(days * 24 * HOUR)
                home.settle()
                self.cabin.settle()
            case _:
                pass

    def check_every_wh(self) -> None:
        """Per meter: charged + pending + undecided + held + discarded == what it counted."""
        home = self.home
        home.ledger.commit()
        accounted: dict[str, int] = defaultdict(int)
        for entry in home.ledger.iter_entries():
            data = entry.data
            if entry.kind is Kind.DEBIT:
                accounted[data["meter"]] += data["wh"][1] - data["wh"][0]
            elif entry.kind is Kind.METER and "range" in data:
                accounted[data["meter"]] += data["range"][1] - data["range"][0]
            elif entry.kind is Kind.METER and "discarded" in data:
                accounted[data["meter"]] += data["discarded"][1] - data["discarded"][0]
        for books in home.devices.values():
            accounted[books.settings.meter] += books.tracker.pending_wh
            accounted[books.settings.meter] += books.tracker.undecided_wh
        for _, meter, spike in self.held:
            accounted[meter] += spike.wh
        for meter, reading in self.meters.items():
            assert accounted[meter] == reading - self.first[meter], meter


@example([("add_oven",), ("remove_oven",), ("add_oven",)])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=50))
def test_every_wh_is_charged_once_and_both_households_stay_whole(
    operations: list[tuple[Any, ...]],
) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as folder:
        world = World(Path(folder), clock)
        for op in operations:
            before = [_restorable(world.home), _restorable(world.cabin)]
            try:
                world.run(op)
            except BudgetError:
                assert [_restorable(world.home), _restorable(world.cabin)] == before
                continue
            for economy in (world.home, world.cabin):
                assert sum(economy.ledger.balances().values()) == 0
        world.check_every_wh()
        for economy, folder_of, cap in (
            (world.home, world.home_dir, 60.0),
            (world.cabin, world.cabin_dir, 300.0),
        ):
            economy.flush_all()
            live = _restorable(economy)
            economy.ledger.close()
            devices = [d.settings for d in economy.devices.values()]
            assert _restorable(open_books_in(folder_of, clock, devices, cap_tokens=cap)) == live
            assert verify_ledger(folder_of / "ledger").valid
