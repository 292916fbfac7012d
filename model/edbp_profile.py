"""The `edbp` profile as an abstract state machine: TAM + KeyVault, Author, Registry, devices.

One ``World`` is a global state: the Author's publications, the TAM's per-device session and
registry status, each device's Agent (TEE) state, the attacker's observations, and ghost
(history) variables that exist only so that properties can be stated over single states.

The network is the Dolev-Yao attacker: every message sent is added to ``seen`` and every
receiver may be handed any term the attacker can derive or build, so intercept, drop, replay and
reorder need no state of their own. A delivery is labelled honest when the term is exactly the
one the protocol's counterpart sent for the receiver's open exchange, ``attack.replay`` when it
is an older or redirected message, ``attack.inject`` when the attacker built it. Every device's
REE (the Broker) is the attacker too: the payload the Agent fetches is the attacker's choice.

Steps internal to one trusted party with no input in between are taken atomically (e.g. the
Author's build, encrypt, wrap and sign): they commute with every other step, so this loses no
behaviour and keeps the graph small. Each transition lists every spec step it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import attrs
from edbp.model import timing
from edbp.model.instance import Instance
from edbp.model.rules import HONEST, NO_NONCE, Rules
from edbp.model.terms import ATTACKER_KEY, Term, analyze, enc, h, pub, sig, wrap

TSK: Term = ("tsk",)
ASK: Term = ("ask",)
ATTACKER_SYM: Term = ("ak",)  # the attacker's own symmetric key (for packages it builds)
OK, ERR = "ok", "err"


@attrs.frozen(cache_hash=True)
class Config:
    """What is explored: the instance, the protocol variant (``Rules``: honest, a seeded flaw
    or a mutation), and the attacker's moves allowed."""

    instance: Instance = attrs.field(factory=Instance)
    rules: Rules = HONEST
    compromise: bool = True
    revoke: bool = True
    moves_off: frozenset[str] = frozenset()  # attacker moves withheld (attack isolation)


@attrs.frozen(cache_hash=True)
class Agent:
    """A device's Agent (TEE) state.

    ``installed`` holds per component the installed version (0 = none; a negative value is a
    partial install of ``-v``, which only a flawed Agent leaves behind). ``job`` in FETCHING is
    ``(c, v, cek, token, verified, signed_digest)``. ``kept`` are CEKs still held outside an
    exchange. ``ta_floor`` is OP-TEE's TA-version floor per component (``ta_ver.db``), kept
    only in instances whose images carry a TA version (``Instance.ta_builds``).
    """

    phase: str
    token: int
    job: tuple[Any, ...]
    floor: tuple[int, ...]
    installed: tuple[int, ...]
    kept: frozenset[Any] = frozenset()
    ta_floor: tuple[int, ...] = ()
    age: int = 0  # QUERIED: ticks since the QueryRequest was accepted (timing.py)


@attrs.frozen(cache_hash=True)
class Session:
    """The TAM's session with one device: NO_SESSION, CHALLENGED(nonce), UPDATE_SENT(job).

    ``anonce`` is the Agent nonce of the QueryResponse whose evidence the session verified,
    which every Update of the session echoes (protocol.md 8.3.1)."""

    phase: str = "NO_SESSION"
    nonce: int = -1
    job: tuple[Any, ...] = ()
    # ticks (timing.py) since the Update was sent (UPDATE_SENT), or since the QueryRequest was
    # sent, on the TAM's clock (CHALLENGED: the challenge's age)
    age: int = 0
    anonce: Any = None  # the verified QueryResponse's Agent nonce term (an Update was sent)


@attrs.frozen(cache_hash=True)
class Ghost:
    """History variables: what happened, as ground truth independent of any party's checks."""

    delivered: frozenset[Any] = frozenset()  # (d, c, v): the TAM released CEK(c,v) for device d
    bad_deliveries: frozenset[Any] = frozenset()  # (d, nonce, reason): P3 ground-truth failures
    foreign_accepts: frozenset[Any] = frozenset()  # (d, named): d accepted an Update for `named`
    installs: tuple[Any, ...] = ()  # per device: ((c, v, payload, fresh_token, token), ...)
    ree_leaks: frozenset[Any] = frozenset()  # secrets an honest Agent handed to its REE
    unverified_decrypts: frozenset[Any] = frozenset()  # devices that decrypted before verifying
    reports: tuple[Any, ...] = ()  # per device: audit records the TAM holds, capped at 2 (witness)
    ck_holders: frozenset[Any] = frozenset({"keyvault"})
    revoked_deliveries: frozenset[Any] = frozenset()  # (d, c, v) delivered while d was revoked
    bad_records: frozenset[Any] = frozenset()  # audit records no honest report stands behind (P6)
    answered: frozenset[int] = frozenset()  # challenges the TAM has delivered against (P3: once)
    revoked_tee: frozenset[Any] = frozenset()  # (d, c, v): a CEK never delivered to revoked d
    # reached its TEE (P13, second clause; with the first clause: nothing published later)
    removals: frozenset[Any] = frozenset()  # (d, c, removed v, named v, named device,
    # TSK-signed): every uninstall an Agent carried out, against what its Update said (P7, P4)
    stale_wraps: frozenset[Any] = frozenset()  # (c, v, g): a CEK published wrapped under a
    # class-key generation already retired (P2, rotation.py)
    retired_uses: frozenset[Any] = frozenset()  # (d, c, v, g): a delivery whose CEK the
    # KeyVault unwrapped under a retired generation (P2)
    late_accepts: frozenset[Any] = frozenset()  # (d, n): d consumed the Update of session n
    # after that session had ended (not by revocation), in any exchange with n's token, one
    # re-opened by a replayed QueryRequest included (P6(a))


