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


def test_lockstep_reaches_the_devices_own_floor_check(tmp_path: Path) -> None:
    """The reference TAM never offers a version the device reports installed, so only after an
    uninstall (the floor stays) does an old version reach the device: a device without its
    floor check then installs it, and the model (which refuses it there) catches it."""
    faults = pytest.importorskip("edbp.conformance.faults")
    broken = type("Agent", (faults.FaultyAgent,), {"flags": frozenset({"skip-rollback"})})
    machine = make_machine(_factory(tmp_path, broken))
    quick = settings(
        SETTINGS, max_examples=100, stateful_step_count=12, phases=[Phase.explicit, Phase.generate]
    )
    with pytest.raises(AssertionError, match=r"model predicts refusal|model pins 603"):
        run_state_machine_as_test(machine, settings=quick)


def test_lockstep_compares_the_tam_audit_records(tmp_path: Path) -> None:
    """A TAM that installs correctly but leaves the checked Success out of its audit log is
    caught by the records comparison alone (installed versions, floors and codes all agree)."""
    from edbp.reference.wire.cbor import loads

    counter = itertools.count()

    class ForgetfulTam(ReferenceTarget):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            registry = self.w.tam.registry
            original = registry.record

            def record(step, ueid, body=None, error=None, *rest):  # type: ignore[no-untyped-def]
                if step == "deploy.record" and error == 0 and body is not None:
                    receipt = loads(body)
                    if isinstance(receipt, dict) and receipt.get(3, 0) > 0:
                        return None  # the install receipt is never written
                return original(step, ueid, body, error, *rest)

            registry.record = record

    def make() -> ReferenceTarget:
        root = tmp_path / f"run{next(counter)}"
        root.mkdir()
        return ForgetfulTam(root)

    machine = make_machine(make)
    quick = settings(SETTINGS, max_examples=40, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match="TAM install records"):
        run_state_machine_as_test(machine, settings=quick)
