"""P1–P13 as predicates over one state of the `edbp` profile, and their non-vacuity witnesses.

Each property returns ``None`` when it holds in the state, or a one-line description of the
violation. Properties are stated over the real state plus ghost (history) variables, so that a
property about *events* (every delivery followed fresh evidence, installs strictly increase)
is still a predicate on single states and can be checked on every node of the graph.

"Honest device" means a device whose TEE the attacker has not compromised: a compromised
device is the attacker, and nothing is promised about what it installs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from edbp.model import rotation as _rotation
from edbp.model import taversion as _taversion
from edbp.model import uninstall as _uninstall
from edbp.model.edbp_profile import (
    Config,
    Event,
    World,
    cek_of,
    dak_of,
    dsk_of,
    iv_of,
    knowledge,
    plaintext,
    record,
)

PROPERTY_TITLES: dict[str, str] = {
    "P1": "CEK secrecy",
    "P2": "class key never leaves the HSM",
    "P3": "delivery only after fresh, verified evidence",
    "P4": "recipient binding",
    "P5": "package authenticity",
    "P6": "freshness / no replay",
    "P7": "rollback resistance",
    "P8": "plaintext and CEK never in the REE",
    "P9": "verify before decrypt",
    "P10": "fail closed",
    "P11": "no IV reuse under one CEK",
    "P12": "compromise containment",
    "P13": "revocation",
    "P14": "no suite downgrade",  # stated by the negotiation sub-model, downgrade.py
}

PROPERTY_IDS = tuple(PROPERTY_TITLES)


@lru_cache(maxsize=100_000)
def _p1(seen: frozenset[Any], delivered: frozenset[Any], compromised: frozenset[int],
        cfg: Config) -> str | None:
    know = knowledge(seen)
    allowed = {cek_of(cfg, c, v) for (d, c, v) in delivered if d in compromised}
    for t in know:
        if t[0] == "cek" and t not in allowed:
            return f"attacker knows CEK{t[1]}.{t[2]}, never delivered to a compromised device"
    return None


def p1(w: World, cfg: Config) -> str | None:
    # memoised on the parts of the state it reads: many states share them
    return _p1(w.seen, w.ghost.delivered, w.compromised, cfg)


def p2(w: World, cfg: Config) -> str | None:
    know = knowledge(w.seen)
    for t in know:
        if t[0] == "ck":
            return f"attacker knows class key CK{t[1]}"
    outside = w.ghost.ck_holders - {"keyvault"}
    if outside:
        return f"class key used outside the KeyVault by {', '.join(sorted(outside))}"
    return _rotation.p2_clause(w, cfg)


def p3(w: World, cfg: Config) -> str | None:
    if w.ghost.bad_deliveries:
        d, n, why = sorted(w.ghost.bad_deliveries)[0]
        return f"CEK delivered to device {d} in session n{n}: {why}"
    return None


def p4(w: World, cfg: Config) -> str | None:
    for d, named in sorted(w.ghost.foreign_accepts):
        if d not in w.compromised:
            return f"device {d} accepted an Update addressed to device {named}"
    return None


def p5(w: World, cfg: Config) -> str | None:
    for d, log in enumerate(w.ghost.installs):
        if d in w.compromised:
            continue
        for c, v, m, *_ in log:
            if m != plaintext(c, v, record(w, c, v)[1]) or v > w.published[c]:
                return f"device {d} installed code the Author never signed as c{c} v{v}"
    return None


def p6(w: World, cfg: Config) -> str | None:
    for d, log in enumerate(w.ghost.installs):
        if d in w.compromised:
            continue
        tokens = [e[5] for e in log]
        for c, v, _m, fresh, tok, _exch in log:
            if not fresh:
                return f"device {d} installed c{c} v{v} from a replayed Update ({tok[1]})"
        if len(set(tokens)) != len(tokens):
            return f"device {d} acted twice on one Update"
    for d, n in sorted(w.ghost.late_accepts):
        if d not in w.compromised:
            return (f"device {d} consumed the Update of the TAM's session n{n} after that "
                    "session had ended")
    if w.ghost.bad_records:
        d, n, c, v, s = sorted(w.ghost.bad_records, key=repr)[0]
        return f"TAM recorded '{s}' c{c} v{v} for device {d} in session n{n} that it never sent"
    return None


def p7(w: World, cfg: Config) -> str | None:
    for d, log in enumerate(w.ghost.installs):
        if d in w.compromised:
            continue
        last: dict[int, int] = {}
        for c, v, *_ in log:
            if c in last and v <= last[c]:
                return (f"device {d} installed c{c} v{v} after v{last[c]} "
                        "(floor not strictly raised)")
            last[c] = v
    # an uninstall removes only the version a TAM Update named (an old uninstall, replayed
    # after a newer install, removes nothing)
    for d, c, removed, named_v, _named, tam_signed in sorted(w.ghost.removals, key=repr):
        if d in w.compromised:
            continue
        if not tam_signed:
            return f"device {d} removed c{c} v{removed} on an uninstall no TAM signed"
        if removed != named_v:
            return (f"device {d} removed c{c} v{removed} on an uninstall the TAM issued for "
                    f"v{named_v}")
    return _taversion.p7_clause(w, cfg)


def p8(w: World, cfg: Config) -> str | None:
    if w.ghost.ree_leaks:
        return "an Agent handed a CEK or plaintext to its REE"
    return None


def p9(w: World, cfg: Config) -> str | None:
    honest = w.ghost.unverified_decrypts - w.compromised
    if honest:
        return f"device {min(honest)} decrypted before verifying the Update"
    return None


def p10(w: World, cfg: Config) -> str | None:
    for d, a in enumerate(w.agents):
        if d in w.compromised:
            continue
        if a.kept:
            return f"device {d} still holds a CEK after its exchange ended"
        if any(v < 0 for v in a.installed):
            return f"device {d} kept a partial install after a failure"
        if a.phase != "FETCHING" and a.job:
            return f"device {d} holds a job outside FETCHING"
    return None


def p11(w: World, cfg: Config) -> str | None:
    """One payload per CEK (spec P11): a second encryption under a CEK is a breach whatever
    its IV; a repeated (CEK, IV) pair is named as such because it is the worse of the two."""
    pairs = [(cek_of(cfg, c, v), iv_of(cfg, v)) for c, top in enumerate(w.published)
             for v in range(1, top + 1)]
    if len(set(pairs)) != len(pairs):
        return "two encryptions under one CEK with the same IV"
    ceks = [k for k, _iv in pairs]
    if len(set(ceks)) != len(ceks):
        return "one CEK encrypts two payloads (fresh IVs, reused key)"
    return None


@lru_cache(maxsize=100_000)
def _p12(seen: frozenset[Any], delivered: frozenset[Any], compromised: frozenset[int],
         cfg: Config) -> str | None:
    know = knowledge(seen)
    for d in range(cfg.instance.devices):
        if d in compromised:
            continue
        if dak_of(cfg, d) in know or dsk_of(d) in know:
            return f"attacker holds device {d}'s keys without compromising it"
    exposed = {(c, v) for (d, c, v) in delivered if d in compromised}
    for t in know:
        if t[0] == "pt" and (t[1], t[2]) not in exposed:
            return (f"attacker reads package c{t[1]} v{t[2]}, never delivered to a "
                    "compromised device")
    return None


def p12(w: World, cfg: Config) -> str | None:
    return _p12(w.seen, w.ghost.delivered, w.compromised, cfg)


def p13(w: World, cfg: Config) -> str | None:
    if w.ghost.revoked_deliveries:
        d, c, v = sorted(w.ghost.revoked_deliveries)[0]
        return f"revoked device {d} received CEK{c}.{v}"
    for d, c, v in sorted(w.ghost.revoked_tee):
        if d not in w.compromised:
            return f"CEK{c}.{v}, never delivered to revoked device {d}, reached its TEE"
    return None


_MEMOS: list[dict[tuple[Any, ...], str | None]] = []


def reset_caches() -> None:
    """Forget every memoised result (properties and the profile's own caches), so that a
    timed run starts cold like the first one."""
    from edbp.model import edbp_profile as ep

    for cache in _MEMOS:
        cache.clear()
    ep.reset_pool()
    _p1.cache_clear()
    _p12.cache_clear()
    _knows_a_cek.cache_clear()
    for fn in (ep.knowledge, ep._evidence_candidates, ep._report_candidates, ep._query_requests,
               ep._seen_updates, ep._update_candidates, ep._update_verdicts,
               ep._payload_candidates, ep._accepted_evidence,
               _uninstall._candidates, _rotation._newer_under_retired, ep._older_nonce,
               ep._renewed_seen):
        fn.cache_clear()


def _memo(fn: Callable[[World, Config], str | None],
          *fields: str) -> Callable[[World, Config], str | None]:
    """``fn`` memoised on the state fields it reads (most states share their ghost, agents or
    publications with many others, so the explorer evaluates each distinct part once)."""
    cache: dict[tuple[Any, ...], str | None] = {}
    _MEMOS.append(cache)

    def wrapped(w: World, cfg: Config) -> str | None:
        key = (cfg, *(getattr(w, f) for f in fields))
        try:
            return cache[key]
        except KeyError:
            if len(cache) > 200_000:
                cache.clear()
            out = cache[key] = fn(w, cfg)
            return out

    wrapped.__doc__ = fn.__doc__
    wrapped.__wrapped__ = fn  # type: ignore[attr-defined]  # the explorer memoises per run
    return wrapped


_GHOST = ("ghost", "compromised", "published", "records")
_KNOW = ("seen", "ghost", "compromised")

#: the state fields each property reads (besides the configuration): a successor that shares
#: all of them, by identity, with its parent has the parent's verdict, so the explorer skips
#: it (``explore.explore``); a property missing here is evaluated on every state
READS: dict[str, tuple[str, ...]] = {
    "P1": _KNOW, "P2": ("seen", "ghost", "ck_retired"), "P3": _GHOST, "P4": _GHOST, "P5": _GHOST,
    "P6": _GHOST, "P7": _GHOST, "P8": _GHOST, "P9": _GHOST, "P10": ("agents", "compromised"),
    "P11": ("published",), "P12": _KNOW, "P13": _GHOST,
}

PROPERTIES: dict[str, Callable[[World, Config], str | None]] = {
    "P1": p1, "P2": _memo(p2, "seen", "ghost", "ck_retired"), "P3": _memo(p3, *_GHOST),
    "P4": _memo(p4, *_GHOST), "P5": _memo(p5, *_GHOST), "P6": _memo(p6, *_GHOST),
    "P7": _memo(p7, *_GHOST), "P8": _memo(p8, *_GHOST), "P9": _memo(p9, *_GHOST),
    "P10": _memo(p10, "agents", "compromised"), "P11": _memo(p11, "published"), "P12": p12,
    "P13": _memo(p13, *_GHOST),
}


# ---------------------------------------------------------------- non-vacuity witnesses


def _installed_any(w: World) -> bool:
    return any(w.ghost.installs[d] for d in range(len(w.agents)) if d not in w.compromised)


@lru_cache(maxsize=100_000)
def _knows_a_cek(seen: frozenset[Any]) -> bool:
    # memoised on the observations: the explorer tests a witness on every state until it holds
    return any(t[0] == "cek" for t in knowledge(seen))


def _w12(w: World, cfg: Config) -> bool:
    for d in w.compromised:
        mine = {(c, v) for (x, c, v) in w.ghost.delivered if x == d}
        if any(x != d and (c, v) not in mine for (x, c, v) in w.ghost.delivered):
            return True
    return False


#: a state in which the property's premise is exercised, so that "holds" is not vacuous
WITNESSES: dict[str, tuple[str, Callable[[World, Config], bool]]] = {
    "P1": ("a CEK was delivered while a device is compromised",
           lambda w, c: bool(w.ghost.delivered) and bool(w.compromised)),
    "P2": ("a package was published and a device compromised",
           lambda w, c: any(w.published) and bool(w.compromised)),
    "P3": ("the TAM delivered a CEK", lambda w, c: bool(w.ghost.delivered)),
    "P4": ("two devices each installed a package",
           lambda w, c: sum(1 for log in w.ghost.installs if log) >= 2),
    "P5": ("a device installed while the attacker holds a CEK",
           lambda w, c: _installed_any(w) and _knows_a_cek(w.seen)),
    "P6": ("the TAM recorded two reports from one device",
           lambda w, c: any(n >= 2 for n in w.ghost.reports)),
    "P7": ("a device installed v1 and then v2",
           lambda w, c: any(len(log) >= 2 for log in w.ghost.installs)),
    "P8": ("a device decrypted and installed a package", lambda w, c: _installed_any(w)),
    "P9": ("a device decrypted and installed a package", lambda w, c: _installed_any(w)),

    "P11": ("two packages were encrypted", lambda w, c: sum(w.published) >= 2),
    "P12": ("a device is compromised and another got a version it never received", _w12),
}

#: witnesses observed on a transition (source state, event) rather than on a state
EVENT_WITNESSES: dict[str, tuple[str, Callable[[World, Event, Config], bool]]] = {
    "P10": ("an exchange failed after the CEK was unwrapped",
            lambda w, ev, c: ev.data[:1] == ("error",) and ev.data[2]),
    "P13": ("a device is revoked and a later delivery reached another device",
            lambda w, ev, c: ev.data[:1] == ("deliver",) and bool(w.revoked - {ev.data[1]})),
    "revoked_gets_nothing": ("a revoked device is refused while another device is served",
                             lambda w, ev, c: ev.data[:1] == ("deliver",)
                             and bool(w.revoked - {ev.data[1]})),
}

#: honest goals: states the deployment must be able to reach
GOALS: dict[str, tuple[str, Callable[[World, Config], bool]]] = {
    "installs_latest": ("an honest device installs the latest version",
                        lambda w, c: any(w.agents[d].installed[0] == c.instance.versions
                                         for d in range(len(w.agents))
                                         if d not in w.compromised)),
}


def deployment_complete(w: World, cfg: Config) -> bool:
    """Liveness goal: every version published and installed on every active honest device.

    A component uninstalled after its latest version was installed counts as done: its floor
    (rightly) forbids installing that version again, and removing it was the TAM's decision."""
    inst = cfg.instance
    if any(p < inst.versions for p in w.published):
        return False
    for d, a in enumerate(w.agents):
        if d in w.compromised or d in w.revoked:
            continue
        if any(a.installed[c] != inst.versions and a.floor[c] != inst.versions
               and not _taversion.latest_refused(w, cfg, d, c)
               for c in range(inst.components)):
            return False
    return True
