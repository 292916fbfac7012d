"""The `blueprint` profile as its public code builds it, as an abstract state machine.

Roles: build agents (ConfidentialPackageTools ``cpk build``), the key service (Azure Function:
``ProvisionKey``, ``WrapKey``, ``DistributeKey``) over a Key Vault of class keys, device twins
(``reported.device_public_key``, ``desired.confidential_package_keys``), and on each device the
host/REE (``cpk-tool sync`` and ``install``) and the CPM trusted application.

What the model keeps of the as-built facts (``spec/blueprint.md``): one AES class key per
application encrypts every package of that application and is held by build agents and every
device; ``WrapKey`` wraps it to any RSA public key presented; ``DistributeKey`` wraps every
stored key to every twin that reports a public key, without attestation or revocation; the twin's
reported key is written by the untrusted REE; the CPM has one key slot (the application id is
never checked), decrypts and installs whatever authenticates under the slot key, never enforces
the payload signature, and the manifest is not bound to the ciphertext; the CPK version is
informational (no floor). Steps are labelled with the shared vocabulary; the blueprint operation
they stand for is in the event text.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from functools import lru_cache
from typing import Any

import attrs
from edbp.model.edbp_profile import Config, Event
from edbp.model.terms import ATTACKER_KEY, Term, analyze, enc, h, pub, sig, wrap

ASK: Term = ("ask",)
ATTACKER_SYM: Term = ("ak",)


@attrs.frozen(cache_hash=True)
class Cpm:
    """One device's CPM TA: the single key slot and what was installed (app, version, payload)."""

    slot: Term | None = None
    installed: tuple[Any, ...] = ()  # ((claimed_app, claimed_version, payload), ...) in order


@attrs.frozen(cache_hash=True)
class BGhost:
    """History: key deliveries (device, app, generation, when revoked), installs of keys."""

    deliveries: frozenset[Any] = frozenset()  # (d, app, gen, d_was_revoked)
    released: frozenset[Any] = frozenset()  # (app, gen) wrapped by WrapKey to a non-device key
    key_installs: frozenset[Any] = frozenset()  # (d, app, gen, current_gen_at_install)


@attrs.frozen(cache_hash=True)
class BWorld:
    """A global state of the `blueprint` profile."""

    gen: tuple[int, ...]  # per app: current class-key generation in the vault
    built: frozenset[Any]  # (app, version, gen) packages built and pushed
    reported: tuple[Any, ...]  # per device: public key term the twin reports, or None
    desired: tuple[Any, ...]  # per device: the desired-property term last written, or None
    cpms: tuple[Cpm, ...]
    revoked: frozenset[int]
    compromised: frozenset[int]
    rotations: int
    seen: frozenset[Any]
    ghost: BGhost


def ck(a: int, g: int) -> Term:
    return ("ck", a, g)


def device_key(d: int) -> Term:
    return ("kid", d)


def plaintext(a: int, v: int) -> Term:
    return ("pt", a, v)


def manifest(a: int, v: int) -> Term:
    """The CPK JSON manifest: cp-id and version, unsigned and not bound to the ciphertext."""
    return ("man", a, v)


def cpk(a: int, v: int, g: int) -> Term:
    """A CPK file as built: manifest, AES-GCM ciphertext under the class key, digest, signature."""
    p = plaintext(a, v)
    return ("cpk", manifest(a, v), enc(ck(a, g), p), h(p), sig(ASK, h(p)))


def initial(cfg: Config) -> BWorld:
    inst = cfg.instance
    seen = {ATTACKER_KEY, ATTACKER_SYM, ("pt_att", 0)}
    return BWorld(
        gen=(0,) * inst.apps, built=frozenset(), reported=(None,) * inst.devices,
        desired=(None,) * inst.devices, cpms=(Cpm(),) * inst.devices, revoked=frozenset(),
        compromised=frozenset(), rotations=0, seen=frozenset(seen), ghost=BGhost(),
    )


@lru_cache(maxsize=100_000)
def knowledge(seen: frozenset[Any]) -> frozenset[Any]:
    return analyze(seen)


def _set(t: tuple[Any, ...], i: int, x: object) -> tuple[Any, ...]:
    return (*t[:i], x, *t[i + 1:])


