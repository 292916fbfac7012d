"""Helpers of the device tests: a world of a mini Author/TAM, devices (Agent + Broker), a
registry, and the assertions every refusal test shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
from device_builders import CLASS_A, VENDOR, MiniAuthor, MiniTam, Package
from edbp.reference.device.agent import Agent, AgentState, error_code_of
from edbp.reference.device.broker import Broker
from edbp.reference.device.install import MemoryBudget
from edbp.reference.device.storage import MemoryStorage, Storage
from edbp.reference.device.update import TrustAnchors
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose, teep
from edbp.reference.wire.suit_crypto import verify_report

from edbp.errors import Code


@attrs.define
class Device:
    agent: Agent
    broker: Broker
    storage: Storage  # the Agent's (sealed) storage medium
    ree: Storage  # the Broker's storage
    huk: bytes
    name: str

    def query(self, tam: MiniTam) -> bytes:
        request, token = tam.query()
        replies = self.broker.deliver(request)
        assert len(replies) == 1
        tam.heard(replies[0])
        return token

    def install(self, tam: MiniTam, package: Package, **kw: Any) -> list[bytes]:
        token = self.query(tam)
        return self.broker.deliver(tam.update(package, self.agent.keys.dak_public, token, **kw))


@attrs.define
class World:
    author: MiniAuthor
    tam: MiniTam
    blobs: dict[str, bytes] = attrs.field(factory=dict)
    count: int = 0
    ta_signers: list[Any] = attrs.field(factory=list)

    @property
    def anchors(self) -> TrustAnchors:
        return TrustAnchors(
            tam=[self.tam.tsk.public()],
            author=[self.author.ask.public()],
            ta_signers=self.ta_signers,
        )

    def fetch(self, uri: str) -> Iterable[bytes]:
        data = self.blobs[uri]
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]

    def publish(self, plaintext: bytes, sequence: int, **kw: Any) -> Package:
        pkg = self.author.publish(plaintext, sequence, **kw)
        self.blobs[pkg.uri] = pkg.ciphertext
        return pkg

    def device(
        self,
        *,
        class_id: bytes = CLASS_A,
        storage: Storage | None = None,
        fetcher: Callable[[str], Iterable[bytes]] | None = None,
        record: bool = False,
        budget: MemoryBudget = MemoryBudget(chunk=1024),
        huk: bytes | None = None,
        ree: Storage | None = None,
        **kw: Any,
    ) -> Device:
        self.count += 1
        name = f"dev{self.count}"
        storage = storage if storage is not None else MemoryStorage()
        huk = huk or bytes([self.count]) * 16
        agent = Agent.open(
            storage,
            huk,
            vendor_id=VENDOR,
            class_id=class_id,
            anchors=self.anchors,
            rng=SeededRandom(name),
            budget=budget,
            **{"verify_ta": False, **kw},
        )
        self.tam.ueids[agent.keys.dak_public.thumbprint()] = agent.keys.ueid
        ree = ree if ree is not None else MemoryStorage()
        broker = Broker(agent, fetcher or self.fetch, ree, record=record)
        return Device(agent, broker, storage, ree, huk, name)

    def reopen(self, dev: Device, storage: Storage | None = None, **kw: Any) -> Agent:
        """The same device after a power cycle: a new Agent on the same medium and HUK."""
        return Agent.open(
            storage or dev.storage,
            dev.huk,
            vendor_id=VENDOR,
            class_id=dev.agent.identity.class_id,
            anchors=self.anchors,
            rng=SeededRandom(dev.name + "-reboot"),
            budget=MemoryBudget(chunk=1024),
            **{"verify_ta": False, **kw},
        )


V1 = b"\x7fELF v1 trusted application " * 300
V2 = b"\x7fELF v2 trusted application, fixed " * 310


def reply(data: bytes) -> teep.TeepMessage:
    return teep.decode(cose.Sign1.decode(data).payload or b"")


def assert_refused(dev: Device, replies: list[bytes], code: Code) -> None:
    assert len(replies) == 1
    _, edbp_code = error_code_of(replies[0])
    msg = reply(replies[0])
    assert isinstance(msg, teep.Error)
    for signed in msg.suit_reports or ():  # the report carries the same code, signed by the DSK
        result = verify_report(signed, dev.agent.keys.dsk_public).result
        assert not isinstance(result, bool) and result.code == int(code)
    assert edbp_code == int(code), (Code(edbp_code).name if edbp_code else None, code.name)
    assert dev.agent.state is AgentState.IDLE
    assert not dev.agent.holds_cek
    assert all(not any(buf) for buf in dev.agent.erased_ceks)
