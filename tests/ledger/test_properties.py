"""Property-based: any sequence of valid operations keeps the books balanced and verifies."""

from pathlib import Path
import tempfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.energy_tokens.ledger import Kind, Ledger, verify_ledger

from .conftest import FakeClock

ACCOUNTS = ["provider", "pool", "market", "consumed", "device:a", "device:b", "device:c"]
MOVEMENTS = [k for k in Kind if Kind.PURCHASE <= k <= Kind.ADJUST]

movement = st.tuples(
    st.just("move"),
    st.sampled_from(MOVEMENTS),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(ACCOUNTS),
    st.integers(min_value=1, max_value=10**12),
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=4),
        st.one_of(st.integers(-(10**15), 10**15), st.text(max_size=12), st.booleans()),
        max_size=3,
    ),
)
operation = st.one_of(
    movement,
    st.tuples(st.sampled_from(["commit", "open", "close", "meter", "checkpoint", "reopen"])),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operation, max_size=60))
def test_operations_stay_zero_sum_round_trip_and_verify(operations: list[tuple]) -> None:  # type: ignore[type-arg]
    key = Ed25519PrivateKey.generate()
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp) / "ledger"
        ledger = Ledger.create(directory, key, "h", clock=clock, checkpoint_every=7)
        expected: dict[str, int] = {}
        for op in operations:
            clock.advance(1_000)
            match op:
                case ("move", kind, source, target, amount, data) if source != target:
                    ledger.append(
                        kind, from_account=source, to_account=target, amount=amount, data=data
                    )
                    expected[source] = expected.get(source, 0) - amount
                    expected[target] = expected.get(target, 0) + amount
                case ("commit",):
                    ledger.commit()
                case ("open",):
                    ledger.append(Kind.PERIOD_OPEN)
                case ("close",):
                    ledger.append(Kind.PERIOD_CLOSE)
                case ("meter",):
                    ledger.append(Kind.METER, data={"wh": clock.now})
                case ("checkpoint",):
                    ledger.request_checkpoint()
                    ledger.commit()
                case ("reopen",):
                    ledger.close()
                    ledger = Ledger.open(directory, key, clock=clock, checkpoint_every=7)
            balances = ledger.balances()
            assert sum(balances.values()) == 0
            assert balances == {k: expected.get(k, 0) for k in balances}
        head, seq, balances = ledger.head, ledger.seq, ledger.balances()
        ledger.commit()  # durable, not closed: reopening replays the tail after the checkpoint
        reopened = Ledger.open(directory, key, clock=clock)
        assert (reopened.head, reopened.seq, reopened.balances()) == (head, seq, balances)
        reopened.close()
        result = verify_ledger(directory)
        assert result.valid, result.reason
        assert (result.entries, result.head) == (seq, head.hex())
        assert result.balances == balances
        entries = list(reopened.iter_entries())
        assert [e.seq for e in entries] == list(range(1, seq + 1))
