"""P14 (no suite downgrade) in the model: the suite-negotiation sub-model (model/downgrade.py).

Exploration holds P14 on every state with its witness (a forged classical Update refused) and
honest PQ and classical deliveries; the seeded flaw and held-out mutations are caught by both
exploration and z3; removing any one key guard makes the proof fail (vacuity), and every
guard is satisfiable under the invariant.
"""

from __future__ import annotations

import attrs
import pytest
from edbp.model import downgrade as dg
from edbp.model.check import SUBMODELS, check_flaw
from edbp.model.edbp_profile import Config
from edbp.model.explore import check_liveness, explore
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.rules import HONEST, OR, TRUE

_ = HONEST
INST = Instance()


@pytest.fixture(scope="module")
def honest():  # type: ignore[no-untyped-def]
    res = explore(dg.PROFILE, Config(INST))
    check_liveness(dg.PROFILE, res)
    return res


def test_p14_holds_on_every_state_with_its_witness(honest) -> None:  # type: ignore[no-untyped-def]
    assert honest.complete and not honest.truncated and honest.state_count > 500
    assert honest.violations == {}
    trace = honest.witness_trace("P14")
    assert trace.steps[-1] == "attack.inject + deploy.verify_update + deploy.error"
    pq = honest.witness_trace("pq_delivery")
    assert pq.steps == ["deploy.query_request", "deploy.query_response",
                        "deploy.verify_evidence + deploy.update",
                        "deploy.verify_update + deploy.unwrap_cek + deploy.success"]
    assert "classical_delivery" in honest.witnesses


def test_every_state_can_still_complete_in_the_pinned_suites(honest) -> None:  # type: ignore[no-untyped-def]
    assert honest.liveness_checked == honest.state_count
    assert honest.liveness_failures == []


def test_liveness_fails_when_the_tam_holds_no_pq_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # a TAM without an ML-DSA TSK refuses the PQ device's session (no fallback): the PQ device
    # can never be served, which the liveness check must see
    monkeypatch.setattr(dg, "TAM_SUITES", frozenset({dg.CLASSICAL}))
    res = explore(dg.PROFILE, Config(INST), build_graph=False)
    check_liveness(dg.PROFILE, res)
    assert res.violations == {}
    assert res.liveness_failures
    assert "pq_delivery" not in res.witnesses


def test_seeded_flaw_is_caught_by_exploration_and_z3() -> None:
    fr = check_flaw(flaw("agent-accepts-classical-downgrade"), INST)
    assert fr.caught and fr.explored and fr.z3
    assert fr.trace[-1].startswith("attack.inject + deploy.query_response")
    assert "classical" in fr.violation and "device 0" in fr.violation
    assert "not preserved by deploy.query_response" in fr.z3_failure
    assert "!val!" not in fr.z3_failure


#: held-out variants (not in the catalogue): each removes or weakens one key guard of P14
MUTATIONS = [
    ("TAM takes the suite from the unsigned hello",
     attrs.evolve(_, tam_suite=lambda reg, announced: announced)),
    ("TAM accepts evidence in any suite", attrs.evolve(_, tam_suite_ok=TRUE)),
    ("Agent compares suites the wrong way round",
     attrs.evolve(_, agent_suite_ok=lambda used, pinned: used <= pinned)),
    ("Agent also takes the classical suite as legacy",
     attrs.evolve(_, agent_suite_ok=lambda used, pinned: OR(used == pinned,
                                                            used == dg.CLASSICAL))),
]


@pytest.mark.parametrize(("label", "rules"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutation_caught_by_exploration_and_z3(label: str, rules) -> None:  # type: ignore[no-untyped-def]
    res = explore(dg.PROFILE, Config(INST, rules=rules), stop_on=frozenset({"P14"}),
                  build_graph=False)
    assert "P14" in res.violations, f"{label}: exploration missed the downgrade"
    ob = dg.prove(rules)
    assert not ob.proved, f"{label}: z3 still proves P14"


def test_proof_holds_and_fails_without_each_key_guard() -> None:
    assert dg.prove().proved
    for field in ("agent_suite_ok", "tam_suite_ok"):
        assert not dg.prove(attrs.evolve(_, **{field: TRUE})).proved, field


def test_invariant_and_every_guard_satisfiable() -> None:
    rep = dg.vacuity_report()
    assert rep.pop("Inv") == "sat"
    assert set(rep) == {name for name, _ in dg.TRANSITIONS}
    assert all(r == "sat" for r in rep.values()), rep


def test_p14_is_registered_with_the_edbp_check() -> None:
    assert SUBMODELS["P14"] is dg.PROFILE
    assert flaw("agent-accepts-classical-downgrade").target == "P14"
