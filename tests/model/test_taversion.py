"""The TA-version floor of OP-TEE images, apart from the SUIT floor (issue 19 item 6; P7).

The Author numbers each package's TA build apart from its SUIT sequence number, inside the
image whose digest it signs; a fresh manifest may carry an older build. The Agent refuses an
image below the component's TA-version floor (equal accepted) even though its sequence number
passes the SUIT floor.
"""

from __future__ import annotations

import attrs
from edbp.model.driver import ModelDriver
from edbp.model.edbp_profile import Config
from edbp.model.explore import check_liveness, explore
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import prove

from edbp.errors import Code

TA = Instance(devices=1, versions=2, sessions=2, compromises=0, revocations=0, ta_builds=2)


def _publish_build(m: ModelDriver, build: int) -> None:
    assert m.take(lambda e, w: "publish.push" in e.steps
                  and e.text.endswith(f"(TA build {build})")) is not None


def test_a_newer_manifest_with_an_older_ta_build_is_refused() -> None:
    m = ModelDriver(attrs.evolve(TA, sessions=8))
    _publish_build(m, 2)
    assert m.deploy(0, 1).installed
    _publish_build(m, 1)
    got = m.deploy(0, 2)
    assert not got.installed and got.code == Code.TA_VERSION_ROLLBACK
    a = m.state.agents[0]
    assert a.installed == (1,) and a.floor == (1,) and a.ta_floor == (2,)
    assert any("TA_VERSION_ROLLBACK" in e.text for e in m.log)
    assert m.violations() == {}


def test_equal_ta_version_is_accepted_under_a_higher_sequence() -> None:
    m = ModelDriver(attrs.evolve(TA, sessions=8))
    _publish_build(m, 1)
    assert m.deploy(0, 1).installed
    _publish_build(m, 1)
    assert m.deploy(0, 2).installed
    assert m.state.agents[0].ta_floor == (1,) and m.state.agents[0].floor == (2,)


def test_every_state_holds_and_liveness_counts_a_refused_build_as_done() -> None:
    res = explore(EDBP, Config(TA))
    check_liveness(EDBP, res)
    assert res.violations == {} and res.liveness_failures == []
    texts = {d["event"].text for _a, _b, d in res.graph.edges(data=True)}
    assert any("TA_VERSION_ROLLBACK" in t for t in texts)


def test_the_flaw_is_caught_by_exploration_and_z3() -> None:
    f = flaw("agent-skips-ta-version-floor")
    res = explore(EDBP, Config(f.instance_for(TA), rules=f.rules), stop_on=frozenset({"P7"}),
                  build_graph=False)
    assert "TA-version floor not enforced" in res.violations["P7"][1]
    ob = prove(f.rules, props=("P7",))[0]
    assert not ob.proved and "deploy.fetch" in ob.failure
