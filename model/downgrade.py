"""P14, no suite downgrade: the suite-negotiation sub-model of the `edbp` profile.

Why a sub-model: P14 needs an attacker the main profile does not have — one that forges every
classical (ESP256/Ed25519) signature and breaks every ECDH key agreement, the "harvest now,
decrypt later" attacker with a future quantum computer — but cannot forge ML-DSA-65. Giving
the main profile that attacker would break P1–P13 for every classical device by construction
and multiply its state space; what P14 is about (which suite an exchange runs in) depends on
nothing the main profile tracks beyond sessions and challenges. So this module states the
negotiation alone, with the same spec step names, the same ``Rules`` (its checks are the
``agent_suite_ok``, ``tam_suite_ok`` and ``tam_suite`` fields) and the same explorer, and
carries its own z3 encoding. ``check.py`` and ``proofs.prove`` take P14 from here.

The world: devices enrolled with a suite pinned by the Manufacturer's signature (even devices
`edbp-pq`, odd ones classical). A PQ device kept its legacy classical TSK anchor (a migrated
device), so it *knows* both suites — the situation in which a downgrade is possible at all.
The TAM holds a TSK of both suites. Messages carry the suite they are signed in: a
QueryRequest (the suite offer is inside the TSK signature), the evidence (DSK), the Update
(TSK signature and CEK recipient). The attacker replays anything sent, builds any message in
the classical suite (a forged signature), and rewrites what no signature covers: the device's
announced capability (the adapter's ``hello`` list) that a TAM could be tempted to read.

P14 on a state: no ghost downgrade, i.e. the TAM sent nothing to a device, and neither side
accepted anything from the other, in a suite other than the one the device's enrolment pins —
which is the strongest suite both ends support, since the enrolment pins the device's strongest
suite and the TAM refuses a session it cannot serve in that suite (protocol.md 4.1 rules 1–3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import attrs
import z3
from edbp.model.edbp_profile import Config, Event
from edbp.model.explore import Profile
from edbp.model.proofs import Dev, Obligation, _readable
from edbp.model.rules import HONEST, Rules
from edbp.model.solving import satisfiable, solve

CLASSICAL, PQ = 0, 1
SUITES = (CLASSICAL, PQ)
SUITE_NAME = {CLASSICAL: "classical (ESP256, ECDH-ES)", PQ: "edbp-pq (ML-DSA-65, COSE-HPKE)"}
TAM_SUITES = frozenset(SUITES)  # the TAM of the explored instance holds a TSK of each suite

PROPERTY = "P14"
TITLE = "no suite downgrade"


def pinned(d: int) -> int:
    """The suite device ``d``'s enrolment pinned (its registry record's DSK type)."""
    return PQ if d % 2 == 0 else CLASSICAL


def _short(s: int) -> str:
    return "pq" if s == PQ else "classical"


@attrs.frozen(cache_hash=True)
class NWorld:
    """A state of the negotiation: per device the TAM's session ``(phase, challenge, suite)``
    and the Agent's exchange ``(phase, token)``; the messages sent (for replay); ghosts."""

    sessions: tuple[tuple[str, int, int], ...]
    agents: tuple[tuple[str, int], ...]
    issued: int
    sent: frozenset[tuple[str, int, int, int]]
    downgrades: frozenset[tuple[int, str, int]]  # (device, what was done, in which suite)
    done: frozenset[tuple[int, int]]  # (device, suite) of every Update an Agent accepted


def initial(cfg: Config) -> NWorld:
    """Devices enrolled (enrol.endorse pinned each one's suite), nothing sent."""
    n = cfg.instance.devices
    return NWorld((("NO_SESSION", -1, -1),) * n, (("IDLE", -1),) * n, 0, frozenset(),
                  frozenset(), frozenset())


def _set(t: tuple[Any, ...], i: int, x: object) -> tuple[Any, ...]:
    return (*t[:i], x, *t[i + 1:])


