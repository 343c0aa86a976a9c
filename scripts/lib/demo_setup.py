"""First-start setup of the development instance: owner account, then the demo household.

Run by scripts/develop beside Home Assistant. Everything goes through Home Assistant's own HTTP
API, as the onboarding screens and the integration's setup forms would: the owner account via
onboarding (its password is random, kept in the config folder and printed: local development
only), the household and its devices via the config flow and subentry flows, with the values of
config/demo_household.yaml. Later starts find both and only print the login again.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import secrets
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import yaml

REPO = Path(__file__).resolve().parents[2]
BLUEPRINTS = REPO / "blueprints" / "automation" / "energy_tokens"
SENTENCES = REPO / "custom_sentences" / "en"

DOMAIN = "energy_tokens"
LOGIN_FILE = ".dev-login.json"
USERNAME = "dev"


class Api:
    """A small client of Home Assistant's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client_id = f"{self.url}/"
        self.token: str | None = None

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, form: bool = False
    ) -> Any:
        """Send one request; JSON in and out (form-encoded in with ``form``); stop on a refusal."""
        status, answer = self.answer(method, path, body, form=form)
        if status >= 400:
            raise SystemExit(f"{method} {path}: HTTP {status}: {answer}")
        return answer

    def answer(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, form: bool = False
    ) -> tuple[int, Any]:
        """Send one request; return the HTTP status and the answer (JSON, else text)."""
        data = None
        headers = {}
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - our own http:// address
            self.url + path, data, headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def wait_until_up(self, timeout: float, watch_pid: int | None) -> list[dict[str, Any]]:
        """Wait for Home Assistant's HTTP server; return the onboarding steps.

        Gives up when ``watch_pid`` (the script that started Home Assistant) has ended.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, steps = self.answer("GET", "/api/onboarding")
            except urllib.error.URLError, ConnectionError, TimeoutError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"Home Assistant did not answer at {self.url}") from None
                if watch_pid is not None and not _alive(watch_pid):
                    raise SystemExit(0) from None
                time.sleep(1)
                continue
            if status == 404:  # Home Assistant serves no onboarding once it is done
                return [{"step": "user", "done": True}]
            if status >= 400:
                raise SystemExit(f"GET /api/onboarding: HTTP {status}: {steps}")
            return list(steps)

    def exchange(self, code: str) -> None:
        """Trade an authorization code for an access token."""
        tokens = self.request(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            form=True,
        )
        self.token = tokens["access_token"]

    def log_in(self, username: str, password: str) -> None:
        """Log in through the login flow, as the login page does."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise SystemExit(f"logging in as {username} failed: {result.get('errors')}")
        self.exchange(result["result"])

    def flow(self, start_path: str, start: dict[str, Any], *steps: dict[str, Any]) -> Any:
        """Start a flow and answer its steps in turn; return the created entry's result."""
        result = self.request("POST", start_path, start)
        for answer in steps:
            if result["type"] not in ("form", "menu"):
                break
            result = self.request("POST", f"{start_path}/{result['flow_id']}", answer)
        if result["type"] != "create_entry":
            raise SystemExit(f"{start_path} ended with {result}")
        return result.get("result")


