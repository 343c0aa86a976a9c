"""The economy's rules, without Home Assistant: periods, actions, consumption, units, restore."""

from collections.abc import Callable
import csv
from dataclasses import replace
import io
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.events import BudgetEvent
from custom_components.energy_tokens.exchange import find_receipt, open_offers
from custom_components.energy_tokens.ledger import Cause, CauseKind, Entry, Kind, cli
from custom_components.energy_tokens.ledger.errors import LedgerFatalError
from custom_components.energy_tokens.policies import Status
from custom_components.energy_tokens.results import BudgetError

from .conftest import HOUR, Clock, Open, device

USER = Cause(CauseKind.USER, "user-1")
KWH = 1000.0  # a reading in Wh


def books_of(economy: Economy) -> dict[str, Any]:
    """Everything the books hold, to compare before and after."""
    return {
        "seq": economy.ledger.seq,
        "balances": economy.ledger.balances(),
        "period": economy.period,
        "money": (economy.cost_micro, economy.sales_micro),
        "devices": {
            key: (d.period_wh, d.period_milli, d.borrowed, d.status, d.tracker.state())
            for key, d in economy.devices.items()
        },
    }


@pytest.fixture
def home(open_books: Open) -> Economy:
    return open_books(
        [
            device("Dryer", 30.0),
            device("Heater", 50.0, priority="essential", may_lend=False),
        ]
    )


def test_the_first_period_buys_the_cap_and_allocates_essential_first(home: Economy) -> None:
    assert home.period is not None
    assert home.period.key == "2026-11-01"
    assert home.ledger.balances() == {
        "provider": -300_000,
        "pool": 220_000,
        "device:heater": 50_000,
        "device:dryer": 30_000,
    }
    assert home.cost_micro == 300_000 * 300
    home.ledger.commit()
    allocations = [e for e in home.ledger.iter_entries() if e.kind is Kind.ALLOCATE]
    assert [e.to_account for e in allocations] == ["device:heater", "device:dryer"]


@pytest.mark.parametrize(
    ("amount", "source", "target", "key"),
    [
        (0, "dryer", "heater", "amount_not_positive"),
        (-5, "dryer", "heater", "amount_not_positive"),
        (30_001, "dryer", "heater", "insufficient_balance"),
        (1_000, "dryer", "dryer", "same_device"),
    ],
)
def test_refused_transfers_write_nothing(
    home: Economy, amount: int, source: str, target: str, key: str
) -> None:
    before = books_of(home)
    with pytest.raises(BudgetError) as refused:
        home.transfer(home.devices[source], home.devices[target], amount, USER, "")
    assert refused.value.key == key
    assert books_of(home) == before


def test_a_transfer_is_one_entry_with_its_cause_and_note(home: Economy) -> None:
    result = home.transfer(home.devices["dryer"], home.devices["heater"], 3_000, USER, "cold")
    [entry] = result.entries
    assert (entry.kind, entry.amount, entry.data) == (Kind.TRANSFER, 3_000, {"note": "cold"})
    assert str(entry.cause) == "user:user-1"
    assert home.ledger.balance("device:heater") == 53_000


