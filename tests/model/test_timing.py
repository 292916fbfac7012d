"""P6(a) with abstract time: an Update withheld until the TAM's session expired is refused.

Regression test for the finding of issue 19 (third pass): before the Agent's exchange had a
lifetime, an Update the attacker held back until the TAM had let the device's session expire
still installed, so the install consumed a token of a session that was no longer the TAM's
current one. These tests replay that attack step by step on the honest model, check the two
seeded flaws of the catalogue realise it, and pin the residual the spec states (a replayed
QueryRequest re-opens an exchange; protocol.md 8.3.1).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from edbp.model import timing
from edbp.model.edbp_profile import Config, Event, World, initial, successors
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.properties import p6
from edbp.model.rules import HONEST, Rules

ONE = Instance(devices=1, versions=1, sessions=2, revocations=0, compromises=0)


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


def test_replayed_query_request_is_the_stated_residual() -> None:
    """protocol.md 8.3.1: a QueryRequest replayed after its session ended opens a new exchange
    with the old token (the Agent cannot tell it from a fresh one); P6(a)'s "current session"
    is stated for exchanges opened by a token's first QueryRequest, and this one is not."""
    w, cfg = _withheld_update(HONEST)
    w = _step(w, cfg, lambda e: "deploy.query_response" in e.steps)
    assert w.agents[0].phase == "QUERIED" and not w.agents[0].first
    late = [nw for e, nw in successors(w, cfg) if "deploy.unwrap_cek" in e.steps]
    assert late and p6(late[0], cfg) is None


def test_honest_small_instance_has_no_late_accept() -> None:
    from edbp.model.explore import explore
    from edbp.model.profiles import EDBP

    res = explore(EDBP, Config(attrs.evolve(ONE, compromises=1, revocations=1)),
                  build_graph=False)
    assert not res.truncated and "P6" not in res.violations