@attrs.frozen(cache_hash=True)
class World:
    """A global state of the `edbp` profile."""

    published: tuple[int, ...]
    sessions: tuple[Session, ...]
    agents: tuple[Agent, ...]
    revoked: frozenset[int]
    compromised: frozenset[int]
    issued: int
    seen: frozenset[Any]
    ghost: Ghost
    uninstalls: int = 0  # uninstall Updates the TAM sent (bounded by the instance)
    requeries: int = 0  # QueryRequests an Agent answered again (bounded by the instance)
    # rotate.class_key (rotation.py): per retired class-key generation g, ``published`` as it
    # was when g was retired (the current generation is ``len(ck_retired)``)
    ck_retired: tuple[tuple[int, ...], ...] = ()
    # per component, per published version: (class-key generation its record is wrapped
    # under, TA build its image embeds or None); kept only in instances that rotate or number
    # TA builds (``records_kept``)
    records: tuple[tuple[tuple[int, int | None], ...], ...] = ()


@attrs.frozen
class Event:
    """One transition as a trace shows it: spec step names, arrow, message text."""

    steps: tuple[str, ...]
    src: str
    dst: str
    text: str
    data: tuple[Any, ...] = ()  # structured facts about the step, for the honest scheduler

    @property
    def label(self) -> str:
        return " + ".join(self.steps)

    @property
    def honest(self) -> bool:
        return not any(s.startswith("attack.") for s in self.steps)


def _evolve(obj: Any, **changes: Any) -> Any:
    """``attrs.evolve`` for the model's own frozen classes, without its per-call introspection
    (the explorer builds several hundred thousand states; ``attrs.evolve`` was its top cost):
    one constructor call compiled per class (``explore.evolver``)."""
    cls = type(obj)
    make = _FIELDS.get(cls)
    if make is None:
        from edbp.model.explore import evolver

        make = _FIELDS[cls] = evolver(cls)
    out = make(obj, changes)
    return out if cls is World else intern(out)


_FIELDS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}

#: hash-consing pool: equal parts of states (observation sets, ghosts, agents, sessions) are
#: stored once and shared by every state that has them, which cuts memory per state and lets
#: state equality stop at identity on the shared parts
_POOL: dict[Any, Any] = {}


def intern(x: Any) -> Any:
    """The pooled object equal to ``x`` (``x`` itself the first time)."""
    return _POOL.setdefault(x, x)


def reset_pool() -> None:
    """Empty the hash-consing pool (between independent explorations)."""
    _POOL.clear()


# ---------------------------------------------------------------- names of keys and messages


def dak_of(cfg: Config, d: int) -> Term:
    """Device ``d``'s agreement key (one per class when the variant shares them)."""
    if not cfg.rules.device_keys_per_device:
        return ("dak", "class", cfg.instance.class_of(d))
    return ("dak", d)


def dsk_of(d: int) -> Term:
    return ("dsk", d)


def cek_of(cfg: Config, c: int, v: int) -> Term:
    """The CEK of package (c, v); one CEK for every version when the variant reuses it."""
    if not cfg.rules.fresh_cek_per_version:
        return ("cek", c, 1)
    return ("cek", c, v)


def ck_of(cls: int, gen: int = 0) -> Term:
    """Class key of ``cls``, generation ``gen`` (``rotate.class_key`` makes the next one)."""
    return ("ck", cls) if gen == 0 else ("ck", cls, gen)


def plaintext(c: int, v: int, build: int | None = None) -> Term:
    """The image published as (c, v); ``build``: the TA version it embeds when the Author
    numbered it apart from ``v`` (``Instance.ta_builds``), part of what the ASK signs."""
    return ("pt", c, v) if build is None else ("pt", c, v, build)


def records_kept(cfg: Config) -> bool:
    """Whether ``World.records`` is kept: only when a record can differ from (generation 0,
    no TA build), so that other instances explore exactly the states they did before."""
    return bool(cfg.instance.ck_rotations or cfg.instance.ta_builds)


def record(w: World, c: int, v: int) -> tuple[int, int | None]:
    """(class-key generation, TA build) of published package (c, v)."""
    if not w.records or v < 1 or v > len(w.records[c]):
        return 0, None
    return w.records[c][v - 1]


def nonce(n: int) -> Term:
    return ("nonce", n)


#: the Agent nonce the attacker makes up when it knows none (for evidence it signs itself)
ATTACKER_ANONCE: Term = ("anonce", -1, 0)


def anonce(d: int, current: bool = True) -> Term:
    """An Agent nonce of device ``d`` (protocol.md 8.3.1): drawn fresh per accepted
    QueryRequest, sent in the DSK-signed QueryResponse, echoed by the TAM in every Update of
    the session that verified that QueryResponse.

    The model keeps two of them per device: the one its Agent drew last (``current``) and
    "one drawn before" (every older nonce, merged). A check depends on a nonce only through
    its equality with, or its order against, the open exchange's nonce, which is always the
    last one drawn; nonces older than that are equal to no present or future exchange's and
    all older than it, so merging them changes no check's outcome (a bisimulation for the
    honest check and for every variant that compares against the current nonce), and the
    state space stays finite however often the attacker replays a QueryRequest. When the
    device draws again, ``_renew_nonce`` turns its current nonce into an older one
    everywhere it occurs."""
    return ("anonce", d, 1 if current else 0)


def agent_nonce(d: int) -> Term:
    """The Agent nonce of device ``d``'s open exchange (the last one it drew)."""
    return anonce(d)


def nonce_value(t: Term, devices: int) -> int:
    """An Agent nonce term as the integer the rules compare (``Rules.agent_nonce_ok``):
    distinct terms give distinct integers, a device's older nonce is below its current one;
    the attacker's made-up nonce is -1."""
    if t[1] < 0:
        return -1
    return int(t[2]) * devices + int(t[1])


@lru_cache(maxsize=50_000)
def _older_nonce(t: Any, cur: Term, old: Term) -> Any:
    if t == cur:
        return old
    if not isinstance(t, tuple) or not any(isinstance(x, tuple) for x in t):
        return t
    return tuple(_older_nonce(x, cur, old) if isinstance(x, tuple) else x for x in t)


@lru_cache(maxsize=50_000)
def _renewed_seen(seen: frozenset[Any], cur: Term, old: Term) -> frozenset[Any]:
    """``seen`` with nonce ``cur`` turned into ``old`` in every term (memoised: many states
    share their observations, and the rewrite visits every term of them)."""
    out: frozenset[Any] = intern(frozenset(_older_nonce(t, cur, old) for t in seen))
    return out


