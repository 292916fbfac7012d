"""P10: a power cut at any write of an install leaves the previous version installed and the
floor unchanged; P8: no CEK or plaintext passes through the Broker; the payload streams within
the Agent's memory budget."""

from __future__ import annotations

import tracemalloc

import pytest
from device_builders import COMPONENT
from device_fixtures import V1, V2, World, assert_refused, reply
from edbp.reference.device.agent import AgentState
from edbp.reference.device.install import MemoryBudget, MemoryCounter
from edbp.reference.device.storage import FaultyStorage, FileStorage, MemoryStorage
from edbp.reference.wire import teep

from edbp.errors import Code, EdbpError


def test_failure_at_every_write_keeps_the_previous_version(w: World, tmp_path) -> None:
    v1, v2 = w.publish(V1, 1), w.publish(V2 * 3, 2)  # v2 spans many sealed chunks
    medium = FileStorage(tmp_path / "tee")
    dev = w.device(storage=medium)
    dev.install(w.tam, v1)
    checked = 0
    fail_at = 1
    while True:
        faulty = FaultyStorage(medium, fail_at=fail_at)
        agent = w.reopen(dev, storage=faulty)
        dev.agent = agent
        dev.broker.agent = agent
        replies = dev.install(w.tam, v2)
        if not faulty.failed:
            assert isinstance(reply(replies[0]), teep.Success)
            break
        assert_refused(dev, replies, Code.AGENT_INSTALL_FAILED)
        # after the power cut: a fresh boot on the bare medium
        rebooted = w.reopen(dev, storage=medium)
        assert rebooted.installed_image(COMPONENT) == V1
        assert rebooted.floor(COMPONENT) == 1
        assert rebooted.state is AgentState.IDLE
        checked += 1
        fail_at += 1
    assert checked >= 10  # every chunk of the new image, the state record, the switch
    rebooted = w.reopen(dev, storage=medium)
    assert rebooted.installed_image(COMPONENT) == V2 * 3
    assert rebooted.installed_image(COMPONENT, previous=True) == V1
    assert rebooted.floor(COMPONENT) == 2
    # leftovers of the interrupted attempts are gone after the next install
    w.reopen(dev, storage=medium)
    assert len([n for n in medium.list("c/")]) == 2


def test_non_sticky_fault_then_retry_succeeds(w: World) -> None:
    medium = MemoryStorage()
    dev = w.device(storage=medium)
    dev.install(w.tam, w.publish(V1, 1))
    faulty = FaultyStorage(medium, fail_at=3, sticky=False)
    agent = w.reopen(dev, storage=faulty)
    dev.agent = dev.broker.agent = agent
    v2 = w.publish(V2, 2)
    assert_refused(dev, dev.install(w.tam, v2), Code.AGENT_INSTALL_FAILED)
    assert isinstance(reply(dev.install(w.tam, v2)[0]), teep.Success)
    assert agent.installed_image(COMPONENT) == V2 and agent.floor(COMPONENT) == 2


def test_broker_never_handles_a_cek_or_plaintext(w: World) -> None:
    v1, v2 = w.publish(V1, 1), w.publish(V2, 2)
    dev = w.device(record=True)
    dev.install(w.tam, v1)
    dev.install(w.tam, v2)
    # failures too: a replay and a tampered payload pass through the Broker
    dev.query(w.tam)
    everything = b"".join(data for _, data in dev.broker.transcript)
    everything += b"".join(dev.ree.read(n) for n in dev.ree.list())
    kinds = {what for what, _ in dev.broker.transcript}
    assert {"to-agent", "from-agent", "payload", "payload-read"} <= kinds
    assert v1.ciphertext[:64] in everything  # the Broker did carry the ciphertext
    for pkg in (v1, v2):
        assert pkg.cek not in everything
        for i in range(0, len(pkg.plaintext) - 32, 512):
            assert pkg.plaintext[i : i + 32] not in everything
    # nor does the Agent's own medium (REE-kept sealed files) show plaintext or CEK
    sealed = b"".join(dev.storage.read(n) for n in dev.storage.list())
    assert v1.cek not in sealed and V1[:32] not in sealed and V2[:32] not in sealed


