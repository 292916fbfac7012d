"""Fuzz tests: the helper module is importable by name, tracemalloc runs for the whole folder
(per-input peaks are read with ``reset_peak``), and the inputs run per target are reported."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzing


@pytest.fixture(scope="module", autouse=True)
def _traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    fuzzing.write_report()
