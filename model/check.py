"""`edbp model check`: everything the model promises, run once, as one report.

For the `edbp` profile: the full reachable graph with every property checked on every state,
witnesses for every property and honest goal, bounded liveness, the z3 inductive proofs, and
every seeded flaw caught by exploration (and by z3 where the flaw is in its encoding). For the
`blueprint` profile: every expected attack found with a shortest trace, and the P1–P13
violations the as-built design has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
from edbp.model import blueprint_profile as bp
from edbp.model import downgrade
from edbp.model.attacks import ATTACKS, Finding, find_attack
from edbp.model.edbp_profile import Config
from edbp.model.explore import Exploration, Profile, check_liveness, explore
from edbp.model.flaws import FLAWS, Flaw
from edbp.model.instance import Instance
from edbp.model.mermaid import sequence_diagram
from edbp.model.profiles import BLUEPRINT, EDBP
from edbp.model.proofs import Obligation, prove
from edbp.model.properties import PROPERTY_IDS, PROPERTY_TITLES, reset_caches

Stage = Callable[[str, int, int], None]

#: properties stated by a sub-model of the `edbp` profile rather than by the profile itself
#: (P14: the suite negotiation, downgrade.py); their flaws are explored there
SUBMODELS: dict[str, Profile] = {downgrade.PROPERTY: downgrade.PROFILE}

#: instances explored besides the main one, for steps the main one leaves out to stay small
#: (``uninstall.component``: one device, two versions, one uninstall; ``rotate.class_key``:
#: one rotation between or around two publications; TA builds numbered apart from the
#: sequence, so that a newer manifest may carry an older TA build; replayed QueryRequests
#: answered, ``Instance.requeries``)
SUPPLEMENTARY: tuple[Instance, ...] = (
    Instance(devices=1, versions=2, sessions=3, compromises=1, revocations=0, uninstalls=1,
             requeries=1),
    Instance(devices=1, versions=2, sessions=2, compromises=1, revocations=0, ck_rotations=1),
    Instance(devices=1, versions=2, sessions=3, compromises=0, revocations=0, ta_builds=2),
    # replayed QueryRequests answered (re-opened exchanges, each with a fresh Agent nonce:
    # P6(a) for every exchange): beside a second device and revocation; twice on one device
    # beside its compromise
    Instance(devices=2, versions=1, sessions=2, compromises=0, revocations=1, requeries=1),
    Instance(devices=1, versions=2, sessions=2, compromises=1, revocations=0, requeries=2),
)


@attrs.define
class FlawResult:
    """One seeded flaw: did exploration and z3 catch it, and how."""

    flaw: Flaw
    explored: bool
    explore_states: int
    explore_seconds: float
    violation: str
    trace: list[str]
    mermaid: str
    z3: bool | None  # None when the flaw is outside the z3 encoding
    z3_failure: str
    z3_seconds: float
    also_violated: list[str]

    @property
    def caught(self) -> bool:
        return self.explored and (self.z3 is None or self.z3)


@attrs.define
class PropertyRow:
    """One row of the table: a property across exploration, witness, z3 and its flaws."""

    id: str
    title: str
    holds: bool | None  # None: not checked in this profile
    violation: str = ""
    trace: list[str] = attrs.Factory(list)
    mermaid: str = ""
    witness: str = ""
    witness_steps: int | None = None
    z3: Obligation | None = None
    flaws: list[FlawResult] = attrs.Factory(list)
    expected_violation: bool = False


@attrs.define
class Report:
    """The whole check: what `edbp model check` prints and writes as JSON."""

    profile: str
    instance: Instance
    states: int = 0
    edges: int = 0
    complete: bool = True  # every exploration covered its whole reachable graph
    max_states: int = 2_000_000
    explore_seconds: float = 0.0
    rows: list[PropertyRow] = attrs.Factory(list)
    goals: dict[str, int | None] = attrs.Factory(dict)
    liveness_checked: int = 0
    liveness_failures: int = 0
    liveness_seconds: float = 0.0
    liveness_example: list[str] = attrs.Factory(list)
    supplementary: list[dict[str, Any]] = attrs.Factory(list)
    z3_seconds: float = 0.0
    attacks: list[Finding] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)
    seconds: float = 0.0
    exploration: Exploration | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no secrets: the model has none, only symbolic names)."""
        return {
            "profile": self.profile,
            "instance": self.instance.as_dict(),
            "ok": self.ok,
            "problems": self.problems,
            "states": self.states,
            "edges": self.edges,
            "complete": self.complete,
            "max_states": self.max_states,
            "explore_seconds": round(self.explore_seconds, 3),
            "states_per_second": round(self.states / self.explore_seconds, 1)
            if self.explore_seconds else None,
            "z3_seconds": round(self.z3_seconds, 3),
            "liveness": {"checked": self.liveness_checked, "failures": self.liveness_failures,
                         "seconds": round(self.liveness_seconds, 3),
                         "example": self.liveness_example},
            "goals": self.goals,
            "supplementary": self.supplementary,
            "seconds": round(self.seconds, 3),
            "properties": [
                {
                    "id": r.id, "title": r.title, "holds": r.holds,
                    "expected_violation": r.expected_violation,
                    "violation": r.violation, "trace": r.trace,
                    "witness": r.witness, "witness_steps": r.witness_steps,
                    "z3": None if r.z3 is None else {
                        "proved": r.z3.proved, "seconds": round(r.z3.seconds, 3),
                        "failure": r.z3.failure},
                    "flaws": [
                        {"name": f.flaw.name, "summary": f.flaw.summary, "caught": f.caught,
                         "explored": f.explored, "states": f.explore_states,
                         "violation": f.violation, "trace": f.trace,
                         "also_violated": f.also_violated,
                         "z3": f.z3, "z3_failure": f.z3_failure}
                        for f in r.flaws
                    ],
                }
                for r in self.rows
            ],
            "attacks": [
                {"id": a.attack.id, "title": a.attack.title, "found": a.found,
                 "properties": list(a.attack.properties), "description": a.description,
                 "trace": [e.label + " — " + e.text for e in a.trace.events] if a.trace else [],
                 "states": a.states, "edbp_mechanism": a.attack.edbp_mechanism}
                for a in self.attacks
            ],
        }


