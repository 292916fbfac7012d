"""Replay of the committed vectors (vectors/index.json) through the adapter."""

from __future__ import annotations

import pytest

from edbp.conformance.harness import Harness
from edbp.conformance.harness.vectors import VectorCase, load_vector_cases, run_vector

CASES = list(load_vector_cases())


@pytest.mark.parametrize(
    "case", [pytest.param(c.meta, id=c.meta.id) for c in CASES] or [pytest.param(None, id="none")]
)
@pytest.mark.edbp_case(id="vector", tags=("vector",))
def test_vector(harness: Harness, case: object) -> None:
    found = next((c for c in CASES if c.meta == case), None)
    if found is None:
        pytest.skip("no vector files")
    assert isinstance(found, VectorCase)
    if found.missing_op is not None:
        pytest.skip(f"op {found.missing_op!r} has no device runner")
    run_vector(harness, found)
