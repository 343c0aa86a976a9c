"""The community tests run in real time: MQTT's debouncing and acknowledgements need a clock."""

import pytest


@pytest.fixture(autouse=True)
def frozen_start() -> None:
    """Not frozen here (the shared fixture freezes time)."""