def _noop(stage: str, done: int, total: int) -> None:
    return None


def check_flaw(flaw: Flaw, instance: Instance, with_z3: bool = True) -> FlawResult:
    """Explore the flawed model until its target property breaks; run z3 on it too."""
    cfg = Config(flaw.instance_for(instance), rules=flaw.rules)
    reset_caches()
    res = explore(SUBMODELS.get(flaw.target, EDBP), cfg, stop_on=frozenset({flaw.target}),
                  build_graph=False)
    hit = res.violations.get(flaw.target)
    trace = res.trace(hit[0]) if hit else None
    z3_ok: bool | None = None
    z3_failure, z3_seconds = "", 0.0
    if flaw.z3 and with_z3:
        ob = prove(flaw.rules, props=(flaw.target,))[0]
        z3_ok, z3_failure, z3_seconds = (not ob.proved), ob.failure, ob.seconds
    return FlawResult(
        flaw=flaw, explored=hit is not None, explore_states=res.state_count,
        explore_seconds=res.seconds, violation=hit[1] if hit else "",
        trace=[e.label + " — " + e.text for e in trace.events] if trace else [],
        mermaid=sequence_diagram(trace.events, flaw.name) if trace else "",
        z3=z3_ok, z3_failure=z3_failure, z3_seconds=z3_seconds,
        also_violated=sorted(k for k in res.violations if k != flaw.target),
    )


