"""The model and the reference implementation in lockstep (real cryptography, real storage)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

pytest.importorskip("edbp.reference.device.world")

from edbp.model.lockstep import ReferenceTarget, make_machine

SETTINGS = settings(max_examples=12, stateful_step_count=8, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


def _factory(base: Path, agent_class: type | None = None):  # type: ignore[no-untyped-def]
    counter = itertools.count()

    def make() -> ReferenceTarget:
        root = base / f"run{next(counter)}"
        root.mkdir()
        return ReferenceTarget(root, agent_class)

    return make


def test_reference_agrees_with_the_model(tmp_path: Path) -> None:
    machine = make_machine(_factory(tmp_path))
    run_state_machine_as_test(machine, settings=SETTINGS)


def test_lockstep_catches_a_device_that_accepts_stale_updates(tmp_path: Path) -> None:
    faults = pytest.importorskip("edbp.conformance.faults")
    broken = type("Agent", (faults.FaultyAgent,), {"flags": frozenset({"accept-stale-challenge"})})
    machine = make_machine(_factory(tmp_path, broken))
    # generation only: shrinking the failure to its four rules takes longer than the suite's
    # budget (``edbp model`` users get the shrunk trace by running the machine themselves)
    quick = settings(SETTINGS, max_examples=40, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match="replayed Update"):
        run_state_machine_as_test(machine, settings=quick)


def test_a_device_behind_the_adapter_agrees_with_the_model() -> None:
    pytest.importorskip("edbp.conformance.harness")
    from edbp.model.lockstep import AdapterTarget

    machine = make_machine(lambda: AdapterTarget("builtin"), devices=1)
    run_state_machine_as_test(machine, settings=settings(SETTINGS, max_examples=8))


def test_lockstep_catches_a_device_without_rollback_check() -> None:
    pytest.importorskip("edbp.conformance.harness")
    from edbp.model.lockstep import AdapterTarget

    machine = make_machine(lambda: AdapterTarget("builtin:skip-rollback"), devices=1)
    # longer runs reach "v2 installed, then v1 offered" early; the search stops at the first
    # divergence, so the generous budget costs nothing when the device is caught
    quick = settings(
        SETTINGS, max_examples=100, stateful_step_count=12, phases=[Phase.explicit, Phase.generate]
    )
    with pytest.raises(AssertionError, match=r"deploy|installed|floors"):
        run_state_machine_as_test(machine, settings=quick)