def _candidates(w: NWorld, kind: str, d: int) -> list[tuple[int, int]]:
    """(challenge, suite) of every ``kind`` message the attacker can hand over for device
    ``d``: each one sent, and a forged classical one for every challenge issued. Sorted, so
    that traces are the same in every run."""
    out = {(n, s) for (k, x, n, s) in w.sent if k == kind and x == d}
    out |= {(n, CLASSICAL) for n in range(w.issued)}
    return sorted(out)


def _origin(w: NWorld, msg: tuple[str, int, int, int], honest: bool) -> tuple[str, ...]:
    if honest:
        return ()
    return ("attack.replay",) if msg in w.sent else ("attack.inject",)


def successors(w: NWorld, cfg: Config) -> Iterator[tuple[Event, NWorld]]:
    """Every step enabled in ``w``: the TAM's and every Agent's, with the attacker's inputs."""
    R = cfg.rules
    for d in range(cfg.instance.devices):
        yield from _tam(w, cfg, R, d)
        yield from _agent(w, R, d)


def _tam(w: NWorld, cfg: Config, R: Rules, d: int) -> Iterator[tuple[Event, NWorld]]:
    phase, n, suite = w.sessions[d]
    reg = pinned(d)
    if phase == "NO_SESSION":
        if w.issued >= cfg.instance.sessions:
            return
        for announced in sorted({reg, CLASSICAL}, reverse=True):
            s = R.tam_suite(reg, announced)
            if s not in TAM_SUITES:
                continue  # the TAM holds no TSK of that suite: it refuses the session
            qr = ("qr", d, w.issued, s)
            down = {(d, "TAM sent a QueryRequest", s)} if s != reg else set()
            nw = attrs.evolve(w, sessions=_set(w.sessions, d, ("CHALLENGED", w.issued, s)),
                              issued=w.issued + 1, sent=w.sent | {qr},
                              downgrades=w.downgrades | down)
            steps: tuple[str, ...] = ("deploy.query_request",)
            if announced != reg:
                steps = ("attack.inject", *steps)
            yield Event(steps, "TAM", f"Broker{d}",
                        f"QueryRequest(n{w.issued}) signed {_short(s)}"
                        + ("" if announced == reg else "; hello rewritten to classical only"),
                        ("qr", d)), nw
        return
    yield Event(("deploy.record",), "TAM", "TAM", f"session with device {d} expires",
                ("expire", d)), attrs.evolve(w, sessions=_set(w.sessions, d,
                                                              ("NO_SESSION", -1, -1)))
    if phase != "CHALLENGED":
        return
    for en, es in _candidates(w, "ev", d):
        if en != n or not R.tam_suite_ok(es, reg):
            continue
        ev = ("ev", d, en, es)
        down = set()
        if es != reg:
            down.add((d, "TAM accepted evidence", es))
        if suite != reg:
            down.add((d, "TAM delivered the CEK", suite))
        nw = attrs.evolve(w, sessions=_set(w.sessions, d, ("UPDATE_SENT", n, suite)),
                          sent=w.sent | {("upd", d, n, suite)},
                          downgrades=w.downgrades | down)
        yield Event((*_origin(w, ev, ev == ("ev", d, n, reg) and ev in w.sent),
                     "deploy.verify_evidence",
                     "deploy.update"), f"Broker{d}", "TAM",
                    f"evidence(n{en}) signed {_short(es)} accepted; Update signed and CEK "
                    f"wrapped {_short(suite)}", ("deliver", d)), nw


