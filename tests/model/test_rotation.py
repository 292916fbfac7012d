"""rotate.class_key in the `edbp` profile (issue 19 item 6; spec/properties.md P2).

The KeyVault makes a new class-key generation current, re-wraps every record under it and
destroys the old one. The attacker is granted every retired generation here (rotation happens
because one may be exposed): it must gain no CEK of a package published after that generation
was retired, and no delivery may unwrap under a retired generation.
"""

from __future__ import annotations

import attrs
from edbp.model import edbp_profile as ep
from edbp.model.edbp_profile import Config
from edbp.model.explore import explore
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import prove
from edbp.model.rules import HONEST
from edbp.model.terms import analyze

#: one device that may be compromised, two versions, one rotation anywhere in the run
ROT = Instance(devices=1, versions=2, sessions=1, compromises=1, revocations=0, ck_rotations=1)


def _gained_with_retired_keys(w: ep.World, cfg: Config) -> set[tuple[int, int]]:
    """Packages published after a generation's retirement whose CEK an attacker that also
    holds every retired generation learns, beyond those delivered to a compromised device."""
    retired = {ep.ck_of(k, g) for g in range(len(w.ck_retired))
               for k in range(cfg.instance.classes)}
    know = analyze(set(w.seen) | retired)
    allowed = {(c, v) for (d, c, v) in w.ghost.delivered if d in w.compromised}
    out = set()
    for t in know:
        if t[0] == "cek" and (t[1], t[2]) not in allowed:
            c, v = t[1], t[2]
            if any(v > snap[c] for snap in w.ck_retired):
                out.add((c, v))
    return out


def test_a_retired_generation_yields_nothing_on_newer_packages() -> None:
    cfg = Config(ROT)
    res = explore(EDBP, cfg, build_graph=False)
    assert res.violations == {}
    newer_delivered = 0
    for w in res.states:
        assert not _gained_with_retired_keys(w, cfg)
        if w.ck_retired and any(v > w.ck_retired[0][c] for (_d, c, v) in w.ghost.delivered):
            newer_delivered += 1
    # not vacuous: packages published after the rotation were delivered (and wrapped)
    assert newer_delivered > 0


def test_the_flaw_hands_newer_packages_to_a_holder_of_the_retired_generation() -> None:
    f = flaw("publish-wraps-under-retired-class-key")
    cfg = Config(f.instance_for(ROT), rules=f.rules)
    res = explore(EDBP, cfg, stop_on=frozenset({"P2"}), build_graph=False)
    sid, why = res.violations["P2"]
    assert "retired" in why
    assert _gained_with_retired_keys(res.states[sid], cfg)
    assert res.trace(sid).steps[0] == "rotate.class_key"
    ob = prove(f.rules, props=("P2",))[0]
    assert not ob.proved and "publish" in ob.failure


def test_rotation_rewraps_old_records_and_deliveries_use_the_current_generation() -> None:
    cfg = Config(ROT)
    res = explore(EDBP, cfg, build_graph=False)
    rotated = [w for w in res.states if w.ck_retired and w.published[0]]
    assert rotated
    for w in rotated:
        assert all(gen == len(w.ck_retired) for recs in w.records for gen, _b in recs)
        assert not w.ghost.retired_uses
    bad = explore(EDBP, Config(ROT, rules=attrs.evolve(HONEST, rewrap_on_rotation=False)),
                  stop_on=frozenset({"P2"}), build_graph=False)
    assert "unwrap under retired class-key generation 0" in bad.violations["P2"][1]
