"""A stateful property: whatever sequence of deliveries, rollbacks, replays and power cuts the
Agent sees, its committed state is that of the highest sequence number installed successfully,
and that state survives a reboot (P7, P10)."""

from __future__ import annotations

from device_builders import COMPONENT, world
from device_fixtures import World
from edbp.reference.device.agent import AgentState
from edbp.reference.device.storage import FaultyStorage, MemoryStorage
from edbp.reference.wire import cose, teep
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule


def image(seq: int) -> bytes:
    return f"image for sequence {seq} ".encode() * (50 + seq * 7)


class AgentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = World(*world("stateful"))
        self.medium = MemoryStorage()
        self.dev = self.w.device(storage=self.medium)
        self.best: int | None = None
        self.recorded: list[bytes] = []

    def _boot(self, fail_at: int | None) -> FaultyStorage | None:
        faulty = None if fail_at is None else FaultyStorage(self.medium, fail_at=fail_at)
        agent = self.w.reopen(self.dev, storage=faulty or self.medium)
        self.dev.agent = self.dev.broker.agent = agent
        return faulty

    @rule(seq=st.integers(1, 8), fail_at=st.one_of(st.none(), st.integers(1, 12)))
    def deliver(self, seq: int, fail_at: int | None) -> None:
        pkg = self.w.publish(image(seq), seq)
        faulty = self._boot(fail_at)
        token = self.dev.query(self.w.tam)
        update = self.w.tam.update(pkg, self.dev.agent.keys.dak_public, token)
        self.recorded.append(update)
        (out,) = self.dev.broker.deliver(update)
        msg = teep.decode(cose.Sign1.decode(out).payload or b"")
        should = (self.best is None or seq > self.best) and not (faulty and faulty.failed)
        assert isinstance(msg, teep.Success) == should, (seq, self.best, msg)
        if should:
            self.best = seq
        assert self.dev.agent.state is AgentState.IDLE and not self.dev.agent.holds_cek

    @precondition(lambda self: bool(self.recorded))
    @rule(index=st.integers(0, 50))
    def replay(self, index: int) -> None:
        self._boot(None)
        (out,) = self.dev.broker.deliver(self.recorded[index % len(self.recorded)])
        assert isinstance(teep.decode(cose.Sign1.decode(out).payload or b""), teep.Error)

    @invariant()
    def committed_state_is_the_best_install(self) -> None:
        rebooted = self.w.reopen(self.dev, storage=self.medium)
        assert rebooted.floor(COMPONENT) == self.best
        if self.best is not None:
            assert rebooted.installed_image(COMPONENT) == image(self.best)


AgentMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)
TestAgentMachine = AgentMachine.TestCase
