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


#: the default instance's shape (two devices, one compromised, one revoked), one version and
#: one challenge so that every abstract edge is checked within the suite's budget
PAIR = Instance(devices=2, versions=1, sessions=1, compromises=1, revocations=1)


def test_every_explored_step_of_two_devices_is_a_z3_step() -> None:
    res = explore(EDBP, Config(PAIR))
    checked, mismatches = crosscheck(res)
    assert checked > 1000
    assert mismatches == []
    # the steps that involve both devices were among those checked
    labels = {d["event"].label for _a, _b, d in res.graph.edges(data=True)}
    assert {"revoke.device", "attack.compromise_device"} <= labels


def test_a_cross_device_step_the_z3_relation_forbids_is_reported() -> None:
    """With two devices the check sees steps between them: an explorer whose Agent accepts
    another device's Update (the binding check removed), compared with the honest z3
    relation, is caught at the step that sets the recipient-binding ghost."""
    res = explore(EDBP, Config(PAIR, rules=attrs.evolve(HONEST, binding_ok=lambda n, me: True)))
    _, mismatches = crosscheck(res, HONEST)
    assert any((("foreign", ()), False, True) in m.changed for m in mismatches)


#: one device, an uninstall Update on the network (issue 19: uninstall the attacker replays),
#: and a replayed QueryRequest answered (a re-opened exchange with a fresh Agent nonce)
UNINSTALL = Instance(devices=1, versions=2, sessions=2, compromises=0, revocations=0,
                     uninstalls=1, requeries=1)


def test_every_explored_uninstall_step_is_a_z3_step() -> None:
    res = explore(EDBP, Config(UNINSTALL))
    checked, mismatches = crosscheck(res)
    assert checked > 500
    assert mismatches == []
    assert any(d["event"].data[:1] == ("uninstall",) for _a, _b, d in res.graph.edges(data=True))


def test_an_uninstall_the_z3_relation_forbids_is_reported() -> None:
    """An explorer whose Agent removes whatever version the uninstall names, compared with the
    honest z3 relation, is caught at the removal that sets the uninstall ghost."""
    flawed = attrs.evolve(HONEST, uninstall_ok=lambda n, i: True)
    res = explore(EDBP, Config(UNINSTALL, rules=flawed))
    _, mismatches = crosscheck(res, HONEST)
    assert any((("baduni", ()), False, True) in m.changed for m in mismatches)


#: rotate.class_key and numbered TA builds (issue 19 item 6), each on one device
ROTATION = Instance(devices=1, versions=2, sessions=2, compromises=0, revocations=0,
                    ck_rotations=1)
TA_BUILDS = Instance(devices=1, versions=2, sessions=2, compromises=0, revocations=0,
                     ta_builds=2)


def test_every_explored_rotation_and_ta_floor_step_is_a_z3_step() -> None:
    for inst, label in ((ROTATION, "rotate.class_key"), (TA_BUILDS, "deploy.fetch")):
        res = explore(EDBP, Config(inst))
        checked, mismatches = crosscheck(res)
        assert checked > 1000
        assert mismatches == []
        assert any(label in d["event"].steps for _a, _b, d in res.graph.edges(data=True))


def test_a_rotation_the_z3_relation_forbids_is_reported() -> None:
    """An explorer whose KeyVault rotates without re-wrapping, against the honest z3 relation:
    the rotation step (records left under the old generation) is reported."""
    tiny = attrs.evolve(ROTATION, versions=1, sessions=1)
    res = explore(EDBP, Config(tiny, rules=attrs.evolve(HONEST, rewrap_on_rotation=False)))
    _, mismatches = crosscheck(res, HONEST)
    assert any(m.label == "rotate.class_key" for m in mismatches)


def test_the_challenge_lifetime_step_is_a_z3_step() -> None:
    """A TAM that keeps a challenge past its lifetime (the only variant in which the step
    leaves the session open) explores ``time.challenge_lifetime``: each such step, and the
    stale delivery after it, is a step of the same variant's z3 relation, and the honest z3
    relation forbids the stale delivery (the P3 ghost)."""
    flawed = attrs.evolve(HONEST, challenge_live=lambda age: True)
    res = explore(EDBP, Config(TINY, rules=flawed))
    _, mismatches = crosscheck(res)
    assert mismatches == []
    assert any("time.challenge_lifetime" in d["event"].steps
               for _a, _b, d in res.graph.edges(data=True))
    _, against_honest = crosscheck(res, HONEST)
    assert any((("bad_dlv", ()), False, True) in m.changed for m in against_honest)
