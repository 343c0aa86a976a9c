"""Property-based: any sequence of operations keeps the books zero-sum and never overdraws.

Operations a user or a meter can cause, in any order and amount; refused ones write nothing,
accepted ones never spend more than a device has, the ledger always sums to zero and verifies,
and reopening the ledger folds back exactly the books the operations left.
"""

from pathlib import Path
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.ledger import Cause, CauseKind, verify_ledger
from custom_components.energy_tokens.results import BudgetError

from .conftest import HOUR, Clock, device, open_books_in
from .test_economy import books_of

USER = Cause(CauseKind.USER, "user-1")
NAMES = ["dryer", "heater", "fridge"]
DEVICES = [
    device("Dryer", 10.0),
    device("Heater", 20.0, priority="essential", may_lend=False),
    device("Fridge", 5.0, priority="deferrable"),
]

names = st.sampled_from(NAMES)
milli = st.integers(min_value=-2_000, max_value=40_000)
operation = st.one_of(
    st.tuples(st.just("transfer"), names, names, milli),
    st.tuples(st.just("sell"), st.one_of(st.none(), names), st.one_of(st.none(), milli)),
    st.tuples(st.just("top_up"), st.one_of(st.none(), names), milli),
    st.tuples(st.just("adjust"), names, milli),
    st.tuples(st.just("read"), names, st.integers(0, 9_000), st.integers(1, 4 * HOUR)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("close")),
    st.tuples(st.just("days"), st.integers(1, 3)),
)


def _run(economy: Economy, clock: Clock, meters: dict[str, int], op: tuple[Any, ...]) -> None:
    books = economy.devices
    match op:
        case ("transfer", source, target, amount):
            economy.transfer(books[source], books[target], amount, USER, "")
        case ("sell", seller, amount):
            economy.sell(None if seller is None else books[seller], amount, USER)
        case ("top_up", target, amount):
            economy.top_up(amount, USER, None if target is None else books[target])
        case ("adjust", name, amount):
            economy.set_allowance(books[name], amount, USER, now=True)
        case ("read", name, wh, elapsed):
            meters[name] += wh
            economy.observe(books[name], float(meters[name]), clock.advance(elapsed))
        case ("flush",):
            economy.flush_all()
        case ("close",):
            economy.close_period_now()
        case ("days", days):
            clock.advance(days * 24 * HOUR)
            economy.settle()


def _restorable(economy: Economy) -> dict[str, Any]:
    """The books as a restart restores them: meters resume from their last recorded reading."""
    books = books_of(economy)
    books["devices"] = {
        key: (*figures[:4], economy.devices[key].tracker.baseline_wh)
        for key, figures in books["devices"].items()
    }
    return books


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=40))
def test_any_operations_stay_zero_sum_never_overdraw_and_restore_exactly(
    operations: list[tuple[Any, ...]],
) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as folder:

        def open_books() -> Economy:
            return open_books_in(Path(folder), clock, DEVICES, cap_tokens=50.0, period="weekly")

        economy = open_books()
        meters = dict.fromkeys(NAMES, 0)
        for op in operations:
            before = books_of(economy)
            spender = op[1] if op[0] in ("transfer", "sell") and op[1] is not None else None
            had = None if spender is None else economy.balance_milli(economy.devices[spender])
            try:
                _run(economy, clock, meters, op)
            except BudgetError:
                assert books_of(economy) == before  # a refusal writes nothing
                continue
            assert sum(economy.ledger.balances().values()) == 0
            if spender is not None and had is not None and had >= 0:
                # An action spends what a device has, never more; only meters overdraw.
                assert economy.balance_milli(economy.devices[spender]) >= 0
        economy.flush_all()  # as unloading does: pending consumption is written first
        live = _restorable(economy)
        economy.ledger.close()
        assert _restorable(open_books()) == live
        assert verify_ledger(Path(folder) / "ledger").valid
