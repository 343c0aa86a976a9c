"""The development instance's setup (scripts/lib/demo_setup.py): ports and later starts."""

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
import json
from pathlib import Path
import socket
import subprocess
import threading

import pytest

from scripts.lib.demo_setup import Api, prepare


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No Home Assistant instance: the script talks to one over HTTP."""


class _DoneOnboarding(BaseHTTPRequestHandler):
    """Home Assistant after onboarding: it serves no onboarding any more."""

    def do_GET(self) -> None:
        self.send_response(404 if self.path == "/api/onboarding" else 500)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def onboarded(socket_enabled: None) -> Iterator[str]:
    """An HTTP server on a free loopback port that answers as an onboarded instance."""
    server = HTTPServer(("127.0.0.1", 0), _DoneOnboarding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_later_start_finds_onboarding_done_instead_of_failing(onboarded: str) -> None:
    """Onboarding answers 404 once done: the owner exists, so the login is read and printed."""
    assert Api(onboarded).wait_until_up(5, None) == [{"step": "user", "done": True}]


def test_the_port_is_stored_on_the_first_start_and_changed_on_a_later_one(tmp_path: Path) -> None:
    store = tmp_path / ".storage" / "http"
    prepare(tmp_path, 8124)
    assert json.loads(store.read_text())["data"]["stable"]["server_port"] == 8124
    stored = json.loads(store.read_text())
    stored["data"]["stable"]["cors_allowed_origins"] = ["http://example.invalid"]  # kept
    store.write_text(json.dumps(stored))
    prepare(tmp_path, 8125)
    again = json.loads(store.read_text())["data"]["stable"]
    assert again["server_port"] == 8125
    assert again["cors_allowed_origins"] == ["http://example.invalid"]
    assert again["server_host"] == ["127.0.0.1"]


ROOT = Path(__file__).resolve().parents[1]


def _develop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "develop"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_develop_refuses_a_port_something_listens_on(socket_enabled: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = _develop("--port", str(port), "--no-demo")
    assert refused.returncode == 1
    assert f"something already listens on 127.0.0.1:{port}" in refused.stderr


def test_develop_refuses_a_port_that_is_no_port() -> None:
    refused = _develop("--port", "eighty")
    assert refused.returncode == 1
    assert "--port takes a port number" in refused.stderr


def test_automations_made_in_the_ui_are_kept_and_loaded(tmp_path: Path) -> None:
    """The demo includes automations.yaml, which the UI's automation editor writes."""
    prepare(tmp_path, 8124)
    assert (tmp_path / "automations.yaml").read_text() == "[]\n"
    (tmp_path / "automations.yaml").write_text("- id: mine\n")
    prepare(tmp_path, 8124)  # a later start keeps what the user made
    assert (tmp_path / "automations.yaml").read_text() == "- id: mine\n"
    configuration = (Path(__file__).parents[1] / "config" / "configuration.yaml").read_text()
    assert "\nautomation: !include automations.yaml\n" in configuration


def test_the_demo_has_the_projects_blueprints_and_sentences(tmp_path: Path) -> None:
    """A newcomer creates an automation from a blueprint and asks by voice, nothing to copy."""
    prepare(tmp_path, 8124)
    root = Path(__file__).parents[1]
    for source, target in (
        (root / "blueprints/automation/energy_tokens", "blueprints/automation/energy_tokens"),
        (root / "custom_sentences/en", "custom_sentences/en"),
    ):
        files = sorted(source.glob("*.yaml"))
        assert files
        for file in files:
            assert (tmp_path / target / file.name).read_bytes() == file.read_bytes()
