"""A real Home Assistant, killed with SIGKILL 50 times: nothing acknowledged lost, nothing doubled.

Two households (Home with a dryer and a heater, Cabin with a sauna) run in a real `hass`
process. Between kills the test drives meters through the REST API (plausible rises, jumps that
are held and accepted in Repairs, consumption while the instance is down) and calls actions:
transfers within Home and to the Cabin, top-ups and period closes; some transfers are still in
flight when the kill comes. Every action that answered success is noted. At the end the
instance stops cleanly and the ledgers are checked with the ledger package: they verify, every
acknowledged action is there, each household's accounts sum to zero, every offer between the
households was settled (with the receiver's entry) or refunded (without one), every period
closed was reopened, and each meter's rise is charged exactly once.
"""

import asyncio
from contextlib import suppress
import json
from pathlib import Path
import random
import threading
import time
from typing import Any

import aiohttp
import pytest

from custom_components.energy_tokens.ledger import Entry, Kind, iter_entries, verify_ledger
from scripts.lib.demo_setup import Api, onboard
from tests.instance import Instance

pytestmark = pytest.mark.slow  # about four minutes: `scripts/test --fast` leaves it out

KILLS = 50
FIRST_WH = 1_000_000  # every meter's first reading, when counting starts
DOMAIN = "energy_tokens"
METERS = {
    "Dryer": "sensor.crash_dryer",
    "Heater": "sensor.crash_heater",
    "Sauna": "sensor.crash_sauna",
}
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
    "max_power_kw": 10000.0,
}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """A real instance in its own process: no hass fixture in this one."""


class Household:
    """What the test knows of a household: its entry, devices and what it acknowledged."""

    def __init__(self, api: Api, name: str, devices: list[str]) -> None:
        entry = api.flow(
            "/api/config/config_entries/flow", {"handler": DOMAIN}, {"name": name, **HOUSEHOLD}
        )
        self.entry_id: str = entry["entry_id"]
        for device in devices:
            api.flow(
                "/api/config/config_entries/subentries/flow",
                {"handler": [self.entry_id, "device"]},
                {"next_step_id": "device"},
                {
                    "name": device,
                    "meter": METERS[device],
                    "allowance": 100,
                    "priority": "normal",
                    "may_lend": True,
                    "cut_policy": "never",
                },
            )
        self.ledger = Path()

    def entries(self) -> list[Entry]:
        return list(iter_entries(self.ledger))


