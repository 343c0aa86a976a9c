"""A household's totals of a closed period, for its community's ranking: topic and message.

A household that opts in publishes, retained on ``<prefix>/totals/<household>``, the totals of
its latest closed period: what its devices consumed, their allowances and what was left unused
(milli-tokens), the size of its tokens (Wh), and the period. The message is signed with the
household's ledger key (the key of its checkpoints) and names the period's close entry, whose
data hold the same figures: anyone given the ledger, or an inclusion proof of that entry
against a checkpoint the community witnessed, can check them. Opting out clears the topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any, ClassVar

from .entries import Entry, Kind
from .signed import HASH, HOUSEHOLD, SignedMessage, fields, text, whole

CONTEXT = b"energy-tokens totals v1\n"
TOTALS = "totals"
MAX_MILLI = 10**15  # milli-tokens: more than any household's period
_PERIOD = re.compile(r"^[0-9][0-9T:-]{3,31}$")  # a period's key: its first day, or moment


def totals_topic(prefix: str, household: str) -> str:
    """Where ``household`` publishes its totals."""
    return f"{prefix}/{TOTALS}/{household}"


def parse_totals_topic(prefix: str, name: str) -> str | None:
    """The household whose totals topic ``name`` is; None for any other topic."""
    head, _, household = name.rpartition("/")
    if head != f"{prefix}/{TOTALS}" or not HOUSEHOLD.match(household):
        return None
    return household


@dataclass(frozen=True, slots=True)
class PeriodTotals(SignedMessage):
    """The totals of a household's closed period."""

    CONTEXT: ClassVar[bytes] = CONTEXT
    KIND: ClassVar[str] = TOTALS
    household: str
    period: str  # the period's key (its first day, e.g. 2026-11-01)
    consumed: int  # milli-tokens, all devices
    allowance: int
    surplus: int  # the devices' tokens left unused at the close
    token_wh: int  # the size of the household's tokens: consumption in kWh compares
    seq: int  # the period's close entry
    hash: str

    @property
    def consumed_kwh(self) -> float:
        """What the household consumed, in kWh."""
        return self.consumed * self.token_wh / 1_000_000

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PeriodTotals:
        """The totals, their fields checked."""
        names = {"household", "period", "consumed", "allowance", "surplus", "token_wh"}
        fields(body, names | {"seq", "hash"}, "a period's totals")
        return cls(
            text(body, "household", HOUSEHOLD),
            text(body, "period", _PERIOD),
            whole(body, "consumed", 0, MAX_MILLI),
            whole(body, "allowance", 0, MAX_MILLI),
            whole(body, "surplus", 0, MAX_MILLI),
            whole(body, "token_wh", 1, 10**9),
            whole(body, "seq", 1, 2**63),
            text(body, "hash", HASH),
        )

    @classmethod
    def of_close(cls, household: str, close: Entry) -> PeriodTotals | None:
        """The totals a period-close entry records; None for one written before they were."""
        data = close.data
        if close.kind is not Kind.PERIOD_CLOSE or "token_wh" not in data:
            return None
        return cls(
            household,
            str(data["period"]),
            sum(data["consumed_milli"].values()),
            data["allowance_milli"],
            data["surplus_milli"],
            data["token_wh"],
            close.seq,
            close.hash.hex(),
        )