def _agent(w: NWorld, R: Rules, d: int) -> Iterator[tuple[Event, NWorld]]:
    phase, tok = w.agents[d]
    reg = pinned(d)
    sphase, sn, _ = w.sessions[d]
    if phase == "IDLE":
        for n, s in _candidates(w, "qr", d):
            if not R.agent_suite_ok(s, reg):
                continue  # refused before any key is tried; the exchange never opens
            qr = ("qr", d, n, s)
            down = {(d, "Agent answered a QueryRequest", s)} if s != reg else set()
            nw = attrs.evolve(w, agents=_set(w.agents, d, ("QUERIED", n)),
                              sent=w.sent | {("ev", d, n, reg)},
                              downgrades=w.downgrades | down)
            honest = qr in w.sent and sphase == "CHALLENGED" and sn == n
            yield Event((*_origin(w, qr, honest), "deploy.query_response"), f"Agent{d}", "TAM",
                        f"QueryRequest(n{n}) signed {_short(s)} answered: evidence signed "
                        f"{_short(reg)}", ("respond", d, n)), nw
        return
    idle = _set(w.agents, d, ("IDLE", -1))
    yield Event(("deploy.error",), f"Agent{d}", "TAM", "exchange abandoned (timeout)",
                ("error", d)), attrs.evolve(w, agents=idle)
    for n, s in _candidates(w, "upd", d):
        if n != tok:
            continue
        upd = ("upd", d, n, s)
        honest = upd in w.sent and sphase == "UPDATE_SENT" and sn == n
        prefix = _origin(w, upd, honest)
        if not R.agent_suite_ok(s, reg):
            yield Event((*prefix, "deploy.verify_update", "deploy.error"), f"Broker{d}",
                        f"Agent{d}", f"Update signed {_short(s)} refused (suite downgrade)",
                        ("refuse", d, s, reg)), attrs.evolve(w, agents=idle)
            continue
        down = {(d, "Agent accepted an Update", s)} if s != reg else set()
        nw = attrs.evolve(w, agents=idle, done=w.done | {(d, s)},
                          downgrades=w.downgrades | down)
        yield Event((*prefix, "deploy.verify_update", "deploy.unwrap_cek", "deploy.success"),
                    f"Broker{d}", f"Agent{d}", f"Update signed {_short(s)} accepted, CEK "
                    f"unwrapped by the {_short(s)} recipient", ("install", d)), nw


# ---------------------------------------------------------------- property, witnesses, liveness


def p14(w: NWorld, cfg: Config) -> str | None:
    """P14 on one state: no downgrade ghost."""
    if not w.downgrades:
        return None
    d, what, s = sorted(w.downgrades)[0]
    return (f"{what} in the {SUITE_NAME[s]} suite to device {d}, whose enrolment pins "
            f"{SUITE_NAME[pinned(d)]}")


def _refused_downgrade(w: NWorld, ev: Event, cfg: Config) -> bool:
    return ev.data[:1] == ("refuse",) and ev.data[2] < ev.data[3]


def complete(w: NWorld, cfg: Config) -> bool:
    """Every device received one Update in its pinned suite."""
    return all((d, pinned(d)) in w.done for d in range(cfg.instance.devices))


def _rank(ev: Event, w: NWorld, cfg: Config) -> int | None:
    if not ev.honest:
        return None
    kind, d = ev.data[0], ev.data[1]
    if (d, pinned(d)) in w.done:
        return None
    sphase, sn, _ = w.sessions[d]
    aphase, tok = w.agents[d]
    if kind in ("install", "deliver"):
        return 0
    if kind == "respond":
        return 1 if sphase == "CHALLENGED" and ev.data[2] == sn else None
    if kind == "qr":
        return 2
    stuck_agent = aphase == "QUERIED" and not (sphase != "NO_SESSION" and sn == tok)
    if kind == "error" and stuck_agent:
        return 3
    if kind == "expire":
        return 4
    return None


def _control(w: NWorld) -> Hashable:
    return (w.sessions, w.agents, w.done)


def _live_config(w: NWorld, cfg: Config) -> Config:
    inst = cfg.instance
    return attrs.evolve(cfg, instance=attrs.evolve(
        inst, sessions=min(64, w.issued + 3 * inst.devices + 2)))


