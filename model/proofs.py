"""z3 proofs: every state-invariant property of the `edbp` profile, inductive for any size.

The explicit-state model is bounded; this module carries its state invariants to any number of
devices, components, versions, nonces and steps. The protocol is re-stated symbolically over
uninterpreted sorts ``Device`` and ``Component`` (integers for versions and challenges), with the
same transitions (same spec step names) and the same seeded flaws. The Dolev-Yao attacker is
abstracted to what it can learn of secrets (CEKs, device keys, class key, plaintexts): its
deduction rules become transitions (``attack.intercept`` unwraps what a known key opens).

For each property P the proof obligation is: ``init ⇒ Inv`` and, for every transition T,
``Inv ∧ T ⇒ P′`` where ``Inv`` is the conjunction of all properties and the strengthening
invariants below (stated in ``spec/model.md``). The properties are exactly P1–P13 over this
state; where a property is about events (delivery after evidence, strict installs), a ghost
flag records the bad event and the invariant says it never fires. A failed obligation is
printed as the transition, its parameters and the values z3 chose: a counterexample to
induction, which for a seeded flaw is the flaw itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import attrs
import z3

Dev = z3.DeclareSort("Device")
Comp = z3.DeclareSort("Component")
INT = z3.IntSort()
B = z3.BoolSort()

#: state variables: name -> sort signature (domain sorts..., range)
VARS: dict[str, tuple[z3.SortRef, ...]] = {
    "comp": (Dev, B), "rev": (Dev, B), "pub": (Comp, INT), "issued": (INT,),
    "dlv": (Dev, Comp, INT, B), "wrapnet": (Dev, Comp, INT, B), "wrapatt": (Comp, INT, B),
    "upd": (Dev, INT, Comp, INT, B), "rcpt": (Dev, INT, Comp, INT, B), "ev": (Dev, INT, B),
    "kcek": (Comp, INT, B), "kdak": (Dev, B), "kpt": (Comp, INT, B), "kck": (B,), "ckout": (B,),
    "sch": (Dev, B), "sus": (Dev, B), "snonce": (Dev, INT), "sc": (Dev, Comp), "sv": (Dev, INT),
    "agq": (Dev, B), "tok": (Dev, INT), "fl": (Dev, Comp, INT), "ins": (Dev, Comp, INT),
    "hi": (Dev, Comp, INT),
    "hold": (Dev, B), "hc": (Dev, Comp), "hv": (Dev, INT), "hfresh": (Dev, B), "htok": (Dev, INT),
    "kept": (Dev, B), "partial": (Dev, B),
    "bad_dlv": (B,), "foreign": (B,), "badinst": (B,), "stale": (B,), "badrec": (B,),
    "rollback": (B,), "reeleak": (B,), "unverif": (B,), "ivdup": (B,), "revdlv": (B,),
}


def _mk(name: str, sig: tuple[z3.SortRef, ...]) -> z3.ExprRef:
    if len(sig) == 1:
        return z3.Const(name, sig[0])
    return z3.Array(name, *sig)


State = dict[str, z3.ExprRef]
#: what a transition builder returns: its parameters, its guard, the variables it updates
Built = tuple[list[z3.ExprRef], z3.BoolRef, State]


def fresh_state(suffix: str) -> State:
    return {n: _mk(n + suffix, s) for n, s in VARS.items()}


d_, e_ = z3.Consts("d e", Dev)
c_ = z3.Const("c", Comp)
v_, n_ = z3.Ints("v n")


def _all(vs: list, body: z3.BoolRef) -> z3.BoolRef:
    return z3.ForAll(vs, body)


# ---------------------------------------------------------------- initial state


def init(s: State) -> z3.BoolRef:
    f = z3.BoolVal(False)
    parts = [
        _all([d_], z3.Not(s["comp"][d_])), _all([d_], z3.Not(s["rev"][d_])),
        _all([c_], s["pub"][c_] == 0), s["issued"] == 0,
        _all([d_, c_, v_], z3.Not(s["dlv"][d_, c_, v_])),
        _all([d_, c_, v_], z3.Not(s["wrapnet"][d_, c_, v_])),
        _all([c_, v_], z3.Not(s["wrapatt"][c_, v_])),
        _all([d_, n_, c_, v_], z3.Not(s["upd"][d_, n_, c_, v_])),
        _all([d_, n_, c_, v_], z3.Not(s["rcpt"][d_, n_, c_, v_])),
        _all([d_, n_], z3.Not(s["ev"][d_, n_])),
        _all([c_, v_], z3.Not(s["kcek"][c_, v_])), _all([d_], z3.Not(s["kdak"][d_])),
        _all([c_, v_], z3.Not(s["kpt"][c_, v_])), s["kck"] == f, s["ckout"] == f,
        _all([d_], z3.And(z3.Not(s["sch"][d_]), z3.Not(s["sus"][d_]), z3.Not(s["agq"][d_]),
                          z3.Not(s["hold"][d_]), z3.Not(s["kept"][d_]),
                          z3.Not(s["partial"][d_]))),
        _all([d_, c_], z3.And(s["fl"][d_, c_] == 0, s["ins"][d_, c_] == 0,
                              s["hi"][d_, c_] == 0)),
    ]
    parts += [s[k] == f for k in ("bad_dlv", "foreign", "badinst", "stale", "badrec",
                                  "rollback", "reeleak", "unverif", "ivdup", "revdlv")]
    return z3.And(parts)


# ---------------------------------------------------------------- properties and lemmas


def properties(s: State) -> dict[str, z3.BoolRef]:
    delivered_to_compromised = lambda c, v: z3.Exists([e_], z3.And(s["comp"][e_],  # noqa: E731
                                                                   s["dlv"][e_, c, v]))
    return {
        "P1": _all([c_, v_], z3.Implies(s["kcek"][c_, v_], delivered_to_compromised(c_, v_))),
        "P2": z3.And(z3.Not(s["kck"]), z3.Not(s["ckout"])),
        "P3": z3.Not(s["bad_dlv"]),
        "P4": z3.Not(s["foreign"]),
        "P5": z3.Not(s["badinst"]),
        "P6": z3.And(z3.Not(s["stale"]), z3.Not(s["badrec"])),
        "P7": z3.Not(s["rollback"]),
        "P8": z3.Not(s["reeleak"]),
        "P9": z3.Not(s["unverif"]),
        "P10": _all([d_], z3.Implies(z3.Not(s["comp"][d_]),
                                     z3.And(z3.Not(s["kept"][d_]), z3.Not(s["partial"][d_])))),
        "P11": z3.Not(s["ivdup"]),
        "P12": z3.And(_all([d_], z3.Implies(s["kdak"][d_], s["comp"][d_])),
                      _all([c_, v_], z3.Implies(s["kpt"][c_, v_],
                                                delivered_to_compromised(c_, v_)))),
        "P13": z3.Not(s["revdlv"]),
    }


#: strengthening invariants (named as in spec/model.md) that make the properties inductive
def lemmas(s: State) -> dict[str, z3.BoolRef]:
    return {
        "L1 wraps on the network were delivered": _all(
            [d_, c_, v_], z3.Implies(s["wrapnet"][d_, c_, v_], s["dlv"][d_, c_, v_])),
        "L2 no CEK is wrapped to an attacker key": _all([c_, v_], z3.Not(s["wrapatt"][c_, v_])),
        "L3 every TAM Update was a delivery": _all(
            [d_, n_, c_, v_], z3.Implies(s["upd"][d_, n_, c_, v_], s["dlv"][d_, c_, v_])),
        "L4 a held CEK was delivered to its holder": _all(
            [d_], z3.Implies(s["hold"][d_], s["dlv"][d_, s["hc"][d_], s["hv"][d_]])),
        "L5 a held job is above the floor and fresh": _all(
            [d_], z3.Implies(z3.And(s["hold"][d_], z3.Not(s["comp"][d_])),
                             z3.And(s["hv"][d_] > s["fl"][d_, s["hc"][d_]], s["hfresh"][d_],
                                    s["htok"][d_] == s["tok"][d_]))),
        "L6 installed versions were delivered": _all(
            [d_, c_], z3.Implies(s["ins"][d_, c_] > 0, s["dlv"][d_, c_, s["ins"][d_, c_]])),
        "L8 a floor never falls below the highest version installed": _all(
            [d_, c_], s["fl"][d_, c_] >= s["hi"][d_, c_]),
        "L7 the TAM holds no session with a revoked device": _all(
            [d_], z3.Implies(s["rev"][d_], z3.And(z3.Not(s["sch"][d_]), z3.Not(s["sus"][d_])))),
    }


# ---------------------------------------------------------------- transitions


@attrs.frozen
class Transition:
    """A named symbolic transition: parameters, guard and updates built from a state."""

    name: str
    build: Callable[[State, frozenset[str]], tuple[list[z3.ExprRef], z3.BoolRef, State]]


def _upd(arr: z3.ExprRef, idx: tuple[Any, ...], val: z3.ExprRef) -> z3.ExprRef:
    return z3.Store(arr, *idx, val)


def _t_publish(s: State, F: frozenset[str]) -> Built:
    c = z3.Const("p_c", Comp)
    up = {"pub": _upd(s["pub"], (c,), s["pub"][c] + 1)}
    if "author_reuses_iv" in F:
        up["ivdup"] = z3.Or(s["ivdup"], s["pub"][c] >= 1)
    if "class_key_exported" in F:
        up["ckout"] = z3.BoolVal(True)
    return [c], z3.BoolVal(True), up


def _t_query_request(s: State, F: frozenset[str]) -> Built:
    d = z3.Const("p_d", Dev)
    guard = z3.And(z3.Not(s["sch"][d]), z3.Not(s["sus"][d]))
    if "tam_ignores_revocation" not in F:
        guard = z3.And(guard, z3.Not(s["rev"][d]))
    up = {"sch": _upd(s["sch"], (d,), True), "snonce": _upd(s["snonce"], (d,), s["issued"]),
          "issued": s["issued"] + 1}
    return [d], guard, up


def _t_query_response(s: State, F: frozenset[str]) -> Built:
    d, n = z3.Const("p_d", Dev), z3.Int("p_n")
    guard = z3.And(z3.Not(s["comp"][d]), z3.Not(s["agq"][d]), z3.Not(s["hold"][d]),
                   n >= 0, n < s["issued"])
    up = {"agq": _upd(s["agq"], (d,), True), "tok": _upd(s["tok"], (d,), n),
          "ev": _upd(s["ev"], (d, n), True)}
    return [d, n], guard, up


def _t_deliver(s: State, F: frozenset[str]) -> Built:
    """deploy.verify_evidence + deploy.update."""
    d, n, c, v = z3.Const("p_d", Dev), z3.Int("p_n"), z3.Const("p_c", Comp), z3.Int("p_v")
    toatt = z3.Bool("p_to_attacker_key")
    genuine = z3.Or(s["ev"][d, n], s["comp"][d])
    fresh_ok = z3.And(genuine, n == s["snonce"][d], z3.Not(s["rev"][d]))
    if "tam_trusts_evidence_key" in F:
        accept = n == s["snonce"][d]
    elif "tam_wraps_without_fresh_evidence" in F:
        accept = z3.And(genuine, n >= 0, n < s["issued"])
    else:
        accept = z3.And(genuine, n == s["snonce"][d])
        toatt = z3.BoolVal(False)
    if "tam_trusts_evidence_key" not in F:
        toatt = z3.BoolVal(False)
    guard = z3.And(s["sch"][d], v >= 1, v <= s["pub"][c], accept)
    if "tam_ignores_revocation" not in F:
        guard = z3.And(guard, z3.Not(s["rev"][d]))
    up = {
        "dlv": _upd(s["dlv"], (d, c, v), True),
        "wrapnet": z3.If(toatt, s["wrapnet"], _upd(s["wrapnet"], (d, c, v), True)),
        "wrapatt": z3.If(toatt, _upd(s["wrapatt"], (c, v), True), s["wrapatt"]),
        "upd": _upd(s["upd"], (d, n, c, v), True),
        "sch": _upd(s["sch"], (d,), False), "sus": _upd(s["sus"], (d,), True),
        "sc": _upd(s["sc"], (d,), c), "sv": _upd(s["sv"], (d,), v),
        "bad_dlv": z3.Or(s["bad_dlv"], z3.Not(fresh_ok)),
        "revdlv": z3.Or(s["revdlv"], s["rev"][d]),
    }
    if "cek_sent_under_class_key" in F:
        up["ckout"] = z3.BoolVal(True)
    return [d, n, c, v, toatt], guard, up


def _t_verify_update(s: State, F: frozenset[str]) -> Built:
    """deploy.verify_update + deploy.unwrap_cek on a TAM-signed Update (d named, nonce n)."""
    d, named, n = z3.Const("p_d", Dev), z3.Const("p_named", Dev), z3.Int("p_n")
    c, v = z3.Const("p_c", Comp), z3.Int("p_v")
    binding = z3.BoolVal(True) if "agent_ignores_recipient_binding" in F else named == d
    token = z3.BoolVal(True) if "agent_skips_token_check" in F else n == s["tok"][d]
    if "agent_skips_rollback_check" in F:
        seq = z3.BoolVal(True)
    elif "agent_accepts_equal_sequence" in F:
        seq = v >= s["fl"][d, c]
    else:
        seq = v > s["fl"][d, c]
    checks = z3.And(binding, token, seq)
    unwraps = named == d
    guard = z3.And(z3.Not(s["comp"][d]), s["agq"][d], s["upd"][named, n, c, v], checks)
    up = {
        "agq": _upd(s["agq"], (d,), False),
        "foreign": z3.Or(s["foreign"], named != d),
        "hold": _upd(s["hold"], (d,), unwraps),
        "hc": _upd(s["hc"], (d,), c), "hv": _upd(s["hv"], (d,), v),
        "hfresh": _upd(s["hfresh"], (d,), n == s["tok"][d]),
        "htok": _upd(s["htok"], (d,), s["tok"][d]),
    }
    return [d, named, n, c, v], guard, up


def _t_decrypt_unverified(s: State, F: frozenset[str]) -> Built:
    """Only under agent_decrypts_before_verify: an attacker-built Update is decrypted first."""
    d = z3.Const("p_d", Dev)
    enabled = z3.BoolVal("agent_decrypts_before_verify" in F)
    guard = z3.And(enabled, z3.Not(s["comp"][d]), s["agq"][d])
    return [d], guard, {"unverif": z3.BoolVal(True), "agq": _upd(s["agq"], (d,), False)}


def _t_install(s: State, F: frozenset[str]) -> Built:
    """deploy.fetch .. deploy.success with the genuine payload."""
    d = z3.Const("p_d", Dev)
    c, v = s["hc"][d], s["hv"][d]
    guard = z3.And(z3.Not(s["comp"][d]), s["hold"][d])
    up = {
        "ins": _upd(s["ins"], (d, c), v),
        "fl": _upd(s["fl"], (d, c), z3.If(v > s["fl"][d, c], v, s["fl"][d, c])),
        "hold": _upd(s["hold"], (d,), False),
        "rcpt": _upd(s["rcpt"], (d, s["htok"][d], c, v), True),
        "stale": z3.Or(s["stale"], z3.Not(s["hfresh"][d])),
        "rollback": z3.Or(s["rollback"], v <= s["hi"][d, c]),
        "hi": _upd(s["hi"], (d, c), z3.If(v > s["hi"][d, c], v, s["hi"][d, c])),
    }
    if "cek_left_in_ree" in F:
        up["reeleak"] = z3.BoolVal(True)
        up["kcek"] = _upd(s["kcek"], (c, v), True)
    return [d], guard, up


def _t_install_forged(s: State, F: frozenset[str]) -> Built:
    """The Broker feeds a ciphertext it built under a CEK it knows (needs the CEK)."""
    d = z3.Const("p_d", Dev)
    c, v = s["hc"][d], s["hv"][d]
    guard = z3.And(z3.Not(s["comp"][d]), s["hold"][d], s["kcek"][c, v])
    installs = "agent_skips_payload_digest" in F
    up: State = {"hold": _upd(s["hold"], (d,), False)}
    if installs:
        up["badinst"] = z3.BoolVal(True)
    return [d], guard, up


def _t_fetch_fail(s: State, F: frozenset[str]) -> Built:
    """deploy.error after the CEK was unwrapped: erase, nothing installed."""
    d = z3.Const("p_d", Dev)
    guard = z3.And(z3.Not(s["comp"][d]), s["hold"][d])
    up: State = {"hold": _upd(s["hold"], (d,), False)}
    if "cek_not_erased_on_error" in F:
        up["kept"] = _upd(s["kept"], (d,), True)
    if "partial_install_on_failure" in F:
        up["partial"] = _upd(s["partial"], (d,), True)
    return [d], guard, up


def _t_agent_timeout(s: State, F: frozenset[str]) -> Built:
    d = z3.Const("p_d", Dev)
    return [d], s["agq"][d], {"agq": _upd(s["agq"], (d,), False)}


def _t_record(s: State, F: frozenset[str]) -> Built:
    """deploy.record: the TAM records the device's report for its open Update."""
    d, n2 = z3.Const("p_d", Dev), z3.Int("p_report_nonce")
    n, c, v = s["snonce"][d], s["sc"][d], s["sv"][d]
    genuine = z3.Or(s["rcpt"][d, n, c, v], s["comp"][d])
    if "receipt_unsigned" in F:
        accept = z3.BoolVal(True)
    elif "agent_reuses_report_nonce" in F:
        accept = z3.Or(s["rcpt"][d, n2, c, v], s["comp"][d])
    else:
        accept = genuine
    guard = z3.And(s["sus"][d], accept)
    return [d, n2], guard, {"sus": _upd(s["sus"], (d,), False),
                            "badrec": z3.Or(s["badrec"], z3.Not(genuine))}


