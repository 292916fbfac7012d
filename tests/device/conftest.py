"""Fixtures for the device tests (helpers live in ``device_fixtures``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from device_builders import world
from device_fixtures import World


@pytest.fixture
def w() -> World:
    author, tam = world()
    return World(author, tam)