def test_streaming_install_stays_within_the_budget(w: World, tmp_path) -> None:
    size = 8 * 1024 * 1024
    image = bytes(range(256)) * (size // 256)
    budget = MemoryBudget(chunk=64 * 1024, limit=1024 * 1024)
    pkg = w.publish(image, 1)
    dev = w.device(budget=budget, storage=FileStorage(tmp_path))
    token = dev.query(w.tam)
    update = w.tam.update(pkg, dev.agent.keys.dak_public, token)
    chunks = [pkg.ciphertext[i : i + 65536] for i in range(0, len(pkg.ciphertext), 65536)]
    dev.broker.fetcher = lambda uri: iter(chunks)
    dev.ree = dev.broker.storage = _Ree()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        (ok,) = dev.broker.deliver(update)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert isinstance(reply(ok), teep.Success)
    print("peak", peak)
    assert peak < budget.limit, peak
    assert dev.agent.floor(pkg_component()) == 1


def pkg_component():  # type: ignore[no-untyped-def]
    return COMPONENT


class _Ree(MemoryStorage):
    """REE storage whose bytes live outside the traced heap accounting of the Agent: chunks are
    kept as received (the Broker's memory is not the Agent's budget)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: dict[str, list[bytes]] = {}

    def write(self, name, chunks):  # type: ignore[no-untyped-def]
        self._chunks[name] = list(chunks)
        return sum(len(c) for c in self._chunks[name])

    def read_chunks(self, name, chunk_size):  # type: ignore[no-untyped-def]
        yield from self._chunks[name]

    def size(self, name):  # type: ignore[no-untyped-def]
        return sum(len(c) for c in self._chunks[name])

    def list(self, prefix=""):  # type: ignore[no-untyped-def]
        return sorted(n for n in self._chunks if n.startswith(prefix))


def test_rollback_of_the_sealed_state_needs_the_counter(w: World) -> None:
    """The REE keeps the sealed files: it can put back an old copy of the Agent's state. With
    the rollback-protected counter (RPMB) the Agent refuses it; without, the floor would come
    back down, which is why a production Agent keeps the counter."""
    for protected in (True, False):
        medium = MemoryStorage()
        counter = MemoryCounter() if protected else None
        dev = w.device(storage=medium, counter=counter)
        dev.install(w.tam, w.publish(V1, 1))
        saved = {n: medium.read(n) for n in medium.list()}
        dev.install(w.tam, w.publish(V2, 2))
        for name, data in saved.items():  # the REE restores yesterday's files
            medium.write(name, [data])
        rebooted = w.reopen(dev, counter=counter)
        if protected:
            with pytest.raises(EdbpError) as exc:
                rebooted.floor(COMPONENT)
            assert exc.value.code == Code.AGENT_STORAGE_CORRUPT
            # and the Agent refuses to work on it: an Error, nothing installed
            dev.agent = dev.broker.agent = rebooted
            request, _ = w.tam.query()
            assert_refused(dev, dev.broker.deliver(request), Code.AGENT_STORAGE_CORRUPT)
        else:
            assert rebooted.floor(COMPONENT) == 1  # the weakness the counter removes


def test_power_cut_between_commit_and_counter_is_accepted(w: World) -> None:
    medium, counter = MemoryStorage(), MemoryCounter()
    dev = w.device(storage=medium, counter=counter)
    dev.install(w.tam, w.publish(V1, 1))
    assert counter.read() == dev.agent.record().generation == 1
    counter.value = 0  # as if the cut came after the rename, before the counter moved
    assert w.reopen(dev, counter=counter).floor(COMPONENT) == 1