def _renew_nonce(w: World, cfg: Config, d: int) -> World:
    """Device ``d`` draws a fresh Agent nonce: its previous one becomes "drawn before" in every
    message observed and every TAM session that stored it (see ``anonce``). An Agent whose
    nonce is a constant (``Rules.fresh_agent_nonce`` off) draws nothing new."""
    cur, old = anonce(d), anonce(d, False)
    if not cfg.rules.fresh_agent_nonce or cur not in knowledge(w.seen):
        return w
    seen = _renewed_seen(w.seen, cur, old)
    sessions = tuple(_evolve(s, anonce=old) if s.anonce == cur else s for s in w.sessions)
    out: World = _evolve(w, seen=seen, sessions=sessions)
    return out


@lru_cache(maxsize=4096)
def author_manifest(cfg: Config, c: int, v: int, gen: int = 0,
                    build: int | None = None) -> Term:
    """The Author's signed manifest: component, sequence number, digest, CK-wrapped CEK.

    This and the other message builders below are memoised: the explorer compares every
    candidate input with the honest message of the open exchange, and rebuilding the nested
    term for each comparison was a large share of its time."""
    wraps = tuple(wrap(ck_of(k, gen), cek_of(cfg, c, v)) for k in range(cfg.instance.classes))
    return sig(ASK, ("am", c, v, h(plaintext(c, v, build)), ("tup", *wraps)))


@lru_cache(maxsize=4096)
def ciphertext(cfg: Config, c: int, v: int, build: int | None = None) -> Term:
    return enc(cek_of(cfg, c, v), plaintext(c, v, build))


@lru_cache(maxsize=4096)
def query_request(n: int) -> Term:
    return sig(TSK, ("qr", nonce(n)))


@lru_cache(maxsize=4096)
def evidence(cfg: Config, d: int, n: int, an: Term = ATTACKER_ANONCE) -> Term:
    """The QueryResponse: EAT evidence for challenge ``n`` and the Agent nonce ``an``, signed
    by the device's DSK."""
    return sig(dsk_of(d), ("ev", nonce(n), d, pub(dak_of(cfg, d)), an))


@lru_cache(maxsize=4096)
def delivery_wrap(cfg: Config, d: int, c: int, v: int) -> Term:
    """The CEK as the TAM delivers it to device ``d``."""
    if not cfg.rules.wrap_to_device_key:
        return wrap(ck_of(cfg.instance.class_of(d)), cek_of(cfg, c, v))
    return wrap(pub(dak_of(cfg, d)), cek_of(cfg, c, v))


@lru_cache(maxsize=4096)
def update(cfg: Config, d: int, n: int, c: int, v: int, kek: Term | None = None, gen: int = 0,
           build: int | None = None, an: Term = ATTACKER_ANONCE) -> Term:
    """The TAM-signed per-device Update (TEEP Update carrying the two-layer SUIT manifest);
    ``gen``, ``build``: the package record's (``record``); ``an``: the Agent nonce it echoes
    (the session's, ``Session.anonce``)."""
    wrapped = delivery_wrap(cfg, d, c, v) if kek is None else wrap(kek, cek_of(cfg, c, v))
    return sig(TSK, ("upd", d, nonce(n), author_manifest(cfg, c, v, gen, build), wrapped, an))


@lru_cache(maxsize=4096)
def receipt(cfg: Config, d: int, n: int, c: int, v: int, status: str) -> Term:
    """The Agent's install report (Success or Error)."""
    body = ("rc", d, nonce(n) if cfg.rules.report_binds_nonce else nonce(NO_NONCE), c, v,
            status)
    return sig(dsk_of(d), body)


# ---------------------------------------------------------------- initial state


def initial(cfg: Config) -> World:
    """Devices enrolled (enrol.keygen, enrol.endorse, enrol.register ran at manufacture)."""
    inst = cfg.instance
    comps = inst.components
    agent = Agent("IDLE", -1, (), (0,) * comps, (0,) * comps,
                  ta_floor=(0,) * comps if inst.ta_builds else ())
    seen = {ATTACKER_KEY, ATTACKER_SYM, *(("pt_att", c) for c in range(comps))}
    return World(
        records=((),) * comps if records_kept(cfg) else (),
        published=(0,) * comps,
        sessions=(Session(),) * inst.devices,
        agents=(agent,) * inst.devices,
        revoked=frozenset(),
        compromised=frozenset(),
        issued=0,
        seen=frozenset(seen),
        ghost=Ghost(installs=((),) * inst.devices, reports=(0,) * inst.devices),
    )


@lru_cache(maxsize=200_000)
def knowledge(seen: frozenset[Any]) -> frozenset[Any]:
    """The attacker's closed knowledge for a set of observations (memoised)."""
    out: frozenset[Any] = analyze(seen)
    return out


# ---------------------------------------------------------------- transitions


def _set(t: tuple[Any, ...], i: int, x: object) -> tuple[Any, ...]:
    return (*t[:i], x, *t[i + 1:])


def _learn(w: World, *terms: Term) -> frozenset[Any]:
    if not terms:
        return w.seen
    out: frozenset[Any] = intern(w.seen.union(terms))
    return out


def successors(w: World, cfg: Config) -> Iterator[tuple[Event, World]]:
    """Every transition enabled in ``w``: honest steps of every role and every attacker move."""
    inst = cfg.instance
    know = knowledge(w.seen)
    moves: list[Iterator[tuple[Event, World]]] = [_publish(w, cfg)]
    for d in range(inst.devices):
        moves.append(_tam_steps(w, cfg, d, know))
        if d not in w.compromised:
            moves.append(_agent_steps(w, cfg, d, know))
    moves.append(_lifecycle(w, cfg))
    moves.append(timing.tick(w, cfg))
    for gen in moves:
        yield from gen


