"""A real Home Assistant in a community, killed with SIGKILL right after offering tokens for sale.

One household on a real Mosquitto broker (set up as the end-to-end pair is: MQTT, a household,
a Heater, the community joined) offers tokens of its pool for sale through the REST API; each
time the action answers, the process is killed and started again. Every acknowledged offer is
in the ledger once, with its tokens in escrow, and once the instance is back every one of them
is on the broker (retained) for the community's members to buy.
"""

from __future__ import annotations

from pathlib import Path
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from custom_components.energy_tokens.ledger import Kind, iter_entries, verify_ledger
from tests.e2e.community_pair import PREFIX, Broker, Household

pytestmark = pytest.mark.slow  # about a minute: `scripts/test --fast` leaves it out

KILLS = 4


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """A real instance in its own process: no hass fixture in this one."""


def _retained_sales(port: int, wanted: int) -> set[str]:
    """The offer ids of the sale offers the broker keeps, once it keeps ``wanted`` (or 60 s)."""
    seen: set[str] = set()
    done = threading.Event()

    def message(_client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if msg.payload:
            seen.add(msg.topic.rsplit("/", 1)[1])
        if len(seen) >= wanted:
            done.set()

    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.on_message = message
        client.connect("127.0.0.1", port)
        client.subscribe(f"{PREFIX}/sale/+/+", qos=1)  # retained ones are delivered at once
        client.loop_start()
        done.wait(2)
        client.loop_stop()
        client.disconnect()
    return seen


def test_an_offer_acknowledged_before_a_kill_is_recorded_once_and_offered_after(
    tmp_path: Path, socket_enabled: None
) -> None:
    broker = Broker(tmp_path)
    north = Household(tmp_path / "north", "North", broker)
    instance, api = north.instance, north.api
    try:
        instance.stop()  # Home Assistant saves its config entries a little later: have them saved
        instance.start()
        instance.wait_running()
        for _ in range(KILLS):
            api.request(
                "POST",
                "/api/services/energy_tokens/offer_for_sale",
                {"household": north.entry_id, "amount": 1.5, "price": 0.2},
            )
            instance.kill()  # the moment the action answered
            instance.start()
            instance.wait_running()
        entries = iter_entries(north.ledger)
        offers = [e for e in entries if e.kind is Kind.TRANSFER and e.to_account == "escrow:sale"]
        assert len(offers) == KILLS  # every acknowledged offer, once
        assert all((o.amount, o.data["price_micro"]) == (1_500, 200_000) for o in offers)
        published = _retained_sales(broker.port, KILLS)
        assert published == {o.hash.hex() for o in offers}  # each offered to the members
        instance.stop()
        assert verify_ledger(north.ledger).valid
    finally:
        if instance.process is not None and instance.process.poll() is None:
            instance.kill()
        broker.stop()