def _t_expire(s: State, F: frozenset[str]) -> Built:
    d = z3.Const("p_d", Dev)
    return [d], z3.Or(s["sch"][d], s["sus"][d]), {"sch": _upd(s["sch"], (d,), False),
                                                  "sus": _upd(s["sus"], (d,), False)}


def _t_uninstall(s: State, F: frozenset[str]) -> Built:
    """uninstall.component: the component goes, its floor stays (unless the flaw drops it)."""
    d, c = z3.Const("p_d", Dev), z3.Const("p_c", Comp)
    guard = z3.And(z3.Not(s["comp"][d]), z3.Not(s["hold"][d]), s["ins"][d, c] > 0)
    up = {"ins": _upd(s["ins"], (d, c), 0)}
    if "uninstall_resets_floor" in F:
        up["fl"] = _upd(s["fl"], (d, c), 0)
    return [d, c], guard, up


def _t_revoke(s: State, F: frozenset[str]) -> Built:
    d = z3.Const("p_d", Dev)
    up = {"rev": _upd(s["rev"], (d,), True)}
    if "tam_ignores_revocation" not in F:
        up["sch"] = _upd(s["sch"], (d,), False)
        up["sus"] = _upd(s["sus"], (d,), False)
    return [d], z3.BoolVal(True), up


