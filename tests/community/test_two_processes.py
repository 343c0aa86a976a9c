"""Two real Home Assistant processes and a real broker: they witness each other end to end.

Everything through Home Assistant's own HTTP API, as an admin would in the UI: the MQTT
integration's config flow, a household each, joining the community and admitting the other
(subentry flows, with the key ids the form shows). Each household's checkpoint is then cosigned
by the other; the instances stop, and the auditor (`energy-tokens-ledger`, run as a command)
verifies each ledger with the other's witness key, taken from the household's diagnostics.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import time
from typing import Any

import pytest

from scripts.lib.demo_setup import onboard
from tests.instance import Instance

from .conftest import PREFIX, Broker

pytestmark = pytest.mark.slow  # about a minute: `scripts/test --fast` leaves it out

DOMAIN = "energy_tokens"
CONFIGURATION = (
    "homeassistant:\n  time_zone: UTC\n  currency: EUR\n  unit_system: metric\napi:\n"
    "logger:\n  default: warning\n"
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Real instances in their own processes: no hass fixture in this one."""


class Household:
    """One Home Assistant process with MQTT and a household in the community."""

    def __init__(self, folder: Path, name: str, broker: Broker) -> None:
        folder.mkdir()
        (folder / "configuration.yaml").write_text(CONFIGURATION)
        self.name = name
        self.instance = Instance(folder)
        self.instance.start()
        api = self.api = self.instance.api
        onboard(
            api, api.request("GET", "/api/onboarding"), folder / "login.json", integrations=False
        )
        self.instance.wait_running()
        api.flow(
            "/api/config/config_entries/flow",
            {"handler": "mqtt"},
            {  # what the form sends with its defaults (no TLS, TCP)
                "broker": "127.0.0.1",
                "port": broker.port,
                "other_settings": {"set_client_cert": False, "set_ca_cert": "off"},
            },
        )
        entry = api.flow(
            "/api/config/config_entries/flow",
            {"handler": DOMAIN},
            {"name": name, **HOUSEHOLD},
        )
        self.entry_id: str = entry["entry_id"]
        api.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [self.entry_id, "community"]},
            {"prefix": PREFIX, "name": name},
        )
        self.ledger = folder / ".storage" / DOMAIN / self.entry_id / "ledger"

    def admit(self, other: Household) -> str:
        """Admit ``other`` once it is listed (it joined); return the key ids the form showed."""
        deadline = time.monotonic() + 30
        path = "/api/config/config_entries/subentries/flow"
        while True:
            form = self.api.request("POST", path, {"handler": [self.entry_id, "member"]})
            if form["type"] == "form":
                break
            assert form["reason"] == "no_members_seen", form
            assert time.monotonic() < deadline, f"{other.name} never joined"
            time.sleep(0.2)
        (options,) = [f["selector"]["select"]["options"] for f in form["data_schema"]]
        (label,) = [o["label"] for o in options if o["value"] == other.entry_id]
        done = self.api.request("POST", f"{path}/{form['flow_id']}", {"member": other.entry_id})
        assert done["type"] == "create_entry", done
        return str(label)

    def state(self, entity_id: str) -> str | None:
        status, answer = self.api.answer("GET", f"/api/states/{entity_id}")
        return str(answer["state"]) if status == 200 else None

    def diagnostics(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.api.request(
            "GET", f"/api/diagnostics/config_entry/{self.entry_id}"
        )
        return answer


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


def _witnessed_size(household: Household) -> int:
    state = household.state(f"sensor.{household.name.lower()}_witnessed_entries")
    return int(state) if state not in (None, "unknown", "unavailable") else 0


def _auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "energy_tokens_ledger", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_instances_witness_each_other_checked_by_the_auditor(
    tmp_path: Path, broker: Broker
) -> None:
    north = Household(tmp_path / "north", "North", broker)
    south = Household(tmp_path / "south", "South", broker)
    try:
        for household, other in ((north, south), (south, north)):
            label = household.admit(other)
            assert label.startswith(f"{other.name} — key ids ")
        deadline = time.monotonic() + 60
        for household in (north, south):
            entity = f"sensor.{household.name.lower()}_cosignatures_on_the_latest_checkpoint"
            while household.state(entity) != "1":
                assert time.monotonic() < deadline, f"{household.name} was never cosigned"
                time.sleep(0.2)
        # South is killed (-9) while North signs a new checkpoint (a top-up, then a restart);
        # back, South goes on from the state it wrote and cosigns North's new checkpoint. First
        # a clean restart: Home Assistant saves config entries (the admission) a while later.
        south.instance.stop()
        south.instance.start()
        south.instance.wait_running()
        witnessed = _witnessed_size(north)
        north.api.request(
            "POST", "/api/services/energy_tokens/top_up", {"household": north.entry_id, "amount": 5}
        )
        south.instance.kill()
        north.instance.stop()
        north.instance.start()
        north.instance.wait_running()
        south.instance.start()
        south.instance.wait_running()
        deadline = time.monotonic() + 60
        while _witnessed_size(north) <= witnessed:
            assert time.monotonic() < deadline, (
                f"South did not cosign after its crash: {south.diagnostics()['data']['community']}"
                f" {north.diagnostics()['data']['community']}"
            )
            time.sleep(0.2)
        witness_keys = {
            household.name: household.diagnostics()["data"]["community"]["admitted"]
            for household in (north, south)
        }
    finally:
        for household in (north, south):
            household.instance.stop()
    # North's witness is South's admitted member there, and the other way round.
    (south_key,) = [m["witness_key"] for m in witness_keys["North"].values()]
    (north_key,) = [m["witness_key"] for m in witness_keys["South"].values()]
    for household, witness, own in ((north, south_key, north_key), (south, north_key, south_key)):
        checked = _auditor("verify", str(household.ledger), "--witness", witness, "--quorum", "1")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "witnessed: the checkpoint of entry" in checked.stdout
        # Its own witness key is no witness of it: not witnessed.
        alone = _auditor("verify", str(household.ledger), "--witness", own, "--quorum", "1")
        assert alone.returncode == 1
        assert "NOT WITNESSED" in alone.stdout
