"""``uninstall.component`` as a message on the network, which the attacker can replay.

The TAM authorises an uninstall as it authorises an install (protocol.md section 8.4): fresh
evidence for its session's challenge, then a TSK-signed Update whose token is that challenge and
whose list names the component. The Update is a message like any other: the attacker captures
it, replays it later (after re-opening an old exchange with a replayed QueryRequest, which the
Agent answers since the token is echoed) or hands it to another device. What stops the replay
is what the Agent checks (``Rules``): the TSK signature (``sigs_ok``), that the Update names this
device (``binding_ok``), that its token is the open exchange's (``token_ok``), that the component
is installed (611) and that the Update names the version installed now (``uninstall_ok``). The
floor stays (``uninstall_keeps_floor``).

The model's uninstall Update carries the device and the version it removes,
``sig(TSK, uni(d, n, c, v))``; the TAM may name any published version (what it read in the
evidence may be stale, and its policy is not trusted), so only the Agent's check keeps an old
uninstall from removing a newer install. The ghost ``removals`` records every removal with what
the Update said, as ground truth: P7 says an honest device only ever removes the version a TAM
Update named for it; P4 (``foreign_accepts``) that it never acts on another device's Update.

Both encodings live here: the explorer's steps (called from ``edbp_profile``) and the z3
transitions (listed in ``proofs.TRANSITIONS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import z3
from edbp.model import edbp_profile as ep
from edbp.model import proofs as pf
from edbp.model import timing
from edbp.model.terms import Term, sig


@lru_cache(maxsize=4096)
def uninstall_update(d: int, n: int, c: int, v: int, an: Term = ep.ATTACKER_ANONCE) -> Term:
    """The TAM-signed uninstall Update for device ``d`` in the exchange of challenge ``n``:
    remove component ``c``, installed at version ``v``; it echoes the Agent nonce ``an`` of the
    QueryResponse the session verified (protocol.md 8.3.1)."""
    return sig(ep.TSK, ("uni", d, ep.nonce(n), c, v, an))


# ---------------------------------------------------------------- explorer: the TAM


def tam_steps(w: ep.World, cfg: ep.Config, d: int,
              know: frozenset[Any]) -> Iterator[tuple[ep.Event, ep.World]]:
    """The TAM, in a CHALLENGED session, verifies the evidence and sends an uninstall Update
    (at most ``instance.uninstalls`` over the run); the session then closes."""
    inst = cfg.instance
    s = w.sessions[d]
    if w.uninstalls >= inst.uninstalls or not cfg.rules.serves(d in w.revoked):
        return
    # the Agent nonces of the evidence the TAM accepts (each is echoed by the Update)
    ans = sorted({t[2][4] for t in ep._evidence_candidates(cfg, w.issued, know)
                  if ep._tam_accepts_evidence(cfg, w, d, t) is not None}, key=repr)
    for an in ans:
        yield from _send(w, d, s, an, inst.components)


def _send(w: ep.World, d: int, s: ep.Session, an: Term,
          components: int) -> Iterator[tuple[ep.Event, ep.World]]:
    for c in range(components):
        for v in range(1, w.published[c] + 1):
            msg = uninstall_update(d, s.nonce, c, v, an)
            # the closed session remembers its last Update, so that only that one is labelled
            # honest when it reaches the Agent (a trace shows the replays as such)
            closed = ep.Session("NO_SESSION", s.nonce, ("uni", c, v), anonce=an)
            nw = ep._evolve(w, sessions=ep._set(w.sessions, d, closed),
                            uninstalls=w.uninstalls + 1, seen=ep._learn(w, msg))
            yield ep.Event(("deploy.verify_evidence", "uninstall.component"), "TAM",
                           f"Broker{d}", f"uninstall Update: remove c{c} v{v} from device {d} "
                           f"(token n{s.nonce}) signed by TSK", ("uninstall_sent", d, c, v)), nw


# ---------------------------------------------------------------- explorer: the Agent


@lru_cache(maxsize=50_000)
def _candidates(cfg: ep.Config, token: int, d: int, an: Term,
                know: frozenset[Any]) -> tuple[Term, ...]:
    """Uninstall Updates the attacker can hand Agent ``d``: every one seen (for any device, any
    token) and every one it can sign itself for ``d``'s open exchange (token, Agent nonce)."""
    out = {t for t in know if t[0] == "sig" and t[2][0] == "uni"}
    for s in (k for k in know if k[0] in ("dsk", "atk")):
        for c in range(cfg.instance.components):
            for v in range(1, cfg.instance.versions + 1):
                out.add(sig(s, ("uni", d, ep.nonce(token), c, v, an)))
    return tuple(sorted(out, key=repr))