def _t_compromise(s: State, F: frozenset[str]) -> Built:
    d = z3.Const("p_d", Dev)
    shared = "shared_device_key" in F
    kdak = z3.Lambda([e_], z3.BoolVal(True)) if shared else _upd(s["kdak"], (d,), True)
    held = lambda c, v: z3.Or(s["wrapnet"][d, c, v],  # noqa: E731
                              z3.And(s["hold"][d], s["hc"][d] == c, s["hv"][d] == v),
                              z3.And(s["ins"][d, c] == v, v > 0))
    up = {
        "comp": _upd(s["comp"], (d,), True), "kdak": kdak,
        "kcek": z3.Lambda([c_, v_], z3.Or(s["kcek"][c_, v_], held(c_, v_))),
        "kpt": z3.Lambda([c_, v_], z3.Or(s["kpt"][c_, v_], z3.And(s["ins"][d, c_] == v_,
                                                                   v_ > 0))),
        "kck": z3.Or(s["kck"], s["ckout"]),
    }
    return [d], z3.BoolVal(True), up


def _t_intercept(s: State, F: frozenset[str]) -> Built:
    """attack.intercept: the attacker's deduction rules (unwrap with known keys, decrypt)."""
    learn = z3.Lambda([c_, v_], z3.Or(
        s["kcek"][c_, v_], s["wrapatt"][c_, v_],
        z3.Exists([e_], z3.And(s["wrapnet"][e_, c_, v_], s["kdak"][e_]))))
    kpt = z3.Lambda([c_, v_], z3.Or(s["kpt"][c_, v_], z3.And(s["kcek"][c_, v_],
                                                              v_ <= s["pub"][c_])))
    return [], z3.BoolVal(True), {"kcek": learn, "kpt": kpt}