def _publish(w: World, cfg: Config) -> Iterator[tuple[Event, World]]:
    inst = cfg.instance
    current = len(w.ck_retired)
    # publish.wrap_cek under the KeyVault's current class-key generation (rotation.py)
    gen = current if cfg.rules.publish_under_current_ck else max(0, current - 1)
    # the TA build the image embeds: any of 1..ta_builds (an older build may ship again under
    # a newer sequence number), or none when the instance leaves TA versions out
    builds: tuple[int | None, ...] = tuple(range(1, inst.ta_builds + 1)) or (None,)
    for c in range(inst.components):
        v = w.published[c] + 1
        if v > inst.versions:
            continue
        for build in builds:
            g = w.ghost
            if not cfg.rules.class_key_in_hsm:
                g = _evolve(g, ck_holders=g.ck_holders | {"author"})
            if gen < current:
                g = _evolve(g, stale_wraps=g.stale_wraps | {(c, v, gen)})
            records = w.records
            if records:
                records = _set(records, c, (*records[c], (gen, build)))
            nw = _evolve(
                w,
                published=_set(w.published, c, v),
                seen=_learn(w, author_manifest(cfg, c, v, gen, build),
                            ciphertext(cfg, c, v, build)),
                ghost=g,
                records=records,
            )
            yield Event(("publish.build", "publish.encrypt", "publish.wrap_cek", "publish.sign",
                         "publish.push"), "Author", "Registry",
                        f"package c{c} v{v}: enc[CEK{c}.{v}](P{c}.{v}) + manifest signed by ASK"
                        + ("" if build is None else f" (TA build {build})")
                        + ("" if not gen else f", CEK wrapped under CK generation {gen}")), nw


def _tam_accepts_evidence(cfg: Config, w: World, d: int, term: Term) -> Term | None:
    """The key the TAM would wrap to, or None when it refuses the evidence."""
    return _evidence_key(cfg, d, w.sessions[d], w.issued, term)


@lru_cache(maxsize=50_000)
def _accepted_evidence(cfg: Config, d: int, s: Session, issued: int,
                       know: frozenset[Any]) -> tuple[tuple[Term, Term], ...]:
    """The evidence candidates (in order) the TAM accepts in session ``s`` with device ``d``,
    each with the key it would wrap to: ``_tam_accepts_evidence`` reads only the session, the
    challenges issued and the term, so one answer serves every state that shares them."""
    out: list[tuple[Term, Term]] = []
    for term in _evidence_candidates(cfg, issued, know):
        kek = _evidence_key(cfg, d, s, issued, term)
        if kek is not None:
            out.append((term, kek))
    return tuple(out)


def _evidence_key(cfg: Config, d: int, s: Session, issued: int, term: Term) -> Term | None:
    """``_tam_accepts_evidence`` on the parts of the state it reads."""
    if not (isinstance(term, tuple) and term[0] == "sig" and term[2][0] == "ev"):
        return None
    if not cfg.rules.challenge_live(s.age):
        return None  # EAT_STALE: the challenge is older than the session lifetime
    signer, (_, n, named, cnf, _an) = term[1], term[2]
    genuine = signer == dsk_of(d) and named == d and cnf == pub(dak_of(cfg, d))
    if not cfg.rules.evidence_ok(genuine, n[1], s.nonce, issued):
        return None
    key: Term = cnf
    return key


def latest_anonces(know: frozenset[Any]) -> tuple[Term, ...]:
    """The Agent nonces worth putting in a message the attacker builds: per device, the last
    one it has seen (from a QueryResponse), or its own made-up one when it has seen none.

    An Update's echoed nonce matters only through its equality with the receiving Agent's
    open exchange's nonce, which is the newest that device drew; an older one is never drawn
    again, so a message built with it is refused wherever the newest is refused and accepted
    (by an Agent that ignores the nonce) wherever the newest is: the newest simulates every
    older choice, and a nonce not yet drawn cannot be known."""
    last: dict[int, Term] = {}
    for t in know:
        if t[0] == "anonce" and t[1] >= 0 and (t[1] not in last or t[2] > last[t[1]][2]):
            last[t[1]] = t
    return tuple(last[x] for x in sorted(last)) or (ATTACKER_ANONCE,)


@lru_cache(maxsize=50_000)
def _evidence_candidates(cfg: Config, issued: int, know: frozenset[Any]) -> tuple[Term, ...]:
    """Evidence terms the attacker can hand the TAM: every one seen, and every one it can sign
    (with the Agent nonces ``latest_anonces`` picks).

    Sorted (by ``repr``) so that the search order, hence every reported trace, is the same in
    every run whatever the interpreter's hash seed; memoised because it depends only on the
    attacker's knowledge and the challenges issued."""
    cands = {t for t in know if t[0] == "sig" and t[2][0] == "ev"}
    signers = [k for k in know if k[0] in ("dsk", "atk")]
    keys = [pub(dak_of(cfg, x)) for x in range(cfg.instance.devices)] + [pub(ATTACKER_KEY)]
    ans = latest_anonces(know) if signers else ()
    for s in signers:
        for n in range(issued):
            for x in range(cfg.instance.devices):
                for cnf in keys:
                    for an in ans:
                        cands.add(sig(s, ("ev", nonce(n), x, cnf, an)))
    return tuple(sorted(cands, key=repr))