def test_a_unit_that_fails_halfway_leaves_nothing(
    home: Economy, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A period close writes many entries: when one of them fails, none of them stays."""
    home.observe(home.devices["dryer"], 100 * KWH, clock.now)
    home.observe(home.devices["dryer"], 105 * KWH, clock.advance(HOUR))
    before = books_of(home)
    recent = home.ledger.recent_entries()
    real_append = home.ledger.append
    written: list[Kind] = []

    def append(kind: Kind, **fields: Any) -> Any:
        if len(written) == 3:
            raise LedgerFatalError("disk full")
        written.append(kind)
        return real_append(kind, **fields)

    monkeypatch.setattr(home.ledger, "append", append)
    with pytest.raises(LedgerFatalError):
        home.close_period_now()
    assert written == [Kind.DEBIT, Kind.ROLLOVER, Kind.ROLLOVER]
    assert books_of(home) == before
    assert home.ledger.recent_entries() == recent
    monkeypatch.undo()
    result = home.close_period_now()  # the pending consumption was kept: nothing is lost
    assert result.entries[0].kind is Kind.DEBIT
    assert result.entries[0].amount == 5_000


def test_consumption_debits_at_the_interval_and_thresholds_at_once(
    home: Economy, clock: Clock
) -> None:
    dryer = home.devices["dryer"]
    first = home.observe(dryer, 1_000 * KWH, clock.now)
    assert first.result is not None
    assert [e.kind for e in first.result.entries] == [Kind.METER]  # the baseline
    quiet = home.observe(dryer, 1_010 * KWH, clock.advance(HOUR))
    assert quiet.result is None  # a reading writes nothing until the interval
    assert (quiet.balance_milli, quiet.status) == (20_000, Status.OK)
    assert home.consumed_milli(dryer) == 10_000
    [debit] = home.flush_all().entries
    assert (debit.kind, debit.amount, debit.data["wh"]) == (
        Kind.DEBIT,
        10_000,
        [1_000_000, 1_010_000],
    )
    low = home.observe(dryer, 1_025 * KWH, clock.advance(HOUR))  # 5 of 30 left: under 20 %
    assert low.result is not None
    assert [e.kind for e in low.result.entries] == [Kind.DEBIT]
    assert [e.kind for e in low.result.events] == [BudgetEvent.LOW_BALANCE]
    assert low.result.events[0].data == {"balance": 5.0, "allowance": 30.0}
    assert home.observe(dryer, 1_026 * KWH, clock.advance(HOUR)).result is None  # still low


def test_running_out_borrows_from_who_can_spare(open_books: Open, clock: Clock) -> None:
    home = open_books(
        [
            device("Dryer", 10.0),
            device("Fridge", 40.0),
            device("Heater", 50.0, priority="essential"),  # essential devices never lend
        ]
    )
    dryer = home.devices["dryer"]
    home.observe(dryer, 0.0, clock.now)
    reading = home.observe(dryer, 11 * KWH, clock.advance(6 * HOUR))
    assert reading.result is not None
    kinds = [e.kind for e in reading.result.events]
    assert kinds == [BudgetEvent.BORROWED]
    [borrow] = [e for e in reading.result.entries if e.kind is Kind.BORROW]
    assert (borrow.from_account, borrow.amount) == ("device:fridge", 2_000)  # 1 over + a tenth
    assert reading.status is Status.BORROWING
    assert reading.result.events[0].data["lender"] == "Fridge"


def test_with_nothing_to_borrow_a_device_is_reported_exhausted(
    open_books: Open, clock: Clock
) -> None:
    home = open_books([device("Dryer", 10.0)], auto_borrow=False)
    dryer = home.devices["dryer"]
    home.observe(dryer, 0.0, clock.now)
    reading = home.observe(dryer, 11 * KWH, clock.advance(6 * HOUR))
    assert reading.result is not None
    assert [e.kind for e in reading.result.events] == [BudgetEvent.EXHAUSTED]
    assert (reading.balance_milli, reading.status) == (-1_000, Status.EXHAUSTED)


@pytest.mark.parametrize(
    ("surplus", "kind", "sales"),
    [("rollover", Kind.ROLLOVER, 0), ("sell", Kind.SALE, 24_000_000), ("forfeit", Kind.FORFEIT, 0)],
)
def test_a_boundary_settles_surplus_and_overage_in_one_unit(
    open_books: Open, clock: Clock, surplus: str, kind: Kind, sales: int
) -> None:
    home = open_books(
        [device("Dryer", 30.0), device("Heater", 50.0)],
        surplus=surplus,
        period="daily",
        auto_borrow=False,
    )
    dryer, heater = home.devices["dryer"], home.devices["heater"]
    home.observe(dryer, 0.0, clock.now)
    home.observe(heater, 0.0, clock.now)
    home.observe(dryer, 10 * KWH, clock.advance(6 * HOUR))
    home.observe(heater, 53 * KWH, clock.now)
    clock.advance(12 * HOUR)  # past midnight: the boundary
    result = home.settle()
    kinds = [e.kind for e in result.entries]
    assert kinds.index(Kind.PERIOD_CLOSE) < kinds.index(Kind.PERIOD_OPEN)
    [closed] = [e for e in result.events if e.kind is BudgetEvent.PERIOD_CLOSED]
    assert closed.data["consumed"] == {"Dryer": 10.0, "Heater": 53.0}
    moved = [e for e in result.entries if e.kind is kind and e.from_account == "device:dryer"]
    assert [e.amount for e in moved] == [20_000]
    [overage] = [e for e in result.entries if e.data.get("overage")]
    assert (overage.to_account, overage.amount) == ("device:heater", 3_000)
    [close] = [e for e in result.entries if e.kind is Kind.PERIOD_CLOSE]
    assert close.data["sales_micro"] == sales
    assert home.ledger.balance("device:dryer") == 30_000
    assert home.consumed_milli(dryer) == 0
    assert sum(home.ledger.balances().values()) == 0


def test_missed_boundaries_are_settled_each_at_its_own_time(open_books: Open, clock: Clock) -> None:
    home = open_books(period="daily")
    clock.advance(3 * 24 * HOUR)
    result = home.settle()
    opened = [e for e in result.entries if e.kind is Kind.PERIOD_OPEN]
    closed = [e for e in result.entries if e.kind is Kind.PERIOD_CLOSE]
    assert [e.data["period"] for e in opened] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert [e.ts_ms for e in closed] == [e.data["start_ms"] for e in opened]


def test_actions_refuse_what_the_books_cannot_pay(home: Economy) -> None:
    before = books_of(home)
    dryer = home.devices["dryer"]
    actions: list[tuple[Callable[[], object], str]] = [
        (lambda: home.top_up(0, USER), "amount_not_positive"),
        (lambda: home.sell(dryer, 30_001, USER), "insufficient_balance"),
        (lambda: home.sell(dryer, 0, USER), "amount_not_positive"),
        (lambda: home.set_allowance(dryer, 260_000, USER, now=True), "pool_too_small"),
        (lambda: home.set_allowance(dryer, -1_000, USER, now=True), "amount_negative"),
        (lambda: home.set_allowance(dryer, -1_000, USER, now=False), "amount_negative"),
    ]
    for action, key in actions:
        with pytest.raises(BudgetError) as refused:
            action()
        assert refused.value.key == key
    assert books_of(home) == before


def test_selling_everything_and_the_pool(home: Economy) -> None:
    home.sell(None, None, USER)
    assert home.pool_milli == 0
    assert home.sales_micro == 220_000 * 100_000 // 1000
    with pytest.raises(BudgetError) as refused:
        home.sell(None, None, USER)
    assert refused.value.key == "nothing_to_sell"
    with pytest.raises(BudgetError) as refused:
        home.sell(None, 1, USER)
    assert refused.value.placeholders == {"device": "Home"}


def test_sending_to_another_household_records_both_sides(
    home: Economy, open_books: Open, tmp_path_factory: pytest.TempPathFactory, clock: Clock
) -> None:
    from custom_components.energy_tokens.const import DEFAULTS
    from custom_components.energy_tokens.restore import open_economy
    from custom_components.energy_tokens.settings import HouseholdSettings

    from .conftest import ZONE

    cabin = open_economy(  # another household: its own id and name
        tmp_path_factory.mktemp("cabin"),
        HouseholdSettings.from_data(DEFAULTS),
        [device("Sauna", 10.0)],
        household_id="household-2",
        name="Cabin",
        clock=clock,
        zone=ZONE,
    )
    cabin.settle()
    [offer] = home.offer(home.devices["dryer"], "household-2", 4_000, USER, "share").entries
    assert (offer.to_account, offer.data) == (
        "escrow:household-2",
        {"peer_household": "household-2", "note": "share"},
    )
    [incoming] = cabin.receive("household-1", offer, cabin.devices["sauna"], USER, "share").entries
    assert incoming.from_account == "household:household-1"
    assert incoming.data["peer_hash"] == offer.hash.hex()  # the receipt names the offer
    settled, link = home.settle_offer(offer, incoming.seq, incoming.hash.hex()).entries
    assert (settled.from_account, settled.to_account) == (
        "escrow:household-2",
        "household:household-2",
    )
    assert (link.kind, link.data["peer_hash"]) == (Kind.LINK, incoming.hash.hex())
    assert cabin.ledger.balance("device:sauna") == 14_000
    assert home.ledger.balance("escrow:household-2") == 0
    assert sum(home.ledger.balances().values()) == sum(cabin.ledger.balances().values()) == 0
    # An offer the receiver never recorded goes back where it came from.
    [unanswered] = home.offer(home.devices["dryer"], "household-2", 1_000, USER, "").entries
    [refund] = home.refund_offer(unanswered, "refused").entries
    assert (refund.to_account, refund.data["refund"]) == ("device:dryer", "refused")
    assert home.ledger.balance("device:dryer") == 26_000
    home.ledger.commit()
    assert open_offers(home.ledger.iter_entries()) == []
    before = books_of(cabin)
    with pytest.raises(BudgetError) as refused:  # a receiver checks before it writes
        cabin.receive("household-1", offer, home.devices["dryer"], USER, "")
    assert refused.value.key == "unknown_device"
    assert books_of(cabin) == before


def test_offers_left_in_escrow_are_found_and_their_receipts_too(
    home: Economy, open_books: Open
) -> None:
    [open_one] = home.offer(home.devices["dryer"], "household-2", 1_000, USER, "").entries
    [settled] = home.offer(home.devices["dryer"], "household-2", 2_000, USER, "").entries
    receipt = Entry(
        7,
        0,
        Kind.TRANSFER,
        "household:household-1",
        "device:sauna",
        2_000,
        USER,
        {"peer_hash": settled.hash.hex()},
        b"",
        b"r" * 32,
    )
    home.settle_offer(settled, receipt.seq, receipt.hash.hex())
    home.ledger.commit()
    assert open_offers(home.ledger.iter_entries()) == [open_one]
    assert find_receipt([receipt], settled) == receipt
    assert find_receipt([receipt], open_one) is None


@pytest.mark.parametrize(
    ("note", "key"), [("x" * 1001, "note_too_long"), ("\ud800", "note_invalid")]
)
def test_notes_are_bounded_valid_text(home: Economy, note: str, key: str) -> None:
    before = books_of(home)
    actions: list[Callable[[], object]] = [
        lambda: home.transfer(home.devices["dryer"], home.devices["heater"], 1, USER, note),
        lambda: home.offer(home.devices["dryer"], "household-2", 1, USER, note),
    ]
    for action in actions:
        with pytest.raises(BudgetError) as refused:
            action()
        assert refused.value.key == key
    assert books_of(home) == before


def test_devices_join_change_and_leave(home: Economy, clock: Clock) -> None:
    added = home.add_devices([device("Oven", 40.0)])
    allocation, label = added.entries  # one unit; the ledger opens the account itself
    assert label.kind is Kind.LABEL
    assert label.data == {"account": "device:oven", "name": "Oven"}
    assert (allocation.amount, allocation.data) == (40_000, {"reason": "device added"})
    oven = home.devices["oven"]
    assert oven.allowance_milli == 40_000
    home.observe(oven, 0.0, clock.now)
    home.observe(oven, 2 * KWH, clock.advance(HOUR))
    [debit] = home.update_device(device("Oven", 40.0, meter="sensor.new_oven_meter")).entries
    assert (debit.kind, debit.amount) == (Kind.DEBIT, 2_000)  # the old meter's reading stays
    # A rename is a label; a new allowance in the settings applies from the next period.
    renamed = replace(device("Oven", 50.0, meter="sensor.new_oven_meter"), name="Big oven")
    changed = home.update_device(renamed)
    assert [(e.kind, e.data) for e in changed.entries] == [
        (Kind.ALLOWANCE, {"device": "device:oven", "allowance": 50_000, "after": "2026-11-01"}),
        (Kind.LABEL, {"account": "device:oven", "name": "Big oven"}),
    ]
    assert oven.allowance_milli == 40_000  # this period's stays
    assert home.update_device(renamed).entries == []
    assert home.devices["oven"].tracker.baseline_wh is None  # a new meter starts anew
    assert home.consumed_milli(oven) == 2_000
    home.observe(oven, 5 * KWH, clock.advance(HOUR))
    home.observe(oven, 6 * KWH, clock.advance(HOUR))
    removed = home.remove_device("oven")
    assert [e.kind for e in removed.entries] == [Kind.DEBIT, Kind.ADJUST]
    assert removed.entries[-1].amount == 37_000  # what was left goes back to the pool
    assert home.ledger.balance("device:oven") == 0
    assert "oven" not in home.devices


def test_a_removed_devices_debt_is_settled_from_the_pool(open_books: Open, clock: Clock) -> None:
    home = open_books([device("Dryer", 1.0)], auto_borrow=False)
    dryer = home.devices["dryer"]
    home.observe(dryer, 0.0, clock.now)
    home.observe(dryer, 3 * KWH, clock.advance(HOUR))
    [adjust] = home.remove_device("dryer").entries  # running out wrote the debit already
    assert (adjust.from_account, adjust.to_account, adjust.amount) == (
        "pool",
        "device:dryer",
        2_000,
    )


def test_held_jumps_are_debited_when_accepted_and_recorded_when_discarded(
    home: Economy, clock: Clock
) -> None:
    dryer = home.devices["dryer"]
    home.observe(dryer, 10 * KWH, clock.now)
    first = home.observe(dryer, 70 * KWH, clock.advance(30_000))  # 7.2 MW
    assert first.result is None  # undecided until the next reading
    held = home.observe(dryer, 70 * KWH, clock.advance(30_000))  # it stayed up: held
    assert held.result is not None
    meter = "sensor.dryer_energy"
    [(subentry_id, jumped, spike)] = held.result.spikes
    assert (subentry_id, jumped, spike.from_wh, spike.to_wh) == ("dryer", meter, 10_000, 70_000)
    assert held.balance_milli == 30_000  # not charged
    assert home.held == {("device:dryer", meter, 10_000, 70_000): spike}
    [accepted] = home.resolve_spike("dryer", meter, 10_000, 70_000, accept=True, cause=USER).entries
    assert (accepted.kind, accepted.amount) == (Kind.DEBIT, 60_000)
    assert accepted.data == {"meter": meter, "wh": [10_000, 70_000], "spike": "accepted"}
    before = books_of(home)
    for accept in (True, False):  # a second flow for the same jump changes nothing
        with pytest.raises(BudgetError) as refused:
            home.resolve_spike("dryer", meter, 10_000, 70_000, accept=accept, cause=USER)
        assert refused.value.key == "spike_resolved"
    assert books_of(home) == before
    [discarded] = home.resolve_spike(
        "dryer", meter, 70_000, 70_100, accept=False, cause=USER
    ).entries
    assert discarded.data == {
        "device": "device:dryer",
        "meter": meter,
        "discarded": [70_000, 70_100],
    }


def test_an_accepted_jump_is_not_charged_again_after_a_restart(
    open_books: Open, clock: Clock
) -> None:
    """Accepting a jump after the meter moved on must not move the restart's baseline back."""
    devices = [device("Dryer", 100.0)]
    home = open_books(devices)
    dryer = home.devices["dryer"]
    home.observe(dryer, 10 * KWH, clock.now)
    home.observe(dryer, 70 * KWH, clock.advance(30_000))  # a jump, undecided
    home.observe(dryer, 75 * KWH, clock.advance(HOUR))  # it stayed up: held
    home.flush_all()  # 5 kWh charged, from 70 to 75
    home.resolve_spike("dryer", "sensor.dryer_energy", 10_000, 70_000, accept=True, cause=USER)
    home.ledger.commit()
    again = open_books(devices)
    assert again.devices["dryer"].tracker.baseline_wh == 75_000
    again.observe(again.devices["dryer"], 76 * KWH, clock.advance(HOUR))
    assert again.consumed_milli(again.devices["dryer"]) == 66_000  # 60 accepted, 5, then 1
    with pytest.raises(BudgetError):  # resolved once: the restart remembers it
        again.resolve_spike("dryer", "sensor.dryer_energy", 10_000, 70_000, accept=True, cause=USER)


def test_a_jump_of_a_meter_left_since_is_charged_to_that_meter(
    open_books: Open, clock: Clock
) -> None:
    home = open_books([device("Dryer", 100.0)])
    dryer = home.devices["dryer"]
    home.observe(dryer, 10 * KWH, clock.now)
    home.observe(dryer, 70 * KWH, clock.advance(30_000))  # a jump, on the old meter
    home.observe(dryer, 70 * KWH, clock.advance(30_000))  # it stayed up: held
    moved = device("Dryer", 100.0, meter="sensor.new_meter")
    home.update_device(moved)
    home.observe(dryer, 500 * KWH, clock.advance(HOUR))  # the new meter's first reading
    [accepted] = home.resolve_spike(
        "dryer", "sensor.dryer_energy", 10_000, 70_000, accept=True, cause=USER
    ).entries
    assert accepted.data["meter"] == "sensor.dryer_energy"
    home.ledger.commit()
    again = open_books([moved])
    assert again.devices["dryer"].tracker.baseline_wh == 500_000  # the new meter's own reading


def test_closing_now_with_another_period_kind_ends_at_the_new_kinds_end(home: Economy) -> None:
    from dataclasses import replace

    from custom_components.energy_tokens.periods import PeriodKind, PeriodSpec

    weekly = replace(home.settings, period=PeriodSpec(PeriodKind.WEEKLY, 0))
    [opened] = [e for e in home.close_period_now(weekly).entries if e.kind is Kind.PERIOD_OPEN]
    assert home.period is not None
    assert home.period.end.date().isoformat() == "2026-11-30"  # the next Monday, not 1 December
    assert opened.data["money"]["period"] == "weekly"


def test_reopening_folds_the_period_back_exactly(open_books: Open, clock: Clock) -> None:
    devices = [device("Dryer", 10.0), device("Fridge", 40.0)]
    home = open_books(devices)
    dryer = home.devices["dryer"]
    home.observe(dryer, 0.0, clock.now)
    home.observe(dryer, 11 * KWH, clock.advance(6 * HOUR))  # borrows
    home.observe(dryer, 11.4 * KWH, clock.advance(HOUR))
    home.flush_all()
    home.sell(home.devices["fridge"], 1_000, USER)
    home.top_up(5_000, USER)
    home.ledger.commit()
    again = open_books(devices)
    assert books_of(again) == books_of(home)
    assert again.devices["dryer"].tracker.baseline_wh == 11_400


def test_a_boundary_cut_in_two_by_a_crash_is_completed_on_opening(
    open_books: Open, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A boundary's part in the new period's segment never reached the disk: opening completes
    the period's opening, as the close left it, and never closes it twice."""
    from custom_components.energy_tokens.ledger.layout import list_segments
    from custom_components.energy_tokens.ledger.store import Ledger

    devices = [device("Dryer", 30.0), device("Heater", 50.0)]
    home = open_books(devices, period="daily")
    dryer = home.devices["dryer"]
    home.observe(dryer, 0.0, clock.now)
    home.observe(dryer, 10 * KWH, clock.advance(6 * HOUR))
    home.ledger.commit()
    segments = list_segments(tmp_path / "ledger")
    clock.advance(12 * HOUR)  # past midnight
    home.settle()
    expected = (home.ledger.balances(), home.period, home.cost_micro)
    real_fd = Ledger._segment_fd

    def crash_at_the_new_segment(ledger: Ledger, name: str) -> int:
        if name not in {path.name for path in segments}:
            raise OSError("killed before the new segment was written")
        return real_fd(ledger, name)

    monkeypatch.setattr(Ledger, "_segment_fd", crash_at_the_new_segment)
    with pytest.raises(LedgerFatalError):
        home.ledger.commit()  # the old segment's record is durable, the new one's is not
    monkeypatch.undo()
    assert list_segments(tmp_path / "ledger") == segments
    reopened = open_books(devices, period="daily")
    assert (reopened.ledger.balances(), reopened.period, reopened.cost_micro) == expected
    reopened.ledger.commit()
    entries = list(reopened.ledger.iter_entries())
    opens = [e for e in entries if e.kind is Kind.PERIOD_OPEN]
    closes = [e for e in entries if e.kind is Kind.PERIOD_CLOSE]
    assert (len(opens), len(closes)) == (2, 1)  # opened once more, never closed twice
    assert opens[-1].ts_ms == closes[0].ts_ms  # when the close left it


def test_held_jumps_are_remembered_by_the_ledger_across_restarts_and_periods(
    open_books: Open, clock: Clock
) -> None:
    """The repair that asks the user is not durable itself: the ledger keeps the jump held."""
    devices = [device("Dryer", 30.0)]
    home = open_books(devices, period="daily")
    dryer = home.devices["dryer"]
    home.observe(dryer, 10 * KWH, clock.now)
    home.observe(dryer, 70 * KWH, clock.advance(30_000))  # a jump
    home.observe(dryer, 80 * KWH, clock.advance(60_000))  # it stayed up (held), and jumped again
    home.observe(dryer, 80 * KWH, clock.advance(60_000))  # held too
    key = ("device:dryer", "sensor.dryer_energy", 70_000, 80_000)
    home.resolve_spike("dryer", *key[1:], accept=False, cause=USER)
    home.ledger.close()
    again = open_books(devices, period="daily")
    [(held_key, spike)] = again.held.items()
    assert held_key == ("device:dryer", "sensor.dryer_energy", 10_000, 70_000)
    assert (spike.at_ms, round(spike.power_w)) == (clock.now - 60_000, 7_200_000)  # held then
    clock.advance(24 * HOUR)
    again.settle()  # a new period carries it over
    again.ledger.close()
    later = open_books(devices, period="daily")
    assert list(later.held) == [held_key]
    assert key not in later.held  # the discarded one stays decided
    later.resolve_spike("dryer", *held_key[1:], accept=True, cause=USER)
    assert later.held == {}


def test_the_auditor_names_accounts_as_the_household_does(open_books: Open, tmp_path: Path) -> None:
    home = open_books([device("Dryer", 10.0), device("Heater", 20.0)])
    assert home.record_names().entries == []  # the period opened with every name
    home.update_device(replace(home.devices["heater"].settings, name="Heat pump"))
    home.name = "Flat 3"
    assert [e.data for e in home.record_names().entries] == [
        {"account": "household", "name": "Flat 3"}
    ]
    home.ledger.close()
    reopened = open_books([replace(home.devices["heater"].settings), device("Dryer", 10.0)])
    reopened.name = "Flat 3"
    assert reopened.record_names().entries == []  # a restart repeats no label
    reopened.ledger.close()

    out = io.StringIO()
    assert cli.main(["balances", str(tmp_path / "ledger"), "--json"], out=out) == 0
    document = json.loads(out.getvalue())
    assert document["name"] == "Flat 3"
    named = {row["account"]: (row["name"], row["tokens"]) for row in document["accounts"]}
    assert named["device:dryer"] == ("Dryer", "10.000")
    assert named["device:heater"] == ("Heat pump", "20.000")
    out = io.StringIO()
    assert cli.main(["export", str(tmp_path / "ledger"), "--format", "csv"], out=out) == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    [allocation] = [r for r in rows if (r["kind"], r["to"]) == ("allocate", "device:heater")]
    assert (allocation["to_name"], allocation["amount_tokens"]) == ("Heat pump", "20.000")


def test_a_next_period_allowance_waits_even_for_a_device_allocated_nothing(
    open_books: Open,
) -> None:
    """Allocated nothing (an allowance of 0, or a short pool): no account, still not new."""
    home = open_books([device("Dryer", 250.0)])
    home.add_devices([device("Oven", 0.0)])
    oven = home.devices["oven"]
    home.set_allowance(oven, 10_000, USER, now=False)
    home.add_devices([device("Lamp", 5.0)])
    assert oven.allowance_milli == 0  # a new device's allocation gives it nothing now
    home.ledger.close()
    reopened = open_books([device("Dryer", 250.0), device("Oven", 10.0), device("Lamp", 5.0)])
    assert reopened.allocate_new_devices().entries == []  # nor does a restart
    assert reopened.devices["oven"].allowance_milli == 0
    assert reopened.devices["oven"].next_milli == 10_000  # still waiting, after the restart


def test_only_a_change_shows_as_the_next_periods_allowance(open_books: Open) -> None:
    """A pool too short for every allowance is no change waiting for the next period."""
    home = open_books([device("Dryer", 200.0), device("Heater", 150.0, priority="essential")])
    dryer = home.devices["dryer"]
    assert (dryer.allowance_milli, dryer.next_milli) == (150_000, None)  # 300 cap, heater first
    home.set_allowance(dryer, 120_000, USER, now=False)
    assert dryer.next_milli == 120_000
    home.set_allowance(dryer, 100_000, USER, now=True)  # a change now ends the wait
    assert (dryer.allowance_milli, dryer.next_milli) == (100_000, None)
    home.set_allowance(dryer, 90_000, USER, now=False)
    home.close_period_now()  # the next period opens now: it has the new allowance
    assert (dryer.allowance_milli, dryer.next_milli) == (90_000, None)


def test_changes_in_the_settings_record_their_cause(open_books: Open) -> None:
    home = open_books([device("Dryer", 10.0)])
    added = home.add_devices([device("Oven", 5.0)]).entries
    changed = home.update_device(device("Oven", 6.0)).entries
    removed = home.remove_device("oven").entries
    closed = home.close_period_now(cause=USER).entries
    assert {str(e.cause) for e in added + changed} == {"user:settings"}
    assert [str(e.cause) for e in removed if e.kind is Kind.ADJUST] == ["user:settings"]
    [close] = [e for e in closed if e.kind is Kind.PERIOD_CLOSE]
    assert close.cause == USER


def test_the_auditor_reads_markers_whose_data_is_not_an_object(
    open_books: Open, tmp_path: Path
) -> None:
    home = open_books([device("Dryer", 10.0)])
    home.ledger.append(Kind.LABEL, data=["device:dryer", "Dryer"])  # type: ignore[arg-type]
    home.ledger.commit()
    home.ledger.close()
    folder = str(tmp_path / "ledger")
    assert cli.main(["verify", folder], out=io.StringIO()) == 0
    for command in (
        ["export", folder, "--format", "csv"],
        ["export", folder],
        ["balances", folder],
    ):
        out = io.StringIO()
        assert cli.main(command, out=out) == 0
        assert "Dryer" in out.getvalue()  # the period's names still show


def test_a_household_without_a_cap_tops_up_within_the_per_call_bound(open_books: Open) -> None:
    prepaid = open_books([device("Dryer", 0.0)], cap_tokens=0.0)
    prepaid.top_up(500_000, USER)
    assert prepaid.pool_milli == 500_000
    prepaid.ledger.close()
    capped = open_books([device("Dryer", 0.0)], cap_tokens=0.005)  # the limit shows exactly
    with pytest.raises(BudgetError) as refused:
        capped.top_up(1_000, USER)
    assert refused.value.placeholders["limit"] == "0.5"


def test_a_period_closed_early_and_the_next_never_share_a_name(home: Economy, clock: Clock) -> None:
    """Closed twice on one day: three periods, three names (the early ones by their moment)."""
    keys = []
    for _ in range(2):
        assert home.period is not None
        keys.append(home.period.key)
        home.close_period_now()
        clock.advance(HOUR)
    assert home.period is not None
    keys.append(home.period.key)
    assert keys == ["2026-11-01", "2026-11-23T13:00:00", "2026-11-23T14:00:00"]
