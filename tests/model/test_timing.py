"""P6(a) with abstract time: an Update withheld until the TAM's session expired is refused.

Regression tests for two findings of issue 19. Third pass: before the Agent's exchange had a
lifetime, an Update the attacker held back until the TAM had let the device's session expire
still installed, so the install consumed a token of a session that was no longer the TAM's
current one. Fourth pass: with the lifetime, a QueryRequest replayed after the session sent
its Update re-opened an exchange with the old token in which the withheld Update was fresh
again (the Agent could not tell the replay from the TAM's request); the Agent nonce of
protocol.md 8.3.1 (drawn per accepted QueryRequest, echoed by the TAM's Update) closes it.
These tests replay both attacks step by step on the honest model and check the seeded flaws
of the catalogue realise them.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from edbp.model import timing
from edbp.model.edbp_profile import Config, Event, World, anonce, initial, successors
from edbp.model.explore import explore
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import prove
from edbp.model.properties import p6
from edbp.model.rules import HONEST, Rules

#: one replayed QueryRequest answered (``requeries``): the residual's re-opened exchange
ONE = Instance(devices=1, versions=1, sessions=2, revocations=0, compromises=0, requeries=1)


def _step(w: World, cfg: Config, pick: Callable[[Event], bool]) -> World:
    matches = [nw for ev, nw in successors(w, cfg) if pick(ev)]
    assert matches, "the step is not enabled"
    return matches[0]


def _withheld_update(rules: Rules) -> tuple[World, Config]:
    """publish, QueryRequest, QueryResponse, Update (withheld), the TAM's expiry (after a
    tick, unless the variant's TAM lets the session go at once)."""
    cfg = Config(ONE, rules=rules)
    w = initial(cfg)
    w = _step(w, cfg, lambda e: "publish.push" in e.steps)
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_request",))
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_response",))
    w = _step(w, cfg, lambda e: e.data[:1] == ("deliver",) and e.honest)
    assert w.sessions[0].phase == "UPDATE_SENT"
    if not rules.tam_may_expire(0):
        # the TAM holds the session for L_u after the Update: no expiry before a tick
        assert not any(e.data == ("expire", 0) for e, _ in successors(w, cfg))
        w = _step(w, cfg, lambda e: e.steps == ("time.tick",))
    w = _step(w, cfg, lambda e: e.data == ("expire", 0))
    assert w.sessions[0].phase == "NO_SESSION"
    return w, cfg


def test_withheld_update_is_refused_after_the_session_expired() -> None:
    w, cfg = _withheld_update(HONEST)
    # the tick took the exchange past L_a: it closed (an Update now meets no open exchange)
    assert w.agents[0].phase == "IDLE"
    nexts = list(successors(w, cfg))
    assert not any("deploy.unwrap_cek" in e.steps for e, _ in nexts)
    assert all(p6(nw, cfg) is None for _, nw in nexts)


def test_the_flaws_install_the_withheld_update() -> None:
    for name in ("agent-exchange-never-expires", "tam-session-shorter-than-agent"):
        w, cfg = _withheld_update(flaw(name).rules)
        assert w.agents[0].phase == "QUERIED"
        late = [nw for e, nw in successors(w, cfg) if "deploy.unwrap_cek" in e.steps]
        assert late, name
        assert "after that session had ended" in (p6(late[0], cfg) or ""), name


def test_tam_hold_counts_from_the_update_not_the_query() -> None:
    """The TAM's hold starts when it sends the Update; the exchange, accepted before, is past
    its lifetime (closed) by the time the hold has passed."""
    cfg = Config(ONE)
    w = initial(cfg)
    w = _step(w, cfg, lambda e: "publish.push" in e.steps)
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_request",))
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_response",))
    # no tick while no Update is out: ageing only exchanges explores nothing new
    assert not any(e.steps == ("time.tick",) for e, _ in successors(w, cfg))
    w = _step(w, cfg, lambda e: e.data[:1] == ("deliver",) and e.honest)
    w = _step(w, cfg, lambda e: e.steps == ("time.tick",))
    assert w.sessions[0].age == timing.CAP and w.agents[0].phase == "IDLE"


def _reopened(rules: Rules) -> tuple[World, Config]:
    """The withheld Update, the TAM's session expired, then the attacker replays the session's
    QueryRequest: the Agent answers it (the token is the old one) with a fresh Agent nonce."""
    w, cfg = _withheld_update(rules)
    if w.agents[0].phase == "QUERIED":  # a variant whose exchange outlived the session
        w = _step(w, cfg, lambda e: e.data[:2] == ("error", 0))
    w = _step(w, cfg, lambda e: "deploy.query_response" in e.steps)
    assert w.agents[0].phase == "QUERIED" and w.agents[0].token == 0 and w.requeries == 1
    return w, cfg


