"""The community's ranking: who consumed most, in kWh, among totals of the same period."""

from custom_components.energy_tokens.ledger.totals import PeriodTotals
from custom_components.energy_tokens.ranking import rank

HASH = "ab" * 32


def totals(
    household: str, consumed: int, *, period: str = "2026-11-01", wh: int = 1000
) -> PeriodTotals:
    return PeriodTotals(household, period, consumed, 400_000, 10_000, wh, 9, HASH)


def test_ranks_by_kwh_and_shares() -> None:
    ranking = rank(
        ("me", "Me", totals("me", 100_000)),
        {
            "a": ("Flat A", totals("a", 300_000)),
            "b": ("Flat B", totals("b", 50_000, wh=2000)),  # tokens of 2 kWh: 100 kWh
            "c": ("Flat C", None),  # published nothing
            "d": ("Flat D", totals("d", 900_000, period="2026-10-01")),  # another period
        },
    )
    assert (ranking.period, ranking.ranked, ranking.consumed_kwh) == ("2026-11-01", 3, 500.0)
    assert (ranking.own.rank, ranking.own.share) == (2, 20.0)
    members = ranking.members
    assert (members["a"].rank, members["a"].share, members["a"].name) == (1, 60.0, "Flat A")
    assert (members["b"].rank, members["b"].share) == (2, 20.0)  # tied with "me"
    assert (members["c"].rank, members["c"].share, members["c"].totals) == (None, None, None)
    assert (members["d"].rank, members["d"].share) == (None, None)
    assert members["d"].totals is not None  # listed, unranked


def test_nothing_closed_yet_ranks_nobody() -> None:
    ranking = rank(("me", "Me", None), {"a": ("Flat A", totals("a", 300_000))})
    assert (ranking.period, ranking.ranked, ranking.own.rank, ranking.own.share) == (
        None,
        0,
        None,
        None,
    )
    assert ranking.members["a"].rank is None


def test_nobody_consumed_anything() -> None:
    ranking = rank(("me", "Me", totals("me", 0)), {"a": ("Flat A", totals("a", 0))})
    assert (ranking.own.rank, ranking.own.share, ranking.members["a"].rank) == (1, None, 1)
