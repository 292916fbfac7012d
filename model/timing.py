"""Abstract time for the `edbp` profile: the Agent's exchange lifetime and the TAM's hold.

protocol.md 8.3.1 bounds two durations, each measured on its own party's monotonic clock: the
Agent consumes an Update only within L_a of accepting the QueryRequest of its exchange, and
the TAM ends a session that sent its Update only after L_u ≥ L_a·(1+ρ) since it sent it. No
absolute time is shared (the TEE has none it can trust); only durations are compared.

The model counts time in **ticks**: one tick is the longest real time the Agent's lifetime can
last, L_a·(1+ρ) (its clock running at the slowest allowed rate). A clock's age is the number
of ticks since it started, saturated at ``CAP`` (only "within" or "past" the bound matters), so
the state space stays finite. ``time.tick`` advances every running clock at once (the Agent's
exchange in QUERIED, the TAM's session in UPDATE_SENT); since events are ordered, a clock that
started earlier is never younger than one that started later, which is what the argument of
8.3.1 rests on.

A tick is explored only while some session that sent its Update is still within L_u: a tick
that would age only Agents' exchanges is left out. That loses no violation: an older exchange
can do only what a younger one can (it refuses Updates the younger one may accept; the TAM's
moves never depend on an Agent's age), so every state such a tick leads to is simulated by
the state without it. For the same reason an exchange that a tick takes past its lifetime
closes at once (the Agent is sans-I/O and notices on its next input, but from then on it can
only refuse): with the honest rules a live exchange is therefore always of age 0. Closing
adds no behaviour either: an Agent in QUERIED can reach the same IDLE state at any moment by
its ``deploy.error`` edge (timeout or junk input).

Whether a party honours its bound is a check of ``rules.Rules`` (``exchange_live``,
``tam_may_expire``), so a seeded flaw or a held-out mutation changes it like any other
check.

A third clock is the TAM's challenge (P3's fresh evidence, ``EAT_STALE``): the age of a
challenged session's challenge since the QueryRequest, bounded by the session lifetime
(``Rules.challenge_live``). It passes its bound by a step of its own, at any moment
(``challenge_ages``).

This module holds the explorer's tick, the z3 state variables, transition and strengthening
lemma (L15) for time and the Agent nonce, and the cross-check's abstraction of the new
variables; the profile, ``proofs`` and ``crosscheck`` call it through small hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import z3

if TYPE_CHECKING:
    from edbp.model.edbp_profile import Config, Event, World

#: ages saturate here: one tick decides "within" / "past" every bound of the honest rules
CAP = 1


def _older(age: int) -> int:
    return min(CAP, age + 1)


def challenge_ages(w: World, cfg: Config, d: int) -> Iterator[tuple[Event, World]]:
    """``time.challenge_lifetime``: device ``d``'s challenged session passes the session
    lifetime on the TAM's clock (300 s from the QueryRequest; protocol.md 8.3 step 3, T5).

    The challenge's clock is independent of the ticks above: it started when the TAM sent the
    QueryRequest, before or after any other clock, and its bound is not theirs, so the model
    lets it pass at any moment (every ordering of its expiry against the other clocks is
    explored). A TAM that honours the bound (``Rules.challenge_live``) refuses evidence from
    then on, so the session ends at once (T5): that successor is the expiry edge the session
    already has, and is not yielded twice. A TAM that accepts stale evidence keeps the session
    open, past its lifetime."""
    from edbp.model.edbp_profile import Event, _evolve, _set

    s = w.sessions[d]
    if s.age >= CAP or not cfg.rules.challenge_live(_older(s.age)):
        return
    nw = _evolve(w, sessions=_set(w.sessions, d, _evolve(s, age=_older(s.age))))
    yield Event(("time.challenge_lifetime",), "Clock", "TAM",
                f"the challenge n{s.nonce} of device {d} passes the session lifetime",
                ("challenge_aged", d)), nw


def tick(w: World, cfg: Config) -> Iterator[tuple[Event, World]]:
    """``time.tick``: one tick of real time passes for every running clock (a no-op tick is
    not an edge)."""
    from edbp.model.edbp_profile import Event, _evolve, _set, idle

    if not any(s.phase == "UPDATE_SENT" and s.age < CAP for s in w.sessions):
        return  # a tick would only age Agents: see the module docstring
    agents, sessions = w.agents, w.sessions
    for d, a in enumerate(w.agents):
        if a.phase == "QUERIED" and d not in w.compromised and a.age < CAP:
            age = _older(a.age)
            if cfg.rules.exchange_live(age):
                agents = _set(agents, d, _evolve(a, age=age))
            else:  # past L_a: the exchange closes (it could only refuse from here on)
                agents = _set(agents, d, idle(a))
    for d, s in enumerate(w.sessions):
        if s.phase == "UPDATE_SENT" and s.age < CAP:
            sessions = _set(sessions, d, _evolve(s, age=_older(s.age)))
    if agents is w.agents and sessions is w.sessions:
        return
    yield Event(("time.tick",), "Clock", "Clock", "time passes: L_a·(1+ρ) elapses",
                ("tick",)), _evolve(w, agents=agents, sessions=sessions)


# ---------------------------------------------------------------- z3 encoding (proofs.py)

Dev = z3.DeclareSort("Device")  # the same sort as proofs.Dev (z3 interns sorts by name)
INT = z3.IntSort()
B = z3.BoolSort()

#: state variables for time and the Agent nonce: the Agent's exchange age; the TAM session's
#: age since its Update; the TAM sent the Update of challenge n to d (``usent``); the session
#: of challenge n of d expired after sending its Update (``tout``); the ghost of an Update
#: consumed after its session expired (``late``). Agent nonces (protocol.md 8.3.1) are
#: integers drawn from one counter (``adrawn``: every nonce drawn so far is below it, so a
#: drawn one is fresh); ``anon``: the nonce of d's open exchange; ``kdev``/``ktok``: the
#: device that drew nonce k and the token of the QueryRequest it answered with it (what
#: its DSK-signed QueryResponse binds); ``uan``: the nonce echoed by the Update (install or
#: uninstall) the TAM sent d for challenge n
VARS: dict[str, tuple[z3.SortRef, ...]] = {
    "aage": (Dev, INT), "uage": (Dev, INT), "usent": (Dev, INT, B),
    "tout": (Dev, INT, B), "late": (B,),
    "anon": (Dev, INT), "adrawn": (INT,), "kdev": (INT, Dev), "ktok": (INT, INT),
    "uan": (Dev, INT, INT),
    # the age of d's challenge on the TAM's clock (CHALLENGED; EAT staleness, P3)
    "cage": (Dev, INT),
}

#: the one nonce of each device whose Agent draws no fresh one (``Rules.fresh_agent_nonce``
#: off): an uninterpreted function, so z3 may pick any value, another device's included
CONST_NONCE = z3.Function("constant_agent_nonce", Dev, INT)

_d = z3.Const("d", Dev)
_n = z3.Int("n")


def init(s: dict[str, Any]) -> z3.BoolRef:
    return z3.And(z3.ForAll([_d, _n], z3.And(z3.Not(s["usent"][_d, _n]),
                                             z3.Not(s["tout"][_d, _n]))),
                  z3.ForAll([_d], z3.And(s["aage"][_d] == 0, s["uage"][_d] == 0)),
                  s["late"] == z3.BoolVal(False), s["adrawn"] == 0)


# ---------------------------------------------------------------- the Agent nonce (z3)


def draw(s: dict[str, Any], R: Any, d: Any, n: Any) -> dict[str, Any]:
    """deploy.query_response: device d accepts a QueryRequest with token n and draws a fresh
    Agent nonce (the counter's value), which its QueryResponse binds to n; the exchange's
    clock starts."""
    if not R.fresh_agent_nonce:
        return {"anon": z3.Store(s["anon"], d, CONST_NONCE(d)),
                "aage": z3.Store(s["aage"], d, z3.IntVal(0))}
    k = s["adrawn"]
    return {"anon": z3.Store(s["anon"], d, k), "adrawn": k + 1,
            "kdev": z3.Store(s["kdev"], k, d), "ktok": z3.Store(s["ktok"], k, n),
            "aage": z3.Store(s["aage"], d, z3.IntVal(0))}


def answered_with(s: dict[str, Any], R: Any, d: Any, n: Any, k: Any) -> z3.BoolRef:
    """Device d sent a QueryResponse for token n carrying Agent nonce k."""
    if not R.fresh_agent_nonce:
        return z3.And(s["ev"][d, n], k == CONST_NONCE(d))
    return z3.And(s["ev"][d, n], k >= 0, k < s["adrawn"], s["kdev"][k] == d,
                  s["ktok"][k] == n)


def echoed(s: dict[str, Any], tsig: Any, named: Any, n: Any, own: Any) -> z3.ArithRef:
    """The Agent nonce an Update carries: the TAM's echoes its session's (``uan``); one the
    attacker signed carries whatever it chose (``own``)."""
    return z3.If(tsig, s["uan"][named, n], own)


def _z3_older(x: z3.ArithRef) -> z3.ArithRef:
    return z3.If(x >= CAP, z3.IntVal(CAP), x + 1)


def t_tick(s: dict[str, Any], R: Any) -> tuple[list[z3.ExprRef], z3.BoolRef, dict[str, Any]]:
    """time.tick: every clock ages by one tick (saturating); an exchange past its lifetime
    closes."""
    return [], z3.BoolVal(True), {
        # a compromised device's Agent is the attacker's: nothing of it closes by itself
        "agq": z3.Lambda([_d], z3.And(s["agq"][_d], z3.Or(s["comp"][_d], R.exchange_live(
            _z3_older(s["aage"][_d]))))),
        "aage": z3.Lambda([_d], _z3_older(s["aage"][_d])),
        "uage": z3.Lambda([_d], _z3_older(s["uage"][_d])),
    }


def t_challenge_ages(s: dict[str, Any], R: Any) -> tuple[list[z3.ExprRef], z3.BoolRef,
                                                         dict[str, Any]]:
    """time.challenge_lifetime: d's challenge passes the session lifetime on the TAM's clock;
    a TAM that then refuses its evidence ends the session (T5)."""
    d = z3.Const("p_d", Dev)
    older = _z3_older(s["cage"][d])
    return [d], s["sch"][d], {"cage": z3.Store(s["cage"], d, older),
                              "sch": z3.Store(s["sch"], d, R.challenge_live(older))}


def lemma(s: dict[str, Any]) -> z3.BoolRef:
    """L15: an exchange whose Agent nonce the TAM's Update echoes is at least as old as that
    Update, so once the TAM let the session expire (L_u after the Update) the exchange is past
    L_a. It holds for every exchange, one re-opened by a replayed QueryRequest included: the
    Update echoes the nonce of the QueryResponse the TAM verified, drawn when that exchange
    opened, and every exchange opened later has a fresh nonce no Update sent echoes.

    Its conjuncts: no Update was consumed after its session expired (``late``, P6(a)'s
    clause); ages are non-negative; a session that sent its Update rests on evidence the
    device produced for its challenge (``ev``), and so does every Update sent (``usent``),
    whose echoed nonce was drawn already (below ``adrawn``); Updates and expiries concern
    issued challenges; a challenged session has sent no Update and has not expired after
    one; (the core) while the TAM's session sent the Update that echoes the open exchange's
    nonce, the session is no older than the exchange, and an expired session's Update meets
    only exchanges past their lifetime."""
    d, n = _d, _n
    comp = s["comp"][d]
    tok = s["tok"][d]
    # d's open exchange is the one the TAM's Update for its token answers
    mine = z3.And(z3.Not(comp), s["agq"][d], s["usent"][d, tok],
                  s["uan"][d, tok] == s["anon"][d])
    return z3.And(
        z3.Not(s["late"]),
        z3.ForAll([d], z3.And(s["aage"][d] >= 0, s["uage"][d] >= 0)),
        s["adrawn"] >= 0,
        z3.ForAll([d], z3.Implies(s["sus"][d],
                                  z3.And(s["snonce"][d] >= 0, s["snonce"][d] < s["issued"],
                                         z3.Or(s["ev"][d, s["snonce"][d]], comp)))),
        z3.ForAll([d, n], z3.Implies(s["usent"][d, n], z3.And(
            n < s["issued"], z3.Or(s["ev"][d, n], comp),
            z3.Or(comp, s["uan"][d, n] < s["adrawn"])))),
        z3.ForAll([d, n], z3.Implies(s["tout"][d, n], n < s["issued"])),
        z3.ForAll([d], z3.Implies(s["sch"][d], z3.And(
            z3.Not(s["usent"][d, s["snonce"][d]]), z3.Not(s["tout"][d, s["snonce"][d]])))),
        z3.ForAll([d], z3.Implies(z3.And(mine, s["sus"][d], s["snonce"][d] == tok),
                                  s["uage"][d] <= s["aage"][d])),
        z3.ForAll([d], z3.Implies(z3.And(mine, s["tout"][d, tok]), s["aage"][d] >= CAP)),
    )


# ---------------------------------------------------------------- cross-check (crosscheck.py)


def alpha(w: World, cfg: Config, out: dict[Any, Any]) -> None:
    """The time variables a state determines (ages of running clocks only). The Agent-nonce
    variables are left free: the explorer keeps two nonces per device (the current one and
    "drawn before", ``edbp_profile.anonce``), z3 a counter, and no value of one is a value of
    the other."""
    inst = cfg.instance
    g = w.ghost
    for d in range(inst.devices):
        a, s = w.agents[d], w.sessions[d]
        if a.phase == "QUERIED" and d not in w.compromised:
            out[("aage", (d,))] = a.age
        if s.phase == "UPDATE_SENT":
            out[("uage", (d,))] = s.age
        if s.phase == "CHALLENGED":
            out[("cage", (d,))] = s.age
    out[("late", ())] = bool(g.late_accepts)
