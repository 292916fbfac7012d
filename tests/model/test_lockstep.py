"""The model and the reference implementation in lockstep (real cryptography, real storage)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

pytest.importorskip("edbp.reference.device.world")

from edbp.model.lockstep import ReferenceTarget, make_machine

from edbp.errors import Code

SETTINGS = settings(max_examples=12, stateful_step_count=8, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


def _factory(base: Path, agent_class: type | None = None,  # type: ignore[no-untyped-def]
             target: type[ReferenceTarget] = ReferenceTarget):
    counter = itertools.count()

    def make() -> ReferenceTarget:
        root = base / f"run{next(counter)}"
        root.mkdir()
        return target(root, agent_class)

    return make


class _Recording(ReferenceTarget):
    """The reference, recording what each re-opened-exchange replay ended in."""

    reopened: list[tuple[bool, int | None]] = []

    def replay_in_reopened_exchange(self, d: int, k: int) -> tuple[bool, int | None]:
        got = super().replay_in_reopened_exchange(d, k)
        self.reopened.append(got)
        return got


def test_reference_agrees_with_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Recording, "reopened", [])
    machine = make_machine(_factory(tmp_path, target=_Recording))
    run_state_machine_as_test(machine, settings=SETTINGS)
    # the search reaches the Agent-nonce check (a replayed QueryRequest, then the withheld
    # Update), and the reference refuses each such Update
    assert _Recording.reopened
    assert not any(changed for changed, _ in _Recording.reopened)


def _walk_reopened(machine: type, d: int) -> None:
    """publish, a deploy to device 0 whose Update is dropped, then its QueryRequest and that
    Update replayed to device ``d``; the invariants checked after each rule, as Hypothesis
    does."""
    m = machine()
    try:
        m.start()
        for step in (m.publish, lambda: m.deploy_update_dropped(0),
                     lambda: m.replay_in_reopened_exchange(d)):
            step()
            m.same_observable_state()
            m.same_agent_state_and_image()
            m.same_tam_records()
            m.no_cek_outside_tee_or_hsm()
            m.model_properties_hold()
    finally:
        m.teardown()


def test_lockstep_drives_the_agent_nonce_check(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """protocol.md 8.3.1, section 9 step 7 (P-8.3f, P-9.7c): the rule that replays a dropped
    Update's QueryRequest and then the Update. On its own device the token matches the
    re-opened exchange and the Agent nonce does not: the model pins 409 and the reference
    answers it; on the other device the binding check refuses first (602)."""
    monkeypatch.setattr(_Recording, "reopened", [])
    machine = make_machine(_factory(tmp_path, target=_Recording))
    _walk_reopened(machine, 0)
    _walk_reopened(machine, 1)
    assert _Recording.reopened == [(False, int(Code.TEEP_AGENT_NONCE_MISMATCH)),
                                   (False, int(Code.AGENT_NOT_FOR_THIS_DEVICE))]


#: the divergence the rule names: the model pins 409, the device installs or answers another code
#: (an Agent that skips the nonce check refuses an old version at its floor check: 603)
REOPENED = (r"Update withheld from device (\d)'s exchange, replayed to device \1 after its "
            r"replayed QueryRequest re-opened that exchange: (model predicts refusal "
            r"\(TEEP_AGENT_NONCE_MISMATCH 409\), implementation changed its state|refused with "
            r"code \d+, model pins TEEP_AGENT_NONCE_MISMATCH 409)")
INSTALLED = (r"Update withheld from device 0's exchange, replayed to device 0 after its "
             r"replayed QueryRequest re-opened that exchange: model predicts refusal "
             r"\(TEEP_AGENT_NONCE_MISMATCH 409\), implementation changed its state")


@pytest.mark.parametrize("fault", ["agent-ignores-agent-nonce", "constant-agent-nonce"])
def test_lockstep_catches_an_agent_without_a_working_agent_nonce(tmp_path: Path,
                                                                 fault: str) -> None:
    """An Agent that never compares the echoed nonce, or draws the same one every time, installs
    the withheld Update in the re-opened exchange; the model refuses it there with 409."""
    faults = pytest.importorskip("edbp.conformance.faults")
    broken = type("Agent", (faults.FaultyAgent,), {"flags": frozenset({fault})})
    machine = make_machine(_factory(tmp_path, broken))
    with pytest.raises(AssertionError, match=INSTALLED):
        _walk_reopened(machine, 0)
    # and the search finds it within the suite's budget (generation only: see above)
    quick = settings(SETTINGS, max_examples=40, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match=REOPENED):
        run_state_machine_as_test(machine, settings=quick)


def test_lockstep_tells_the_honest_reference_from_the_flawed_model(tmp_path: Path) -> None:
    """The other way round: the model with the seeded flaw ``agent-ignores-agent-nonce``
    predicts the install, the reference refuses with 409, and lockstep names the divergence."""
    from edbp.model.flaws import flaw

    machine = make_machine(_factory(tmp_path), rules=flaw("agent-ignores-agent-nonce").rules)
    with pytest.raises(AssertionError, match=r"re-opened that exchange: model predicts install, "
                                             r"implementation refused \(code 409\)"):
        _walk_reopened(machine, 0)


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


def test_lockstep_catches_a_device_behind_the_adapter_that_ignores_the_agent_nonce() -> None:
    pytest.importorskip("edbp.conformance.harness")
    from edbp.model.lockstep import AdapterTarget

    machine = make_machine(lambda: AdapterTarget("builtin:agent-ignores-agent-nonce"), devices=1)
    quick = settings(SETTINGS, max_examples=40, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match=REOPENED):
        run_state_machine_as_test(machine, settings=quick)


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
