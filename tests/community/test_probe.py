import asyncio, socket, subprocess, shutil, time
from pathlib import Path
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.components import mqtt
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


@pytest.fixture
def broker(tmp_path, socket_enabled):
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close(); break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate(); proc.wait()


async def test_probe(hass: HomeAssistant, broker, tmp_path) -> None:
    got = []
    (tmp_path / "configuration.yaml").write_text("")
    (tmp_path / "b").mkdir(); (tmp_path / "b" / "configuration.yaml").write_text("")
    async with async_test_home_assistant(config_dir=str(tmp_path / "b")) as hass2:
        for h in (hass, hass2):
            e = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1", "port": broker})
            e.add_to_hass(h)
            assert await h.config_entries.async_setup(e.entry_id)
            await h.async_block_till_done()
        await mqtt.async_wait_for_mqtt_client(hass2)
        await mqtt.async_subscribe(hass2, "x/#", lambda m: got.append((m.topic, m.payload)))
        await mqtt.async_wait_for_mqtt_client(hass)
        await mqtt.async_publish(hass, "x/a", "hello", qos=1, retain=True)
        for _ in range(100):
            if got: break
            await asyncio.sleep(0.05)
        await hass2.async_stop(force=True)
    assert got == [("x/a", "hello")]
