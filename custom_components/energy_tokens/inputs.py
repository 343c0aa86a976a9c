"""What users ask for, checked once for every way in: actions, the card, voice and LLM tools.

An amount is a number of tokens: an integer or a float (never a boolean), or a string that
reads as one; finite; a whole number of thousandths (the ledger counts milli-tokens; only a
float's own rounding error is taken off); at most ``MAX_TOKENS`` per call. A note is text of
at most ``MAX_NOTE_CHARS`` characters. A price per token is a number as an amount is, from zero
to ``MAX_PRICE``, in millionths at most. A refusal is a ``BudgetError`` whose key names a
translated message, raised before anything is written. Pure.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

from .results import BudgetError
from .settings import MICRO, MILLI

MAX_TOKENS = 1_000_000  # per call: far above any household's period, far below overflow
MAX_NOTE_CHARS = 1000
MAX_PRICE = 1_000_000  # per token, in the currency: as a sale offer's (ledger.trade.MAX_PRICE)
MAX_DIGITS = 100  # an amount written longer is no amount
TOP_UP_PERIODS = 100  # a top-up may buy at most this many periods' cap at once
_FLOAT_NOISE = Decimal("1e-6")  # of a milli-token: far above float error, far below 0.001


def amount_milli(value: object, *, zero_allowed: bool = False) -> int:
    """A user's amount of tokens as milli-tokens, or a refusal that says what is wrong."""
    number = _number(value)
    if number < 0 or (number == 0 and not zero_allowed):
        raise BudgetError("amount_negative" if zero_allowed else "amount_not_positive")
    if number > MAX_TOKENS:
        raise BudgetError("amount_too_large", limit=f"{MAX_TOKENS:,}", amount=_shown(value))
    milli = _whole(value, number, MILLI, "amount_too_precise")
    if milli == 0 and number != 0:  # a float's noise, but no thousandth of a token either
        raise BudgetError("amount_too_precise", amount=_shown(value))
    return milli


def price_micro(value: object) -> int:
    """A user's price per token, in the currency, as micro-units; or a refusal."""
    number = _number(value, "price")
    if number < 0:
        raise BudgetError("price_negative")
    if number > MAX_PRICE:
        raise BudgetError("price_too_large", limit=f"{MAX_PRICE:,}", amount=_shown(value))
    return _whole(value, number, MICRO, "price_too_precise")


def _whole(value: object, number: Decimal, scale: int, too_precise: str) -> int:
    """``number`` in units of 1/``scale``: refused (``too_precise``) if not a whole number.

    A float a template computed (3 - -1.234 is 4.234000000000001) is taken at its unit; a
    number written with more decimals (1.2345, 0.0001 as an amount) is refused, not rounded.
    """
    with localcontext(prec=2 * MAX_DIGITS):  # exact for any number that got this far
        scaled = number * scale
    whole = scaled.to_integral_value()
    noise = isinstance(value, float) and abs(scaled - whole) < _FLOAT_NOISE
    if scaled != whole and not noise:
        raise BudgetError(too_precise, amount=_shown(value))
    return int(whole)


def _number(value: object, what: str = "amount") -> Decimal:
    """``value`` as a finite number; refused as ``what`` (an amount, a price) otherwise."""
    if isinstance(value, bool):  # True is an int to Python, not an amount to a user
        raise BudgetError(f"{what}_not_number")
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))  # as written (0.1), not its binary expansion
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, str) and len(value) <= MAX_DIGITS:
            number = Decimal(value.strip())
        else:
            raise BudgetError(f"{what}_not_number")
    except InvalidOperation, ValueError:
        raise BudgetError(f"{what}_not_number") from None
    if not number.is_finite():
        raise BudgetError(f"{what}_not_finite")
    return number


def _shown(value: object) -> str:
    try:
        text = value.strip() if isinstance(value, str) else repr(value)
    except ValueError:  # an integer too long to print (Python refuses over 4300 digits)
        return "a number that long"
    return text if len(text) <= 40 else f"{text[:37]}..."


def check_note(note: str) -> None:
    """A note is valid text of at most ``MAX_NOTE_CHARS`` characters; refused otherwise."""
    if len(note) > MAX_NOTE_CHARS:
        raise BudgetError("note_too_long", limit=str(MAX_NOTE_CHARS))
    try:
        note.encode()
    except UnicodeEncodeError:  # a lone surrogate: not text the ledger can keep
        raise BudgetError("note_invalid") from None
