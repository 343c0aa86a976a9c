"""A household's period totals for its community's ranking: topic, signed bytes, fields."""

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from custom_components.energy_tokens.ledger import Kind, Ledger
from custom_components.energy_tokens.ledger.community import CommunityError, encode
from custom_components.energy_tokens.ledger.keys import public_key_bytes
from custom_components.energy_tokens.ledger.totals import (
    PeriodTotals,
    parse_totals_topic,
    totals_topic,
)

from .conftest import FakeClock

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_bytes(KEY.public_key())
TOTALS = PeriodTotals("home-a", "2026-11-01", 312_500, 400_000, 87_500, 1000, 42, "ab" * 32)


def test_topic() -> None:
    assert totals_topic("et/c", "home-a") == "et/c/totals/home-a"
    assert parse_totals_topic("et/c", "et/c/totals/home-a") == "home-a"
    for other in ("et/c/totals/home+a", "et/c/totals", "et/c/member/home-a", "x/totals/home-a"):
        assert parse_totals_topic("et/c", other) is None, other


def test_signed_bytes_are_pinned_and_round_trip() -> None:
    assert TOTALS.signed_bytes() == (
        b"energy-tokens totals v1\ntotals\n"
        b'{"allowance":400000,"consumed":312500,"hash":"' + b"ab" * 32 + b'",'
        b'"household":"home-a","period":"2026-11-01","seq":42,"surplus":87500,"token_wh":1000}'
    )
    payload = TOTALS.encode(KEY.sign)
    assert hashlib.sha256(payload.encode()).hexdigest() == PINNED
    assert PeriodTotals.decode(payload, PUBLIC) == TOTALS
    assert TOTALS.consumed_kwh == 312.5
    other = public_key_bytes(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
    with pytest.raises(CommunityError, match="does not verify"):
        PeriodTotals.decode(payload, other)


PINNED = "b7d93bef5bafb7ccdda06b0250784a26b66b0383dc3f742640012912c08b1506"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"consumed": -1}, "consumed is not a whole number"),
        ({"allowance": 1.5}, "allowance is not a whole number"),
        ({"surplus": None}, "surplus is not a whole number"),
        ({"token_wh": 0}, "token_wh is not a whole number"),
        ({"period": "last month"}, "period is not one"),
        ({"household": "a/b"}, "household is not one"),
        ({"hash": "12"}, "hash is not one"),
        ({"extra": 1}, "has other fields"),
    ],
)
def test_every_field_is_checked(change: dict[str, Any], reason: str) -> None:
    body = json.loads(TOTALS.encode(KEY.sign))
    payload = encode({"body": body["body"] | change, "sig": body["sig"]})
    with pytest.raises(CommunityError, match=reason):
        PeriodTotals.decode(payload, PUBLIC)


def test_totals_of_a_close_entry(tmp_path: Path, clock: FakeClock) -> None:
    ledger = Ledger.create(tmp_path / "l", KEY, "home-a", clock=clock)
    old = ledger.append(Kind.PERIOD_CLOSE, data={"period": "2026-10-01", "consumed_milli": {}})
    close = ledger.append(
        Kind.PERIOD_CLOSE,
        data={
            "period": "2026-11-01",
            "consumed_milli": {"device:a": 300_000, "device:b": 12_500},
            "allowance_milli": 400_000,
            "surplus_milli": 87_500,
            "token_wh": 1000,
        },
    )
    ledger.commit()
    assert PeriodTotals.of_close("home-a", old) is None  # closed before totals were recorded
    totals = PeriodTotals.of_close("home-a", close)
    assert totals == PeriodTotals(
        "home-a", "2026-11-01", 312_500, 400_000, 87_500, 1000, close.seq, close.hash.hex()
    )
    opened = ledger.append(Kind.PERIOD_OPEN, data={"period": "2026-12-01"})
    assert PeriodTotals.of_close("home-a", opened) is None
