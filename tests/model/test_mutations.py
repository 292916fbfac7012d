"""Held-out model mutations: unnamed variants of the protocol, each caught by exploration AND z3.

None of these is in the seeded-flaw catalogue and none has a name the model could recognise:
each is ``HONEST`` with one check rewritten (an equal-sequence check spelled differently, a
rollback check against the installed version instead of the floor, a TAM that ignores the
report's challenge ...). They guard against the model passing by special-casing the catalogue,
and double as the vacuity probes of the z3 proofs: removing or weakening a property's key guard
must make its proof fail.
"""

from __future__ import annotations

import ast
import pathlib

import attrs
import pytest
from edbp.model.edbp_profile import Config
from edbp.model.explore import explore
from edbp.model.flaws import FLAW_NAMES, FLAWS
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import TRANSITIONS, prove, vacuity_report
from edbp.model.properties import PROPERTY_IDS
from edbp.model.rules import AND, HONEST, NOT, OR, TRUE

_ = HONEST
BASE = Instance()
UNINSTALL = Instance(uninstalls=1)
#: one device, three challenges: install, uninstall, install again, then the old uninstall
UNINSTALL_REPLAY = Instance(devices=1, sessions=3, compromises=0, revocations=0, uninstalls=1)
ROTATION = Instance(ck_rotations=1)
#: TA builds numbered apart from the sequence (a newer manifest may carry an older build)
TA_BUILDS = Instance(devices=1, sessions=2, compromises=0, revocations=0, ta_builds=2)
#: one replayed QueryRequest answered: an exchange re-opened with an old token
REQUERY = Instance(requeries=1)

#: (id, variant, property it must break, instance)
MUTATIONS = [
    ("equal-sequence, spelled v+1>floor", attrs.evolve(_, seq_ok=lambda v, fl, ins: v + 1 > fl),
     "P7", BASE),
    # install, uninstall, then the TAM's third session offers the older version (an old Update
    # replayed into a re-opened exchange echoes a stale Agent nonce)
    ("rollback checked against the installed version",
     attrs.evolve(_, seq_ok=lambda v, fl, ins: v > ins), "P7", UNINSTALL_REPLAY),
    ("TAM ignores the report's challenge", attrs.evolve(_, report_ok=lambda s, rn, sn: s),
     "P6", BASE),
    ("TAM takes a report that is signed or names the challenge",
     attrs.evolve(_, report_ok=lambda s, rn, sn: OR(s, rn == sn)), "P6", BASE),
    # the token check alone is redundant against an honest TAM (the Agent nonce it echoes was
    # bound to that token by the QueryResponse): a weakened token check shows once the Agent
    # nonce is a constant too
    ("Agent takes any issued token, and its nonce is a constant",
     attrs.evolve(_, token_ok=lambda t, o: t >= 0, fresh_agent_nonce=False), "P6", BASE),
    ("TAM ignores the evidence's challenge", attrs.evolve(_, evidence_ok=lambda g, n, sn, i: g),
     "P3", BASE),
    ("TAM ignores who signed the evidence",
     attrs.evolve(_, evidence_ok=lambda g, n, sn, i: AND(n == sn, OR(g, n >= 0))), "P1", BASE),
    ("Agent's binding check is a tautology",
     attrs.evolve(_, binding_ok=lambda named, me: OR(named == me, named != me)), "P4", BASE),
    ("Agent compares the payload digest with itself",
     attrs.evolve(_, payload_ok=lambda pd, sd: pd == pd), "P5", BASE),
    ("Agent skips both signature checks", attrs.evolve(_, sigs_ok=TRUE), "P5", BASE),
    ("TAM's revocation check is a tautology",
     attrs.evolve(_, serves=lambda r: OR(NOT(r), r)), "P13", BASE),
    # issue 19 item 6: the predicates at the strength spec/properties.md states them
    ("TAM keeps the challenge open after a delivery (one challenge, two deliveries)",
     attrs.evolve(_, tam_closes_challenge=False), "P3", BASE),
    ("Author reuses the CEK across versions with fresh IVs",
     attrs.evolve(_, fresh_cek_per_version=False), "P11", BASE),
    ("class-key wraps and no binding check: a revoked TEE gets a CEK",
     attrs.evolve(_, wrap_to_device_key=False, binding_ok=TRUE), "P13", BASE),
    # issue 19 item 6: uninstall as a message the attacker can replay
    ("Agent removes on an uninstall naming a version at most the installed one",
     attrs.evolve(_, uninstall_ok=lambda named, ins: named <= ins), "P7", UNINSTALL_REPLAY),
    # issue 19 item 6: class-key rotation and the TA-version floor
    ("KeyVault rotates without re-wrapping the older records",
     attrs.evolve(_, rewrap_on_rotation=False), "P2", ROTATION),
    ("Agent checks the SUIT sequence in place of the TA-version floor",
     attrs.evolve(_, ta_version_ok=lambda tv, tfl, v, fl: v > fl), "P7", TA_BUILDS),
    # P6(a), "the TAM's current session": an off-by-one in the Agent's lifetime comparison
    ("Agent's exchange lifetime compared with <= instead of <",
     attrs.evolve(_, exchange_live=lambda age: age <= 1), "P6", BASE),
    # P6(a) for every exchange (protocol.md 8.3.1): the Agent nonce compared with any nonce
    # the Agent drew, not only the open exchange's
    ("Agent accepts an echoed nonce it drew for an earlier exchange",
     attrs.evolve(_, agent_nonce_ok=lambda echoed, mine: echoed <= mine), "P6", REQUERY),
    # P3's fresh evidence (EAT staleness): an off-by-one in the TAM's challenge lifetime
    ("TAM's challenge lifetime compared with <= instead of <",
     attrs.evolve(_, challenge_live=lambda age: age <= 1), "P3", BASE),
]