def prepare(config: Path, port: int = 8123) -> None:
    """Before a start: automations file, blueprints, sentences, and the server's address.

    The project's blueprints and voice sentences are installed as a user would; the server
    listens on 127.0.0.1:``port`` only.
    Home Assistant keeps its HTTP settings in storage (YAML for them is deprecated and would
    stage a trial that must be confirmed in the UI). A new instance gets them as settings
    confirmed already, in the format of this Home Assistant version's ``http`` store.
    """
    # Automations made in the UI (from the blueprints, say) are written here and loaded from
    # here (configuration.yaml includes it), as in a fresh Home Assistant configuration.
    automations = config / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n")
    # The project's blueprints and sentences, as a user installs them (README: Blueprints,
    # Voice), copied anew at every start so the demo has the checkout's current ones.
    for source, target in (
        (BLUEPRINTS, config / "blueprints" / "automation" / "energy_tokens"),
        (SENTENCES, config / "custom_sentences" / "en"),
    ):
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(source.glob("*.yaml")):
            (target / file.name).write_bytes(file.read_bytes())
    http_store = config / ".storage" / "http"
    if http_store.exists():  # started before: only the port may change (scripts/develop --port)
        stored = json.loads(http_store.read_text())
        if stored["data"]["stable"].get("server_port") != port:
            stored["data"]["stable"]["server_port"] = port
            http_store.write_text(json.dumps(stored, indent=2))
        return
    http_store.parent.mkdir(parents=True, exist_ok=True)
    stable = {
        "server_port": port,
        "server_host": ["127.0.0.1"],
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "modern",
        "use_x_frame_options": True,
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    http_store.write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
            },
            indent=2,
        )
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def onboard(
    api: Api, steps: list[dict[str, Any]], login_file: Path, *, integrations: bool = True
) -> dict[str, str]:
    """Create the owner account and finish onboarding; or log in to the existing one.

    ``integrations`` False creates the account only: the later steps set up Home Assistant's
    suggested integrations (weather, radio browser ...), which reach out to the internet.
    """
    done = {step["step"] for step in steps if step["done"]}
    if "user" in done:
        if not login_file.exists():
            raise SystemExit(
                f"the instance already has an owner but {login_file} is gone; delete the config "
                "folder's .storage to start over"
            )
        login: dict[str, str] = json.loads(login_file.read_text())
        api.log_in(login["username"], login["password"])
    else:
        login = {"username": USERNAME, "password": secrets.token_urlsafe(12)}
        created = api.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": api.client_id,
                "name": "Developer",
                "language": "en",
                **login,
            },
        )
        login_file.touch(mode=0o600)
        login_file.write_text(json.dumps(login))
        api.exchange(created["auth_code"])
    for step in ("core_config", "analytics") if integrations else ():
        if step not in done:
            api.request("POST", f"/api/onboarding/{step}", {} if step == "analytics" else None)
    if integrations and "integration" not in done:
        api.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": api.client_id, "redirect_uri": api.client_id},
        )
    return login


def wait_for_states(api: Api, entity_ids: list[str], timeout: float) -> None:
    """The meters are template sensors: wait until Home Assistant has them."""
    deadline = time.monotonic() + timeout
    while True:
        known = {state["entity_id"] for state in api.request("GET", "/api/states")}
        missing = [entity_id for entity_id in entity_ids if entity_id not in known]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"these demo entities never appeared: {', '.join(missing)}")
        time.sleep(1)


def wait_until_running(api: Api, timeout: float) -> None:
    """Wait until Home Assistant finished starting (automations' start triggers have run)."""
    deadline = time.monotonic() + timeout
    while api.request("GET", "/api/config")["state"] != "RUNNING":
        if time.monotonic() > deadline:
            raise SystemExit("Home Assistant did not finish starting")
        time.sleep(1)


def create_household(api: Api, demo: dict[str, Any]) -> None:
    """The household through the config flow, then each device through the subentry flow."""
    entries = api.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    if entries:
        return
    devices: list[dict[str, Any]] = demo["devices"]
    wait_for_states(
        api, [d["meter"] for d in devices] + [d["load"] for d in devices if d.get("load")], 120
    )
    entry = api.flow("/api/config/config_entries/flow", {"handler": DOMAIN}, demo["household"])
    for device in devices:
        api.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry["entry_id"], "device"]},
            {"next_step_id": "device"},
            device,
        )
    print(f"energy_tokens: created the demo household with {len(devices)} devices", flush=True)


def main() -> None:
    """Wait for Home Assistant, onboard, create the demo household, print the login."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="Home Assistant config folder")
    parser.add_argument("--port", type=int, default=8123, help="the port to listen on")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for start")
    parser.add_argument("--watch-pid", type=int, help="stop waiting when this process ends")
    parser.add_argument("--prepare", action="store_true", help="only prepare a first start")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.config, args.port)
        return
    url = f"http://127.0.0.1:{args.port}"
    api = Api(url)
    steps = api.wait_until_up(args.timeout, args.watch_pid)
    login = onboard(api, steps, args.config / LOGIN_FILE)
    demo = yaml.safe_load((args.config / "demo_household.yaml").read_text())
    create_household(api, demo)
    wait_until_running(api, args.timeout)
    print(
        f"energy_tokens: ready at {url}/energy-tokens/household - log in as "
        f"{login['username']} with password {login['password']} (local development only)",
        flush=True,
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