def _tam_steps(w: World, cfg: Config, d: int,
               know: frozenset[Any]) -> Iterator[tuple[Event, World]]:
    s = w.sessions[d]
    inst = cfg.instance
    revoked = not cfg.rules.serves(d in w.revoked)
    if s.phase == "NO_SESSION":
        if w.issued < inst.sessions and not revoked:
            n = w.issued
            nw = _evolve(
                w, sessions=_set(w.sessions, d, Session("CHALLENGED", n)), issued=n + 1,
                seen=_learn(w, query_request(n)),
            )
            yield Event(("deploy.query_request",), "TAM", f"Broker{d}",
                        f"QueryRequest(challenge n{n}) signed by TSK"), nw
        return
    # a session that hears nothing expires (the TAM records a timeout); one that sent its
    # Update only once L_u has passed since it sent it (T11)
    if s.phase == "CHALLENGED" or cfg.rules.tam_may_expire(s.age):
        nw = _evolve(w, sessions=_set(w.sessions, d, Session()))
        yield Event(("deploy.record",), "TAM", "TAM", f"session with device {d} expires",
                    ("expire", d)), nw
    if s.phase == "CHALLENGED":
        yield from timing.challenge_ages(w, cfg, d)
        yield from _uninstall.tam_steps(w, cfg, d, know)
        honest_ev = evidence(cfg, d, s.nonce, agent_nonce(d))
        for term, kek in (() if revoked else _accepted_evidence(cfg, d, s, w.issued, know)):
            ev_nonce = term[2][1]
            for c in range(inst.components):
                for v in range(1, w.published[c] + 1):
                    yield _deliver(w, cfg, d, term, ev_nonce, kek, c, v, honest_ev)
    elif s.phase == "UPDATE_SENT":
        c, v = s.job
        honest_rc = receipt(cfg, d, s.nonce, c, v, OK)
        cands = _report_candidates(d, c, v, know)
        for term in ((honest_rc,) if honest_rc in know else ()) + cands:
            signed = term[0] == "sig" and term[1] == dsk_of(d)
            body = term[2] if term[0] == "sig" else term
            if not cfg.rules.report_ok(signed, body[2][1], s.nonce):
                continue
            truth = d in w.compromised or any(
                e[0] == c and e[1] == v and e[5] == nonce(s.nonce) for e in w.ghost.installs[d])
            rec = (d, s.nonce, c, v, OK)
            g = _evolve(w.ghost, reports=_set(w.ghost.reports, d,
                                                   min(2, w.ghost.reports[d] + 1)),
                             bad_records=w.ghost.bad_records | (set() if truth else {rec}))
            nw = _evolve(w, sessions=_set(w.sessions, d, Session()), ghost=g)
            steps: tuple[str, ...] = ("deploy.record",)
            if term != honest_rc:
                steps = ("attack.replay" if term in w.seen else "attack.inject", "deploy.record")
            yield Event(steps, f"Broker{d}", "TAM",
                        f"report ok c{c} v{v} for n{s.nonce} recorded", ("record", d, c, v)), nw
            break  # every accepted report leads to the same successor


@lru_cache(maxsize=50_000)
def _report_candidates(d: int, c: int, v: int, know: frozenset[Any]) -> tuple[Term, ...]:
    """Success reports for (c, v) from device ``d`` the attacker can hand the TAM: the signed
    ones it has seen, ones it signs with a device key it holds, and unsigned ones it writes
    for every challenge it knows (or none). Honest reports sort first so that a trace labels
    the honest delivery as such whenever it is available."""
    nonces = sorted({t for t in know if t[0] == "nonce"} | {nonce(NO_NONCE)})
    seen = [t for t in know if t[0] == "sig" and t[2][0] == "rc" and t[2][1] == d
            and t[2][3:] == (c, v, OK)]
    built: list[Term] = [("rc", d, n, c, v, OK) for n in nonces]
    if dsk_of(d) in know:
        built += [sig(dsk_of(d), ("rc", d, n, c, v, OK)) for n in nonces]
    return (*sorted(seen, key=repr), *sorted(set(built) - set(seen), key=repr))


def _deliver(w: World, cfg: Config, d: int, ev: Term, ev_nonce: Term, kek: Term, c: int,
             v: int, honest_ev: Term) -> tuple[Event, World]:
    """deploy.verify_evidence + deploy.update: KeyVault re-wraps CEK(c,v) to ``kek``."""
    n = w.sessions[d].nonce
    g = w.ghost
    reasons = []
    if ev[1] != dsk_of(d):
        reasons.append("evidence not produced by the device")
    if ev[2][2] != d or ev[2][3] != pub(dak_of(cfg, d)):
        reasons.append("evidence names another device or key")
    if ev_nonce != nonce(n):
        reasons.append("stale challenge")
    if d in w.revoked:
        reasons.append("device revoked")
    if ev_nonce[1] in g.answered:
        reasons.append("challenge already used for a delivery")
    if w.sessions[d].age >= timing.CAP:
        reasons.append("challenge older than the session lifetime (stale evidence)")
    # the KeyVault unwraps the CEK from the package record, under the record's generation
    gen, build = record(w, c, v)
    if gen < len(w.ck_retired):
        g = _evolve(g, retired_uses=g.retired_uses | {(d, c, v, gen)})
    an = ev[2][4]  # the Agent nonce of the QueryResponse verified, echoed in the Update
    if kek == pub(dak_of(cfg, d)):
        upd = update(cfg, d, n, c, v, gen=gen, build=build, an=an)
    else:
        upd = update(cfg, d, n, c, v, kek=kek, gen=gen, build=build, an=an)
    g = _evolve(
        g,
        delivered=g.delivered | {(d, c, v)},
        bad_deliveries=g.bad_deliveries | {(d, n, r) for r in reasons},
        answered=g.answered | {ev_nonce[1]},
        revoked_deliveries=g.revoked_deliveries | ({(d, c, v)} if d in w.revoked else set()),
    )
    # T4: the session leaves CHALLENGED, so its challenge answers no second delivery
    # the session keeps the verified QueryResponse's Agent nonce, which its Update echoes
    after = (Session("UPDATE_SENT", n, (c, v), anonce=ev[2][4]) if cfg.rules.tam_closes_challenge
             else w.sessions[d])
    nw = _evolve(w, sessions=_set(w.sessions, d, after), seen=_learn(w, upd), ghost=g)
    steps: tuple[str, ...] = ("deploy.verify_evidence", "deploy.update")
    if ev != honest_ev:
        steps = ("attack.replay" if ev in w.seen else "attack.inject", *steps)
    return Event(steps, f"Broker{d}", "TAM",
                 f"evidence(n{ev_nonce[1]}) accepted; Update c{c} v{v}, CEK wrapped to "
                 f"{_keyname(upd[2][4][1])}", ("deliver", d, c, v)), nw


def _keyname(k: Term) -> str:
    from edbp.model.terms import render

    return render(k)