def agent_steps(w: ep.World, cfg: ep.Config, d: int, a: ep.Agent,
                know: frozenset[Any]) -> Iterator[tuple[ep.Event, ep.World]]:
    """An Agent in QUERIED handed an uninstall Update: protocol.md section 9 steps 1-3 and 7,
    the binding, lifetime (protocol.md section 8.3.1) and version checks, then the atomic
    removal (floor kept)."""
    rules = cfg.rules
    for term in _candidates(cfg, a.token, d, ep.agent_nonce(d), know):
        _, named, tok, c, v, echo = term[2]
        tam_signed = term[1] == ep.TSK
        installed = a.installed[c]
        ok = (rules.sigs_ok(tam_signed, True) and rules.binding_ok(named, d)
              and rules.token_ok(tok[1], a.token) and ep.agent_nonce_ok(cfg, echo, a, d)
              and rules.exchange_live(a.age)
              and installed > 0 and rules.uninstall_ok(v, installed))
        s = w.sessions[d]
        honest = (s.phase == "NO_SESSION" and s.job == ("uni", c, v)
                  and term == uninstall_update(d, s.nonce, c, v, s.anonce)
                  and s.nonce == a.token)
        prefix: tuple[str, ...] = ()
        if not honest:
            prefix = ("attack.replay",) if term in w.seen else ("attack.inject",)
        if not ok:
            if not prefix:  # the TAM's own Update refused (stale version): Error, IDLE
                yield ep._agent_error(w, cfg, d, a, f"uninstall of c{c} v{v} refused",
                                      ("deploy.verify_update", "deploy.error"))
            continue  # a refused attacker input: the same successor as the timeout edge
        g = w.ghost
        g = ep._evolve(g, removals=g.removals | {(d, c, installed, v, named, tam_signed)})
        if named != d:
            g = ep._evolve(g, foreign_accepts=g.foreign_accepts | {(d, named)})
        floor = a.floor[c] if rules.uninstall_keeps_floor else 0
        na = ep.idle(a, floor=ep._set(a.floor, c, floor), installed=ep._set(a.installed, c, 0))
        yield ep.Event((*prefix, "deploy.verify_update", "uninstall.component",
                        "deploy.success"), f"Broker{d}", f"Agent{d}",
                       f"uninstall of c{c} v{v} for device {named} accepted: v{installed} "
                       "removed, floor " + (f"kept at v{floor}" if floor else "reset to 0"),
                       ("uninstall", d, c)), ep._with_agent(w, d, na, g)


# ---------------------------------------------------------------- z3 transitions


def t_send(s: pf.State, R: Any) -> pf.Built:
    """uninstall.component, the TAM's side: on evidence its check accepts, a TSK-signed
    uninstall Update (d, the session's challenge, c, any published version v); the session
    closes."""
    d, n, c, v = z3.Const("p_d", pf.Dev), z3.Int("p_n"), z3.Const("p_c", pf.Comp), z3.Int("p_v")
    k = z3.Int("p_agent_nonce")
    genuine = z3.Or(timing.answered_with(s, R, d, n, k), s["comp"][d])
    guard = z3.And(s["sch"][d], v >= 1, v <= s["pub"][c], n >= 0, n < s["issued"],
                   R.evidence_ok(genuine, n, s["snonce"][d], s["issued"]),
                   R.challenge_live(s["cage"][d]), R.serves(s["rev"][d]))
    up = {"unupd": pf._upd(s["unupd"], (d, s["snonce"][d], c, v), True),
          "uan": pf._upd(s["uan"], (d, s["snonce"][d]), k),  # echoes the verified nonce
          "sch": pf._upd(s["sch"], (d,), False)}
    return [d, n, c, v, k], guard, up


def t_remove(s: pf.State, R: Any) -> pf.Built:
    """uninstall.component, the Agent's side, on any uninstall Update the attacker can hand
    device d: a TSK one that was sent (for ``named``, token ``n``, (c, v)) or one the attacker
    signed itself (any fields). The ghosts record what was removed against what was named."""
    d, named, n = z3.Const("p_d", pf.Dev), z3.Const("p_named", pf.Dev), z3.Int("p_n")
    c, v, tsig = z3.Const("p_c", pf.Comp), z3.Int("p_v"), z3.Bool("p_tam_signed")
    ins = s["ins"][d, c]
    own = z3.Int("p_echo")
    avail = z3.Implies(tsig, s["unupd"][named, n, c, v])
    checks = z3.And(R.sigs_ok(tsig, True), R.binding_ok(named, d), R.token_ok(n, s["tok"][d]),
                    R.agent_nonce_ok(timing.echoed(s, tsig, named, n, own), s["anon"][d]),
                    R.exchange_live(s["aage"][d]), ins > 0, R.uninstall_ok(v, ins))
    guard = z3.And(z3.Not(s["comp"][d]), s["agq"][d], z3.Not(s["hold"][d]), avail, checks)
    up = {"agq": pf._upd(s["agq"], (d,), False),
          "ins": pf._upd(s["ins"], (d, c), 0),
          "foreign": z3.Or(s["foreign"], named != d),
          "baduni": z3.Or(s["baduni"], z3.Not(tsig), v != ins)}
    if not R.uninstall_keeps_floor:
        up["fl"] = pf._upd(s["fl"], (d, c), 0)
    return [d, named, n, c, v, tsig, own], guard, up