TRANSITIONS: tuple[Transition, ...] = (
    Transition("publish.build..publish.push", _t_publish),
    Transition("deploy.query_request", _t_query_request),
    Transition("deploy.query_response", _t_query_response),
    Transition("deploy.verify_evidence + deploy.update", _t_deliver),
    Transition("deploy.verify_update + deploy.unwrap_cek", _t_verify_update),
    Transition("deploy.decrypt (before verify)", _t_decrypt_unverified),
    Transition("deploy.fetch .. deploy.success", _t_install),
    Transition("attack.control_ree + deploy.fetch", _t_install_forged),
    Transition("deploy.fetch + deploy.error", _t_fetch_fail),
    Transition("deploy.error (timeout)", _t_agent_timeout),
    Transition("deploy.record", _t_record),
    Transition("deploy.record (expiry)", _t_expire),
    Transition("uninstall.component", _t_uninstall),
    Transition("revoke.device", _t_revoke),
    Transition("attack.compromise_device", _t_compromise),
    Transition("attack.intercept", _t_intercept),
)


# ---------------------------------------------------------------- the proof driver


@attrs.frozen
class Obligation:
    """One proof result: property, status, time, counterexample text when it fails."""

    prop: str
    proved: bool
    seconds: float
    failure: str = ""


#: what each obligation may assume besides itself (properties P*, lemmas by their L-number)
SUPPORT: dict[str, tuple[str, ...]] = {
    "P1": ("P12", "L1", "L2", "L4", "L6"), "P6": ("L5",), "P7": ("L5", "L8"),
    "P12": ("P1", "L1", "L2", "L4", "L6"), "P13": ("L7",),
    "L4": ("L3",), "L6": ("L4", "L3"),
}