# ---------------------------------------------------------------- the Agent (device TEE)


def _agent_steps(w: World, cfg: Config, d: int,
                 know: frozenset[Any]) -> Iterator[tuple[Event, World]]:
    a = w.agents[d]
    if a.phase == "IDLE":
        renewed = None
        for term in _query_requests(know):
            if term[1] != TSK:
                continue
            n = term[2][1][1]
            again = (evidence(cfg, d, n, anonce(d)) in w.seen
                     or evidence(cfg, d, n, anonce(d, False)) in w.seen)
            if again and w.requeries >= cfg.instance.requeries:
                continue  # the instance's bound on replayed QueryRequests answered
            # a fresh Agent nonce per accepted QueryRequest, a replayed one included
            if renewed is None:
                renewed = _renew_nonce(w, cfg, d)
            base = _evolve(renewed, requeries=w.requeries + 1) if again else renewed
            na = _evolve(a, phase="QUERIED", token=n, age=0)
            ev = evidence(cfg, d, n, agent_nonce(d))
            nw = _with_agent(base, d, na, w.ghost, ev)
            s = w.sessions[d]
            honest = s.phase == "CHALLENGED" and s.nonce == n
            steps = ("deploy.query_response",) if honest else ("attack.replay",
                                                                "deploy.query_response")
            yield Event(steps, f"Agent{d}", "TAM",
                        f"QueryResponse: EAT evidence(n{n}, UEID {d}) signed by DSK{d}"), nw
        return
    if a.phase == "QUERIED":
        # timeout or unexpected input: Error, back to IDLE (nothing held)
        yield _agent_error(w, cfg, d, a, "exchange abandoned (timeout or junk input)",
                           ("deploy.error",))
        s = w.sessions[d]
        honest = (update(cfg, d, s.nonce, *s.job, None, *record(w, *s.job), s.anonce)
                  if s.phase == "UPDATE_SENT" else None)
        for term, takes in _update_verdicts(cfg, d, a, know):
            # a candidate the Agent refuses leads nowhere unless it is the honest Update (the
            # "Update refused" error edge): ``_verify_update`` would yield nothing for it
            if takes or term == honest:
                yield from _verify_update(w, cfg, d, a, term)
        yield from _uninstall.agent_steps(w, cfg, d, a, know)
        return
    if a.phase == "FETCHING":
        yield from _fetch(w, cfg, d, a, know)


@lru_cache(maxsize=50_000)
def _query_requests(know: frozenset[Any]) -> tuple[Term, ...]:
    return tuple(sorted((t for t in know if t[0] == "sig" and t[2][0] == "qr"), key=repr))


@lru_cache(maxsize=50_000)
def _seen_updates(know: frozenset[Any]) -> frozenset[Any]:
    return frozenset(t for t in know if t[0] == "sig" and t[2][0] == "upd")


def _with_agent(w: World, d: int, a: Agent, g: Ghost, *sent: Term) -> World:
    out: World = _evolve(w, agents=_set(w.agents, d, a), ghost=g, seen=_learn(w, *sent))
    return out


def _agent_error(w: World, cfg: Config, d: int, a: Agent, why: str,
                 steps: tuple[str, ...], job_failed: bool = False) -> tuple[Event, World]:
    """deploy.error: Error to the TAM, nothing installed, CEK erased (unless a flaw keeps it).

    The Error message itself carries nothing the attacker can use and the TAM's session ends
    by expiry either way, so it is not added to the attacker's observations.
    """
    g = w.ghost
    kept = a.kept
    installed = a.installed
    if a.phase == "FETCHING":
        c, v, cek = a.job[0], a.job[1], a.job[2]
        if not cfg.rules.erase_cek_on_error:
            kept = kept | {cek}
        if not cfg.rules.install_after_check and job_failed:
            installed = _set(installed, c, -v)
    na = idle(a, installed=installed, kept=kept)
    data = ("error", d, a.phase == "FETCHING")
    return Event(steps, f"Agent{d}", "TAM", f"Error: {why}", data), _with_agent(w, d, na, g)


def idle(a: Agent, **changes: Any) -> Agent:
    """``a`` back in IDLE: no exchange, token and job forgotten; what persists across
    exchanges (floors, installs, kept CEKs, TA floors, the count of Agent nonces drawn) is
    kept unless ``changes`` says otherwise."""
    out: Agent = _evolve(a, phase="IDLE", token=-1, job=(), age=0, **changes)
    return out


@lru_cache(maxsize=50_000)
def _update_candidates(cfg: Config, token: int, d: int, an: Term,
                       know: frozenset[Any]) -> tuple[Term, ...]:
    """Every Update the attacker can hand Agent ``d``: seen ones and ones it signs itself."""
    return tuple(sorted(_seen_updates(know) | _forged_updates(cfg, token, d, an, know),
                        key=repr))


@lru_cache(maxsize=50_000)
def _update_verdicts(cfg: Config, d: int, a: Agent,
                     know: frozenset[Any]) -> tuple[tuple[Term, bool], ...]:
    """``_update_candidates`` in order, each with whether Agent ``a`` of device ``d`` takes it
    past ``deploy.verify_update`` (its checks pass, or it decrypts before checking): what
    ``_update_checks`` computes depends on the Agent and the term only, so one answer serves
    every state with the same Agent and attacker knowledge (most of the candidates the
    attacker can build are refused, and re-checking each in every state was a large share of
    the exploration's time)."""
    out: list[tuple[Term, bool]] = []
    for term in _update_candidates(cfg, a.token, d, agent_nonce(d), know):
        chk = _update_checks(cfg, d, a, term)
        out.append((term, chk is not None and (chk[0] or (chk[1] is not None
                                                         and not cfg.rules.verify_before_decrypt))))
    return tuple(out)


