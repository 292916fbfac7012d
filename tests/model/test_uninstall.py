"""Uninstall as a message the attacker can replay (issue 19 item 6; spec/properties.md P7, P4).

The TAM's uninstall Update goes over the network like an install. A replayed QueryRequest
re-opens an old exchange (the token is echoed), so the old uninstall Update then passes the
token check; two checks then keep it from removing a newer install, each on its own: the Agent
nonce it echoes is the old exchange's, not the re-opened one's (``Rules.agent_nonce_ok``,
protocol.md 8.3.1), and it names a version other than the one installed now
(``Rules.uninstall_ok``). Another device's uninstall is kept out by the device binding and, again,
by the Agent nonce (the other device's).
"""

from __future__ import annotations

from pathlib import Path

import attrs
from edbp.model import edbp_profile as ep
from edbp.model.driver import ModelDriver
from edbp.model.edbp_profile import Config
from edbp.model.explore import explore
from edbp.model.flaws import flaw
from edbp.model.instance import Instance
from edbp.model.profiles import EDBP
from edbp.model.proofs import prove
from edbp.model.rules import HONEST, TRUE
from edbp.model.uninstall import uninstall_update

ONE = Instance(devices=1, versions=2, sessions=8, compromises=0, revocations=0, uninstalls=1,
               requeries=1)
#: the Agent without its Agent-nonce check: the replays below then reach the checks after it
NO_NONCE_CHECK = attrs.evolve(HONEST, agent_nonce_ok=TRUE)


def _replay_old_uninstall(rules: object) -> tuple[ModelDriver, int]:
    """v1 installed, uninstalled (exchange n), v2 installed; then the attacker replays the
    QueryRequest of exchange n and the uninstall Update of n. Returns the driver and n."""
    m = ModelDriver(ONE, rules=rules)  # type: ignore[arg-type]
    m.publish()
    assert m.deploy(0, 1).installed
    assert m.uninstall(0)
    n = next(e for e in reversed(m.log) if e.data[:1] == ("uninstall_sent",))
    token = int(n.text.split("token n")[1].split(")")[0])
    m.publish()
    assert m.deploy(0, 2).installed
    m._close_session(0)
    assert m.take(lambda e, w: "attack.replay" in e.steps and "deploy.query_response" in e.steps
                  and w.agents[0].token == token) is not None
    return m, token


def test_an_old_uninstall_replayed_after_a_newer_install_removes_nothing() -> None:
    # either check alone refuses it: the honest Agent, one without the nonce check (the
    # version check stops it), one without the version check (the nonce check stops it)
    for rules in (HONEST, NO_NONCE_CHECK, attrs.evolve(HONEST, uninstall_ok=TRUE)):
        m, token = _replay_old_uninstall(rules)
        old = uninstall_update(0, token, 0, 1, ep.anonce(0, current=False))
        assert old in m.state.seen and m.state.agents[0].token == token
        taken = m.take(lambda e, w: e.data == ("uninstall", 0, 0))
        assert taken is None, "the Agent removed v2 on the uninstall issued for v1"
        assert m.state.agents[0].installed == (2,) and m.violations() == {}


def test_the_agent_without_the_version_check_removes_the_newer_install() -> None:
    m, _ = _replay_old_uninstall(attrs.evolve(NO_NONCE_CHECK, uninstall_ok=TRUE))
    taken = m.take(lambda e, w: e.data == ("uninstall", 0, 0))
    assert taken is not None and "attack.replay" in taken.steps
    assert m.state.agents[0].installed == (0,) and m.state.agents[0].floor == (2,)
    assert "issued for v1" in m.violations()["P7"]


def _redirect(rules: object) -> ModelDriver:
    """Both devices hold v1; the TAM's uninstall Update for device 0 (exchange n) is captured
    and, after the attacker replays the QueryRequest of n to device 1, handed to device 1."""
    m = ModelDriver(Instance(devices=2, versions=1, sessions=8, compromises=0, revocations=0,
                             uninstalls=1), rules=rules)  # type: ignore[arg-type]
    m.publish()
    assert m.deploy(0, 1).installed and m.deploy(1, 1).installed
    m._close_session(0)
    m.take(lambda e, w: "deploy.query_request" in e.steps and e.dst == "Broker0")
    n = m.state.sessions[0].nonce
    m.take(lambda e, w: e.steps == ("deploy.query_response",) and w.agents[0].token == n)
    assert m.take(lambda e, w: e.data == ("uninstall_sent", 0, 0, 1)) is not None
    assert m.take(lambda e, w: "attack.replay" in e.steps and e.src == "Agent1"
                  and w.agents[1].token == n) is not None
    return m


