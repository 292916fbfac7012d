"""Stepping the `edbp` model from outside: the interface a lockstep test or a conformance
harness drives, whatever implementation it compares against.

``ModelDriver`` holds one model state and moves it only through the model's own transitions
(named with the spec's step names), so a prediction is never hand-written: it is what the
state machine does. Two levels:

- ``enabled()`` / ``take(step, ...)``: single transitions, for drivers that step messages one
  by one (an adapter that relays each TEEP message);
- ``deploy``, ``replay_update``, ``revoke``, ``publish``: whole exchanges as a TAM + Broker
  relay loop runs them, returning a ``Prediction`` (installed or refused, with the error code
  the spec pins for the refusal).

``observe()`` returns what an implementation must agree with after each step: per device the
installed version and the floor of every component, the revoked set, the count of TAM records.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from edbp.model import edbp_profile as ep
from edbp.model.instance import Instance
from edbp.model.properties import PROPERTIES
from edbp.model.rules import HONEST, Rules
from edbp.model.terms import Term

from edbp.errors import Code


@attrs.frozen
class Observation:
    """The observable state an implementation must match."""

    installed: tuple[tuple[int, ...], ...]  # per device, per component (0 = nothing)
    floors: tuple[tuple[int, ...], ...]
    revoked: frozenset[int]
    published: tuple[int, ...]


@attrs.frozen
class Prediction:
    """What the model says an exchange ends in."""

    installed: bool
    code: Code | None  # the refusal's code, when the spec pins one
    steps: tuple[str, ...]


def _honest(e: ep.Event) -> bool:
    return e.honest


class ModelDriver:
    """One model run, stepped by a test harness."""

    def __init__(self, instance: Instance | None = None,
                 rules: Rules = HONEST) -> None:
        inst = instance or Instance(devices=2, versions=3, sessions=64, compromises=0)
        self.config = ep.Config(inst, rules=rules, compromise=False)
        self.state: ep.World = ep.initial(self.config)
        self.log: list[ep.Event] = []

    # ------------------------------------------------------------ single transitions

    def enabled(self) -> list[ep.Event]:
        """Every transition enabled now (honest and attacker)."""
        return [ev for ev, _ in ep.successors(self.state, self.config)]

    def take(self, pred: Callable[[ep.Event, ep.World], bool]) -> ep.Event | None:
        """Take the first enabled transition whose event satisfies ``pred``; None if none."""
        for ev, nw in ep.successors(self.state, self.config):
            if pred(ev, nw):
                self.state = nw
                self.log.append(ev)
                return ev
        return None

    # ------------------------------------------------------------ whole exchanges

    def publish(self, c: int = 0) -> int:
        """publish.*: the next version of component ``c``; returns its sequence number."""
        ev = self.take(lambda e, w: "publish.push" in e.steps and w.published[c]
                       == self.state.published[c] + 1)
        if ev is None:
            raise ValueError("no further version in this instance")
        return self.state.published[c]

    def revoke(self, d: int) -> None:
        """revoke.device."""
        if d in self.state.revoked:
            return
        if self.take(lambda e, w: e.steps == ("revoke.device",) and d in w.revoked) is None:
            raise ValueError("revocation budget of the instance exhausted")

    def deploy(self, d: int, v: int, c: int = 0) -> Prediction:
        """The Deploy flow for device ``d`` and version ``v`` with an honest network."""
        start = len(self.log)
        if d in self.state.revoked:
            return Prediction(False, Code.TAM_DEVICE_REVOKED, ())
        if v > self.state.published[c]:
            return Prediction(False, Code.TAM_NO_SUCH_PACKAGE, ())
        self._open_exchange(d)
        self.take(lambda e, w: _honest(e) and e.data == ("deliver", d, c, v))
        ev = self.take(lambda e, w: _honest(e) and "deploy.verify_update" in e.steps
                       and f"Agent{d}" in (e.src, e.dst))
        steps = tuple(e.label for e in self.log[start:])
        if ev is None or "deploy.error" in ev.steps:
            self._close_session(d)
            return Prediction(False, Code.AGENT_ROLLBACK, steps)
        if self.take(lambda e, w: _honest(e) and "deploy.success" in e.steps
                     and e.src == f"Agent{d}") is None:
            # the genuine payload refused after decryption: only OP-TEE's TA-version floor
            # does that to an Update that passed every check (taversion.py)
            self.take(lambda e, w: _honest(e) and e.data[:2] == ("error", d))
            self._close_session(d)
            return Prediction(False, Code.TA_VERSION_ROLLBACK,
                              tuple(e.label for e in self.log[start:]))
        self.take(lambda e, w: _honest(e) and e.data[:2] == ("record", d))
        return Prediction(True, None, tuple(e.label for e in self.log[start:]))

    def _open_exchange(self, d: int) -> None:
        """A fresh session for device ``d``: the TAM's QueryRequest and the Agent's answer, as
        every TSK-signed Update needs (a delivery and an uninstall alike)."""
        self._close_session(d)
        if self.take(lambda e, w: _honest(e) and "deploy.query_request" in e.steps
                     and e.dst == f"Broker{d}") is None:
            raise ValueError("challenge budget of the instance exhausted")
        n = self.state.sessions[d].nonce
        self.take(lambda e, w: _honest(e) and "deploy.query_response" in e.steps
                  and w.agents[d].token == n and e.src == f"Agent{d}")

    def uninstall(self, d: int, c: int = 0) -> bool:
        """The uninstall exchange on device ``d`` with an honest network: QueryRequest, fresh
        evidence, the TAM's uninstall Update naming the installed version (what the evidence
        reports), the Agent's removal. False when nothing is installed there (or the device is
        revoked, or the instance's uninstall budget is spent): nothing changes."""
        v = self.state.agents[d].installed[c]
        if (v <= 0 or d in self.state.revoked
                or self.state.uninstalls >= self.config.instance.uninstalls):
            return False
        self._open_exchange(d)
        self.take(lambda e, w: e.data == ("uninstall_sent", d, c, v))
        return self.take(lambda e, w: _honest(e) and e.data == ("uninstall", d, c)) is not None

    def records(self) -> tuple[tuple[int, ...], ...]:
        """Per device, the versions the TAM recorded as installed (deploy.record on a checked
        Success report), in order: what the TAM's audit log must list."""
        out: list[list[int]] = [[] for _ in self.state.agents]
        for e in self.log:
            if e.data[:1] == ("record",):
                out[e.data[1]].append(e.data[3])
        return tuple(tuple(x) for x in out)

    def deploy_dropped(self, d: int, v: int, c: int = 0) -> Term:
        """A Deploy whose Update the attacker drops (the Agent times out); returns that Update,
        which the attacker keeps for later."""
        self._close_session(d)
        self.take(lambda e, w: _honest(e) and "deploy.query_request" in e.steps
                  and e.dst == f"Broker{d}")
        n = self.state.sessions[d].nonce
        self.take(lambda e, w: _honest(e) and "deploy.query_response" in e.steps
                  and w.agents[d].token == n and e.src == f"Agent{d}")
        self.take(lambda e, w: _honest(e) and e.data == ("deliver", d, c, v))
        an = self.state.sessions[d].anonce  # the Agent nonce the Update echoes
        self._close_session(d)
        return ep.update(self.config, d, n, c, v, None, *ep.record(self.state, c, v), an)

    def replay_in_exchange(self, d: int, term: Term) -> Prediction:
        """attack.replay: inside a fresh exchange of device ``d``, the attacker hands the Agent
        an old Update instead of the TAM's."""
        self._close_session(d)
        self.take(lambda e, w: _honest(e) and "deploy.query_request" in e.steps
                  and e.dst == f"Broker{d}")
        n = self.state.sessions[d].nonce
        self.take(lambda e, w: _honest(e) and "deploy.query_response" in e.steps
                  and w.agents[d].token == n and e.src == f"Agent{d}")
        a = self.state.agents[d]
        term = self._as_held(term)
        accepted = None
        for ev, nw in ep._verify_update(self.state, self.config, d, a, term):
            if nw.agents[d].phase == "FETCHING":
                accepted = (ev, nw)
                break
        if accepted is None:
            self._close_session(d)
            return Prediction(False, self._refusal_code(d, a, term), ("attack.replay",))
        self.state = accepted[1]
        self.log.append(accepted[0])
        done = self.take(lambda e, w: "deploy.success" in e.steps and e.src == f"Agent{d}"
                         and "attack.control_ree" not in e.steps)
        self._close_session(d)
        return Prediction(done is not None, None, (accepted[0].label,))

    def replay_in_reopened_exchange(self, d: int, term: Term) -> Prediction:
        """attack.replay of a QueryRequest, then of an Update withheld from its session: the
        attacker hands device ``d`` the QueryRequest whose token ``term`` carries (the Agent
        answers it, with a fresh Agent nonce), then ``term`` itself. The token matches the
        re-opened exchange's, so the Agent-nonce check (protocol.md 8.3.1, section 9 step 7)
        is what refuses it: ``_refusal_code`` pins TEEP_AGENT_NONCE_MISMATCH (409) when the
        model's ``agent_nonce_ok`` fails. Needs ``Instance.requeries`` > 0 when ``d`` answered
        that token before (every call answers the QueryRequest once more)."""
        token = term[2][2][1]
        self._close_session(d)
        qr = ep.query_request(token)
        if self.take(lambda e, w: "deploy.query_response" in e.steps and e.src == f"Agent{d}"
                     and w.agents[d].token == token and qr in self.state.seen) is None:
            raise ValueError("the QueryRequest was never sent, or the requeries bound is spent")
        a = self.state.agents[d]
        term = self._as_held(term)
        for ev, nw in ep._verify_update(self.state, self.config, d, a, term):
            if nw.agents[d].phase == "FETCHING":
                self.state = nw
                self.log.append(ev)
                done = self.take(lambda e, w: "deploy.success" in e.steps
                                 and e.src == f"Agent{d}" and "attack.control_ree" not in e.steps)
                self._close_session(d)
                return Prediction(done is not None, None, (ev.label,))
        self._close_session(d)
        return Prediction(False, self._refusal_code(d, a, term), ("attack.replay",))

    def _as_held(self, term: Term) -> Term:
        """``term`` as the attacker holds it now: the model keeps two Agent nonces per device
        (``ep.anonce``), so once the device named in an Update captured earlier has drawn a new
        one, the Update's echo reads "drawn before" in the model's observations."""
        if term in ep.knowledge(self.state.seen):
            return term
        named = term[2][1]
        aged: Term = ep._older_nonce(term, ep.anonce(named), ep.anonce(named, False))
        return aged if aged in ep.knowledge(self.state.seen) else term

    def _refusal_code(self, d: int, a: ep.Agent, term: Term) -> Code:
        """The code of the first of the Agent's checks (protocol.md section 9 order: signer,
        device binding, session token, exchange lifetime, Agent nonce, rollback) that ``term``
        fails, by the model's rules."""
        r = self.config.rules
        _, named, tok, am, _wrapped, echo = term[2]
        c, v = am[2][1], am[2][2]
        if not r.sigs_ok(term[1] == ep.TSK, am[1] == ep.ASK):
            return Code.AGENT_UNTRUSTED_SIGNER
        if not r.binding_ok(named, d):
            return Code.AGENT_NOT_FOR_THIS_DEVICE
        if not r.token_ok(tok[1], a.token):
            return Code.AGENT_REPLAY
        if not r.exchange_live(a.age):
            return Code.TEEP_EXCHANGE_EXPIRED
        # the echo of an Update withheld from an exchange, replayed into one a replayed
        # QueryRequest re-opened with the same token: only the Agent nonce tells them apart
        # (P-9.7c). The model's Updates always echo a nonce, so 400 (none echoed) is not pinned
        if not ep.agent_nonce_ok(self.config, echo, a, d):
            return Code.TEEP_AGENT_NONCE_MISMATCH
        if not r.seq_ok(v, a.floor[c], a.installed[c]):
            return Code.AGENT_ROLLBACK
        return Code.AGENT_DECRYPT_FAILED

    def replay_update(self, d: int) -> Prediction:
        """attack.replay of an old Update to device ``d`` outside any exchange it opened."""
        before = self.state
        known = [t for t in ep.knowledge(self.state.seen)
                 if t[0] == "sig" and t[2][0] == "upd"]
        # an idle Agent has no transition for an Update: it answers with an Error
        if self.state.agents[d].phase == "IDLE" or not known:
            return Prediction(False, Code.AGENT_REPLAY, ("attack.replay",))
        ev = self.take(lambda e, w: "attack.replay" in e.steps and e.dst == f"Agent{d}"
                       and "deploy.unwrap_cek" in e.steps)
        installed = ev is not None and before.agents[d].installed != self.state.agents[d].installed
        return Prediction(installed, None if installed else Code.AGENT_REPLAY,
                          (ev.label,) if ev else ())

    def _close_session(self, d: int) -> None:
        """Let a stale TAM session or Agent exchange for ``d`` time out."""
        if self.state.sessions[d].phase != "NO_SESSION":
            if self.take(lambda e, w: e.data == ("expire", d)) is None:
                # a session that sent its Update is held for L_u: let that time pass first
                self.take(lambda e, w: e.data == ("tick",))
                self.take(lambda e, w: e.data == ("expire", d))
        if self.state.agents[d].phase == "QUERIED":
            self.take(lambda e, w: e.data[:2] == ("error", d))

    # ------------------------------------------------------------ views

    def observe(self) -> Observation:
        s = self.state
        return Observation(
            installed=tuple(a.installed for a in s.agents),
            floors=tuple(a.floor for a in s.agents),
            revoked=s.revoked,
            published=s.published,
        )

    def violations(self) -> dict[str, str]:
        """Properties violated in the current state (empty for the correct model)."""
        out = {}
        for name, fn in PROPERTIES.items():
            why = fn(self.state, self.config)
            if why is not None:
                out[name] = why
        return out
