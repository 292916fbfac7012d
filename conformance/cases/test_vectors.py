"""Replay of the committed vectors (vectors/index.json) through the adapter."""

from __future__ import annotations

import pytest
from edbp.conformance.harness import Harness
from edbp.conformance.harness.pq import PQ_SUITE_NAMES
from edbp.conformance.harness.vectors import (
    VectorCase,
    load_vector_cases,
    run_vector,
    vector_mode,
)

CASES = list(load_vector_cases())


@pytest.mark.parametrize(
    "case", [pytest.param(c.meta, id=c.meta.id) for c in CASES] or [pytest.param(None, id="none")]
)
@pytest.mark.edbp_case(id="vector", tags=("vector",))
def test_vector(bare: Harness, case: object, request: pytest.FixtureRequest) -> None:
    found = next((c for c in CASES if c.meta == case), None)
    if found is None:
        pytest.skip("no vector files")
    assert isinstance(found, VectorCase)
    if found.test.get("comment"):
        request.node.user_properties.append(("title", str(found.test["comment"])))
    if found.missing_op is not None:
        pytest.skip(f"op {found.missing_op!r} has no device runner")
    suite = found.meta.suite
    info = bare.device.info
    if suite != "-" and info is not None and not _declares(info.suites, suite):
        pytest.skip(f"device does not declare suite {suite}")
    # the report says which vectors ran byte-exact and which were re-derived (and for whom:
    # the device's ids, and its UEID and key thumbprints when it keeps its own keys)
    mode, identity = vector_mode(bare, found)
    request.node.user_properties.append(("vector", mode))
    if identity is not None:
        request.node.user_properties.append(("vector_identity", identity))
    assert run_vector(bare, found) == mode


def _declares(suites: tuple[str, ...], vector_suite: str) -> bool:
    """A vector group's suite (``esp256-a128gcm``) against the adapter suite names; the
    `edbp-pq` groups (``edbp-pq``, ``mldsa65-hpke-xwing-a128gcm``) need both PQ names."""
    if vector_suite == "edbp-pq" or vector_suite.startswith("mldsa65-"):
        return all(name in suites for name in PQ_SUITE_NAMES)
    sig, _, content = vector_suite.partition("-")
    return f"suit-sha256-{sig}-ecdh-{content}" in suites