class Drive:
    """Meters, actions and kills, with a record of everything acknowledged."""

    def __init__(self, instance: Instance, home: Household, cabin: Household) -> None:
        self.instance, self.home, self.cabin = instance, home, cabin
        self.rng = random.Random(20261202)
        self.meters = dict.fromkeys(METERS.values(), FIRST_WH / 1000)
        self.acknowledged_notes: list[str] = []
        self.acknowledged_top_ups: list[int] = []
        self.closes = 0
        self.actions = 0
        self.devices: dict[str, str] = {}

    def post_meters(self, rise: bool = True) -> None:
        for meter in self.meters:
            if rise:
                self.meters[meter] = round(self.meters[meter] + self.rng.uniform(0, 0.05), 3)
            self.instance.api.request(
                "POST",
                f"/api/states/{meter}",
                {
                    "state": str(self.meters[meter]),
                    "attributes": {"unit_of_measurement": "kWh", "device_class": "energy"},
                },
            )

    def find_devices(self) -> None:
        template = (
            "{% for s in "
            + json.dumps(list(METERS))
            + " %}{{ s }}={{ device_id('sensor.' ~ s | lower ~ '_balance') }};{% endfor %}"
        )
        _, text = self.instance.api.answer("POST", "/api/template", {"template": template})
        self.devices = dict(pair.split("=") for pair in str(text).strip(";").split(";"))

    def action(self) -> None:
        """One random action; what answered success is noted."""
        self.actions += 1
        api, rng, n = self.instance.api, self.rng, self.actions
        kind = rng.choice(["transfer", "transfer", "send", "send", "top_up", "jump", "close"])
        if kind == "jump":  # held back, then accepted in Repairs
            meter = rng.choice(list(METERS.values()))
            self.meters[meter] = round(self.meters[meter] + 50, 3)
            self.post_meters(rise=False)
            accept_held(self.instance)
            return
        if kind == "close":
            status, _ = api.answer(
                "POST", f"/api/services/{DOMAIN}/close_period", {"household": self.home.entry_id}
            )
            self.closes += status == 200
            return
        if kind == "top_up":
            milli = 1000 + n  # each top-up's amount tells it apart
            status, _ = api.answer(
                "POST",
                f"/api/services/{DOMAIN}/top_up",
                {"household": self.home.entry_id, "amount": milli / 1000},
            )
            if status == 200:
                self.acknowledged_top_ups.append(milli)
            return
        note = f"ack-{n}"
        target = "Heater" if kind == "transfer" else "Sauna"
        status, _ = api.answer(
            "POST",
            f"/api/services/{DOMAIN}/transfer",
            {
                "from_device": self.devices["Dryer"],
                "to_device": self.devices[target],
                "amount": round(rng.uniform(0.01, 0.5), 3),
                "note": note,
            },
        )
        if status == 200:
            self.acknowledged_notes.append(note)

    def in_flight_send(self) -> threading.Thread:
        """A transfer to the Cabin that the kill may interrupt anywhere."""
        self.actions += 1
        body = {
            "from_device": self.devices["Dryer"],
            "to_device": self.devices["Sauna"],
            "amount": 0.1,
            "note": f"flight-{self.actions}",
        }

        def send() -> None:
            with suppress(OSError):  # the kill may cut the connection: not acknowledged
                self.instance.api.answer("POST", f"/api/services/{DOMAIN}/transfer", body)

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        return thread


def accept_held(instance: Instance) -> None:
    """Accept every meter jump held in Repairs (as a user would)."""
    for issue in asyncio.run(_issues(instance)):
        if issue["domain"] == DOMAIN and issue["issue_id"].startswith("meter_spike"):
            status, flow = instance.api.answer(
                "POST",
                "/api/repairs/issues/fix",
                {"handler": DOMAIN, "issue_id": issue["issue_id"]},
            )
            if status == 200 and flow.get("type") == "menu":
                instance.api.answer(
                    "POST", f"/api/repairs/issues/fix/{flow['flow_id']}", {"next_step_id": "accept"}
                )


async def _issues(instance: Instance) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{instance.api.url}/api/websocket") as socket_,
    ):
        await socket_.receive_json()
        await socket_.send_json({"type": "auth", "access_token": instance.api.token})
        await socket_.receive_json()
        await socket_.send_json({"id": 1, "type": "repairs/list_issues"})
        answer = await socket_.receive_json()
        issues: list[dict[str, Any]] = answer["result"]["issues"]
        return issues


