"""What the ledger says meters measured, per period: the figures reconcile compares."""

from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.ledger import Cause, CauseKind
from custom_components.energy_tokens.metered import metered_periods

from .conftest import HOUR, Clock, Open, device

USER = Cause(CauseKind.USER, "user-1")
KWH = 1000.0
DRYER, ACCOUNT = "sensor.dryer_energy", "device:dryer"


def test_each_period_records_charges_jumps_glitches_and_resets(
    open_books: Open, clock: Clock
) -> None:
    home: Economy = open_books([device("Dryer", 300.0)])
    dryer = home.devices["dryer"]
    steps = [
        (10.0, 0),
        (11.0, HOUR),
        (1e6, 1000),  # a jump...
        (11.5, HOUR),  # ...and straight back: a glitch
        (70.0, 1000),  # a jump...
        (70.2, HOUR),  # ...it stayed up: held
        (75.0, HOUR),
        (0.0, HOUR),  # a drop...
        (0.5, HOUR),  # ...counting on from it: a reset
    ]
    for value, elapsed in steps:
        home.observe(dryer, value * KWH, clock.advance(elapsed))
    home.resolve_spike("dryer", DRYER, 11_500, 70_000, accept=False, cause=USER)
    home.flush_all()
    home.close_period_now()
    home.observe(dryer, 2.5 * KWH, clock.advance(HOUR))
    home.flush_all()
    home.ledger.commit()
    first, second = metered_periods(home.ledger.iter_entries())
    record = first.meters[(ACCOUNT, DRYER)]
    # 1.5 (to the glitch's return), 0.2 + 4.8 counted on from the jump, 0.5 from zero.
    assert record.wh == first.consumed_wh(ACCOUNT) == 7000
    assert [(jump.from_wh, jump.to_wh, jump.status) for jump in record.jumps] == [
        (11_500, 70_000, "discarded")
    ]
    assert (record.glitches, record.resets) == (1, 1)
    assert first.closed_ms is not None
    assert second.closed_ms is None
    assert second.consumed_wh(ACCOUNT) == 2000
    assert second.start_ms == first.closed_ms
