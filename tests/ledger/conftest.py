"""Ledger tests need no Home Assistant instance: they build ledgers in temporary folders."""

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Cause, CauseKind, Kind, Ledger


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-ledger-vectors",
        action="store_true",
        help="rewrite tests/ledger/vectors/ from vector_ledger.py (deliberate format changes only)",
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the suite-wide fixture: no hass instance for pure ledger tests."""


class FakeClock:
    """A controllable epoch-ms clock."""

    def __init__(self, start: int = 1_795_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


METERING = Cause(CauseKind.METERING)


def fill_small_ledger(ledger: Ledger, periods: int = 2, debits: int = 6) -> None:
    """A few periods of realistic activity, committed in several batches."""
    for period in range(periods):
        ledger.append(Kind.PERIOD_OPEN, data={"period": f"2026-{11 + period}"})
        ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=800_000)
        ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:dryer", amount=50_000)
        ledger.append(Kind.ALLOCATE, from_account="pool", to_account="device:heater", amount=9_000)
        ledger.commit()
        for step in range(debits):
            ledger.append(
                Kind.DEBIT,
                from_account="device:dryer",
                to_account="consumed",
                amount=1_250,
                cause=METERING,
                data={"meter": "sensor.dryer_energy", "wh": [step * 1250, (step + 1) * 1250]},
            )
            if step % 2:
                ledger.commit()
        ledger.append(
            Kind.TRANSFER,
            from_account="device:dryer",
            to_account="device:heater",
            amount=3_000,
            cause=Cause(CauseKind.USER, "abc123"),
            data={"note": "cold night"},
        )
        ledger.append(Kind.PERIOD_CLOSE, data={"consumed": debits * 1250})
        ledger.commit()


@pytest.fixture
def make_ledger(
    ledger_dir: Path, key: Ed25519PrivateKey, clock: FakeClock
) -> Callable[..., Ledger]:
    def make(**options: int) -> Ledger:
        return Ledger.create(ledger_dir, key, "household-1", clock=clock, **options)

    return make