WITNESSES: dict[str, tuple[str, Callable[[Any, Config], bool]]] = {}
EVENT_WITNESSES: dict[str, tuple[str, Callable[[Any, Event, Config], bool]]] = {
    PROPERTY: ("a PQ device was handed a forged classical Update and refused it",
               _refused_downgrade),
}
GOALS: dict[str, tuple[str, Callable[[Any, Config], bool]]] = {
    "pq_delivery": ("a PQ device accepts an Update in edbp-pq",
                    lambda w, c: any(s == PQ for (_, s) in w.done)),
    "classical_delivery": ("a classical device accepts an Update in the classical suite",
                           lambda w, c: any(pinned(d) == CLASSICAL for (d, _) in w.done)),
}

PROFILE = Profile(
    name="edbp-negotiation",
    initial=initial,
    successors=successors,
    properties={PROPERTY: p14},
    witnesses=WITNESSES,
    goals=GOALS,
    event_witnesses=EVENT_WITNESSES,
    complete=complete,
    rank=_rank,
    control=_control,
    live_config=_live_config,
)


# ---------------------------------------------------------------- z3: P14 for any size

INT, B = z3.IntSort(), z3.BoolSort()
#: state variables of the symbolic negotiation (``pqd``, ``tam_pq``: fixed at enrolment)
VARS: dict[str, tuple[z3.SortRef, ...]] = {
    "pqd": (Dev, B), "tam_pq": (B,), "issued": (INT,),
    "sch": (Dev, B), "sus": (Dev, B), "snonce": (Dev, INT), "ssuite": (Dev, INT),
    "agq": (Dev, B), "tok": (Dev, INT),
    "qrs": (Dev, INT, INT, B), "evs": (Dev, INT, INT, B), "upds": (Dev, INT, INT, B),
    "down": (B,),
}
State = dict[str, z3.ExprRef]
_d = z3.Const("dd", Dev)
_n, _x = z3.Ints("nn xx")


def fresh_state(suffix: str) -> State:
    return {k: (z3.Const(k + suffix, s[0]) if len(s) == 1 else z3.Array(k + suffix, *s))
            for k, s in VARS.items()}


def reg(s: State, d: z3.ExprRef) -> z3.ArithRef:
    """The suite device ``d``'s registry record pins: its strongest (the enrolment's)."""
    return z3.If(s["pqd"][d], PQ, CLASSICAL)


def _suite(x: z3.ArithRef) -> z3.BoolRef:
    return z3.And(x >= CLASSICAL, x <= PQ)


def init(s: State) -> z3.BoolRef:
    no = z3.BoolVal(False)
    return z3.And(
        s["issued"] == 0, s["down"] == no,
        z3.ForAll([_d], z3.And(z3.Not(s["sch"][_d]), z3.Not(s["sus"][_d]),
                               z3.Not(s["agq"][_d]))),
        *(z3.ForAll([_d, _n, _x], z3.Not(s[k][_d, _n, _x])) for k in ("qrs", "evs", "upds")))


def properties(s: State) -> dict[str, z3.BoolRef]:
    return {PROPERTY: z3.Not(s["down"])}


def lemmas(s: State) -> dict[str, z3.BoolRef]:
    """Strengthening invariants (spec/model.md, "P14")."""
    def in_reg(k: str) -> z3.BoolRef:
        return z3.ForAll([_d, _n, _x], z3.Implies(s[k][_d, _n, _x], _x == reg(s, _d)))

    return {
        "D1 an open session runs in the device's registered suite, which the TAM holds":
            z3.ForAll([_d], z3.Implies(z3.Or(s["sch"][_d], s["sus"][_d]), z3.And(
                s["ssuite"][_d] == reg(s, _d), z3.Or(s["ssuite"][_d] == CLASSICAL,
                                                    s["tam_pq"])))),
        "D2 every QueryRequest and Update the TAM sent is in the registered suite":
            z3.And(in_reg("qrs"), in_reg("upds")),
        "D3 a device signs evidence only in its registered suite": in_reg("evs"),
    }


