"""``rotate.class_key`` in the `edbp` profile (protocol.md section 8.4): both encodings.

The KeyVault makes generation g+1 of the class key current, re-wraps the CEK of every package
record under it inside the vault (the Author re-signs each author envelope with the new class
recipient: same sequence number, payload and CEK), and destroys generation g, which no record
refers to any more. From then on ``publish.wrap_cek`` wraps under g+1 and ``deploy.update``
unwraps under g+1 only.

Rotation exists because a generation may be exposed (a backup, an old HSM, a leaked wrap). So
P2's rotation clause is stated against an attacker who learns every retired generation: no term
it holds wraps, under a retired generation, the CEK of a package published after that
generation was retired (learning the old generation yields nothing on newer packages), and the
KeyVault never unwraps a record under a retired generation for a delivery. Packages published
*before* a retirement stay readable to whoever learns that generation and their old envelopes;
rotation does not protect them (protocol.md: a suspected CEK compromise is handled by a new
package version, not by rotation), and P2 does not claim it.

Explorer: ``steps`` (from ``edbp_profile._lifecycle``), ``p2_clause`` (from ``properties.p2``);
the record generation of each package is ``edbp_profile.record``. z3: ``t_rotate`` (listed in
``proofs.TRANSITIONS``); publication and delivery read ``gen``/``pgen`` in ``proofs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import z3
from edbp.model import edbp_profile as ep
from edbp.model import proofs as pf


def steps(w: ep.World, cfg: ep.Config) -> Iterator[tuple[ep.Event, ep.World]]:
    """rotate.class_key, at most ``instance.ck_rotations`` times over the run."""
    if len(w.ck_retired) >= cfg.instance.ck_rotations:
        return
    old = len(w.ck_retired)
    new = old + 1
    records, sent = w.records, []
    if cfg.rules.rewrap_on_rotation:
        # step 2: every record re-wrapped under the new generation, envelopes re-signed
        records = tuple(tuple((new, build) for _gen, build in recs) for recs in w.records)
        for c, recs in enumerate(records):
            for v, (gen, build) in enumerate(recs, 1):
                sent.append(ep.author_manifest(cfg, c, v, gen, build))
    nw = ep._evolve(w, ck_retired=(*w.ck_retired, w.published), records=records,
                    seen=ep._learn(w, *sent))
    yield ep.Event(("rotate.class_key",), "Operator", "KeyVault",
                   f"class key generation {new} current; records re-wrapped"
                   + ("" if cfg.rules.rewrap_on_rotation else " (not: older records kept)")
                   + f"; generation {old} destroyed", ("rotate", new)), nw


def p2_clause(w: ep.World, cfg: ep.Config) -> str | None:
    """P2, rotation: nothing new under a retired generation, no delivery through one."""
    if not w.ck_retired:
        return None
    if w.ghost.retired_uses:
        d, c, v, g = sorted(w.ghost.retired_uses)[0]
        return (f"CEK{c}.{v} delivered to device {d} by an unwrap under retired class-key "
                f"generation {g}")
    return _newer_under_retired(w.seen, w.ck_retired)


@lru_cache(maxsize=50_000)
def _newer_under_retired(seen: frozenset[Any], retired: tuple[tuple[int, ...], ...]) -> str | None:
    """A term the attacker holds that wraps, under retired generation g, the CEK of a package
    published after g's retirement: what an attacker who learns g would gain."""
    for t in sorted(ep.knowledge(seen), key=repr):
        if t[0] != "wrap" or t[1][0] != "ck" or t[2][0] != "cek":
            continue
        g = t[1][2] if len(t[1]) > 2 else 0
        c, v = t[2][1], t[2][2]
        if g < len(retired) and v > retired[g][c]:
            return (f"CEK{c}.{v}, published after class-key generation {g} was retired, is "
                    f"wrapped under it (an attacker holding generation {g} reads it)")
    return None


# ---------------------------------------------------------------- z3


def t_rotate(s: pf.State, R: Any) -> pf.Built:
    """rotate.class_key: generation gen+1 current; every record re-wrapped under it (unless
    the variant keeps the older records)."""
    new = s["gen"] + 1
    up = {"gen": new}
    if R.rewrap_on_rotation:
        up["pgen"] = z3.Lambda([pf.c_, pf.v_], new)
    return [], z3.BoolVal(True), up
