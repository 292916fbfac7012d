"""The explored model against the z3 transition relation, edge by edge (issue 19 item 3)."""

from __future__ import annotations

import attrs
from edbp.model.crosscheck import crosscheck
from edbp.model.edbp_profile import Config
from edbp.model.explore import explore
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.rules import HONEST

#: small enough for the suite: one device, one challenge, both versions
TINY = Instance(devices=1, versions=2, sessions=1, compromises=0, revocations=0)


def test_every_explored_step_is_a_z3_step() -> None:
    res = explore(EDBP, Config(TINY))
    checked, mismatches = crosscheck(res)
    assert checked > 50
    assert mismatches == []


def test_a_step_the_z3_relation_forbids_is_reported() -> None:
    """The check can fail: an explorer that leaves a partial install behind, compared with the
    honest z3 relation, is caught at that step."""
    res = explore(EDBP, Config(TINY, rules=attrs.evolve(HONEST, install_after_check=False)))
    _, mismatches = crosscheck(res, HONEST)
    assert any("deploy.error" in m.label
               and (("partial", (0,)), False, True) in m.changed for m in mismatches)
