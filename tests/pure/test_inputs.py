"""Amounts and notes as users give them: every way in shares these checks."""

from decimal import Decimal

from hypothesis import given, strategies as st
import pytest

from custom_components.energy_tokens.inputs import (
    MAX_NOTE_CHARS,
    MAX_PRICE,
    MAX_TOKENS,
    amount_milli,
    check_note,
    price_micro,
)
from custom_components.energy_tokens.ledger import trade
from custom_components.energy_tokens.results import BudgetError


@pytest.mark.parametrize(
    ("value", "milli"),
    [
        (1, 1_000),
        (2.5, 2_500),
        (0.1, 100),  # as written, not 0.1000000000000000055…
        (0.001, 1),
        ("3", 3_000),
        (" 1.250 ", 1_250),
        ("1e3", 1_000_000),
        (MAX_TOKENS, MAX_TOKENS * 1000),
        (24.817, 24_817),
        (0.1 + 0.2, 300),  # 0.30000000000000004: a template's arithmetic, not a fifth decimal
        (3 - -1.234, 4_234),
        (1e6 - 0.001, 999_999_999),
    ],
)
def test_amounts_that_are_taken(value: object, milli: int) -> None:
    assert amount_milli(value) == milli


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (True, "amount_not_number"),
        (False, "amount_not_number"),
        (None, "amount_not_number"),
        ([1], "amount_not_number"),
        ({"a": 1}, "amount_not_number"),
        ("abc", "amount_not_number"),
        ("", "amount_not_number"),
        (float("nan"), "amount_not_finite"),
        (float("inf"), "amount_not_finite"),
        (float("-inf"), "amount_not_finite"),
        ("NaN", "amount_not_finite"),
        ("-Infinity", "amount_not_finite"),
        (1e308, "amount_too_large"),
        (9.22e15, "amount_too_large"),
        (2**63, "amount_too_large"),
        (MAX_TOKENS + 0.001, "amount_too_large"),
        (0, "amount_not_positive"),
        (-0.0, "amount_not_positive"),
        (-1, "amount_not_positive"),
        (0.0001, "amount_too_precise"),
        (1.2345, "amount_too_precise"),
        (5e-324, "amount_too_precise"),
        (0.0009999, "amount_too_precise"),
        (1.0000001, "amount_too_precise"),
        ("0.30000000000000004", "amount_too_precise"),  # written so: not a float's error
        ("1.0000000000000000000000000001", "amount_too_precise"),  # more digits than a float
        ("0.00099999999999999999999999999999", "amount_too_precise"),
        ("1" * 101, "amount_not_number"),
    ],
)
def test_amounts_that_are_refused(value: object, key: str) -> None:
    with pytest.raises(BudgetError) as refused:
        amount_milli(value)
    assert refused.value.key == key


def test_an_integer_too_long_to_print_is_refused_in_words() -> None:
    with pytest.raises(BudgetError) as refused:
        amount_milli(10**5000)
    assert refused.value.key == "amount_too_large"
    assert refused.value.placeholders["amount"] == "a number that long"


def test_an_allowance_may_be_zero_but_not_negative() -> None:
    assert amount_milli(0, zero_allowed=True) == 0
    with pytest.raises(BudgetError) as refused:
        amount_milli(-0.5, zero_allowed=True)
    assert refused.value.key == "amount_negative"


def test_a_refusal_names_the_amount_briefly() -> None:
    with pytest.raises(BudgetError) as refused:
        amount_milli("9" * 80)
    assert refused.value.placeholders["amount"].endswith("...")
    assert len(refused.value.placeholders["amount"]) == 40


@given(st.one_of(st.floats(), st.integers(), st.text(), st.booleans(), st.none(), st.decimals()))
def test_any_value_is_taken_exactly_or_refused_with_a_key(value: object) -> None:
    try:
        milli = amount_milli(value)
    except BudgetError as err:
        key: str | None = err.key
    else:
        key = None
    if key is not None:
        assert key.startswith("amount_")
        return
    assert 0 < milli <= MAX_TOKENS * 1000
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    if isinstance(value, float):  # at most a float's own error taken off
        assert abs(number * 1000 - milli) < Decimal("1e-6")
    else:
        assert number * 1000 == milli  # never rounded


def test_notes() -> None:
    check_note("Cold night ❄")
    check_note("x" * MAX_NOTE_CHARS)
    for note, key in [("x" * (MAX_NOTE_CHARS + 1), "note_too_long"), ("\ud800", "note_invalid")]:
        with pytest.raises(BudgetError) as refused:
            check_note(note)
        assert refused.value.key == key


def test_a_note_accepted_here_is_accepted_by_another_instance() -> None:
    """Transfers to another instance carry the note in their signed offer: same limit."""
    assert trade.MAX_NOTE == MAX_NOTE_CHARS


@pytest.mark.parametrize(
    ("value", "micro"),
    [
        (0, 0),  # given away
        ("0.25", 250_000),
        (0.1 + 0.2, 300_000),  # a template's arithmetic, not a seventh decimal
        ("0.000001", 1),
        (MAX_PRICE, trade.MAX_PRICE),  # as high as a sale offer may ask
    ],
)
def test_prices_that_are_taken(value: object, micro: int) -> None:
    assert price_micro(value) == micro


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("cheap", "price_not_number"),
        (True, "price_not_number"),
        (None, "price_not_number"),
        ("1" * 101, "price_not_number"),
        (float("nan"), "price_not_finite"),
        ("-inf", "price_not_finite"),
        (-0.01, "price_negative"),
        (MAX_PRICE + 1, "price_too_large"),
        (1e12, "price_too_large"),
        ("0.0000001", "price_too_precise"),
    ],
)
def test_prices_that_are_refused(value: object, key: str) -> None:
    with pytest.raises(BudgetError) as refused:
        price_micro(value)
    assert refused.value.key == key
