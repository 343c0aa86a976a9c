"""A real Mosquitto broker and several Home Assistant instances on it, each with the real MQTT
integration and a household that joined the community.

These tests run in real time: MQTT's acknowledgements and the client's debouncing need a clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
import errno
from functools import partial
from pathlib import Path
import shutil
import socket
import subprocess
import time
from typing import Any

from homeassistant import loader
from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.energy_tokens.const import (
    CONF_NAME,
    CONF_PREFIX,
    DEFAULTS,
    DOMAIN,
    SUBENTRY_COMMUNITY,
    SUBENTRY_MEMBER,
)
from custom_components.energy_tokens.ledger import framing, store
from custom_components.energy_tokens.runtime import HouseholdRuntime
from custom_components.energy_tokens.witnessing import CommunityLink

PREFIX = "test/community"


@pytest.fixture(autouse=True)
def frozen_start() -> None:
    """Not frozen here (the shared fixture freezes time)."""


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Broker:
    """Debian's mosquitto on a loopback port, started and stopped by the tests."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def broker(tmp_path: Path, socket_enabled: None) -> Iterator[Broker]:
    """A running broker (forgets retained messages when restarted: no persistence)."""
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Household:
    """One Home Assistant instance with MQTT and a household in the community."""

    hass: HomeAssistant
    entry: MockConfigEntry

    @property
    def runtime(self) -> HouseholdRuntime:
        runtime: HouseholdRuntime = self.entry.runtime_data
        return runtime

    @property
    def link(self) -> CommunityLink:
        assert self.runtime.community is not None
        return self.runtime.community

    @property
    def folder(self) -> Path:
        return self.runtime.economy.ledger.directory

    async def grow(self, amount: float = 5) -> int:
        """Top the household up (new entries) and sign a checkpoint; return its size."""
        await self.hass.services.async_call(
            DOMAIN,
            "top_up",
            {"household": self.entry.entry_id, "amount": amount},
            blocking=True,
        )
        self.runtime.economy.ledger.request_checkpoint()
        await self.runtime.async_commit()
        return self.runtime.economy.ledger.checkpoint_size

    async def reload(self) -> None:
        assert await self.hass.config_entries.async_reload(self.entry.entry_id)
        await self.hass.async_block_till_done()


async def start_household(
    stack: AsyncExitStack,
    folder: Path,
    name: str,
    port: int,
    hass: HomeAssistant | None = None,
    devices: Sequence[ConfigSubentryData] = (),
    settings: Mapping[str, Any] | None = None,
) -> Household:
    """An instance (``hass``, or a new one) with MQTT on ``port`` and a household that joined."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test's own folder
    (folder / "configuration.yaml").write_text("")
    if hass is None:
        made: HomeAssistant = await stack.enter_async_context(
            async_test_home_assistant(config_dir=str(folder))
        )
        made.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)  # as enable_custom_integrations
        stack.push_async_callback(made.async_stop, force=True)  # its delayed writes flushed
        hass = made
    stack.push_async_callback(_unload_all, hass)  # before the broker stops, timers cancelled
    hass.config.config_dir = str(folder)
    mqtt_entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": "127.0.0.1", "port": port},
        # No birth or will: a birth published while the test stops the broker fails loudly.
        options={"birth_message": {}, "will_message": {}, "discovery": False},
    )
    mqtt_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=name,
        data={CONF_NAME: name, **DEFAULTS, **(settings or {})},
        subentries_data=[
            ConfigSubentryData(
                data={CONF_PREFIX: PREFIX, CONF_NAME: name},
                subentry_type=SUBENTRY_COMMUNITY,
                title=PREFIX,
                unique_id=PREFIX,
            ),
            *devices,
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return Household(hass, entry)


async def _unload_all(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(DOMAIN) + hass.config_entries.async_entries(
        "mqtt"
    ):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def admit(household: Household, other: Household) -> None:
    """Admit ``other`` on ``household``'s instance through the subentry flow, as an admin does."""
    hass = household.hass
    result = await hass.config_entries.subentries.async_init(
        (household.entry.entry_id, SUBENTRY_MEMBER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    # The form shows this household's own key ids, and the other's beside its name.
    assert result["description_placeholders"] == {"own_key_ids": household.link.own.key_ids}
    schema = result["data_schema"]
    assert schema is not None
    options = schema.schema["member"].config["options"]
    wanted = other.entry.entry_id
    (label,) = [o["label"] for o in options if o["value"] == wanted]
    assert label == f"{other.entry.title} — key ids {other.link.own.key_ids}"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"member": wanted}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Ledger folders (with a trailing slash) whose writes fail as on a full disk; add to it."""
    full: set[str] = set()
    write_all = framing.write_all

    def disk(fd: int, data: bytes | bytearray | memoryview) -> None:
        if str(Path(f"/proc/self/fd/{fd}").readlink()).startswith(tuple(full)):
            raise OSError(errno.ENOSPC, "No space left on device")
        write_all(fd, data)

    monkeypatch.setattr(store, "write_all", disk)
    return full


async def admitted_community(
    stack: AsyncExitStack,
    tmp_path: Path,
    broker: Broker,
    hass: HomeAssistant,
    *names: str,
    devices: Sequence[ConfigSubentryData] = (),
    settings: Mapping[str, Any] | None = None,
) -> list[Household]:
    """Households on their own instances (the first on ``hass``), each admitting the others."""
    households = [
        await start_household(
            stack,
            tmp_path / name,
            name,
            broker.port,
            hass if number == 0 else None,
            devices,
            settings,
        )
        for number, name in enumerate(names)
    ]
    count = len(names) - 1
    await wait_for(lambda: all(len(h.link.seen) == count for h in households), "members seen")
    assert all(not h.link.members for h in households)  # nobody is admitted on its own
    for household in households:
        for other in households:
            if other is not household:
                # Admitting reloads the household: the members are seen again in a moment.
                await wait_for(partial(_seen, household, count), "the members seen")
                await admit(household, other)
    await wait_for(lambda: all(len(h.link.members) == count for h in households), "admitted")
    return households


def _seen(household: Household, count: int) -> bool:
    return len(household.link.seen) == count


async def wait_for(condition: Callable[[], Any], what: str, seconds: float = 20) -> None:
    """Let the instances talk over the broker until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    """Instances started by a test stop at its end."""
    async with AsyncExitStack() as stack:
        yield stack
