"""Fixtures shared by the bench tests: a registry restored after each test, and a fake clock
(the runner's ``clock=``), so that no test depends on a real time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench_support import FakeClock

from edbp.bench import REGISTRY, discover


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clean_registry() -> Iterator[None]:
    # import every area first: a discovery inside the test (the CLI runs one) would import them
    # once, and the restore below would then drop their benchmarks for the rest of the worker
    discover()
    saved = dict(REGISTRY)
    try:
        yield
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)