#: what each obligation may assume besides itself
SUPPORT: dict[str, tuple[str, ...]] = {PROPERTY: ("D1", "D2", "D3"), "D2": ("D1",)}

Built = tuple[list[z3.ExprRef], z3.BoolRef, State]


def _t_query_request(s: State, R: Rules) -> Built:
    """deploy.query_request; ``p_announced`` is the unsigned capability the attacker chose."""
    d, ann = z3.Const("p_d", Dev), z3.Int("p_announced")
    suite = R.tam_suite(reg(s, d), ann)
    guard = z3.And(z3.Not(s["sch"][d]), z3.Not(s["sus"][d]), _suite(ann),
                   z3.Or(suite == CLASSICAL, z3.And(suite == PQ, s["tam_pq"])))
    n = s["issued"]
    return [d, ann], guard, {
        "sch": z3.Store(s["sch"], d, True), "snonce": z3.Store(s["snonce"], d, n),
        "ssuite": z3.Store(s["ssuite"], d, suite), "issued": n + 1,
        "qrs": z3.Store(s["qrs"], d, n, suite, True),
        "down": z3.Or(s["down"], suite != reg(s, d))}


def _t_query_response(s: State, R: Rules) -> Built:
    """deploy.query_response to a QueryRequest of suite ``p_suite``: sent, or forged classical."""
    d, n, x = z3.Const("p_d", Dev), z3.Int("p_n"), z3.Int("p_suite")
    guard = z3.And(z3.Not(s["agq"][d]), _suite(x), n >= 0, n < s["issued"],
                   z3.Or(s["qrs"][d, n, x], x == CLASSICAL), R.agent_suite_ok(x, reg(s, d)))
    return [d, n, x], guard, {
        "agq": z3.Store(s["agq"], d, True), "tok": z3.Store(s["tok"], d, n),
        "evs": z3.Store(s["evs"], d, n, reg(s, d), True),
        "down": z3.Or(s["down"], x != reg(s, d))}


def _t_deliver(s: State, R: Rules) -> Built:
    """deploy.verify_evidence + deploy.update on evidence of suite ``p_suite``."""
    d, x = z3.Const("p_d", Dev), z3.Int("p_suite")
    n, suite = s["snonce"][d], s["ssuite"][d]
    guard = z3.And(s["sch"][d], _suite(x), z3.Or(s["evs"][d, n, x], x == CLASSICAL),
                   R.tam_suite_ok(x, reg(s, d)))
    return [d, x], guard, {
        "sch": z3.Store(s["sch"], d, False), "sus": z3.Store(s["sus"], d, True),
        "upds": z3.Store(s["upds"], d, n, suite, True),
        "down": z3.Or(s["down"], x != reg(s, d), suite != reg(s, d))}


def _t_install(s: State, R: Rules) -> Built:
    """deploy.verify_update + deploy.unwrap_cek on an Update of suite ``p_suite``."""
    d, x = z3.Const("p_d", Dev), z3.Int("p_suite")
    n = s["tok"][d]
    guard = z3.And(s["agq"][d], _suite(x), z3.Or(s["upds"][d, n, x], x == CLASSICAL),
                   R.agent_suite_ok(x, reg(s, d)))
    return [d, x], guard, {"agq": z3.Store(s["agq"], d, False),
                           "down": z3.Or(s["down"], x != reg(s, d))}


