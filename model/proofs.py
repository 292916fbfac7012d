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
from edbp.model import rotation as _rotation
from edbp.model import timing
from edbp.model import uninstall as _uninstall
from edbp.model.rules import HONEST, NO_NONCE, Rules
from edbp.model.solving import solve

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
    "hdig": (Dev, INT), "hown": (Dev, B), "hver": (Dev, B), "instok": (Dev, INT, Comp, INT, B),
    "used": (Comp, INT, B), "answered": (INT, B),
    "kept": (Dev, B), "partial": (Dev, B),
    "bad_dlv": (B,), "foreign": (B,), "badinst": (B,), "stale": (B,), "badrec": (B,),
    "rollback": (B,), "reeleak": (B,), "unverif": (B,), "ivdup": (B,), "revdlv": (B,),
    "revtee": (B,),
    # uninstall as a message (uninstall.py): TAM uninstall Updates sent (device, token, c, v);
    # ghost: a removal other than the one a TAM Update named
    "unupd": (Dev, INT, Comp, INT, B), "baduni": (B,),
    # rotate.class_key (rotation.py): the current class-key generation, each package record's
    # generation; ghosts: a CEK published under a retired generation, a delivery unwrapped
    # under one
    "gen": (INT,), "pgen": (Comp, INT, INT), "staleck": (B,), "retuse": (B,),
    # TA-version floor (taversion.py): each package's TA build, the Agent's TA floor, the
    # highest TA build installed (ghost), an install below it (ghost)
    "pbuild": (Comp, INT, INT), "tfl": (Dev, Comp, INT), "thi": (Dev, Comp, INT),
    "tarb": (B,),
    **timing.VARS,
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


def _all(vs: list[Any], body: z3.BoolRef) -> z3.BoolRef:
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
        _all([d_, n_, c_, v_], z3.Not(s["instok"][d_, n_, c_, v_])),
        _all([d_, n_, c_, v_], z3.Not(s["unupd"][d_, n_, c_, v_])),
        s["gen"] == 0, _all([c_, v_], s["pgen"][c_, v_] == 0),
        _all([d_, c_], z3.And(s["tfl"][d_, c_] == 0, s["thi"][d_, c_] == 0)),
        _all([c_, v_], z3.Not(s["used"][c_, v_])),
        _all([n_], z3.Not(s["answered"][n_])),
        _all([d_, n_], z3.Not(s["ev"][d_, n_])),
        _all([c_, v_], z3.Not(s["kcek"][c_, v_])), _all([d_], z3.Not(s["kdak"][d_])),
        _all([c_, v_], z3.Not(s["kpt"][c_, v_])), s["kck"] == f, s["ckout"] == f,
        _all([d_], z3.And(z3.Not(s["sch"][d_]), z3.Not(s["sus"][d_]), z3.Not(s["agq"][d_]),
                          z3.Not(s["hold"][d_]), z3.Not(s["kept"][d_]),
                          z3.Not(s["partial"][d_]))),
        _all([d_, c_], z3.And(s["fl"][d_, c_] == 0, s["ins"][d_, c_] == 0,
                              s["hi"][d_, c_] == 0)),
    ]
    parts.append(timing.init(s))
    parts += [s[k] == f for k in ("bad_dlv", "foreign", "badinst", "stale", "badrec",
                                  "rollback", "reeleak", "unverif", "ivdup", "revdlv",
                                  "revtee", "baduni", "staleck", "retuse", "tarb")]
    return z3.And(parts)


# ---------------------------------------------------------------- properties and lemmas