def _named(s: State) -> dict[str, z3.BoolRef]:
    out: dict[str, z3.BoolRef] = dict(properties(s))
    for full, f in lemmas(s).items():
        out[full.split(" ", 1)[0]] = f
    return out


def lemma_titles() -> dict[str, str]:
    """L-number -> statement, for reports and spec/model.md."""
    return {full.split(" ", 1)[0]: full.split(" ", 1)[1] for full in lemmas(fresh_state("_"))}


def _obligation(name: str, pre_f: dict[str, z3.BoolRef], post_f: dict[str, z3.BoolRef],
                steps: list, timeout_ms: int, pre: State, post: State) -> tuple[bool, str]:
    hyp = z3.And(pre_f[name], *(pre_f[x] for x in SUPPORT.get(name, ())))
    for tname, params, step in steps:
        # quantified array formulas can send z3's model-based instantiation into a long
        # search that another random seed avoids: retry with fresh seeds before giving up
        for seed in range(4):
            s = z3.Solver()
            s.set("timeout", timeout_ms // 4, "random_seed", seed)
            s.add(hyp, step, z3.Not(post_f[name]))
            r = s.check()
            if r != z3.unknown:
                break
        if r == z3.sat:
            return False, _counterexample(s.model(), tname, params, name, pre, post)
        if r == z3.unknown:
            return False, f"z3 could not decide {name} over {tname} ({s.reason_unknown()})"
    return True, ""


def _readable(value: z3.ExprRef) -> str:
    """``Device!val!1`` -> ``device1``: z3's names for elements of uninterpreted sorts."""
    return re.sub(r"(\w+)!val!(\d+)", lambda m: m.group(1).lower() + m.group(2), str(value))


#: per-device state shown in a counterexample: name -> z3 variable
_DEVICE_VIEW = (("compromised", "comp"), ("revoked", "rev"), ("challenged", "sch"),
                ("update_sent", "sus"), ("challenge", "snonce"), ("queried", "agq"),
                ("token", "tok"), ("holds_cek", "hold"), ("kept_cek", "kept"),
                ("partial_install", "partial"))
_FLAGS = ("bad_dlv", "foreign", "badinst", "stale", "badrec", "rollback", "reeleak", "unverif",
          "ivdup", "revdlv", "kck", "ckout")


def _counterexample(model: z3.ModelRef, tname: str, params: list, name: str, pre: State,
                    post: State) -> str:
    """The counterexample to induction as a readable before/after state of the devices and
    components the step touches."""
    ev = lambda e: _readable(model.eval(e, model_completion=True))  # noqa: E731
    params = [p for p in params if p.decl().kind() == z3.Z3_OP_UNINTERPRETED]
    shown = ", ".join(f"{str(p).removeprefix('p_')}={ev(p)}" for p in params)
    lines = [f"{name} is not preserved by {tname}({shown}):"]
    for when, st in (("before", pre), ("after", post)):
        parts = []
        for p in params:
            if p.sort() == Dev:
                fields = ", ".join(f"{label}={ev(st[var][p])}" for label, var in _DEVICE_VIEW)
                parts.append(f"{ev(p)}[{fields}]")
            elif p.sort() == Comp:
                parts.append(f"{ev(p)}[published={ev(st['pub'][p])}]")
        flags = [f for f in _FLAGS if z3.is_true(model.eval(st[f], model_completion=True))]
        parts.append("flags set: " + (", ".join(flags) if flags else "none"))
        lines.append(f"  {when}: " + "; ".join(parts))
    return "\n".join(lines)


def prove(flaws: frozenset[str] = frozenset(), props: tuple[str, ...] | None = None,
          timeout_ms: int = 20_000) -> list[Obligation]:
    """Prove every property (and its strengthening lemmas) inductive under ``flaws``.

    Obligations: ``init ⇒ X`` and ``X ∧ support(X) ∧ T ⇒ X′`` for every transition T, for X
    each property and each lemma. A property is proved when its own obligation and those of
    every lemma it rests on (transitively) hold.
    """
    pre, post = fresh_state(""), fresh_state("'")
    pre_f, post_f = _named(pre), _named(post)
    steps = []
    for t in TRANSITIONS:
        params, guard, up = t.build(pre, flaws)
        frame = [post[k] == up.get(k, pre[k]) for k in VARS]
        steps.append((t.name, params, z3.And(guard, *frame)))
    init_f = init(pre)
    cache: dict[str, tuple[bool, str, float]] = {}

    def one(name: str) -> tuple[bool, str, float]:
        if name not in cache:
            t0 = time.perf_counter()
            s = z3.Solver()
            s.set("timeout", timeout_ms)
            s.add(init_f, z3.Not(pre_f[name]))
            if s.check() != z3.unsat:
                cache[name] = (False, f"the initial state does not satisfy {name}", 0.0)
            else:
                ok, why = _obligation(name, pre_f, post_f, steps, timeout_ms, pre, post)
                cache[name] = (ok, why, time.perf_counter() - t0)
        return cache[name]

    def closure(name: str) -> list[str]:
        seen: list[str] = []
        todo = [name]
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.append(x)
                todo.extend(SUPPORT.get(x, ()))
        return seen

    results: list[Obligation] = []
    for prop in props or tuple(properties(pre)):
        t0 = time.perf_counter()
        failure = ""
        for x in closure(prop):
            ok, why, _ = one(x)
            if not ok and not failure:
                failure = why
        results.append(Obligation(prop, not failure, time.perf_counter() - t0, failure))
    return results
