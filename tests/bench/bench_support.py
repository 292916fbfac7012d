"""What the bench tests share besides fixtures (conftest.py): the fake clock."""

from __future__ import annotations


class FakeClock:
    """Each call to a timed function advances time by its cost (``spend``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds
