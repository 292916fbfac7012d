"""Mechanical cross-check: every explored transition is a step of the z3 transition relation.

The explored model (``edbp_profile``) and the z3 encoding (``proofs``) share their checks
(``rules.Rules``) but encode the transitions separately. This module maps each explored state
to the z3 state variables through an abstraction function ``alpha`` and asks z3, for every
distinct abstract edge of an explored graph, whether some z3 transition relates the two
abstract states. An explored step that no z3 transition allows means the proofs reason about a
different protocol than the one explored.

``alpha`` covers the control and ghost variables (sessions, Agents, floors, installs, delivery
and install history, every property flag). The attacker's knowledge and the network (``kcek``,
``kpt``, ``kdak``, ``kck``, ``wrapnet``, ``wrapatt``, ``upd``, ``rcpt``, ``ev``) are left free:
the explorer closes knowledge after every step while z3 grows it by ``attack.intercept``, so
the check is that each explored step's effect on everything else is one z3 allows for *some*
knowledge — necessary, not sufficient, for the encodings to agree.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import z3
from edbp.model import proofs as pf
from edbp.model import taversion, timing
from edbp.model.edbp_profile import Config, World, plaintext, record
from edbp.model.explore import Exploration
from edbp.model.rules import Rules

Point = tuple[str, tuple[Any, ...]]


def _digest_id(t: Any) -> int:
    """z3's digest integers: the genuine plaintext of (c, v) hashes to v, anything else to -1."""
    if isinstance(t, tuple) and t[0] == "h" and t[1][0] == "pt":
        return int(t[1][2])
    return -1


def alpha(w: World, cfg: Config) -> dict[Point, Any]:
    """The z3 variables (at concrete indices) a state determines. Indices: device and
    component numbers, versions and nonces as ints; entries a state leaves undetermined (the
    nonce of a closed session, the job of an idle Agent) are omitted."""
    inst = cfg.instance
    g = w.ghost
    out: dict[Point, Any] = {("issued", ()): w.issued}
    versions = range(0, inst.versions + 2)
    nonces = range(-1, inst.sessions + 1)
    out[("gen", ())] = len(w.ck_retired)
    for c in range(inst.components):
        out[("pub", (c,))] = w.published[c]
        for k in versions:
            out[("used", (c, k))] = 1 <= k <= w.published[c]
        for k in range(1, w.published[c] + 1):
            gen, build = record(w, c, k)
            out[("pgen", (c, k))] = gen
            if inst.ta_builds:
                out[("pbuild", (c, k))] = k if build is None else build
    for n in nonces:
        out[("answered", (n,))] = n in g.answered
    for d in range(inst.devices):
        s, a = w.sessions[d], w.agents[d]
        out[("comp", (d,))] = d in w.compromised
        out[("rev", (d,))] = d in w.revoked
        out[("sch", (d,))] = s.phase == "CHALLENGED"
        out[("sus", (d,))] = s.phase == "UPDATE_SENT"
        if s.phase != "NO_SESSION":
            out[("snonce", (d,))] = s.nonce
        if s.phase == "UPDATE_SENT":
            out[("sc", (d,))], out[("sv", (d,))] = s.job
        out[("agq", (d,))] = a.phase == "QUERIED"
        out[("hold", (d,))] = a.phase == "FETCHING"
        if a.phase in ("QUERIED", "FETCHING"):
            out[("tok", (d,))] = a.token
        if a.phase == "FETCHING":
            c, v, _cek, tok, verified, digest = a.job
            out[("hc", (d,))], out[("hv", (d,))] = c, v
            out[("hver", (d,))] = verified
            out[("hdig", (d,))] = _digest_id(digest)
            out[("hfresh", (d,))] = tok[1] == a.token
            out[("htok", (d,))] = a.token
        out[("kept", (d,))] = bool(a.kept)
        out[("partial", (d,))] = any(x < 0 for x in a.installed)
        installs = g.installs[d]
        for c in range(inst.components):
            if a.ta_floor:
                out[("tfl", (d, c))] = a.ta_floor[c]
                out[("thi", (d, c))] = max(
                    (taversion.ta_version(cfg, e[2]) for e in installs
                     if e[0] == c and _genuine(w, e)), default=0)
            out[("fl", (d, c))] = a.floor[c]
            out[("ins", (d, c))] = a.installed[c]
            out[("hi", (d, c))] = max((e[1] for e in installs if e[0] == c), default=0)
            for v in versions:
                out[("dlv", (d, c, v))] = (d, c, v) in g.delivered
                for n in nonces:
                    out[("instok", (d, n, c, v))] = any(
                        e[0] == c and e[1] == v and e[5][1] == n for e in installs)
    logs = [g.installs[d] for d in range(inst.devices)]
    out[("bad_dlv", ())] = bool(g.bad_deliveries)
    out[("foreign", ())] = bool(g.foreign_accepts)
    out[("badinst", ())] = any(not _genuine(w, e) for log in logs for e in log)
    out[("stale", ())] = any(not e[3] for log in logs for e in log)
    out[("badrec", ())] = bool(g.bad_records)
    out[("rollback", ())] = any(_rolled_back(log) for log in logs)
    out[("reeleak", ())] = bool(g.ree_leaks)
    out[("unverif", ())] = bool(g.unverified_decrypts)
    out[("revdlv", ())] = bool(g.revoked_deliveries)
    out[("revtee", ())] = bool(g.revoked_tee)
    out[("baduni", ())] = any(not e[5] or e[2] != e[3] for e in g.removals)
    out[("staleck", ())] = bool(g.stale_wraps)
    out[("retuse", ())] = bool(g.retired_uses)
    out[("tarb", ())] = any(_ta_fell(w, cfg, log) for log in logs)
    out[("ckout", ())] = bool(g.ck_holders - {"keyvault"})
    timing.alpha(w, cfg, out)
    return out