#: what the exploration's violation must say, where the property has several clauses and the
#: mutation targets one that an older, weaker predicate missed
CLAUSE = {
    "TAM keeps the challenge open after a delivery (one challenge, two deliveries)":
        "challenge already used",
    "Author reuses the CEK across versions with fresh IVs": "one CEK encrypts two payloads",
    "class-key wraps and no binding check: a revoked TEE gets a CEK": "reached its TEE",
    "Agent removes on an uninstall naming a version at most the installed one":
        "on an uninstall the TAM issued for",
    "KeyVault rotates without re-wrapping the older records": "unwrap under retired",
    "Agent checks the SUIT sequence in place of the TA-version floor": "TA version",
    "Agent's exchange lifetime compared with <= instead of <": "after that session had ended",
    "Agent accepts an echoed nonce it drew for an earlier exchange":
        "after that session had ended",
    "TAM's challenge lifetime compared with <= instead of <": "older than the session lifetime",
}


@pytest.mark.parametrize(("label", "rules", "target", "inst"), MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_caught_by_exploration_and_z3(label: str, rules, target: str,
                                               inst: Instance) -> None:
    res = explore(EDBP, Config(inst, rules=rules), stop_on=frozenset({target}),
                  build_graph=False, max_states=400_000)
    assert not res.truncated
    assert target in res.violations, f"{label}: exploration missed the {target} breach"
    assert CLAUSE.get(label, "") in res.violations[target][1]
    ob = prove(rules, props=(target,))[0]
    assert not ob.proved, f"{label}: z3 still proves {target}"


def test_every_proof_fails_without_its_key_guard() -> None:
    """For every property, some variant (catalogued flaw or held-out mutation) breaks its proof."""
    broken: set[str] = set()
    for _label, rules, target, _inst in MUTATIONS:
        if not prove(rules, props=(target,))[0].proved:
            broken.add(target)
    for f in FLAWS:
        if not prove(f.rules, props=(f.target,))[0].proved:
            broken.add(f.target)
    assert broken == set(PROPERTY_IDS)


def test_invariant_and_every_guard_satisfiable() -> None:
    rep = vacuity_report()
    # z3 may answer "unknown" within its bound on the quantified init (a loaded machine); only a
    # proved contradiction fails, as for the guards below
    assert rep.pop("Inv") in ("sat", "unknown")
    assert set(rep) == {t.name for t in TRANSITIONS}
    unsat = [name for name, r in rep.items() if r == "unsat"]
    assert not unsat, f"guards that contradict Inv (vacuous obligations): {unsat}"


def test_no_code_path_names_a_flaw() -> None:
    """The model's code never mentions a catalogued flaw outside the catalogue itself: a
    variant is recognised by what it does, never by what it is called."""
    root = pathlib.Path(__import__("edbp.model", fromlist=["x"]).__file__).parent
    for path in sorted(root.glob("*.py")):
        if path.name == "flaws.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                hits = [n for n in FLAW_NAMES if n in node.value]
                assert not hits, f"{path.name}:{node.lineno} names flaw(s) {hits}"
