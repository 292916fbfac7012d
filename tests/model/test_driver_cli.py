"""The ModelDriver interface and the `edbp model` commands."""

from __future__ import annotations

import json

from click.testing import CliRunner
from edbp.model.driver import ModelDriver
from edbp.model.flaws import flaw

from edbp.cli.model import command
from edbp.errors import Code


def test_driver_predicts_installs_and_refusals() -> None:
    m = ModelDriver()
    assert m.publish() == 1 and m.publish() == 2
    assert m.deploy(0, 2).installed
    refused = m.deploy(0, 1)
    assert not refused.installed and refused.code is Code.AGENT_ROLLBACK
    term = m.deploy_dropped(1, 2)
    assert m.observe().installed[1] == (0,)
    assert not m.replay_in_exchange(1, term).installed  # stale token
    m.revoke(1)
    assert m.deploy(1, 2).code is Code.TAM_DEVICE_REVOKED
    assert m.observe().floors == ((2,), (0,))
    assert m.violations() == {}


def test_driver_with_a_flaw_predicts_the_flawed_behaviour() -> None:
    m = ModelDriver(rules=flaw("agent-skips-token-check").rules)
    m.publish()
    term = m.deploy_dropped(0, 1)
    assert m.replay_in_exchange(0, term).installed
    assert "P6" in m.violations()


def test_cli_flaws_and_trace() -> None:
    runner = CliRunner()
    res = runner.invoke(command, ["flaws"])
    assert res.exit_code == 0 and "agent-skips-rollback-check" in res.output
    res = runner.invoke(command, ["trace", "author-reuses-iv", "--mermaid"])
    assert res.exit_code == 0 and "sequenceDiagram" in res.output


def test_cli_check_fails_on_a_vacuous_instance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    res = CliRunner().invoke(command, [
        "check", "--quiet", "--instance",
        "devices=1,versions=1,sessions=1,compromises=0,revocations=0", "--json", str(out)])
    assert res.exit_code == 1  # too small: several properties would hold vacuously
    report = json.loads(out.read_text())
    assert report["ok"] is False
    assert any("vacuously" in p for p in report["problems"])
    assert all(p["holds"] for p in report["properties"])


def test_cli_rejects_bad_instances() -> None:
    res = CliRunner().invoke(command, ["check", "--instance", "devices=99"])
    assert res.exit_code != 0


def test_driver_predicts_the_reopened_exchange_refusal() -> None:
    """protocol.md 8.3.1: an Update withheld from its session, replayed after the attacker
    replays that session's QueryRequest, is refused (the re-opened exchange's Agent nonce is
    fresh); an Agent without the Agent-nonce check installs it (the lockstep rule a reference
    with the Agent nonce is compared on)."""
    import attrs
    from edbp.model.instance import Instance
    from edbp.model.rules import HONEST, TRUE

    inst = Instance(devices=2, versions=3, sessions=64, compromises=0, requeries=3)
    cases = ((HONEST, False), (attrs.evolve(HONEST, agent_nonce_ok=TRUE), True),
             (attrs.evolve(HONEST, fresh_agent_nonce=False), True))
    for rules, installs in cases:
        m = ModelDriver(inst, rules=rules)
        m.publish()
        term = m.deploy_dropped(0, 1)
        got = m.replay_in_reopened_exchange(0, term)
        assert got.installed is installs
        # the token matches the re-opened exchange's: the refusal is the Agent-nonce check's
        assert got.code is (None if installs else Code.TEEP_AGENT_NONCE_MISMATCH)
        assert m.observe().installed[0] == ((1,) if installs else (0,))
        assert ("P6" in m.violations()) is installs
        assert m.state.requeries == 1


def test_driver_pins_the_first_failed_check_in_section_9_order() -> None:
    """The same withheld Update, replayed into a fresh TAM exchange (another token), is the
    token check's (612), not the Agent nonce's; replayed into the re-opened exchange of the
    other device it is the device binding's (602), which comes first."""
    from edbp.model.instance import Instance

    m = ModelDriver(Instance(devices=2, versions=3, sessions=64, compromises=0, requeries=2))
    m.publish()
    term = m.deploy_dropped(0, 1)
    assert m.replay_in_exchange(0, term).code is Code.AGENT_REPLAY
    assert m.replay_in_reopened_exchange(1, term).code is Code.AGENT_NOT_FOR_THIS_DEVICE
    assert m.state.requeries == 0  # device 1 answered that QueryRequest for the first time
    assert m.replay_in_reopened_exchange(0, term).code is Code.TEEP_AGENT_NONCE_MISMATCH
    assert m.state.requeries == 1
