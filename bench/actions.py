"""Action benchmark: what waiting for durability costs an action (latency p50 and p99).

One Home Assistant instance (the test harness's, no HTTP server) with one household of two
devices and its ledger on this machine's disk. ``energy_tokens.transfer`` is called through
Home Assistant's service registry, as an automation or the frontend calls it, and each call is
timed from the call until it returns:

    scripts/bench actions [--calls 400] [--concurrent 10]

Measured side by side, in the same run and process:

- **durable**: as shipped: a call returns once its entries are synced to disk.
- **acknowledged before durable**: the same calls with the wait for the commit removed (how
  actions returned before: their entries were synced by the next group commit, up to a second
  later) — the baseline the ratio is against.
- **fsync floor**: appending 200 bytes to a file and ``os.fsync`` on the same disk, the least any
  durable write costs.

Each way is measured in three shapes: single calls within a household one after another
(``single``); ``--concurrent`` such calls made at once (``at_once``, an automation firing several
actions: they share group commits); and single transfers to another household's device
(``between_households``: three units, the offer, the receipt and the settlement, each durable
before the next).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant import loader  # noqa: E402
from homeassistant.config_entries import ConfigSubentryData  # noqa: E402
from homeassistant.const import CONF_NAME  # noqa: E402
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.helpers import device_registry as dr  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.energy_tokens.const import DEFAULTS, DOMAIN, SUBENTRY_DEVICE  # noqa: E402
from custom_components.energy_tokens.results import Result  # noqa: E402
from custom_components.energy_tokens.runtime import HouseholdRuntime  # noqa: E402

SLICES = 10
WAYS = ("durable", "before_durable")


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}: {value:,.3f} {unit}", flush=True)


def percentile(samples: list[float], share: float) -> float:
    """The sample under which ``share`` of them fall (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * len(ordered)) - 1)]


async def _acknowledge_before_durable(runtime: HouseholdRuntime, result: Result) -> Result:
    """The old way: follow the action up and return; the group commit syncs it later."""
    return runtime.apply(result)


async def _household(hass: HomeAssistant, title: str, names: tuple[str, ...]) -> dict[str, str]:
    """A household with these devices, set up; its devices' ids by name."""
    subentries = [
        ConfigSubentryData(
            data={
                CONF_NAME: name,
                "meter": f"sensor.{name.lower()}_energy",
                "allowance": 100_000.0,
                "priority": "normal",
                "may_lend": True,
                "cut_policy": "never",
            },
            subentry_type=SUBENTRY_DEVICE,
            title=name,
            unique_id=f"sensor.{name.lower()}_energy",
        )
        for name in names
    ]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title,
        data={CONF_NAME: title, **DEFAULTS, "cap_tokens": 200_000.0},
        subentries_data=subentries,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    return {device.name or "": device.id for device in devices}


async def _latencies(
    call: Callable[[int], Awaitable[Any]], calls: int, concurrent: int
) -> tuple[list[float], float]:
    """Per-call latency in ms of ``calls`` calls, ``concurrent`` at a time; and the wall time in
    ms all of them took, divided by their number (what a call costs when calls share commits)."""
    samples: list[float] = []
    began = time.perf_counter()

    async def timed(number: int) -> None:
        started = time.perf_counter()
        await call(number)
        samples.append((time.perf_counter() - started) * 1000)

    for first in range(0, calls, concurrent):
        await asyncio.gather(*(timed(n) for n in range(first, min(calls, first + concurrent))))
    return samples, (time.perf_counter() - began) * 1000 / calls


def _fsync_floor(folder: str, calls: int) -> list[float]:
    samples = []
    with (Path(folder) / "floor.bin").open("ab", buffering=0) as file:
        for _ in range(calls):
            started = time.perf_counter()
            file.write(b"x" * 200)
            os.fsync(file.fileno())
            samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(calls: int, concurrent: int) -> dict[str, list[float]]:
    with (
        tempfile.TemporaryDirectory() as config_dir,
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)  # find custom_components/
            home = await _household(hass, "Home", ("Dryer", "Heater"))
            cabin = await _household(hass, "Cabin", ("Sauna",))

            def transfer(source: str, target: str) -> Callable[[int], Awaitable[Any]]:
                async def call(number: int) -> None:
                    ends = (source, target) if number % 2 == 0 else (target, source)
                    data = {"from_device": ends[0], "to_device": ends[1], "amount": 0.001}
                    await hass.services.async_call(DOMAIN, "transfer", data, blocking=True)

                return call  # back and forth, so the balances last

            within = transfer(home["Dryer"], home["Heater"])
            between = transfer(home["Dryer"], cabin["Sauna"])
            shapes = {"single": (within, 1), "at_once": (within, concurrent)}
            shapes["between_households"] = (between, 1)
            await _latencies(within, 20, 1)  # warm up
            await _latencies(between, 20, 1)
            results: dict[str, list[float]] = {}
            # The two ways alternate in slices, so a slow moment of the disk hits both alike.
            for _ in range(SLICES):
                for shape, (call, width) in shapes.items():
                    samples, per_call = await _latencies(call, calls // SLICES, width)
                    results.setdefault(f"durable_{shape}", []).extend(samples)
                    results.setdefault(f"durable_{shape}_wall_per_call", []).append(per_call)
                    with patch.object(HouseholdRuntime, "async_act", _acknowledge_before_durable):
                        samples, per_call = await _latencies(call, calls // SLICES, width)
                    results.setdefault(f"before_durable_{shape}", []).extend(samples)
                    results.setdefault(f"before_durable_{shape}_wall_per_call", []).append(per_call)
                    await hass.async_block_till_done()
            results["fsync"] = await hass.async_add_executor_job(_fsync_floor, config_dir, calls)
            for entry in hass.config_entries.async_entries(DOMAIN):
                await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
    return results


def report(results: dict[str, list[float]], concurrent: int) -> None:
    print(f"python: {sys.version.split()[0]} (at_once: {concurrent} calls at a time)")
    emit("calls_per_way_and_shape", len(results["durable_single"]), "calls")
    for name, samples in results.items():
        if name.endswith("_wall_per_call"):  # one figure per slice: their median
            emit(name, statistics.median(samples), "ms")
            continue
        emit(f"{name}_p50", statistics.median(samples), "ms")
        emit(f"{name}_p99", percentile(samples, 0.99), "ms")
    for shape in ("single", "at_once", "between_households"):
        durable, before = results[f"durable_{shape}"], results[f"before_durable_{shape}"]
        p50 = statistics.median(durable) / statistics.median(before)
        emit(f"durable_vs_before_durable_{shape}_p50", p50, "x")
        p99 = percentile(durable, 0.99) / percentile(before, 0.99)
        emit(f"durable_vs_before_durable_{shape}_p99", p99, "x")
    wall = {way: statistics.median(results[f"{way}_at_once_wall_per_call"]) for way in WAYS}
    emit(
        "durable_vs_before_durable_at_once_wall_per_call",
        wall["durable"] / wall["before_durable"],
        "x",
    )
    floor = statistics.median(results["fsync"])
    emit(
        "durable_single_p50_vs_fsync_floor_p50",
        statistics.median(results["durable_single"]) / floor,
        "x",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()
    report(asyncio.run(measure(args.calls, args.concurrent)), args.concurrent)


if __name__ == "__main__":
    main()