def properties(s: State) -> dict[str, z3.BoolRef]:
    def delivered_to_compromised(c: Any, v: Any) -> z3.BoolRef:
        return z3.Exists([e_], z3.And(s["comp"][e_], s["dlv"][e_, c, v]))

    return {
        "P1": _all([c_, v_], z3.Implies(s["kcek"][c_, v_], delivered_to_compromised(c_, v_))),
        "P2": z3.And(z3.Not(s["kck"]), z3.Not(s["ckout"]), z3.Not(s["staleck"]),
                     z3.Not(s["retuse"])),
        "P3": z3.Not(s["bad_dlv"]),
        "P4": z3.Not(s["foreign"]),
        "P5": z3.Not(s["badinst"]),
        # P6(a)'s "current session" (no ``late``) is a conjunct of L15, which P6 rests on
        "P6": z3.And(z3.Not(s["stale"]), z3.Not(s["badrec"])),
        "P7": z3.And(z3.Not(s["rollback"]), z3.Not(s["baduni"]), z3.Not(s["tarb"])),
        "P8": z3.Not(s["reeleak"]),
        "P9": z3.Not(s["unverif"]),
        "P10": _all([d_], z3.Implies(z3.Not(s["comp"][d_]),
                                     z3.And(z3.Not(s["kept"][d_]), z3.Not(s["partial"][d_])))),
        "P11": z3.Not(s["ivdup"]),
        "P12": z3.And(_all([d_], z3.Implies(s["kdak"][d_], s["comp"][d_])),
                      _all([c_, v_], z3.Implies(s["kpt"][c_, v_],
                                                delivered_to_compromised(c_, v_)))),
        "P13": z3.And(z3.Not(s["revdlv"]), z3.Not(s["revtee"])),
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
                                    s["htok"][d_] == s["tok"][d_], s["hver"][d_],
                                    z3.Not(s["hown"][d_]), s["hdig"][d_] == s["hv"][d_]))),
        "L6 installed versions were delivered": _all(
            [d_, c_], z3.Implies(s["ins"][d_, c_] > 0, s["dlv"][d_, c_, s["ins"][d_, c_]])),
        "L8 a floor never falls below the highest version installed": _all(
            [d_, c_], s["fl"][d_, c_] >= s["hi"][d_, c_]),
        "L9 a CEK id in use belongs to a published version": z3.And(
            _all([c_], s["pub"][c_] >= 0),
            _all([c_, v_], z3.Implies(s["used"][c_, v_], z3.And(v_ >= 1, v_ <= s["pub"][c_])))),
        "L10 a signed install report stands for an install in that exchange": _all(
            [d_, n_, c_, v_], z3.Implies(s["rcpt"][d_, n_, c_, v_], s["instok"][d_, n_, c_, v_])),
        "L11 only published versions are delivered": _all(
            [d_, c_, v_], z3.Implies(s["dlv"][d_, c_, v_],
                                     z3.And(v_ >= 1, v_ <= s["pub"][c_]))),
        "L12 an open challenge is issued, unanswered and held by one device only": z3.And(
            s["issued"] >= 0,
            _all([n_], z3.Implies(s["answered"][n_], z3.And(n_ >= 0, n_ < s["issued"]))),
            _all([d_], z3.Implies(s["sch"][d_], z3.And(
                s["snonce"][d_] >= 0, s["snonce"][d_] < s["issued"],
                z3.Not(s["answered"][s["snonce"][d_]])))),
            _all([d_, e_], z3.Implies(z3.And(s["sch"][d_], s["sch"][e_],
                                             s["snonce"][d_] == s["snonce"][e_]), d_ == e_))),
        "L13 every package record is wrapped under the current class-key generation": z3.And(
            s["gen"] >= 0,
            _all([c_, v_], z3.Implies(z3.And(v_ >= 1, v_ <= s["pub"][c_]),
                                      s["pgen"][c_, v_] == s["gen"]))),
        "L14 a TA-version floor never falls below the highest TA build installed": _all(
            [d_, c_], s["tfl"][d_, c_] >= s["thi"][d_, c_]),
        "L15 an exchange outlives no expired session's Update it answers": timing.lemma(s),
        "L7 the TAM holds no session with a revoked device": _all(
            [d_], z3.Implies(s["rev"][d_], z3.And(z3.Not(s["sch"][d_]), z3.Not(s["sus"][d_])))),
    }


# ---------------------------------------------------------------- transitions


@attrs.frozen
class Transition:
    """A named symbolic transition: parameters, guard and updates built from a state."""

    name: str
    build: Callable[[State, Rules], tuple[list[z3.ExprRef], z3.BoolRef, State]]


def _upd(arr: z3.ExprRef, idx: tuple[Any, ...], val: z3.ExprRef) -> z3.ExprRef:
    return z3.Store(arr, *idx, val)