def test_replayed_query_request_does_not_revive_the_withheld_update() -> None:
    """The residual of issue 19's third pass, closed: the re-opened exchange's Agent nonce is
    fresh, the withheld Update echoes the nonce of the QueryResponse the TAM verified, so the
    Agent refuses it (the reference's TEEP_AGENT_NONCE_MISMATCH); P6(a) now holds for every
    exchange, a re-opened one included."""
    w, cfg = _reopened(HONEST)
    withheld = [t for t in w.seen if t[0] == "sig" and t[2][0] == "upd"]
    assert len(withheld) == 1 and withheld[0][2][5] == anonce(0, current=False)
    assert not any("deploy.unwrap_cek" in e.steps for e, _ in successors(w, cfg))


def test_the_agent_nonce_flaws_install_the_withheld_update() -> None:
    for name in ("agent-ignores-agent-nonce", "agent-nonce-constant"):
        w, cfg = _reopened(flaw(name).rules)
        late = [nw for e, nw in successors(w, cfg)
                if "deploy.unwrap_cek" in e.steps and "attack.replay" in e.steps]
        assert late, name
        assert "after that session had ended" in (p6(late[0], cfg) or ""), name


def test_the_agent_nonce_flaw_is_caught_by_exploration_and_z3() -> None:
    f = flaw("agent-ignores-agent-nonce")
    res = explore(EDBP, Config(f.instance_for(Instance()), rules=f.rules),
                  stop_on=frozenset({"P6"}), build_graph=False)
    assert "after that session had ended" in res.violations["P6"][1]
    steps = res.trace(res.violations["P6"][0]).steps
    assert sum("deploy.query_response" in s for s in steps) == 2  # the replayed QueryRequest
    ob = prove(f.rules, props=("P6",))[0]
    assert not ob.proved and "L15" in ob.failure


def test_honest_small_instance_has_no_late_accept() -> None:
    res = explore(EDBP, Config(attrs.evolve(ONE, compromises=1, revocations=1, requeries=2)),
                  build_graph=False)
    assert not res.truncated and "P6" not in res.violations


# ---------------------------------------------------------------- EAT staleness (P3)


def _challenged(rules: Rules) -> tuple[World, Config]:
    """publish, QueryRequest, QueryResponse: the TAM's session holds the challenge and the
    device's evidence for it is on the network."""
    cfg = Config(ONE, rules=rules)
    w = initial(cfg)
    w = _step(w, cfg, lambda e: "publish.push" in e.steps)
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_request",))
    w = _step(w, cfg, lambda e: e.steps == ("deploy.query_response",))
    return w, cfg


def test_evidence_for_a_challenge_past_its_lifetime_is_refused() -> None:
    """The reference's EAT_STALE (426): the TAM answers evidence only while its challenge is
    within the session lifetime on its own clock. The honest TAM ends a session whose
    challenge passed it (T5), so the model's step for that is the expiry edge itself; a
    session held open past it (as a variant would) delivers nothing."""
    w, cfg = _challenged(HONEST)
    assert not any(e.steps == ("time.challenge_lifetime",) for e, _ in successors(w, cfg))
    stale = attrs.evolve(w, sessions=(attrs.evolve(w.sessions[0], age=timing.CAP),))
    assert not any(e.data[:1] == ("deliver",) for e, _ in successors(stale, cfg))
    assert any(e.data[:1] == ("deliver",) for e, _ in successors(w, cfg))


def test_the_staleness_flaw_delivers_on_stale_evidence() -> None:
    w, cfg = _challenged(flaw("tam-accepts-stale-evidence").rules)
    w = _step(w, cfg, lambda e: e.steps == ("time.challenge_lifetime",))
    assert w.sessions[0].phase == "CHALLENGED" and w.sessions[0].age == timing.CAP
    late = [nw for e, nw in successors(w, cfg) if e.data[:1] == ("deliver",)]
    assert late
    from edbp.model.properties import p3

    assert "older than the session lifetime" in (p3(late[0], cfg) or "")


def test_the_staleness_flaw_is_caught_by_exploration_and_z3() -> None:
    f = flaw("tam-accepts-stale-evidence")
    res = explore(EDBP, Config(Instance(), rules=f.rules), stop_on=frozenset({"P3"}),
                  build_graph=False)
    assert "older than the session lifetime" in res.violations["P3"][1]
    assert "time.challenge_lifetime" in res.trace(res.violations["P3"][0]).steps
    ob = prove(f.rules, props=("P3",))[0]
    assert not ob.proved and "deploy.verify_evidence" in ob.failure