def test_fifty_kills_lose_and_double_nothing(tmp_path: Path, socket_enabled: None) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "configuration.yaml").write_text(
        "homeassistant:\n  time_zone: UTC\n  currency: EUR\n  unit_system: metric\napi:\n"
        "logger:\n  default: warning\n"
    )
    instance = Instance(config)
    instance.start()
    steps = instance.api.request("GET", "/api/onboarding")
    onboard(instance.api, steps, config / "login.json", integrations=False)
    instance.wait_running()
    drive_start = time.monotonic()
    home = Household(instance.api, "Home", ["Dryer", "Heater"])
    cabin = Household(instance.api, "Cabin", ["Sauna"])
    for household in (home, cabin):
        household.ledger = config / ".storage" / DOMAIN / household.entry_id / "ledger"
    drive = Drive(instance, home, cabin)
    instance.stop()  # Home Assistant saves its config entries a little later: have them saved
    instance.start()
    instance.wait_running()
    drive.post_meters(rise=False)  # the first readings: where counting starts
    drive.find_devices()
    for kill in range(KILLS):
        for _ in range(drive.rng.randint(1, 6)):
            drive.post_meters()
            drive.action()
        flights = [drive.in_flight_send() for _ in range(4)] if kill % 5 == 4 else []
        if flights:  # the kill comes while they are between their phases
            time.sleep(drive.rng.uniform(0, 0.02))
        elif drive.rng.random() < 0.5:  # else right after the last acknowledged action
            time.sleep(drive.rng.uniform(0, 0.3))
        instance.kill()
        for flight in flights:
            flight.join(5)
        for meter in drive.meters:  # consumption while the instance is down
            drive.meters[meter] = round(drive.meters[meter] + drive.rng.uniform(0, 0.2), 3)
        instance.start()
        instance.wait_running()
        drive.post_meters()
    accept_held(instance)  # what a kill left held
    drive.post_meters()
    instance.stop()  # a clean stop debits everything pending
    assert time.monotonic() - drive_start < 600
    # The drive really drove: most actions were acknowledged, before kills of every kind.
    assert len(drive.acknowledged_notes) > KILLS
    assert drive.acknowledged_top_ups
    assert drive.closes
    _check(drive)


def _check(drive: Drive) -> None:
    home, cabin = drive.home.entries(), drive.cabin.entries()
    for household in (drive.home, drive.cabin):
        result = verify_ledger(household.ledger)
        assert result.valid, result.reason
        assert sum(result.balances.values()) == 0
        assert not [a for a, b in result.balances.items() if a.startswith("escrow:") and b]
    notes = {e.data.get("note") for e in home if e.kind is Kind.TRANSFER}
    assert set(drive.acknowledged_notes) <= notes, "an acknowledged transfer is missing"
    top_ups = {e.amount for e in home if e.kind is Kind.PURCHASE and e.data.get("top_up")}
    assert set(drive.acknowledged_top_ups) <= top_ups, "an acknowledged top-up is missing"
    kinds = [e.kind for e in home]
    assert kinds.count(Kind.PERIOD_CLOSE) >= drive.closes
    assert kinds.count(Kind.PERIOD_OPEN) == kinds.count(Kind.PERIOD_CLOSE) + 1  # all reopened
    # Between the households: each offer settled with its receipt, or refunded without one.
    receipts = {e.data["peer_hash"]: e for e in cabin if "peer_hash" in e.data}
    transfers = [e for e in home if e.kind is Kind.TRANSFER]
    offers = {e.hash.hex(): e for e in transfers if (e.to_account or "").startswith("escrow:")}
    closed = {e.data["escrow"]: e for e in transfers if "escrow" in e.data}
    assert set(receipts) <= set(offers), "a receipt without its offer"
    for offer_hash, offer in offers.items():
        assert offer_hash in closed, "an offer left in escrow"
        refunded = "refund" in closed[offer_hash].data
        assert refunded == (offer_hash not in receipts), f"offer {offer.seq} concluded wrongly"
        if not refunded:
            assert receipts[offer_hash].amount == offer.amount
    # Each meter's rise since its device's first reading (1000 kWh) is charged, once: jumps
    # accepted, consumption while the instance was down and what a kill cut short included.
    charged: dict[str, int] = {}
    for entry in home + cabin:
        data = entry.data
        span = data.get("wh") if entry.kind is Kind.DEBIT else data.get("range")
        if entry.kind in (Kind.DEBIT, Kind.METER) and isinstance(span, list):
            charged[data["meter"]] = charged.get(data["meter"], 0) + span[1] - span[0]
    for meter, reading in drive.meters.items():
        assert charged.get(meter, 0) == round(reading * 1000) - FIRST_WH, meter
