"""The community's ranking: who consumed most in the latest closed period, and the shares.

Pure: the totals households published (ledger/totals.py) in, standings out. Only totals of the
same period as the household's own are ranked (a household that closed another period since,
or has periods of another length, is listed unranked); consumption is compared in kWh, since
households may size their tokens differently. Rank 1 consumed the most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .ledger.totals import PeriodTotals


@dataclass(frozen=True, slots=True)
class Standing:
    """A household's place in the ranking."""

    household: str
    name: str
    totals: PeriodTotals | None  # None: nothing published (or not opted in)
    rank: int | None  # None: not ranked (nothing, or another period)
    share: float | None  # percent of the ranked households' consumption


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every household's standing, the household's own among them."""

    period: str | None  # the period ranked: the household's latest closed one
    own: Standing
    members: dict[str, Standing]  # by household id
    ranked: int  # how many households were ranked (the household included)
    consumed_kwh: float  # theirs, together


def rank(
    own: tuple[str, str, PeriodTotals | None],
    members: Mapping[str, tuple[str, PeriodTotals | None]],
) -> Ranking:
    """Rank ``own`` (household, name, totals) among ``members`` (household: name, totals)."""
    household, name, totals = own
    everyone = {household: (name, totals), **members}
    period = None if totals is None else totals.period
    compared = {
        key: found
        for key, (_, found) in everyone.items()
        if found is not None and found.period == period
    }
    total_kwh = sum(found.consumed_kwh for found in compared.values())
    # Ties share a rank (the next one is skipped), as in a sports table.
    ranks = {
        key: 1 + sum(other.consumed_kwh > found.consumed_kwh for other in compared.values())
        for key, found in compared.items()
    }

    def standing(key: str) -> Standing:
        shown, found = everyone[key]
        share = None
        if key in compared and total_kwh > 0:
            share = round(100 * compared[key].consumed_kwh / total_kwh, 1)
        return Standing(key, shown, found, ranks.get(key), share)

    return Ranking(
        period,
        standing(household),
        {key: standing(key) for key in members},
        len(compared),
        round(total_kwh, 3),
    )
