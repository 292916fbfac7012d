"""Blueprint profile, vector replay: every test of ``vectors/blueprint/*.json`` (CPK packages
and wrapped keys, with the expected CPM outcome per behaviour) replayed through the adapter on
a device that offers ``test-keys`` (the vectors carry their device key).

The vectors of one behaviour run on the device whose suite names that package binding
(``blueprint_device.SUITE_FOR``); the others are skipped with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from edbp.conformance.harness.vectors import VectorCase, load_vector_cases
from edbp.conformance.harness_blueprint import (
    BlueprintHarness,
    run_blueprint_vector,
    shared_cloud,
)
from edbp.conformance.outcome import CaseMeta

VECTORS: dict[str, VectorCase] = {}
for _found in load_vector_cases(include_unrunnable=True):  # blueprint ops run here
    if _found.meta.profile == "blueprint":
        VECTORS["bp." + _found.meta.id] = _found


def _meta(case_id: str, found: VectorCase) -> CaseMeta:
    return CaseMeta(
        id=case_id,
        properties=found.meta.properties,
        flow="cpm",
        suite=found.meta.suite,
        tags=("blueprint", *found.meta.tags),
        needs=("test-keys",),
        profile="blueprint",
        # the CPM's code table, and what the vector's flags name (``vector_clauses``)
        clauses=tuple(dict.fromkeys(("B-7a", *found.meta.clauses))),
    )


@pytest.fixture
def bp_bare(edbp_device: Any, request: pytest.FixtureRequest) -> BlueprintHarness:
    return BlueprintHarness(edbp_device, shared_cloud(), label=request.node.nodeid)


@pytest.mark.parametrize(
    "case",
    [pytest.param(_meta(cid, found), id=cid) for cid, found in VECTORS.items()]
    or [pytest.param(None, id="none")],
)
@pytest.mark.edbp_case(
    id="bp.vector", clauses=("B-7a",), profile="blueprint", needs=("test-keys",), flow="cpm"
)
def test_blueprint_vector(bp_bare: BlueprintHarness, case: CaseMeta | None) -> None:
    if case is None:
        pytest.skip("no blueprint vector files")
    found = VECTORS[case.id]
    if found.meta.suite != bp_bare.binding:
        pytest.skip(f"vector for the {found.meta.suite} CPM; device runs {bp_bare.binding}")
    run_blueprint_vector(bp_bare, found.test)