def check_edbp(instance: Instance, stage: Stage = _noop, flaws: bool = True,
               with_z3: bool = True, max_states: int = 2_000_000) -> Report:
    """The full check of the hardened profile.

    An exploration stopped by the state cap has not seen the whole graph: the report says so
    (``complete`` false) and the check fails, whatever the states seen so far showed."""
    t0 = time.perf_counter()
    rep = Report("edbp", instance, max_states=max_states)
    cfg = Config(instance)
    reset_caches()
    res = explore(EDBP, cfg, progress=lambda n, q: stage("explore", n, n + q),
                  max_states=max_states)
    rep.exploration = res
    rep.states, rep.edges, rep.explore_seconds = res.state_count, res.edges, res.seconds
    if res.truncated:
        rep.complete = False
        rep.problems.append(f"exploration truncated at {res.state_count} states (state cap "
                            f"{max_states}): the reachable graph was not covered")
    stage("liveness", 0, res.state_count)
    check_liveness(EDBP, res, progress=lambda i, n: stage("liveness", i, n))
    rep.liveness_checked = res.liveness_checked
    rep.liveness_failures = len(res.liveness_failures)
    rep.liveness_seconds = res.liveness_seconds
    if res.liveness_failures:
        sid = res.liveness_failures[0]
        rep.liveness_example = res.trace(sid).steps
        rep.problems.append(f"liveness: {len(res.liveness_failures)} states cannot complete "
                            "the deployment")
    # steps the default instance leaves out, explored on a smaller instance of their own
    for extra in SUPPLEMENTARY:
        stage("supplementary", 0, 1)
        reset_caches()
        sres = explore(EDBP, Config(extra), build_graph=False, max_states=max_states)
        if sres.truncated:
            rep.complete = False
            rep.problems.append(f"supplementary instance {extra} truncated at "
                                f"{sres.state_count} states")
        check_liveness(EDBP, sres)
        rep.supplementary.append({
            "instance": extra.as_dict(), "states": sres.state_count,
            "violations": {k: v[1] for k, v in sres.violations.items()},
            "complete": not sres.truncated,
            "liveness_failures": len(sres.liveness_failures)})
        for k, (_, why) in sres.violations.items():
            rep.problems.append(f"{k} violated on supplementary instance {extra}: {why}")
        if sres.liveness_failures:
            rep.problems.append(f"liveness fails on supplementary instance {extra}")
    subs: dict[str, Exploration] = {}
    for pid, prof in SUBMODELS.items():
        stage("sub-model", 0, 1)
        sres = explore(prof, Config(instance), build_graph=False, max_states=max_states)
        check_liveness(prof, sres)
        subs[pid] = sres
        rep.supplementary.append({
            "model": prof.name, "instance": instance.as_dict(), "states": sres.state_count,
            "violations": {k: v[1] for k, v in sres.violations.items()},
            "complete": not sres.truncated, "liveness_failures": len(sres.liveness_failures)})
        if sres.truncated:
            rep.complete = False
            rep.problems.append(f"{prof.name} truncated at {sres.state_count} states")
        if sres.liveness_failures:
            rep.problems.append(f"liveness fails in {prof.name}")
        for name in prof.goals:
            rep.goals[name] = (len(sres.witness_trace(name)) if name in sres.witnesses
                               else None)
            if name not in sres.witnesses:
                rep.problems.append(f"honest goal {name} is unreachable in {prof.name}")
    proofs: dict[str, Obligation] = {}
    if with_z3:
        stage("z3", 0, 1)
        tz = time.perf_counter()
        proofs = {o.prop: o for o in prove()}
        rep.z3_seconds = time.perf_counter() - tz
    for name in list(EDBP.goals):
        rep.goals[name] = len(res.witness_trace(name)) if name in res.witnesses else None
        if name not in res.witnesses:
            rep.problems.append(f"honest goal {name} is unreachable")
    for ev_name in EDBP.event_witnesses:
        if ev_name not in PROPERTY_TITLES:
            rep.goals[ev_name] = (len(res.witness_trace(ev_name))
                                  if ev_name in res.witnesses else None)
            if ev_name not in res.witnesses:
                rep.problems.append(f"honest goal {ev_name} is unreachable")
    flaw_results: dict[str, list[FlawResult]] = {p: [] for p in PROPERTY_IDS}
    if flaws:
        for i, f in enumerate(FLAWS):
            stage("flaws", i, len(FLAWS))
            fr = check_flaw(f, instance, with_z3=with_z3)
            flaw_results[f.target].append(fr)
            if not fr.explored:
                rep.problems.append(f"seeded flaw {f.name} not caught by exploration")
            if fr.z3 is False:
                rep.problems.append(f"seeded flaw {f.name} not caught by z3")
        stage("flaws", len(FLAWS), len(FLAWS))
    for pid in PROPERTY_IDS:
        src, prof = subs.get(pid, res), SUBMODELS.get(pid, EDBP)
        row = PropertyRow(pid, PROPERTY_TITLES[pid], holds=pid not in src.violations)
        if pid in src.violations:
            sid, why = src.violations[pid]
            tr = src.trace(sid)
            row.violation, row.trace = why, [e.label + " — " + e.text for e in tr.events]
            row.mermaid = sequence_diagram(tr.events, f"{pid} violated")
            rep.problems.append(f"{pid} violated: {why}")
        desc = prof.witnesses.get(pid) or prof.event_witnesses.get(pid)
        row.witness = desc[0] if desc else ""
        if pid in src.witnesses:
            row.witness_steps = len(src.witness_trace(pid))
        else:
            rep.problems.append(f"{pid} holds vacuously: no witness ({row.witness})")
        row.z3 = proofs.get(pid)
        if with_z3 and (row.z3 is None or not row.z3.proved):
            rep.problems.append(f"{pid} not proved by z3"
                                + (f": {row.z3.failure}" if row.z3 else ""))
        row.flaws = flaw_results[pid]
        if flaws and not row.flaws:
            rep.problems.append(f"{pid} has no seeded flaw")
        rep.rows.append(row)
    rep.seconds = time.perf_counter() - t0
    return rep


