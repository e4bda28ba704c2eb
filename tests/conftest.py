"""Shared pytest set-up: tests/helpers on sys.path and the emulator_factory fixture."""

import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from emulator import Emulator  # noqa: E402


@pytest.fixture
def emulator_factory():
    """emulator_factory(*args, profile=..., key=..., seed=...) -> a started Emulator.

    Every emulator started through it is stopped at teardown, even when the test fails."""
    started = []

    def factory(*args, **kwargs):
        emu = Emulator(*args, **kwargs)
        started.append(emu)
        return emu.start()

    yield factory
    for emu in reversed(started):
        emu.stop()
