"""Two real Home Assistant processes in one community, for the browser test (scripts/e2e).

Starts Debian's mosquitto and two instances, North and South, each with a household whose
Heater is metered by a template sensor and a dashboard holding the card. Everything is set up
through Home Assistant's HTTP API as an admin would in the UI: the owner account, the MQTT
integration's config flow, the household's config flow, the device's subentry flow, joining
the community and admitting the other (subentry flows). Then it writes ``pair.json`` (each
instance's address, login, household id and ledger folder), prints ``ready`` and waits; on
SIGTERM it stops both instances cleanly (their ledgers closed under a final checkpoint) and the
broker, and exits.

    python tests/e2e/community_pair.py FOLDER
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.lib.demo_setup import onboard, wait_for_states
from tests.instance import Instance

DOMAIN = "energy_tokens"
PREFIX = "energy_tokens/e2e"
CONFIGURATION = """\
homeassistant:
  name: {name}
  unit_system: metric
  currency: EUR
  time_zone: UTC
  country: NL
frontend:
config:
api:
template:
  - sensor:
      - name: Heater energy
        unique_id: heater_energy
        unit_of_measurement: kWh
        device_class: energy
        state_class: total_increasing
        state: "100"
lovelace:
  dashboards:
    energy-tokens:
      mode: yaml
      filename: dashboard.yaml
      title: Energy Tokens
      show_in_sidebar: true
logger:
  default: warning
"""
DASHBOARD = """\
title: Energy Tokens
views:
  - title: Household
    path: household
    cards:
      - type: custom:energy-tokens-card
        title: {name}
"""
HOUSEHOLD = {
    "token_kwh": 1.0,
    "period": "monthly",
    "period_start_day": 1,
    "period_start_weekday": "0",
    "cap_tokens": 1000.0,
    "price_per_token": 0.3,
    "surplus": "rollover",
    "sell_price": 0.1,
    "auto_borrow": False,
    "low_threshold": 20,
    "debit_interval": 1,
    "max_power_kw": 25.0,
}
HEATER = {
    "name": "Heater",
    "meter": "sensor.heater_energy",
    "allowance": 40,
    "priority": "normal",
    "may_lend": True,
    "cut_policy": "never",
}


class Broker:
    """Debian's mosquitto on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Household:
    """One Home Assistant process with MQTT and a household in the community."""

    def __init__(self, folder: Path, name: str, broker: Broker) -> None:
        folder.mkdir(parents=True)
        (folder / "configuration.yaml").write_text(CONFIGURATION.format(name=name))
        (folder / "dashboard.yaml").write_text(DASHBOARD.format(name=name))
        self.name = name
        self.instance = Instance(folder)
        self.instance.start()
        api = self.api = self.instance.api
        self.login = onboard(api, api.request("GET", "/api/onboarding"), folder / "login.json")
        self.instance.wait_running()
        api.flow(
            "/api/config/config_entries/flow",
            {"handler": "mqtt"},
            {
                "broker": "127.0.0.1",
                "port": broker.port,
                "other_settings": {"set_client_cert": False, "set_ca_cert": "off"},
            },
        )
        wait_for_states(api, ["sensor.heater_energy"], 60)
        entry = api.flow(
            "/api/config/config_entries/flow", {"handler": DOMAIN}, {"name": name, **HOUSEHOLD}
        )
        self.entry_id: str = entry["entry_id"]
        api.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [self.entry_id, "device"]},
            {"next_step_id": "device"},
            HEATER,
        )
        api.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [self.entry_id, "community"]},
            {"prefix": PREFIX, "name": name},
        )
        self.ledger = folder / ".storage" / DOMAIN / self.entry_id / "ledger"

    def admit(self, other: Household) -> None:
        """Admit ``other`` once it is listed (it joined)."""
        deadline = time.monotonic() + 60
        path = "/api/config/config_entries/subentries/flow"
        while True:
            form = self.api.request("POST", path, {"handler": [self.entry_id, "member"]})
            if form["type"] == "form":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{other.name} never joined: {form}")
            time.sleep(0.2)
        done = self.api.request("POST", f"{path}/{form['flow_id']}", {"member": other.entry_id})
        if done["type"] != "create_entry":
            raise SystemExit(f"{self.name} could not admit {other.name}: {done}")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.instance.api.url,
            "login": self.login,
            "entry_id": self.entry_id,
            "ledger": str(self.ledger),
        }


def main() -> None:
    """Set up the pair, say so, and keep it running until told to stop."""
    folder = Path(sys.argv[1]).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stop = False

    def stopping(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopping)
    (folder / "pid").write_text(f"{os.getpid()}\n")
    broker = Broker(folder)
    households: list[Household] = []
    try:
        households = [Household(folder / n.lower(), n, broker) for n in ("North", "South")]
        north, south = households
        north.admit(south)
        south.admit(north)
        pair = {h.name.lower(): h.describe() for h in households}
        (folder / "pair.json").write_text(json.dumps(pair, indent=2))
        print("community_pair: ready", flush=True)  # SIGTERM to the pid in FOLDER/pid stops it
        while not stop:
            time.sleep(0.2)
    finally:
        unclean = [h.name for h in households if not _stop(h.instance)]
        broker.stop()
    if unclean:
        raise SystemExit(f"community_pair: {', '.join(unclean)} did not stop cleanly")
    print("community_pair: stopped", flush=True)


def _stop(instance: Instance) -> bool:
    """Stop it as its admin would (SIGTERM); whether it exited cleanly. Never leaves it running."""
    process = instance.process
    if process is None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return code == 0


if __name__ == "__main__":
    main()