def check_blueprint(instance: Instance, stage: Stage = _noop) -> Report:
    """The blueprint profile: every expected attack must be found."""
    t0 = time.perf_counter()
    rep = Report("blueprint", instance)
    cfg = Config(instance)
    for i, a in enumerate(ATTACKS):
        stage("attacks", i, len(ATTACKS))
        f = find_attack(a, cfg)
        rep.attacks.append(f)
        rep.states += f.states
        if not f.found:
            rep.problems.append(f"expected attack {a.id} no longer found")
    stage("attacks", len(ATTACKS), len(ATTACKS))
    for pid in PROPERTY_IDS:
        stage("properties", PROPERTY_IDS.index(pid), len(PROPERTY_IDS))
        row = PropertyRow(pid, PROPERTY_TITLES[pid], holds=None)
        if pid in bp.PROPERTIES:
            prof = attrs.evolve(BLUEPRINT, properties={pid: bp.PROPERTIES[pid]})
            res = explore(prof, cfg, stop_on=frozenset({pid}), build_graph=False,
                          max_states=300_000)
            rep.states += res.state_count
            rep.explore_seconds += res.seconds
            row.expected_violation = True
            if pid in res.violations:
                sid, why = res.violations[pid]
                tr = res.trace(sid)
                row.holds = False
                row.violation = why
                row.trace = [e.label + " — " + e.text for e in tr.events]
                row.mermaid = sequence_diagram(tr.events, f"{pid} violated (blueprint)")
            else:
                row.holds = True
                rep.problems.append(f"{pid}: the expected blueprint violation was not found")
        else:
            row.violation = bp.NOT_MODELLED[pid]
        rep.rows.append(row)
    rep.seconds = time.perf_counter() - t0
    return rep


def run(profile: str, instance: Instance, stage: Stage = _noop,
        max_states: int = 2_000_000) -> Report:
    """Dispatch on the profile name."""
    if profile == "blueprint":
        return check_blueprint(instance, stage)
    return check_edbp(instance, stage, max_states=max_states)
