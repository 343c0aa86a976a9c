"""Pure tests: the economy, metering, periods and the view, with no Home Assistant instance."""

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.energy_tokens.const import DEFAULTS
from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.restore import open_economy
from custom_components.energy_tokens.settings import DeviceSettings, HouseholdSettings

ZONE = ZoneInfo("Europe/Amsterdam")
START_MS = 1_795_435_200_000  # 2026-11-23 12:00 UTC, a Monday mid-month
HOUR = 3_600_000


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the suite-wide fixture: no hass instance for pure tests."""


class Clock:
    """The household's clock, in epoch milliseconds, moved by hand."""

    def __init__(self) -> None:
        self.now = START_MS

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def device(name: str, allowance: float, **extra: Any) -> DeviceSettings:
    """A device as the subentry flow stores it, its subentry id made from its name."""
    data = {
        "name": name,
        "meter": f"sensor.{name.lower()}_energy",
        "allowance": allowance,
        "priority": "normal",
        "may_lend": True,
        "cut_policy": "never",
    } | extra
    return DeviceSettings.from_data(name.lower(), data)


type Open = Callable[..., Economy]


def open_books_in(
    folder: Path, clock: Clock, devices: Iterable[DeviceSettings] = (), **settings: Any
) -> Economy:
    """Open (or reopen) a household's books in ``folder`` and settle its periods."""
    economy = open_economy(
        folder,
        HouseholdSettings.from_data({**DEFAULTS, **settings}),
        devices,
        household_id="household-1",
        name="Home",
        clock=clock,
        zone=ZONE,
    )
    economy.settle()
    return economy


@pytest.fixture
def open_books(tmp_path: Path, clock: Clock) -> Open:
    """Open (or reopen) the household's books in the test's folder."""

    def open_(devices: Iterable[DeviceSettings] = (), **settings: Any) -> Economy:
        return open_books_in(tmp_path, clock, devices, **settings)

    return open_
