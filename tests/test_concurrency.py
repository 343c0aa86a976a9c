"""Concurrent actions are serialised: whatever the interleaving, it equals a serial order.

Each action decides (reads a balance) and writes in one step of the event loop, and then waits
for its unit to become durable; actions in flight share group commits. The test records the
order in which the economy decided, then runs the same actions one by one, in that order, on a
copy of the books as they were before: every action gets the same answer and the books end the
same. Random batches of concurrent calls, many seeds.
"""

import asyncio
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
import random
import shutil
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_tokens.const import DOMAIN
from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.restore import open_economy
from custom_components.energy_tokens.results import BudgetError
from custom_components.energy_tokens.runtime import storage_directory
from custom_components.energy_tokens.settings import HouseholdSettings

from .conftest import device_subentry
from .helpers import device_id

NAMES = ("Dryer", "Heater", "Fridge")
BATCHES = 15


@pytest.fixture
def subentries() -> list[ConfigSubentryData]:
    return [device_subentry(name, f"sensor.{name.lower()}_energy", 20.0) for name in NAMES]


class Recorder:
    """The economy's decisions, in the order it took them."""

    def __init__(self, live: Economy) -> None:
        self.live = live
        self.decisions: list[tuple[str, tuple[Any, ...], dict[str, Any], bool]] = []

    def wrap(self, method: str) -> Callable[..., Any]:
        real = getattr(Economy, method)

        def decide(economy: Economy, *args: Any, **kwargs: Any) -> Any:
            if economy is not self.live:  # the serial replay
                return real(economy, *args, **kwargs)
            try:
                result = real(economy, *args, **kwargs)
            except BudgetError:
                self.decisions.append((method, args, kwargs, False))
                raise
            self.decisions.append((method, args, kwargs, True))
            return result

        return decide


def _replay(
    economy: Economy, decisions: list[tuple[str, tuple[Any, ...], dict[str, Any], bool]]
) -> None:
    """The same decisions, one at a time, on another copy of the books."""
    for method, args, kwargs, accepted in decisions:
        mapped = [
            economy.devices[a.settings.subentry_id] if hasattr(a, "settings") else a for a in args
        ]
        try:
            getattr(economy, method)(*mapped, **kwargs)
        except BudgetError:
            assert not accepted, f"{method}{args} was accepted concurrently, refused serially"
            continue
        assert accepted, f"{method}{args} was refused concurrently, accepted serially"


def _call(rng: random.Random, household: str, devices: list[str]) -> tuple[str, dict[str, Any]]:
    """A random action: a transfer, a sale, a top-up or an allowance changed now."""
    source, target = rng.sample(devices, 2)
    amount = rng.randint(1, 12_000) / 1000
    kind = rng.choice(["transfer", "transfer", "sell", "top_up", "allowance"])
    if kind == "transfer":
        return "transfer", {"from_device": source, "to_device": target, "amount": amount}
    if kind == "sell":
        return "sell_surplus", {"device": source, "amount": amount}
    if kind == "top_up":
        return "top_up", {"household": household, "device": source, "amount": amount}
    return "set_allowance", {"device": source, "amount": rng.randint(0, 40), "when": "now"}


async def _async_try(hass: HomeAssistant, service: str, data: dict[str, Any]) -> None:
    with suppress(ServiceValidationError):  # refused: the recorder saw the refusal
        await hass.services.async_call(DOMAIN, service, data, blocking=True)


async def test_concurrent_actions_equal_a_serial_order(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = loaded_entry.runtime_data
    devices = [device_id(hass, loaded_entry, name) for name in NAMES]
    recorder = Recorder(runtime.economy)
    for method in ("transfer", "top_up", "sell", "set_allowance"):
        monkeypatch.setattr(Economy, method, recorder.wrap(method))
    folder = storage_directory(hass, loaded_entry.entry_id)
    for batch in range(BATCHES):
        rng = random.Random(batch)
        await runtime.async_commit()
        shutil.rmtree(tmp_path / "before", ignore_errors=True)
        shutil.copytree(folder, tmp_path / "before")
        settings_before = [d.settings for d in runtime.economy.devices.values()]
        recorder.decisions.clear()

        calls = [_call(rng, loaded_entry.entry_id, devices) for _ in range(30)]
        await asyncio.gather(*(_async_try(hass, service, data) for service, data in calls))
        assert len(recorder.decisions) == len(calls)
        serial = await hass.async_add_executor_job(
            partial(
                open_economy,
                tmp_path / "before",
                HouseholdSettings.from_data(loaded_entry.data),
                settings_before,
                household_id=loaded_entry.entry_id,
                name="Home",
                clock=runtime.economy.clock,
                zone=ZoneInfo("US/Pacific"),
            )
        )
        _replay(serial, recorder.decisions)
        assert serial.ledger.balances() == runtime.economy.ledger.balances(), f"batch {batch}"
        serial.ledger.close()