def successors(w: BWorld, cfg: Config) -> Iterator[tuple[Event, BWorld]]:
    inst = cfg.instance
    know = knowledge(w.seen)
    off = cfg.moves_off
    # build agents: cpk build with the application's current class key, push to the registry
    for a in range(inst.apps):
        top = max((v for (x, v, _g) in w.built if x == a), default=0)
        if top < inst.versions:
            v = top + 1
            nw = attrs.evolve(w, built=w.built | {(a, v, w.gen[a])},
                              seen=w.seen | {cpk(a, v, w.gen[a])})
            yield Event(("publish.build", "publish.encrypt", "publish.sign", "publish.push"),
                        "BuildAgent", "Registry",
                        f"cpk build: app{a} v{v} encrypted under class key CK{a}.{w.gen[a]}",
                        ("build", a, v)), nw
    # ProvisionKey overwrites the class key (the only "rotation" the service has)
    if w.rotations < inst.rotations:
        for a in range(inst.apps):
            nw = attrs.evolve(w, gen=_set(w.gen, a, w.gen[a] + 1), rotations=w.rotations + 1)
            yield Event(("rotate.class_key",), "Operator", "KeyService",
                        f"ProvisionKey/app{a}: CK{a}.{w.gen[a] + 1} overwrites CK{a}.{w.gen[a]}",
                        ("rotate", a)), nw
    for d in range(inst.devices):
        if d in w.compromised:
            continue
        # the REE reports the CPM's exported public key to the twin (or its own, if malicious)
        if w.reported[d] is None:
            nw = attrs.evolve(w, reported=_set(w.reported, d, pub(device_key(d))))
            yield Event(("enrol.keygen", "enrol.register"), f"REE{d}", "Twin",
                        f"reported.device_public_key = pub(DK{d}) exported by the CPM",
                        ("register", d)), nw
            if "control_ree" not in off:
                nw = attrs.evolve(w, reported=_set(w.reported, d, pub(ATTACKER_KEY)))
                yield Event(("attack.control_ree", "enrol.register"), f"REE{d}", "Twin",
                            "reported.device_public_key = the attacker's public key",
                            ("register", d)), nw
        yield from _cpm_steps(w, cfg, d, know)
    # DistributeKey: every stored key to every twin that reports a public key
    if any(r is not None for r in w.reported):
        yield _distribute(w, cfg)
    # WrapKey for any well-formed RSA key: the attacker calls it with its own
    if "wrapkey" not in off:
        for a in range(inst.apps):
            wrapped = wrap(pub(ATTACKER_KEY), ck(a, w.gen[a]))
            if wrapped in w.seen:
                continue
            g = attrs.evolve(w.ghost, released=w.ghost.released | {(a, w.gen[a])})
            nw = attrs.evolve(w, seen=w.seen | {wrapped}, ghost=g)
            yield Event(("attack.inject", "deploy.update"), "Attacker", "KeyService",
                        f"WrapKey(app{a}, attacker public key) returns "
                        f"wrap[pub(ATK)](CK{a}.{w.gen[a]})",
                        ("wrapkey", a)), nw
    for d in range(inst.devices):
        if cfg.revoke and d not in w.revoked and len(w.revoked) < inst.revocations:
            nw = attrs.evolve(w, revoked=w.revoked | {d})
            yield Event(("revoke.device",), "Operator", "IoTHub",
                        f"device {d} decommissioned (nothing in the blueprint consults it)",
                        ("revoke", d)), nw
        if (cfg.compromise and d not in w.compromised and len(w.compromised) < inst.compromises
                and "compromise" not in off):
            cpm = w.cpms[d]
            loot = {device_key(d)} | ({cpm.slot} if cpm.slot else set())
            loot |= {p for (_a, _v, p) in cpm.installed}
            nw = attrs.evolve(w, compromised=w.compromised | {d}, seen=w.seen | loot)
            yield Event(("attack.compromise_device",), "Attacker", f"CPM{d}",
                        f"device {d}'s TEE compromised: DK{d} and the key slot",
                        ("compromise", d)), nw


def _distribute(w: BWorld, cfg: Config) -> tuple[Event, BWorld]:
    inst = cfg.instance
    desired = list(w.desired)
    deliveries = set(w.ghost.deliveries)
    sent: set[Term] = set()
    for d, key in enumerate(w.reported):
        if key is None:
            continue
        entries = tuple((a, wrap(key, ck(a, w.gen[a]))) for a in range(inst.apps))
        term = ("desired", d, entries)
        desired[d] = term
        sent.add(term)
        for a in range(inst.apps):
            deliveries.add((d, a, w.gen[a], d in w.revoked))
    g = attrs.evolve(w.ghost, deliveries=frozenset(deliveries))
    nw = attrs.evolve(w, desired=tuple(desired), seen=w.seen | sent, ghost=g)
    return Event(("deploy.update",), "KeyService", "Twin",
                 "DistributeKey: every class key wrapped to every reported device key",
                 ("distribute",)), nw