def _genuine(w: World, e: tuple[Any, ...]) -> bool:
    """An install log entry's code is the image published as its (c, v)."""
    return bool(e[2] == plaintext(e[0], e[1], record(w, e[0], e[1])[1]))


def _ta_fell(w: World, cfg: Config, log: tuple[Any, ...]) -> bool:
    """A genuine image installed with a TA version below one installed before (z3's
    ``tarb``)."""
    top: dict[int, int] = {}
    for e in log:
        if not _genuine(w, e):
            continue
        tv = taversion.ta_version(cfg, e[2])
        if tv < top.get(e[0], 0):
            return True
        top[e[0]] = max(tv, top.get(e[0], 0))
    return False


def _rolled_back(log: tuple[Any, ...]) -> bool:
    last: dict[int, int] = {}
    for c, v, *_ in log:
        if c in last and v <= last[c]:
            return True
        last[c] = v
    return False


@attrs.frozen
class Mismatch:
    """An explored step no z3 transition allows."""

    label: str
    changed: tuple[tuple[Point, Any, Any], ...]  # (variable, before, after)


class _Checker:
    def __init__(self, cfg: Config, rules: Rules) -> None:
        inst = cfg.instance
        self.devs = [z3.Const(f"dev{i}", pf.Dev) for i in range(inst.devices)]
        self.comps = [z3.Const(f"comp{i}", pf.Comp) for i in range(inst.components)]
        self.pre = pf.fresh_state("")
        self.closure = [
            z3.Distinct(*self.devs) if len(self.devs) > 1 else z3.BoolVal(True),
            z3.Distinct(*self.comps) if len(self.comps) > 1 else z3.BoolVal(True),
        ]
        self.steps = []
        for t in pf.TRANSITIONS:
            params, guard, up = t.build(self.pre, rules)
            # a step acts on devices and components of the explored instance only (a domain
            # closure axiom would do the same but leaves z3 at "unknown")
            named = [z3.Or(*[p == d for d in self.devs]) for p in params if p.sort() == pf.Dev]
            named += [z3.Or(*[p == c for c in self.comps]) for p in params
                      if p.sort() == pf.Comp]
            self.steps.append((t.name, params, z3.And(guard, *named), up))
        # one incremental solver per transition, its guard asserted once: each edge is a
        # push/check/pop of the edge's concrete values (re-asserting the quantified guard for
        # every edge was most of the check's time)
        self._points: dict[tuple[Any, ...], z3.BoolRef] = {}
        self.solvers = []
        for _name, _params, guard, _up in self.steps:
            s = z3.Solver()
            s.set("timeout", 10_000)
            s.add(*self.closure, guard)
            self.solvers.append(s)
        self.step_names = [set(re.findall(r"[a-z_]+\.[a-z_]+", t.name)) for t in pf.TRANSITIONS]

    def _term(self, expr: z3.ExprRef, var: str, idx: tuple[Any, ...]) -> z3.ExprRef:
        sig = pf.VARS[var]
        if len(sig) == 1:
            return expr
        args = []
        for sort, i in zip(sig[:-1], idx, strict=True):
            if sort == pf.Dev:
                args.append(self.devs[i])
            elif sort == pf.Comp:
                args.append(self.comps[i])
            else:
                args.append(z3.IntVal(i))
        return expr[tuple(args)] if len(args) > 1 else expr[args[0]]

    def _value(self, var: str, idx: tuple[Any, ...], val: Any) -> z3.ExprRef:
        sort = pf.VARS[var][-1]
        if sort == pf.Comp:
            return self.comps[val]
        if sort == pf.Dev:
            return self.devs[val]
        return z3.BoolVal(val) if isinstance(val, bool) else z3.IntVal(val)

    def _point(self, k: int, var: str, idx: tuple[Any, ...], val: Any) -> z3.BoolRef:
        """``var[idx] == val`` in the pre-state (``k`` = -1) or after transition ``k``,
        memoised: the same few thousand points recur on every edge, and building z3 terms
        from Python was most of the cross-check's time."""
        key = (k, var, idx, val)
        out = self._points.get(key)
        if out is None:
            expr = self.pre[var] if k < 0 else self.steps[k][3].get(var, self.pre[var])
            out = self._points[key] = self._term(expr, var, idx) == self._value(var, idx, val)
        return out

    def allowed(self, before: dict[Point, Any], after: dict[Point, Any],
                steps: tuple[str, ...] = ()) -> str | None:
        """The name of a z3 transition relating the two abstract states, or None.

        ``steps`` (the explored event's spec step names) only orders the search: the z3
        transition covering the same steps is tried first, every other one after it, so the
        verdict does not depend on the labels."""
        pre_pts = [self._point(-1, v, i, val) for (v, i), val in before.items()]
        wanted = set(steps)
        order = sorted(range(len(self.steps)), key=lambda k: -len(self.step_names[k] & wanted))
        for k in order:
            name = self.steps[k][0]
            post_pts = [self._point(k, v, i, val) for (v, i), val in after.items()]
            s = self.solvers[k]
            s.push()
            s.add(*pre_pts, *post_pts)
            r = s.check()
            s.pop()
            if r == z3.sat:
                return name
        return None


def crosscheck(res: Exploration, rules: Rules | None = None) -> tuple[int, list[Mismatch]]:
    """Check every distinct abstract edge of ``res`` (which must have its graph built) against
    the z3 relation of ``rules`` (default: the variant ``res`` explored).
    Returns (abstract edges checked, mismatches)."""
    cfg = res.config
    checker = _Checker(cfg, cfg.rules if rules is None else rules)
    alphas: dict[int, dict[Point, Any]] = {}
    done: set[tuple[frozenset[Any], frozenset[Any]]] = set()
    mismatches: list[Mismatch] = []
    for a, b, data in res.graph.edges(data=True):
        pa = alphas.setdefault(a, alpha(res.states[a], cfg))
        pb = alphas.setdefault(b, alpha(res.states[b], cfg))
        key = (frozenset(pa.items()), frozenset(pb.items()))
        if key in done:
            continue
        done.add(key)
        if checker.allowed(pa, pb, data["event"].steps) is None:
            changed = tuple(sorted(((k, pa.get(k), pb.get(k)) for k in set(pa) | set(pb)
                                    if pa.get(k) != pb.get(k)), key=repr))
            mismatches.append(Mismatch(data["event"].label, changed))
    return len(done), mismatches
