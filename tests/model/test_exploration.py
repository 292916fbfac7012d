"""Exploration of the edbp profile: properties, witnesses, liveness, seeded flaws."""

from __future__ import annotations

import attrs
import pytest
from edbp.model.check import check_edbp, check_flaw
from edbp.model.edbp_profile import Config
from edbp.model.explore import check_liveness, explore
from edbp.model.export import write_dot, write_graphml
from edbp.model.flaws import FLAWS, flaw
from edbp.model.instance import Instance
from edbp.model.mermaid import sequence_diagram
from edbp.model.profiles import EDBP
from edbp.model.properties import PROPERTY_IDS

SMALL = Instance(devices=2, versions=2, sessions=1, compromises=1, revocations=1)


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    res = explore(EDBP, Config(SMALL))
    check_liveness(EDBP, res)
    return res


def test_every_property_holds_on_every_state(small) -> None:  # type: ignore[no-untyped-def]
    assert small.complete and small.state_count > 1000
    assert small.violations == {}


def test_honest_goals_are_reachable(small) -> None:  # type: ignore[no-untyped-def]
    trace = small.witness_trace("installs_latest")
    assert trace.steps[-1].startswith("deploy.fetch") and "deploy.success" in trace.steps[-1]


def test_liveness_from_every_state(small) -> None:  # type: ignore[no-untyped-def]
    assert small.liveness_checked == small.state_count
    assert small.liveness_failures == []


def test_liveness_fails_when_the_tam_cannot_open_sessions() -> None:
    # an instance with no challenge budget: the scheduler's budget is the only source of
    # sessions, so a profile whose live_config withholds them must report failures
    res = explore(EDBP, Config(attrs.evolve(SMALL, sessions=1)), build_graph=False)
    starved = attrs.evolve(EDBP, live_config=lambda w, cfg: attrs.evolve(
        cfg, instance=attrs.evolve(cfg.instance, sessions=max(1, w.issued)),
        compromise=False, revoke=False))
    check_liveness(starved, res)
    assert res.liveness_failures


def test_shortest_counterexample_is_a_spec_trace() -> None:
    fr = check_flaw(next(f for f in FLAWS if f.name == "tam-trusts-evidence-key"), SMALL)
    assert fr.explored and fr.caught
    assert fr.trace[0].startswith("publish.build")
    assert fr.trace[-1].startswith("attack.inject + deploy.verify_evidence + deploy.update")
    assert "sequenceDiagram" in fr.mermaid and "--)" in fr.mermaid


@pytest.mark.parametrize("flaw", FLAWS, ids=lambda f: f.name)
def test_every_seeded_flaw_is_caught(flaw) -> None:  # type: ignore[no-untyped-def]
    inst = Instance(sessions=2)
    if flaw.needs:  # the uninstall flaw needs a step the default instance leaves out
        inst = Instance(devices=1, sessions=2, compromises=0, revocations=0)
    fr = check_flaw(flaw, inst)
    assert fr.explored, f"{flaw.name} not caught by exploration"
    assert fr.violation
    if flaw.z3:
        assert fr.z3, f"{flaw.name} not caught by z3"
        assert "not preserved by" in fr.z3_failure


def test_each_property_has_a_seeded_flaw() -> None:
    assert {f.target for f in FLAWS} == set(PROPERTY_IDS)


def test_graph_exports(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_graphml(small, tmp_path / "g.graphml")
    write_dot(small, tmp_path / "g.dot")
    text = (tmp_path / "g.graphml").read_text()
    assert "deploy.query_request" in text and "<graphml" in text
    assert (tmp_path / "g.dot").read_text().startswith("digraph edbp {")


def test_mermaid_marks_attacker_steps(small) -> None:  # type: ignore[no-untyped-def]
    sid = next(i for i, p in enumerate(small.parent) if p and not p[1].honest)
    text = sequence_diagram(small.trace(sid).events)
    assert text.startswith("sequenceDiagram") and "Note over Attacker" in text


def test_uninstall_keeps_the_floor() -> None:
    # install, uninstall, install an older version: three sessions (an old Update replayed
    # into a re-opened exchange carries a stale Agent nonce, so the TAM's own third session
    # is what offers the older version)
    inst = Instance(devices=1, versions=2, sessions=3, compromises=0, revocations=0, uninstalls=1)
    res = explore(EDBP, Config(inst), build_graph=False)
    assert res.violations == {}
    assert any(p and p[1].data[:1] == ("uninstall",) for p in res.parent)
    bad = explore(EDBP, Config(inst, rules=flaw("uninstall-resets-floor").rules),
                  stop_on=frozenset({"P7"}), build_graph=False)
    assert "P7" in bad.violations
    assert any("uninstall.component" in step
               for step in bad.trace(bad.violations["P7"][0]).steps)


def test_a_truncated_exploration_fails_the_check() -> None:
    """Issue 19 item 4: a state cap hit is reported (``complete`` false, in the JSON too) and
    fails the check, though no property was violated among the states seen."""
    rep = check_edbp(Instance(), flaws=False, with_z3=False, max_states=500)
    assert rep.exploration is not None and rep.exploration.truncated
    assert not rep.exploration.violations
    assert not rep.complete and not rep.ok
    assert any("truncated" in p for p in rep.problems)
