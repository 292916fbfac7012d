"""Model-based exploration: the device and the formal model in lockstep (``--explore N``).

Hypothesis draws whole exchanges from the model's transitions (publish, deploy, a deploy whose
Update the attacker drops, the replay of a dropped Update in a later exchange, the replay of its
QueryRequest re-opening that exchange (refused by the Agent nonce), revocation),
applies each to the model and, through the adapter, to the device, and after every step
compares the device's installed versions and floors with the model's prediction. A divergence
shrinks to the shortest sequence of spec steps, which the failure reports.
"""

from __future__ import annotations

from typing import Any

import pytest
from edbp.conformance.outcome import CaseFailure


@pytest.mark.edbp_case(
    id="explore.lockstep",
    clauses=("P-10.1a", "A-4b", "P-9.7c"),
    properties=("P6", "P7", "P13"),
    flow="deploy",
    tags=("explore", "model"),
    needs=("test-keys",),
)
def test_device_follows_the_model(
    edbp_device: Any, edbp_pool: Any, request: pytest.FixtureRequest
) -> None:
    examples = int(request.config.getoption("--edbp-explore"))
    if examples <= 0:
        pytest.skip("model-based exploration not requested (--explore N)")
    from edbp.model.lockstep import AdapterTarget, make_machine
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    machine = make_machine(lambda: AdapterTarget(edbp_pool.spec), devices=1)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=12,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except AssertionError as exc:
        raise CaseFailure(
            "explore (minimal trace in the captured output)", "the model's prediction", str(exc)
        ) from exc