def _update_checks(cfg: Config, d: int, a: Agent,
                   term: Term) -> tuple[bool, Term | None] | None:
    """Agent ``a`` of device ``d`` checks Update ``term`` (deploy.verify_update) and unwraps its
    CEK with the device's own keys (deploy.unwrap_cek): (every check passes, the CEK or None),
    or None when the Update names a component the instance does not have."""
    _, named, tok, am, wrapped, echo = term[2]
    c, v = am[2][1], am[2][2]
    if c >= cfg.instance.components:
        return None
    rules = cfg.rules
    sigs_ok = rules.sigs_ok(term[1] == TSK, am[1] == ASK)
    binding_ok = rules.binding_ok(named, d)
    token_ok = rules.token_ok(tok[1], a.token) and agent_nonce_ok(cfg, echo, a, d)
    live = rules.exchange_live(a.age)
    seq_ok = rules.seq_ok(v, a.floor[c], a.installed[c])
    cek = None
    if wrapped[0] == "wrap":
        kek = wrapped[1]
        if kek == pub(dak_of(cfg, d)) or (kek == ck_of(cfg.instance.class_of(d))
                                          and not rules.wrap_to_device_key):
            cek = wrapped[2]
    return sigs_ok and binding_ok and token_ok and seq_ok and live, cek


def _forged_updates(cfg: Config, token: int, d: int, an: Term,
                    know: frozenset[Any]) -> set[Term]:
    """Updates the attacker can sign itself, aimed at device ``d``'s open exchange (its token
    and its Agent nonce ``an``, both of which the attacker read in the QueryRequest and the
    QueryResponse)."""
    out: set[Term] = set()
    signers = [k for k in know if k[0] in ("dsk", "atk")]
    ams = [t for t in know if t[0] == "sig" and t[2][0] == "am"]
    ams.append(sig(ATTACKER_KEY, ("am", 0, cfg.instance.versions, h(("pt_att", 0)), ("tup",))))
    syms = [k for k in know if k[0] in ("cek", "ak")]
    tok = nonce(token)
    for s in signers:
        for am in ams:
            for k in syms:
                out.add(sig(s, ("upd", d, tok, am, wrap(pub(dak_of(cfg, d)), k), an)))
    return out


def agent_nonce_ok(cfg: Config, echo: Term, a: Agent, d: int) -> bool:
    """deploy.verify_update (protocol.md 8.3.1): the Update echoes the Agent nonce of the open
    exchange (``Rules.agent_nonce_ok`` on the nonces' integer values)."""
    n = cfg.instance.devices
    ok: bool = cfg.rules.agent_nonce_ok(nonce_value(echo, n), nonce_value(agent_nonce(d), n))
    return ok


def _verify_update(w: World, cfg: Config, d: int, a: Agent,
                   term: Term) -> Iterator[tuple[Event, World]]:
    """deploy.verify_update + deploy.unwrap_cek (both in the TEE, no input in between)."""
    chk = _update_checks(cfg, d, a, term)
    if chk is None:
        return
    checks_ok, cek = chk
    rules = cfg.rules
    _, named, tok, am, wrapped, _echo = term[2]
    c, v = am[2][1], am[2][2]
    ck_use = cek is not None and wrapped[1][0] == "ck"
    s = w.sessions[d]
    honest = (s.phase == "UPDATE_SENT"
              and term == update(cfg, d, s.nonce, *s.job, None, *record(w, *s.job), s.anonce))
    prefix: tuple[str, ...] = ()
    if not honest:
        prefix = ("attack.replay",) if term in w.seen else ("attack.inject",)
    early = not rules.verify_before_decrypt and cek is not None
    if (checks_ok and cek is not None) or early:
        g = w.ghost
        if named != d:
            g = _evolve(g, foreign_accepts=g.foreign_accepts | {(d, named)})
        if ck_use:
            g = _evolve(g, ck_holders=g.ck_holders | {f"device{d}"})
        if term[1] == TSK and d in w.revoked and (d, c, v) not in g.delivered:
            # P13, second clause: a TAM-released CEK d was never delivered, in a revoked TEE
            g = _evolve(g, revoked_tee=g.revoked_tee | {(d, c, v)})
        if (term[1] == TSK and named == d and tok == nonce(a.token)
                and d not in w.revoked and (s.phase == "NO_SESSION" or s.nonce != a.token)):
            # P6(a): the TAM session this Update came from (its token is the exchange's) is
            # no longer the current one, whichever QueryRequest opened the exchange
            g = _evolve(g, late_accepts=g.late_accepts | {(d, a.token)})
        job = (c, v, cek, tok, checks_ok, am[2][3])
        na = _evolve(a, phase="FETCHING", job=job, age=0)
        yield Event((*prefix, "deploy.verify_update", "deploy.unwrap_cek"), f"Broker{d}",
                    f"Agent{d}", f"Update c{c} v{v} for device {named} accepted"
                    + ("" if checks_ok else " (unverified)")), _with_agent(w, d, na, g)
    elif checks_ok:
        # the Update passed verification but does not unwrap with this device's key: the
        # Agent has accepted it (a P4 breach if it names another device) and now fails
        g = w.ghost
        if named != d:
            g = _evolve(g, foreign_accepts=g.foreign_accepts | {(d, named)})
        w2 = _evolve(w, ghost=g)
        yield _agent_error(w2, cfg, d, a, f"Update for device {named} accepted, CEK unwrap fails",
                           (*prefix, "deploy.verify_update", "deploy.unwrap_cek", "deploy.error"))
    elif prefix:
        # refused input: Error, back to IDLE; the same successor as the junk/timeout edge
        return
    else:
        yield _agent_error(w, cfg, d, a, "Update refused", ("deploy.verify_update",
                                                             "deploy.error"))


@lru_cache(maxsize=50_000)
def _payload_candidates(know: frozenset[Any]) -> tuple[Term, ...]:
    """What the Broker can hand the Agent as the payload: every ciphertext it holds or can
    build from the keys and plaintexts it knows, or nothing (a failed fetch)."""
    cands: set[Term] = {t for t in know if t[0] == "enc"}
    pts = [t for t in know if t[0] in ("pt", "pt_att")]
    for k in (x for x in know if x[0] in ("cek", "ak")):
        for m in pts:
            cands.add(enc(k, m))
    cands.add(("nothing",))
    return tuple(sorted(cands, key=repr))