def test_another_devices_uninstall_is_refused_and_caught_without_binding() -> None:
    """The TAM's uninstall for device 0, handed to device 1 in an exchange re-opened with the
    same token: refused by the honest Agent (by the binding, and by the Agent nonce, device
    0's); accepted (a P4 breach) without both."""
    for rules in (HONEST, NO_NONCE_CHECK, attrs.evolve(HONEST, binding_ok=TRUE)):
        m = _redirect(rules)
        assert m.take(lambda e, w: e.data == ("uninstall", 1, 0)) is None
        assert m.state.agents[1].installed == (1,) and m.violations() == {}
    bad = _redirect(attrs.evolve(NO_NONCE_CHECK, binding_ok=TRUE))
    taken = bad.take(lambda e, w: e.data == ("uninstall", 1, 0))
    assert taken is not None and "attack.replay" in taken.steps
    assert bad.state.agents[1].installed == (0,)
    assert "addressed to device 0" in bad.violations()["P4"]


def test_the_catalogue_flaw_is_caught_by_exploration_and_z3() -> None:
    f = flaw("agent-uninstall-ignores-version")
    res = explore(EDBP, Config(f.instance_for(ONE), rules=f.rules), stop_on=frozenset({"P7"}),
                  build_graph=False)
    assert "uninstall the TAM issued for" in res.violations["P7"][1]
    ob = prove(f.rules, props=("P7",))[0]
    assert not ob.proved and "uninstall.component" in ob.failure


def test_the_uninstall_update_is_a_message_the_attacker_holds() -> None:
    m = ModelDriver(ONE)
    m.publish()
    m.deploy(0, 1)
    m.uninstall(0)
    assert any(t[0] == "sig" and t[1] == ep.TSK and t[2][0] == "uni"
               for t in ep.knowledge(m.state.seen))
    assert m.state.agents[0].floor == (1,) and m.state.agents[0].installed == (0,)


# ---------------------------------------------------------------- the reference implementation


def _reference_uninstall(t: object, d: int) -> list[bytes]:
    """The TAM's uninstall session for device ``d`` of a ``ReferenceTarget``, relayed
    honestly; returns the TAM's messages (QueryRequest, uninstall Update) as the attacker
    captures them."""
    from edbp.reference.cloud.tam import Intent

    dev = t.devs[d]  # type: ignore[attr-defined]
    out = t.w.tam.begin(dev.ueid, Intent(uninstall=t.comp))  # type: ignore[attr-defined]
    sent, pending = [out.send], [out.send]
    while pending:
        for reply in dev.broker.deliver(pending.pop()):
            nxt = t.w.tam.receive(reply)  # type: ignore[attr-defined]
            if nxt.send is not None:
                sent.append(nxt.send)
                pending.append(nxt.send)
    return sent


# finding (issue 19), fixed by the uninstall binding of protocol.md section 9 [P-9.10c]
def test_reference_refuses_an_old_uninstall_after_a_newer_install(tmp_path: Path) -> None:
    from edbp.model.lockstep import ReferenceTarget

    t = ReferenceTarget(tmp_path)
    t.publish(1)
    assert t.deploy(0, 1)[0]
    query, uninstall = _reference_uninstall(t, 0)
    t.publish(2)
    assert t.deploy(0, 2)[0] and t.observe()[0][0] == 2
    t.devs[0].broker.deliver(query)  # attack.replay of the old QueryRequest
    t.devs[0].broker.deliver(uninstall)  # attack.replay of the old uninstall Update
    assert t.observe()[0][0] == 2, "the old uninstall removed the newer install"


# finding (issue 19), fixed by the device binding of protocol.md section 9 [P-9.10d]
def test_reference_refuses_another_devices_uninstall(tmp_path: Path) -> None:
    from edbp.model.lockstep import ReferenceTarget
    from edbp.reference.cloud.tam import Intent

    t = ReferenceTarget(tmp_path)
    t.publish(1)
    assert t.deploy(0, 1)[0] and t.deploy(1, 1)[0]
    a, b = t.devs
    query = t.w.tam.begin(a.ueid, Intent(uninstall=t.comp)).send
    b.broker.deliver(query)  # attack.replay of A's QueryRequest to B
    uninstall = t.w.tam.receive(a.broker.deliver(query)[0]).send  # the TAM's Update for A
    b.broker.deliver(uninstall)  # attack.replay of A's uninstall Update to B
    assert t.observe()[0][1] == 1, "device A's uninstall removed device B's component"