def _cpm_steps(w: BWorld, cfg: Config, d: int,
               know: frozenset[Any]) -> Iterator[tuple[Event, BWorld]]:
    inst = cfg.instance
    off = cfg.moves_off
    cpm = w.cpms[d]
    # install_application_key: the REE passes any wrapped key it holds or can build
    wraps = {t for t in know if t[0] == "wrap" and t[1] == pub(device_key(d))}
    for k in (x for x in know if x[0] in ("ck", "ak")):
        wraps.add(wrap(pub(device_key(d)), k))
    honest_terms = set()
    if w.desired[d] is not None:
        honest_terms = {e[1] for e in w.desired[d][2]}
    for t in sorted(wraps, key=repr):
        key = t[2]
        if cpm.slot == key:
            continue
        g = w.ghost
        if key[0] == "ck":
            g = attrs.evolve(g, key_installs=g.key_installs | {(d, key[1], key[2],
                                                                 w.gen[key[1]])})
        nw = attrs.evolve(w, cpms=_set(w.cpms, d, attrs.evolve(cpm, slot=key)), ghost=g)
        current = t in honest_terms and key[0] == "ck" and key[2] == w.gen[key[1]]
        steps: tuple[str, ...] = ("deploy.verify_update", "deploy.unwrap_cek")
        if not current:
            steps = ("attack.replay" if t in know else "attack.inject", *steps)
        name = f"CK{key[1]}.{key[2]}" if key[0] == "ck" else "attacker key"
        yield Event(steps, f"REE{d}", f"CPM{d}",
                    f"install_application_key: {name} into the single slot", ("key", d)), nw
    if cpm.slot is None:
        return
    # deployment: begin / initialize_decryption / add_data / verify (not enforced) / end
    mans = {t for t in know if t[0] == "man"}
    mans |= {manifest(a, v) for a in range(inst.apps) for v in range(1, inst.versions + 1)}
    cts = {t for t in know if t[0] == "enc"}
    for k in (x for x in know if x[0] in ("ck", "ak")):
        cts.add(enc(k, ("pt_att", 0)))
    genuine = {(t[1], t[2]) for t in know if t[0] == "cpk"}
    for ct in sorted(cts, key=repr):
        if ct[1] != cpm.slot:
            continue  # GCM tag check fails under the slot key: error, nothing changes
        payload = ct[2]
        for m in sorted(mans, key=repr):
            entry = (m[1], m[2], payload)
            if entry in cpm.installed:
                continue
            if ("splice" in off and payload[0] == "pt" and (m, ct) not in genuine):
                continue  # the REE feeds only CPK files as built (no stream splicing)
            nw = attrs.evolve(w, cpms=_set(w.cpms, d, attrs.evolve(
                cpm, installed=(*cpm.installed, entry))))
            honest = (m, ct) in genuine
            steps = ("deploy.fetch", "deploy.decrypt", "deploy.check_payload", "deploy.install")
            if not honest:
                steps = ("attack.control_ree", *steps)
            what = "attacker code" if payload[0] == "pt_att" else f"P{payload[1]}.{payload[2]}"
            yield Event(steps, f"REE{d}", f"CPM{d}",
                        f"CPK with manifest app{m[1]} v{m[2]} and {what} installed",
                        ("install", d, m[1], m[2])), nw


# ---------------------------------------------------------------- P1–P13 where they apply


def _installed_pairs(w: BWorld, d: int) -> set[tuple[Any, Any]]:
    return {(p[1], p[2]) for (_a, _v, p) in w.cpms[d].installed if p[0] == "pt"}


def bp_p1(w: BWorld, cfg: Config) -> str | None:
    know = knowledge(w.seen)
    for t in know:
        if t[0] == "ck":
            ok = any(x in w.compromised and a == t[1] and g == t[2]
                     for (x, a, g, _r) in w.ghost.deliveries)
            if not ok:
                return f"attacker holds class key CK{t[1]}.{t[2]} (the payload key) without " \
                       "compromising a device it was delivered to"
    return None


def bp_p2(w: BWorld, cfg: Config) -> str | None:
    if w.ghost.deliveries or w.ghost.released:
        return "the class key leaves the key vault (wrapped to devices or to any caller)"
    return None


def bp_p3(w: BWorld, cfg: Config) -> str | None:
    if w.ghost.released:
        a, g = sorted(w.ghost.released)[0]
        return f"CK{a}.{g} released by WrapKey to a key no device evidence vouches for"
    for d, a, _g, _r in sorted(w.ghost.deliveries):
        if a != cfg.instance.app_of(d):
            return f"device {d} was sent the key of app{a}, which it does not run"
    return None


