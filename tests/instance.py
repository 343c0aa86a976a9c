"""A real Home Assistant process with the project on its path (crash and community tests)."""

from contextlib import suppress
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

from scripts.lib.demo_setup import Api, prepare, wait_until_running


class Instance:
    """A Home Assistant process with the project on its path, killed and started again."""

    def __init__(self, config: Path) -> None:
        self.config = config
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        prepare(config, self.port)
        self.api = Api(f"http://127.0.0.1:{self.port}")
        self.process: subprocess.Popen[bytes] | None = None
        self.log = (config / "hass.log").open("ab")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "--config", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        deadline = time.monotonic() + 60
        while True:  # the HTTP server answers (the API wants a token: 401 is an answer)
            with suppress(OSError):
                self.api.answer("GET", "/api/")
                return
            assert time.monotonic() < deadline, "Home Assistant did not start"
            time.sleep(0.1)

    def wait_running(self) -> None:
        """Wait until it finished starting; if it cannot, fail with the end of its log."""
        try:
            wait_until_running(self.api, 60)
        except SystemExit as err:
            self.log.flush()
            tail = (self.config / "hass.log").read_text(errors="replace").splitlines()[-40:]
            raise AssertionError("\n".join([str(err), *tail])) from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(60) == 0