def _fetch(w: World, cfg: Config, d: int, a: Agent,
           know: frozenset[Any]) -> Iterator[tuple[Event, World]]:
    """deploy.fetch .. deploy.success: the Broker (attacker) chooses what the Agent fetches."""
    c, v, cek, tok, verified, signed_digest = a.job
    leak: tuple[Term, ...] = () if cfg.rules.cek_stays_in_tee else (cek,)
    build = record(w, c, v)[1]
    for ct in _payload_candidates(know):
        honest = ct == ciphertext(cfg, c, v, build)
        prefix = () if honest else ("attack.control_ree",)
        g = w.ghost
        if leak:
            g = _evolve(g, ree_leaks=g.ree_leaks | set(leak))
        if not verified and ct[0] == "enc":
            g = _evolve(g, unverified_decrypts=g.unverified_decrypts | {d})
        if ct[0] != "enc" or ct[1] != cek:
            w2 = _evolve(w, ghost=g, seen=_learn(w, *leak))
            yield _agent_error(w2, cfg, d, a, "payload does not decrypt",
                               (*prefix, "deploy.fetch", "deploy.decrypt", "deploy.error"),
                               job_failed=True)
            continue
        m = ct[2]
        if not verified:
            w2 = _evolve(w, ghost=g, seen=_learn(w, *leak))
            yield _agent_error(w2, cfg, d, a, "signature check after decryption fails",
                               (*prefix, "deploy.fetch", "deploy.decrypt", "deploy.verify_update",
                                "deploy.error"), job_failed=True)
            continue
        # the manifest's signed digest, never the genuine plaintext: the Agent knows only that
        digest_ok = cfg.rules.payload_ok(h(m), signed_digest)
        if not digest_ok:
            w2 = _evolve(w, ghost=g, seen=_learn(w, *leak))
            yield _agent_error(w2, cfg, d, a, "payload digest mismatch",
                               (*prefix, "deploy.fetch", "deploy.check_payload", "deploy.decrypt",
                                "deploy.error"), job_failed=True)
            continue
        ta_floor = a.ta_floor
        if ta_floor:
            # OP-TEE's TA-version floor (ta-image.md section 7), apart from the SUIT floor
            tv = _taversion.ta_version(cfg, m)
            if not cfg.rules.ta_version_ok(tv, ta_floor[c], v, a.floor[c]):
                w2 = _evolve(w, ghost=g, seen=_learn(w, *leak))
                yield _agent_error(w2, cfg, d, a, f"TA version {tv} below its floor "
                                   f"{ta_floor[c]} (TA_VERSION_ROLLBACK)",
                                   (*prefix, "deploy.fetch", "deploy.check_payload",
                                    "deploy.decrypt", "deploy.error"), job_failed=True)
                continue
            ta_floor = _set(ta_floor, c, max(tv, ta_floor[c]))
        fresh = tok == nonce(a.token)
        installs = _set(g.installs, d, (*g.installs[d], (c, v, m, fresh, tok, nonce(a.token))))
        g = _evolve(g, installs=installs)
        rc = receipt(cfg, d, a.token, c, v, OK)
        na = idle(a, floor=_set(a.floor, c, max(v, a.floor[c])), installed=_set(a.installed, c, v),
                  ta_floor=ta_floor)
        yield Event((*prefix, "deploy.fetch", "deploy.check_payload", "deploy.decrypt",
                     "deploy.install", "deploy.raise_floor", "deploy.erase_cek",
                     "deploy.success"), f"Agent{d}", "TAM",
                    f"installed c{c} v{v}"
                    + ("" if m == plaintext(c, v, build) else " (attacker code)")
                    + "; signed report"), _with_agent(w, d, na, g, rc, *leak)


# ---------------------------------------------------------------- lifecycle and attacker


def _lifecycle(w: World, cfg: Config) -> Iterator[tuple[Event, World]]:
    inst = cfg.instance
    yield from _rotation.steps(w, cfg)
    for d in range(inst.devices):
        # uninstall.component is a message exchange (uninstall.py), not a lifecycle step
        if cfg.revoke and d not in w.revoked and len(w.revoked) < inst.revocations:
            nw = _evolve(w, revoked=w.revoked | {d}, sessions=_set(w.sessions, d, Session()))
            yield Event(("revoke.device",), "Operator", "TAM", f"revoke device {d}"), nw
        if (cfg.compromise and d not in w.compromised and len(w.compromised) < inst.compromises
                and _may_compromise(cfg, d)):
            a = w.agents[d]
            loot: set[Term] = {dak_of(cfg, d), dsk_of(d), *a.kept}
            if a.phase == "FETCHING":
                loot.add(a.job[2])
            for c, v in enumerate(a.installed):
                if v:
                    loot.add(plaintext(c, abs(v), record(w, c, abs(v))[1]))
            if f"device{d}" in w.ghost.ck_holders:
                loot.add(ck_of(inst.class_of(d)))
            nw = _evolve(w, compromised=w.compromised | {d}, seen=w.seen | loot)
            yield Event(("attack.compromise_device",), "Attacker", f"Agent{d}",
                        f"device {d}'s TEE compromised: DAK{d}, DSK{d}, held secrets"), nw


def iv_of(cfg: Config, v: int) -> int:
    """The IV the Author uses for version ``v`` (fresh per encryption; fixed under the flaw)."""
    return v if cfg.rules.fresh_iv_per_encryption else 0


def _may_compromise(cfg: Config, d: int) -> bool:
    """Which devices the attacker may pick to compromise.

    With one device class every device is interchangeable, so a run that compromises k devices
    is a relabelling of one that compromises the last k: exploring only those loses no
    behaviour up to symmetry and halves the graph. With several classes any device may fall.
    """
    inst = cfg.instance
    if inst.classes > 1:
        return True
    return d >= inst.devices - inst.compromises


# the uninstall exchange (its own module; it reads this one's helpers at call time)
from edbp.model import rotation as _rotation  # noqa: E402
from edbp.model import taversion as _taversion  # noqa: E402
from edbp.model import uninstall as _uninstall  # noqa: E402
