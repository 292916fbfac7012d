"""The Agent checks an OP-TEE TA payload as OP-TEE's loader does before switching it in, with
the TA version floor kept apart from the SUIT sequence floor."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from device_builders import COMPONENT
from device_fixtures import World, assert_refused, reply
from edbp.reference.optee.sign import sign_ta
from edbp.reference.wire import teep

from edbp.errors import Code

TA_UUID = uuid.UUID(bytes=COMPONENT[2])


@pytest.fixture(scope="module")
def tak() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ta(
    key: rsa.RSAPrivateKey,
    version: int,
    body: bytes = b"\x7fELF" + b"t" * 3000,
    ta_uuid: uuid.UUID = TA_UUID,
) -> bytes:
    return sign_ta(body + bytes([version]), key, ta_uuid, version)


def test_ta_floor_distinct_from_suit_floor(w: World, tak: rsa.RSAPrivateKey) -> None:
    w.ta_signers.append(tak.public_key())
    dev = w.device(verify_ta=True)
    image = ta(tak, 7)
    assert isinstance(reply(dev.install(w.tam, w.publish(image, 1))[0]), teep.Success)
    comp = dev.agent.record().components
    (state,) = comp.values()
    assert state.current.ta_version == 7 and state.floor == 1
    assert dev.agent.record().ta_floors == {COMPONENT[2]: 7}
    # same TA build under a new SUIT sequence number: OP-TEE accepts an equal TA version
    assert isinstance(reply(dev.install(w.tam, w.publish(image, 2))[0]), teep.Success)
    # a newer SUIT manifest carrying an older TA build: the TA floor refuses it
    assert_refused(dev, dev.install(w.tam, w.publish(ta(tak, 6), 3)), Code.TA_VERSION_ROLLBACK)
    assert dev.agent.floor(COMPONENT) == 2 and dev.agent.installed_image(COMPONENT) == image


def test_ta_refusals(w: World, tak: rsa.RSAPrivateKey) -> None:
    w.ta_signers.append(tak.public_key())
    dev = w.device(verify_ta=True)
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(dev, dev.install(w.tam, w.publish(ta(rogue, 1), 1)), Code.TA_BAD_SIGNATURE)
    other_uuid = ta(tak, 1, ta_uuid=uuid.uuid4())
    assert_refused(dev, dev.install(w.tam, w.publish(other_uuid, 2)), Code.TA_UUID_MISMATCH)
    not_a_ta = b"\x00" + ta(tak, 1)[1:]  # wrong shdr magic
    assert_refused(dev, dev.install(w.tam, w.publish(not_a_ta, 3)), Code.TA_BAD_MAGIC)
    assert dev.agent.record().components == {}
    assert [n for n in dev.storage.list() if n.startswith("c/")] == []


def test_no_ta_trust_anchor_fails_closed(w: World, tak: rsa.RSAPrivateKey) -> None:
    dev = w.device(verify_ta=True)
    assert_refused(dev, dev.install(w.tam, w.publish(ta(tak, 1), 1)), Code.AGENT_UNTRUSTED_SIGNER)