def _t_error(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    return [d], s["agq"][d], {"agq": z3.Store(s["agq"], d, False)}


def _t_expire(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    return [d], z3.Or(s["sch"][d], s["sus"][d]), {"sch": z3.Store(s["sch"], d, False),
                                                  "sus": z3.Store(s["sus"], d, False)}


TRANSITIONS: tuple[tuple[str, Callable[[State, Rules], Built]], ...] = (
    ("deploy.query_request", _t_query_request),
    ("deploy.query_response", _t_query_response),
    ("deploy.verify_evidence + deploy.update", _t_deliver),
    ("deploy.verify_update + deploy.unwrap_cek", _t_install),
    ("deploy.error", _t_error),
    ("deploy.record (expiry)", _t_expire),
)


def _named(s: State) -> dict[str, z3.BoolRef]:
    out = dict(properties(s))
    out.update({k.split(" ", 1)[0]: v for k, v in lemmas(s).items()})
    return out


def _closure(name: str) -> list[str]:
    """``name`` and every obligation it rests on, transitively (``SUPPORT`` has no cycle)."""
    return list(dict.fromkeys([name, *(y for x in SUPPORT.get(name, ()) for y in _closure(x))]))


def _steps(pre: State, post: State, rules: Rules) -> list[tuple[str, list[z3.ExprRef],
                                                                z3.BoolRef]]:
    out = []
    for name, build in TRANSITIONS:
        params, guard, up = build(pre, rules)
        frame = [post[k] == up.get(k, pre[k]) for k in VARS]
        out.append((name, params, z3.And(guard, *frame)))
    return out


def prove(rules: Rules = HONEST, timeout_ms: int = 20_000) -> Obligation:
    """P14 inductive for any number of devices, challenges and steps, for variant ``rules``:
    ``init ⇒ X`` and ``X ∧ support(X) ∧ T ⇒ X′`` for P14 and every lemma it rests on."""
    t0 = time.perf_counter()
    pre, post = fresh_state(""), fresh_state("'")
    pre_f, post_f = _named(pre), _named(post)
    steps = _steps(pre, post, rules)
    failure = ""
    for x in _closure(PROPERTY):
        r, s = solve(timeout_ms, init(pre), z3.Not(pre_f[x]))
        if r != z3.unsat:
            failure = failure or f"the initial state does not satisfy {x}"
            continue
        hyp = z3.And(pre_f[x], *(pre_f[y] for y in SUPPORT.get(x, ())))
        for tname, params, step in steps:
            r, s = solve(timeout_ms, hyp, step, z3.Not(post_f[x]))
            if r == z3.sat and not failure:
                failure = _counterexample(s.model(), x, tname, params, pre)
            elif r == z3.unknown and not failure:
                failure = f"z3 could not decide {x} over {tname} ({s.reason_unknown()})"
    return Obligation(PROPERTY, not failure, time.perf_counter() - t0, failure)


def _counterexample(model: z3.ModelRef, name: str, tname: str, params: list[z3.ExprRef],
                    pre: State) -> str:
    def ev(e: z3.ExprRef) -> str:
        return _readable(model.eval(e, model_completion=True))

    shown = ", ".join(f"{str(p).removeprefix('p_')}={ev(p)}" for p in params)
    devs = [p for p in params if p.sort() == Dev]
    where = "; ".join(f"{ev(d)}[pq_pinned={ev(pre['pqd'][d])}]" for d in devs)
    return (f"{name} is not preserved by {tname}({shown}): before {where}, "
            f"tam_holds_pq_tsk={ev(pre['tam_pq'])}")


def vacuity_report(rules: Rules = HONEST, timeout_ms: int = 10_000) -> dict[str, str]:
    """``Inv ∧ guard`` for every transition (``sat``: the obligation over it is not vacuous),
    and ``init`` satisfiable (``"Inv"``)."""
    pre = fresh_state("")
    inv = z3.And(*_named(pre).values())
    out: dict[str, str] = {"Inv": satisfiable(timeout_ms, init(pre), inv)}
    for name, build in TRANSITIONS:
        _params, guard, _up = build(pre, rules)
        out[name] = satisfiable(timeout_ms, inv, guard)
    return out