def _t_publish(s: State, R: Rules) -> Built:
    """publish.*: the Author encrypts version pub[c]+1 under a CEK (its id ``kid``)."""
    c, build = z3.Const("p_c", Comp), z3.Int("p_build")
    v = s["pub"][c] + 1
    kid = v if R.fresh_cek_per_version else z3.IntVal(1)
    # publish.wrap_cek under the current class-key generation (or, in a variant, the retired
    # one before it); the image embeds the TA build the Author chose (``p_build``)
    gen = s["gen"] if R.publish_under_current_ck else z3.If(s["gen"] > 0, s["gen"] - 1, 0)
    up = {"pub": _upd(s["pub"], (c,), v),
          "used": _upd(s["used"], (c, kid), True),
          "ivdup": z3.Or(s["ivdup"], s["used"][c, kid]),  # a second payload under one CEK
          "ckout": z3.Or(s["ckout"], z3.BoolVal(not R.class_key_in_hsm)),
          "pgen": _upd(s["pgen"], (c, v), gen), "staleck": z3.Or(s["staleck"], gen < s["gen"]),
          "pbuild": _upd(s["pbuild"], (c, v), build)}
    return [c, build], build >= 1, up


def _t_query_request(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    guard = z3.And(z3.Not(s["sch"][d]), z3.Not(s["sus"][d]), R.serves(s["rev"][d]))
    up = {"sch": _upd(s["sch"], (d,), True), "snonce": _upd(s["snonce"], (d,), s["issued"]),
          "issued": s["issued"] + 1,
          "cage": _upd(s["cage"], (d,), z3.IntVal(0))}  # the challenge's clock starts
    return [d], guard, up


def _t_query_response(s: State, R: Rules) -> Built:
    d, n = z3.Const("p_d", Dev), z3.Int("p_n")
    guard = z3.And(z3.Not(s["comp"][d]), z3.Not(s["agq"][d]), z3.Not(s["hold"][d]),
                   n >= 0, n < s["issued"])
    up = {"agq": _upd(s["agq"], (d,), True), "tok": _upd(s["tok"], (d,), n),
          "ev": _upd(s["ev"], (d, n), True),
          # a fresh Agent nonce, bound to n by the QueryResponse; the exchange's clock starts
          **timing.draw(s, R, d, n)}
    return [d, n], guard, up


def _t_deliver(s: State, R: Rules) -> Built:
    """deploy.verify_evidence + deploy.update on evidence for challenge ``n``.

    The evidence is genuine when the device signed it (or the attacker holds its key) and it
    names the registered agreement key; ``p_to_attacker_key`` is evidence naming the
    attacker's key instead. The TAM's check is ``R.evidence_ok``; the ghosts record the truth.
    """
    d, n, c, v = z3.Const("p_d", Dev), z3.Int("p_n"), z3.Const("p_c", Comp), z3.Int("p_v")
    toatt, k = z3.Bool("p_to_attacker_key"), z3.Int("p_agent_nonce")
    # genuine: the device's own QueryResponse for n with Agent nonce k (or its key is known)
    genuine = z3.And(z3.Or(timing.answered_with(s, R, d, n, k), s["comp"][d]), z3.Not(toatt))
    fresh_ok = z3.And(genuine, n == s["snonce"][d], z3.Not(s["rev"][d]))
    guard = z3.And(s["sch"][d], v >= 1, v <= s["pub"][c], n >= 0, n < s["issued"],
                   R.evidence_ok(genuine, n, s["snonce"][d], s["issued"]),
                   R.challenge_live(s["cage"][d]), R.serves(s["rev"][d]))
    up = {
        "dlv": _upd(s["dlv"], (d, c, v), True),
        "wrapnet": z3.If(toatt, s["wrapnet"], _upd(s["wrapnet"], (d, c, v), True)),
        "wrapatt": z3.If(toatt, _upd(s["wrapatt"], (c, v), True), s["wrapatt"]),
        "upd": _upd(s["upd"], (d, n, c, v), True),
        # T4: the session leaves CHALLENGED (unless the variant keeps its challenge open)
        "sch": _upd(s["sch"], (d,), z3.BoolVal(not R.tam_closes_challenge)),
        "sus": _upd(s["sus"], (d,), z3.BoolVal(R.tam_closes_challenge)),
        "sc": _upd(s["sc"], (d,), c), "sv": _upd(s["sv"], (d,), v),
        "uage": _upd(s["uage"], (d,), z3.IntVal(0)),  # the TAM's hold starts at the Update
        "usent": _upd(s["usent"], (d, n), z3.BoolVal(True)),
        "uan": _upd(s["uan"], (d, n), k),  # the Update echoes the verified Agent nonce
        # P3: not the device's evidence for the session's challenge, the challenge answered
        # before, or older than the session lifetime on the TAM's clock (stale evidence)
        "bad_dlv": z3.Or(s["bad_dlv"], z3.Not(fresh_ok), s["answered"][n],
                         s["cage"][d] >= timing.CAP),
        "answered": _upd(s["answered"], (n,), True),
        "revdlv": z3.Or(s["revdlv"], s["rev"][d]),
        "ckout": z3.Or(s["ckout"], z3.BoolVal(not R.wrap_to_device_key)),
        # the KeyVault unwraps the record's CEK under the record's generation
        "retuse": z3.Or(s["retuse"], s["pgen"][c, v] < s["gen"]),
    }
    return [d, n, c, v, toatt, k], guard, up


def _t_verify_update(s: State, R: Rules) -> Built:
    """deploy.verify_update + deploy.unwrap_cek on any Update the attacker can hand device d.

    ``p_tam_signed``: a TAM Update that was sent (for ``named``, challenge ``n``, package
    (c, v), whose Author manifest signs digest v). Otherwise the attacker built it: any fields,
    either a genuine Author manifest it saw (``p_author_signed``, digest v of a published
    version) or its own (any digest), and a CEK it knows wrapped to d's public key.
    """
    d, named, n = z3.Const("p_d", Dev), z3.Const("p_named", Dev), z3.Int("p_n")
    c, v, dg = z3.Const("p_c", Comp), z3.Int("p_v"), z3.Int("p_digest")
    tsig, asig = z3.Bool("p_tam_signed"), z3.Bool("p_author_signed")
    echo = timing.echoed(s, tsig, named, n, z3.Int("p_echo"))
    avail = z3.If(tsig, z3.And(s["upd"][named, n, c, v], asig, dg == v),
                  z3.Implies(asig, z3.And(dg == v, v >= 1, v <= s["pub"][c])))
    checks = z3.And(R.sigs_ok(tsig, asig), R.binding_ok(named, d), R.token_ok(n, s["tok"][d]),
                    R.agent_nonce_ok(echo, s["anon"][d]),
                    R.seq_ok(v, s["fl"][d, c], s["ins"][d, c]),
                    R.exchange_live(s["aage"][d]))
    proceed = z3.Or(checks, z3.BoolVal(not R.verify_before_decrypt))
    unwraps = z3.If(tsig, z3.Or(named == d, z3.BoolVal(not R.wrap_to_device_key)), True)
    guard = z3.And(z3.Not(s["comp"][d]), s["agq"][d], avail, proceed)
    up = {
        "agq": _upd(s["agq"], (d,), False),
        "foreign": z3.Or(s["foreign"], z3.And(checks, named != d)),
        "unverif": z3.Or(s["unverif"], z3.And(unwraps, z3.Not(checks))),
        "hold": _upd(s["hold"], (d,), unwraps),
        "hc": _upd(s["hc"], (d,), c), "hv": _upd(s["hv"], (d,), v),
        "hdig": _upd(s["hdig"], (d,), dg), "hown": _upd(s["hown"], (d,), z3.Not(tsig)),
        "hver": _upd(s["hver"], (d,), checks),
        "hfresh": _upd(s["hfresh"], (d,), n == s["tok"][d]),
        # P13 second clause: a TAM-released CEK never delivered to d, in d's TEE after its
        # revocation (with the first clause: no CEK published later ever gets there)
        "revtee": z3.Or(s["revtee"], z3.And(unwraps, tsig, s["rev"][d],
                                            z3.Not(s["dlv"][d, c, v]))),
        "htok": _upd(s["htok"], (d,), s["tok"][d]),
        # P6(a): the Update of a session that expired, consumed by an exchange with its
        # token, whichever QueryRequest opened it (the explorer states it as "no longer
        # current, not revoked"; a session that ended by a record is the other way it stops
        # being current, which the explorer's ghost covers too)
        "late": z3.Or(s["late"], z3.And(unwraps, tsig, named == d, n == s["tok"][d],
                                        s["usent"][d, n], s["tout"][d, n])),
    }
    return [d, named, n, c, v, tsig, asig, dg, z3.Int("p_echo")], guard, up


def _t_install(s: State, R: Rules) -> Built:
    """deploy.fetch .. deploy.success: the Broker hands over a payload of digest ``p_payload``.

    It decrypts when it is the genuine ciphertext of (c, v) (digest v), or the attacker knows
    the CEK (it built the Update, or learned the CEK). The Agent's check is ``R.payload_ok``
    against the digest the manifest signed; the ghost records whether the code installed is
    what the Author signed as (c, v)."""
    d, p, tv = z3.Const("p_d", Dev), z3.Int("p_payload"), z3.Int("p_ta_version")
    c, v = s["hc"][d], s["hv"][d]
    decrypts = z3.Or(s["hown"][d], p == v, s["kcek"][c, v])
    genuine = z3.And(p == v, v >= 1, v <= s["pub"][c])
    # the TA version the image embeds: the published build for the genuine image, anything
    # for attacker code; OP-TEE's floor check (``R.ta_version_ok``) after the digest check
    guard = z3.And(z3.Not(s["comp"][d]), s["hold"][d], s["hver"][d], decrypts,
                   R.payload_ok(p, s["hdig"][d]), z3.Implies(genuine, tv == s["pbuild"][c, v]),
                   R.ta_version_ok(tv, s["tfl"][d, c], v, s["fl"][d, c]))
    rn = s["htok"][d] if R.report_binds_nonce else z3.IntVal(NO_NONCE)
    leak = z3.BoolVal(not R.cek_stays_in_tee)
    up = {
        "ins": _upd(s["ins"], (d, c), v),
        "fl": _upd(s["fl"], (d, c), z3.If(v > s["fl"][d, c], v, s["fl"][d, c])),
        "hold": _upd(s["hold"], (d,), False),
        "rcpt": _upd(s["rcpt"], (d, rn, c, v), True),
        "instok": _upd(s["instok"], (d, s["htok"][d], c, v), True),
        "stale": z3.Or(s["stale"], z3.Not(s["hfresh"][d])),
        "rollback": z3.Or(s["rollback"], v <= s["hi"][d, c]),
        "hi": _upd(s["hi"], (d, c), z3.If(v > s["hi"][d, c], v, s["hi"][d, c])),
        "badinst": z3.Or(s["badinst"], z3.Not(genuine)),
        "reeleak": z3.Or(s["reeleak"], leak),
        "kcek": z3.If(leak, _upd(s["kcek"], (c, v), True), s["kcek"]),
        "tfl": _upd(s["tfl"], (d, c), z3.If(tv > s["tfl"][d, c], tv, s["tfl"][d, c])),
        "thi": z3.If(genuine, _upd(s["thi"], (d, c), z3.If(tv > s["thi"][d, c], tv,
                                                            s["thi"][d, c])), s["thi"]),
        "tarb": z3.Or(s["tarb"], z3.And(genuine, tv < s["thi"][d, c])),
    }
    return [d, p, tv], guard, up


def _t_fetch_fail(s: State, R: Rules) -> Built:
    """deploy.error after the CEK was unwrapped: erase, nothing installed."""
    d = z3.Const("p_d", Dev)
    guard = z3.And(z3.Not(s["comp"][d]), s["hold"][d])
    up: State = {"hold": _upd(s["hold"], (d,), False),
                 "kept": _upd(s["kept"], (d,), z3.Or(s["kept"][d],
                                                    z3.BoolVal(not R.erase_cek_on_error))),
                 "partial": _upd(s["partial"], (d,),
                                 z3.Or(s["partial"][d], z3.BoolVal(not R.install_after_check)))}
    return [d], guard, up


def _t_agent_timeout(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    return [d], s["agq"][d], {"agq": _upd(s["agq"], (d,), False)}


def _t_record(s: State, R: Rules) -> Built:
    """deploy.record: the TAM records a report for its open Update (c, v, challenge n).

    A device-signed report exists when the Agent sent it (``rcpt``) or the attacker holds the
    device key; an unsigned one anyone can write. The TAM's check is ``R.report_ok``; the ghost
    records whether the device really installed (c, v) in that exchange."""
    d, rn, signed = z3.Const("p_d", Dev), z3.Int("p_report_nonce"), z3.Bool("p_signed")
    n, c, v = s["snonce"][d], s["sc"][d], s["sv"][d]
    avail = z3.Implies(signed, z3.Or(s["rcpt"][d, rn, c, v], s["comp"][d]))
    truth = z3.Or(s["instok"][d, n, c, v], s["comp"][d])
    guard = z3.And(s["sus"][d], avail, R.report_ok(signed, rn, n))
    return [d, rn, signed], guard, {"sus": _upd(s["sus"], (d,), False),
                                    "badrec": z3.Or(s["badrec"], z3.Not(truth))}


def _t_expire(s: State, R: Rules) -> Built:
    """A challenged session may expire at any time; one that sent its Update only once the
    TAM's hold has passed (``R.tam_may_expire``), and that expiry is remembered (``tout``)."""
    d = z3.Const("p_d", Dev)
    guard = z3.Or(s["sch"][d], z3.And(s["sus"][d], R.tam_may_expire(s["uage"][d])))
    tout = z3.If(s["sus"][d], _upd(s["tout"], (d, s["snonce"][d]), z3.BoolVal(True)), s["tout"])
    return [d], guard, {"sch": _upd(s["sch"], (d,), False), "sus": _upd(s["sus"], (d,), False),
                        "tout": tout}


def _t_uninstall_send(s: State, R: Rules) -> Built:
    """uninstall.component, the TAM's Update (uninstall.py: both encodings of the exchange)."""
    return _uninstall.t_send(s, R)


def _t_uninstall(s: State, R: Rules) -> Built:
    """uninstall.component, the Agent's removal: the component goes, its floor stays (unless
    the variant drops it), only on an Update that passes the Agent's checks (uninstall.py)."""
    return _uninstall.t_remove(s, R)


def _t_rotate(s: State, R: Rules) -> Built:
    """rotate.class_key (rotation.py: both encodings)."""
    return _rotation.t_rotate(s, R)


def _t_revoke(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    up = {"rev": _upd(s["rev"], (d,), True), "sch": _upd(s["sch"], (d,), False),
          "sus": _upd(s["sus"], (d,), False)}
    return [d], z3.BoolVal(True), up


def _t_compromise(s: State, R: Rules) -> Built:
    d = z3.Const("p_d", Dev)
    shared = not R.device_keys_per_device
    kdak = z3.Lambda([e_], z3.BoolVal(True)) if shared else _upd(s["kdak"], (d,), True)
    def held(c: Any, v: Any) -> z3.BoolRef:
        return z3.Or(s["wrapnet"][d, c, v],
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


def _t_intercept(s: State, R: Rules) -> Built:
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
    Transition("deploy.fetch .. deploy.success", _t_install),
    Transition("deploy.fetch + deploy.error", _t_fetch_fail),
    Transition("deploy.error (timeout)", _t_agent_timeout),
    Transition("deploy.record", _t_record),
    Transition("deploy.record (expiry)", _t_expire),
    Transition("deploy.verify_evidence + uninstall.component", _t_uninstall_send),
    Transition("deploy.verify_update + uninstall.component", _t_uninstall),
    Transition("rotate.class_key", _t_rotate),
    Transition("revoke.device", _t_revoke),
    Transition("attack.compromise_device", _t_compromise),
    Transition("attack.intercept", _t_intercept),
    Transition("time.tick", timing.t_tick),
    Transition("time.challenge_lifetime", timing.t_challenge_ages),
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
    "P1": ("P12", "L1", "L2", "L4", "L6"), "P5": ("L4", "L5", "L11"), "P6": ("L5", "L10"),
    "P7": ("L5", "L8", "L14"), "P11": ("L9",), "P3": ("L12",), "L4": ("L3", "L5"),
    "L6": ("L4", "L3"), "P2": ("L13",),
    "P12": ("P1", "L1", "L2", "L4", "L6"), "P13": ("L7", "L3"),
}


#: obligations a property's verdict also needs without assuming them in its own induction
#: step (keeps each step's hypothesis small, so that z3 finds a flaw's counterexample fast):
#: P6(a)'s time clause is L15, whose obligation carries ``¬late``
ALSO: dict[str, tuple[str, ...]] = {"P6": ("L15",)}


def _named(s: State) -> dict[str, z3.BoolRef]:
    out: dict[str, z3.BoolRef] = dict(properties(s))
    for full, f in lemmas(s).items():
        out[full.split(" ", 1)[0]] = f
    return out


def lemma_titles() -> dict[str, str]:
    """L-number -> statement, for reports and spec/model.md."""
    return {full.split(" ", 1)[0]: full.split(" ", 1)[1] for full in lemmas(fresh_state("_"))}


def _obligation(name: str, pre_f: dict[str, z3.BoolRef], post_f: dict[str, z3.BoolRef],
                steps: list[Any], timeout_ms: int, pre: State, post: State) -> tuple[bool, str]:
    hyp = z3.And(pre_f[name], *(pre_f[x] for x in SUPPORT.get(name, ())))
    for tname, params, step in steps:
        # quantified array formulas can send z3's model-based instantiation into a long
        # search that another random seed avoids: retry with fixed seeds before giving up
        # (solving.py), the obligation's budget shared among four of them
        r, s = solve(timeout_ms // 4, hyp, step, z3.Not(post_f[name]), seeds=range(4))
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
_FLAGS = ("bad_dlv", "foreign", "badinst", "stale", "late", "badrec", "rollback", "reeleak",
          "unverif", "ivdup", "revdlv", "revtee", "baduni", "staleck", "retuse", "tarb", "kck",
          "ckout")


def _counterexample(model: z3.ModelRef, tname: str, params: list[Any], name: str, pre: State,
                    post: State) -> str:
    """The counterexample to induction as a readable before/after state of the devices and
    components the step touches."""

    def ev(e: Any) -> str:
        return _readable(model.eval(e, model_completion=True))

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


def prove(rules: Rules = HONEST, props: tuple[str, ...] | None = None,
          timeout_ms: int = 20_000) -> list[Obligation]:
    """Prove every property (and its strengthening lemmas) inductive for variant ``rules``.

    Obligations: ``init ⇒ X`` and ``X ∧ support(X) ∧ T ⇒ X′`` for every transition T, for X
    each property and each lemma. A property is proved when its own obligation and those of
    every lemma it rests on (transitively) hold.
    """
    pre, post = fresh_state(""), fresh_state("'")
    pre_f, post_f = _named(pre), _named(post)
    steps = []
    for t in TRANSITIONS:
        params, guard, up = t.build(pre, rules)
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
                todo.extend(SUPPORT.get(x, ()) + ALSO.get(x, ()))
        return seen

    results: list[Obligation] = []
    subs = _submodel_proofs()
    for prop in props or (*properties(pre), *subs):
        if prop in subs:
            results.append(subs[prop](rules))
            continue
        t0 = time.perf_counter()
        failure = ""
        for x in closure(prop):
            ok, why, _ = one(x)
            if not ok and not failure:
                failure = why
        results.append(Obligation(prop, not failure, time.perf_counter() - t0, failure))
    return results


def _submodel_proofs() -> dict[str, Callable[[Rules], Obligation]]:
    """Properties a sub-model states with its own encoding (P14: ``downgrade.py``, which
    imports this module, hence the late import)."""
    from edbp.model import downgrade

    return {downgrade.PROPERTY: downgrade.prove}


def vacuity_report(rules: Rules = HONEST, timeout_ms: int = 1_000) -> dict[str, str]:
    """Non-vacuity of the inductive argument, as z3 can decide it.

    ``"Inv"``: the initial state is satisfiable and satisfies ``Inv`` (the ``init ⇒ X``
    obligations), so ``Inv`` has a model. For every transition: whether ``Inv ∧ guard`` is
    ``sat``, ``unsat`` or ``unknown``. ``unsat`` would make every obligation over that
    transition hold trivially; quantified array formulas often leave z3 at ``unknown`` within
    the timeout, which refutes nothing (reachability of every transition kind is shown by the
    exploration's witnesses instead)."""
    pre = fresh_state("")
    named = _named(pre)
    inv = z3.And(*named.values())
    out: dict[str, str] = {}
    # bounded: on this quantified init z3 may search for minutes; "unknown" refutes nothing,
    # "unsat" (a contradictory init or an invariant the initial state breaks) fails the check
    s = z3.Solver()
    s.set("timeout", 120_000)
    s.add(init(pre))
    first = s.check()
    verdict = "sat" if first == z3.sat else str(first)
    for x in named.values():
        s = z3.Solver()
        s.set("timeout", 20_000)
        s.add(init(pre), z3.Not(x))
        r = s.check()
        if r == z3.sat:
            verdict = "unsat"  # the initial state breaks a conjunct of Inv
        elif r != z3.unsat and verdict == "sat":
            verdict = "unknown"
    out["Inv"] = verdict
    for t in TRANSITIONS:
        _params, guard, _up = t.build(pre, rules)
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.add(inv, guard)
        out[t.name] = str(s.check())
    return out