def bp_p4(w: BWorld, cfg: Config) -> str | None:
    for d, a, _g, _cur in sorted(w.ghost.key_installs):
        if d not in w.compromised and a != cfg.instance.app_of(d):
            return f"device {d}'s CPM installed the key of app{a}, not its own application's"
    return None


def bp_p5(w: BWorld, cfg: Config) -> str | None:
    for d, cpm in enumerate(w.cpms):
        if d in w.compromised:
            continue
        for a, v, p in cpm.installed:
            if p[0] != "pt":
                return f"device {d} installed attacker-built code"
            if (p[1], p[2]) != (a, v):
                return f"device {d} installed P{p[1]}.{p[2]} under the manifest of app{a} v{v}"
    return None


def bp_p6(w: BWorld, cfg: Config) -> str | None:
    for d, a, g, cur in sorted(w.ghost.key_installs):
        if d not in w.compromised and g < cur:
            return f"device {d} installed CK{a}.{g} after it was replaced by CK{a}.{cur}"
    return None


def bp_p7(w: BWorld, cfg: Config) -> str | None:
    for d, cpm in enumerate(w.cpms):
        if d in w.compromised:
            continue
        last: dict[int, int] = {}
        for _a, _v, p in cpm.installed:
            if p[0] != "pt":
                continue
            if p[1] in last and p[2] < last[p[1]]:
                return f"device {d} rolled app{p[1]} back from v{last[p[1]]} to v{p[2]}"
            last[p[1]] = max(p[2], last.get(p[1], 0))
    return None


def bp_p9(w: BWorld, cfg: Config) -> str | None:
    for d, cpm in enumerate(w.cpms):
        if d not in w.compromised and cpm.installed:
            return f"device {d} decrypted and installed with the signature never enforced"
    return None


def bp_p12(w: BWorld, cfg: Config) -> str | None:
    know = knowledge(w.seen)
    exposed = set()
    for d in w.compromised:
        exposed |= _installed_pairs(w, d)
    for t in know:
        if t[0] == "pt" and (t[1], t[2]) not in exposed and w.compromised:
            return f"one compromised device exposes P{t[1]}.{t[2]}, never installed on it"
    return None


def bp_p13(w: BWorld, cfg: Config) -> str | None:
    for d, a, g, was_revoked in sorted(w.ghost.deliveries):
        if was_revoked:
            return f"decommissioned device {d} still received CK{a}.{g} through its twin"
    return None


PROPERTIES = {
    "P1": bp_p1, "P2": bp_p2, "P3": bp_p3, "P4": bp_p4, "P5": bp_p5, "P6": bp_p6, "P7": bp_p7,
    "P9": bp_p9, "P12": bp_p12, "P13": bp_p13,
}

#: properties the blueprint model does not speak to, with the reason
NOT_MODELLED = {
    "P8": "not checked: the CPM decrypts in the TEE and hands the REE no key or plaintext in "
          "this model (its distinguishable unwrap-error logs are a padding oracle, outside a "
          "symbolic model)",
    "P10": "the CPM keeps the class key in its slot by design; no partial-install model",
    "P11": "random 96-bit GCM nonces under one long-lived class key: a probabilistic bound, "
           "not a state property",
    "P14": "not applicable: one fixed classical suite and no suite negotiation to downgrade",
}

GOALS = {
    "device_installs": ("an honest device installs a genuine package",
                        lambda w, c: any(_installed_pairs(w, d) for d in range(len(w.cpms))
                                         if d not in w.compromised)),
}


def deployment_complete(w: BWorld, cfg: Config) -> bool:
    inst = cfg.instance
    for d in range(inst.devices):
        if d in w.compromised or d in w.revoked:
            continue
        if (inst.app_of(d), inst.versions) not in _installed_pairs(w, d):
            return False
    return True


def rank(ev: Event, w: BWorld, cfg: Config) -> int | None:
    if not ev.honest:
        return None
    kind = ev.data[0] if ev.data else ""
    order = {"build": 0, "register": 1, "distribute": 3, "key": 2, "install": 4}
    if kind == "install":
        _, d, a, v = ev.data
        return 4 if (a, v) == (cfg.instance.app_of(d), cfg.instance.versions) else None
    if kind == "key":
        d = ev.data[1]
        return 2 if w.desired[d] is not None else None
    if kind == "distribute":
        return 3
    return order.get(kind)


def control(w: BWorld) -> Hashable:
    return w


def live_config(w: BWorld, cfg: Config) -> Config:
    return attrs.evolve(cfg, compromise=False, revoke=False,
                        moves_off=cfg.moves_off | {"wrapkey", "control_ree"})
