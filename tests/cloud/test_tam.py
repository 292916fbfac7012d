"""TAM: every flow and refusal through its public API, against the reference Agent and Broker,
on both KeyVault backends."""

from __future__ import annotations

import attrs
import pytest
from cloud_world import CLASS_A, CLASS_B, KEY_A, KEY_B, TA_UUID, VENDOR, World, ta_image
from edbp.reference.build.package import ta_component
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.tam import TRANSITIONS, Input, Intent, TamState
from edbp.reference.device.agent import AgentState
from edbp.reference.device.keys import KeySuite
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import eat, teep
from edbp.reference.wire.cbor import loads
from edbp.reference.wire.cose_algs import Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.eat import EatClaims
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code, EdbpError, ProtocolError, TeepErr, VerificationError

V1 = ta_image(1, b"version one ")
V2 = ta_image(2, b"version two ")


@pytest.fixture
def world(tmp_path, vault: KeyVault) -> World:  # type: ignore[no-untyped-def]
    return World(tmp_path, vault)


def events(world: World) -> list[tuple[str, int | None]]:
    return [(e.event, e.error) for e in world.devices_db.entries()]


def test_transition_table_is_the_vocabulary() -> None:
    states = {s for s, _ in TRANSITIONS} | {t.next_state for t in TRANSITIONS.values()}
    assert states == set(TamState)
    assert TRANSITIONS[(TamState.NO_SESSION, Input.BEGIN)].next_state is TamState.CHALLENGED
    assert (
        TRANSITIONS[(TamState.CHALLENGED, Input.QUERY_RESPONSE)].next_state is TamState.UPDATE_SENT
    )
    assert TRANSITIONS[(TamState.UPDATE_SENT, Input.SUCCESS)].next_state is TamState.NO_SESSION
    assert (TamState.NO_SESSION, Input.SUCCESS) not in TRANSITIONS
    assert (TamState.CHALLENGED, Input.SUCCESS) not in TRANSITIONS


@pytest.mark.parametrize("suite", [s for s in KeySuite if not s.is_pq])  # PQ: test_pq_roles.py
def test_deploy_installs_and_records(world: World, suite: KeySuite) -> None:
    dev = world.device(suite=suite)
    world.publish(V1, 1)
    outs = world.deploy(dev, 1)
    assert [o.step for o in outs] == ["deploy.query_request", "deploy.update", "deploy.record"]
    assert [o.state for o in outs] == [
        TamState.CHALLENGED,
        TamState.UPDATE_SENT,
        TamState.NO_SESSION,
    ]
    assert outs[-1].detail == "installed"
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V1
    assert dev.agent.floor(ta_component(TA_UUID)) == 1
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION
    assert events(world)[-3:] == [
        ("deploy.verify_evidence", None),
        ("deploy.update", None),
        ("deploy.record", 0),
    ]
    # the delivery binding names device, component, sequence and digests
    update_entry = [e for e in world.devices_db.entries() if e.event == "deploy.update"][-1]
    binding = loads(update_entry.body)
    package = world.tam.package(TA_UUID, 1)
    assert binding[1] == dev.ueid and tuple(binding[2]) == ta_component(TA_UUID) and binding[3] == 1
    assert (
        binding[4] == package.image_digest.to_cbor()
        and binding[7] == dev.agent.keys.dak_public.thumbprint()
    )
    assert world.devices_db.verify() == len(events(world))
    # P1/P8 on the cloud side: neither the CEK nor the plaintext is in what the Broker relayed
    # or stored, in the registry, or in the TAM's database
    cek = world.vault.rewrap(package.wrapped_cek, bytes)
    untrusted = [data for _, data in dev.broker.transcript]
    untrusted += [p.read_bytes() for p in (world.registry.root).rglob("*") if p.is_file()]
    untrusted += [p.read_bytes() for p in world.devices_db_path.parent.glob("tam.sqlite*")]
    for data in untrusted:
        assert cek not in data and V1[-64:] not in data


def test_the_update_rewraps_the_cek_to_the_device_only(world: World) -> None:
    a, b = world.device(), world.device()
    world.publish(V1, 1)
    q = world.tam.begin(a.ueid, Intent(package=(TA_UUID, 1)))
    update = world.tam.receive(a.broker.deliver(q.send)[0])
    msg = teep.verify(update.send, world.tsk.public())
    (envelope,) = msg.manifest_list
    env = Envelope.decode(envelope)
    assert env.manifest.component_id == (b"edbp", b"device", TA_UUID, a.ueid)
    assert env.integrated["#author"] == world.tam.package(TA_UUID, 1).envelope
    # the device-wrapped CEK opens for A's DAK, not for B's
    from edbp.reference.build.package import parameters_by_index
    from edbp.reference.wire.suit_crypto import decrypt_payload

    info = parameters_by_index([env.manifest.common.shared_sequence, env.sequence(20)])[0][19]
    ct = world.registry.pull_payload(world.registry.resolve("acme/sample-ta", "seq-1"))
    assert decrypt_payload(info, ct, a.agent.keys.agreement_key()) == V1
    with pytest.raises(EdbpError) as e:
        decrypt_payload(info, ct, b.agent.keys.agreement_key())
    assert e.value.code == Code.COSE_NO_RECIPIENT  # the recipient names A's DAK
    with pytest.raises(EdbpError) as e:  # and B's key without its kid does not unwrap it
        decrypt_payload(info, ct, attrs.evolve(b.agent.keys.agreement_key(), kid=None))
    assert e.value.code == Code.COSE_DECRYPT_FAILED


def test_upgrade_then_nothing_to_do_for_an_older_version(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    world.publish(V2, 2)
    world.deploy(dev, 1)
    assert world.deploy(dev, 2)[-1].detail == "installed"
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V2
    outs = world.deploy(dev, 1)  # the device reports sequence 2: no Update is sent
    assert len(outs) == 2 and outs[-1].detail == "already installed" and outs[-1].send is None
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V2


def test_replayed_update_is_refused_by_the_device_and_recorded(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    world.publish(V2, 2)
    q = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    old_update = world.tam.receive(dev.broker.deliver(q.send)[0]).send
    world.tam.receive(dev.broker.deliver(old_update)[0])
    world.deploy(dev, 2)
    # the attacker replays v1's Update inside a fresh session of the device
    q = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 2)))
    dev.broker.deliver(q.send)
    (error,) = dev.broker.deliver(old_update)
    assert dev.agent.last_error in (Code.AGENT_REPLAY, Code.AGENT_ROLLBACK)
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V2
    # the device answers inside its open session: the TAM records the refusal and closes it
    out = world.tam.receive(error)
    assert out.state is TamState.NO_SESSION and out.detail.startswith("device refused")
    assert events(world)[-1] == ("deploy.record", int(dev.agent.last_error))
    with pytest.raises(ProtocolError) as e:
        world.tam.receive(error)  # a second copy finds no session
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE


def test_delivery_for_a_given_to_b(world: World) -> None:
    a, b = world.device(), world.device()
    world.publish(V1, 1)
    q = world.tam.begin(a.ueid, Intent(package=(TA_UUID, 1)))
    update_for_a = world.tam.receive(a.broker.deliver(q.send)[0]).send
    qb = world.tam.begin(b.ueid, Intent(package=(TA_UUID, 1)))
    b.broker.deliver(qb.send)
    (error,) = b.broker.deliver(update_for_a)
    assert b.agent.last_error == Code.AGENT_NOT_FOR_THIS_DEVICE
    with pytest.raises(EdbpError):
        b.agent.installed_image(ta_component(TA_UUID))
    # B reports the refusal in its own session; A's session is untouched
    out = world.tam.receive(error)
    assert out.ueid == b.ueid and out.state is TamState.NO_SESSION
    assert events(world)[-1] == ("deploy.record", int(Code.AGENT_NOT_FOR_THIS_DEVICE))
    assert world.tam.state(a.ueid) is TamState.UPDATE_SENT
    # an Error with A's token but B's signature is refused and leaves A's session standing
    forged = b.agent.keys.sign(teep.Error(err_code=1, token=teep.peek(update_for_a).token).encode())
    with pytest.raises(VerificationError) as e:
        world.tam.receive(forged.encode())
    assert e.value.code == Code.TEEP_BAD_SIGNATURE
    assert world.tam.state(a.ueid) is TamState.UPDATE_SENT
    assert world.tam.receive(a.broker.deliver(update_for_a)[0]).detail == "installed"


def _response(  # type: ignore[no-untyped-def]
    dev, token: bytes, claims: EatClaims, nonce: bytes | None = b"n" * 16
) -> bytes:
    evidence = dev.agent.keys.sign(claims.encode()).encode()
    msg = teep.QueryResponse(
        token=token,
        selected_version=0,
        attestation_payload_format="application/eat+cwt",
        attestation_payload=evidence,
        agent_nonce=nonce,
    )
    return dev.agent.keys.sign(msg.encode()).encode()


def _open(world: World, dev, seq: int = 1) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    q = teep.verify(
        world.tam.begin(dev.ueid, Intent(package=(TA_UUID, seq))).send, world.tsk.public()
    )
    return q.token, q.challenge


def _claims(dev, challenge: bytes, **kw) -> EatClaims:  # type: ignore[no-untyped-def]
    base = {
        "ueid": dev.ueid,
        "cnf": dev.agent.keys.dak_public,
        "nonce": challenge,
        "hwmodel": CLASS_A,
        "oemid": VENDOR,
    }
    base.update(kw)
    return EatClaims(**base)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"nonce": b"\x00" * 32}, Code.EAT_NONCE_MISMATCH),
        (
            {"cnf": CoseKey.generate(Curve.P256, SeededRandom("x")).public()},
            Code.EAT_ENDORSEMENT_INVALID,
        ),
        ({"ueid": b"\x01" + bytes(16)}, Code.EAT_UNKNOWN_DEVICE),
        ({"hwmodel": CLASS_B}, Code.EAT_ENDORSEMENT_INVALID),
        ({"oemid": bytes(16)}, Code.EAT_ENDORSEMENT_INVALID),
        ({"hwmodel": None}, Code.EAT_MISSING_CLAIM),
        ({"nonce": None}, Code.EAT_MISSING_CLAIM),
    ],
)
def test_bad_evidence_ends_the_session(world: World, change: dict, code: Code) -> None:  # type: ignore[type-arg]
    dev = world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    with pytest.raises(EdbpError) as e:
        world.tam.receive(_response(dev, token, _claims(dev, challenge, **change)))
    assert e.value.code == code
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION
    assert events(world)[-1] == ("deploy.verify_evidence", int(code))
    # a fresh session with honest evidence still works
    assert world.deploy(dev, 1)[-1].detail == "installed"


def test_stale_evidence_from_an_earlier_session_is_refused(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    q1 = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    old_response = dev.broker.deliver(q1.send)[0]
    token2, _ = _open(world, dev)  # a newer session replaces the first
    with pytest.raises(ProtocolError) as e:
        world.tam.receive(old_response)
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE
    # the old evidence under the new token (an attacker cannot re-sign it) does not verify
    claims = eat.verify(
        teep.verify(old_response, dev.agent.keys.dsk_public).attestation_payload,
        dev.agent.keys.dsk_public,
    )
    with pytest.raises(VerificationError) as e:
        world.tam.receive(_response(dev, token2, claims))
    assert e.value.code == Code.EAT_NONCE_MISMATCH


def test_forged_message_does_not_disturb_the_session(world: World) -> None:
    dev, intruder = world.device(), world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    forged = _response(intruder, token, _claims(dev, challenge))  # right token, wrong signer
    with pytest.raises(VerificationError) as e:
        world.tam.receive(forged)
    assert e.value.code == Code.TEEP_BAD_SIGNATURE
    assert world.tam.state(dev.ueid) is TamState.CHALLENGED
    out = world.tam.receive(_response(dev, token, _claims(dev, challenge)))
    assert out.state is TamState.UPDATE_SENT
    for junk in (b"", b"\xa0", b"\xd2\x84\x40\xa0\x40\x40"):
        with pytest.raises(ProtocolError):
            world.tam.receive(junk)


def test_message_out_of_order_is_recorded_and_ignored(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    success = dev.agent.keys.sign(teep.Success(token=token, suit_reports=(b"x",)).encode()).encode()
    with pytest.raises(ProtocolError) as e:
        world.tam.receive(success)  # Success while CHALLENGED: no row in the table (T10)
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE
    assert world.tam.state(dev.ueid) is TamState.CHALLENGED
    assert events(world)[-1] == ("deploy.verify_evidence", int(Code.TAM_UNEXPECTED_MESSAGE))
    out = world.tam.receive(_response(dev, token, _claims(dev, challenge)))
    assert out.state is TamState.UPDATE_SENT


def test_a_bad_report_is_recorded_and_ignored(world: World) -> None:
    from edbp.reference.wire.suit_core import SuitDigest
    from edbp.reference.wire.suit_report import SuitReference, SuitReport

    dev = world.device()
    world.publish(V1, 1)
    q = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    update = world.tam.receive(dev.broker.deliver(q.send)[0])
    (genuine,) = dev.broker.deliver(update.send)
    token = teep.peek(genuine).token
    keys = dev.agent.keys

    def success(report: SuitReport) -> bytes:
        signed = keys.sign(report.encode()).encode()
        return keys.sign(teep.Success(token=token, suit_reports=(signed,)).encode()).encode()

    digest = world.tam.package(TA_UUID, 1).manifest_digest
    unsigned_report = teep.Success(token=token, suit_reports=(b"\xa0",))
    cases = [
        (success(SuitReport(SuitReference(digest), nonce=bytes(16))), Code.EAT_NONCE_MISMATCH),
        (
            success(SuitReport(SuitReference(SuitDigest.of(b"other")), nonce=token)),
            Code.SUIT_DIGEST_MISMATCH,
        ),
        (keys.sign(teep.Success(token=token).encode()).encode(), Code.TEEP_MALFORMED),
        (keys.sign(unsigned_report.encode()).encode(), Code.TEEP_BAD_SIGNATURE),
    ]
    for message, code in cases:
        with pytest.raises(EdbpError) as e:
            world.tam.receive(message)
        assert e.value.code == code
        assert world.tam.state(dev.ueid) is TamState.UPDATE_SENT  # T8: ignored
        assert events(world)[-1] == ("deploy.record", int(code))
    assert world.tam.receive(genuine).detail == "installed"


def test_sessions_expire(tmp_path, vault: KeyVault) -> None:  # type: ignore[no-untyped-def]
    world = World(tmp_path, vault)
    now = [1000.0]
    world.tam._clock = lambda: now[0]
    a, b = world.device(), world.device()
    world.publish(V1, 1)
    qa = world.tam.begin(a.ueid, Intent(package=(TA_UUID, 1)))
    response_a = a.broker.deliver(qa.send)[0]
    qb = world.tam.begin(b.ueid, Intent(package=(TA_UUID, 1)))
    world.tam.receive(b.broker.deliver(qb.send)[0])  # b: UPDATE_SENT
    now[0] += 301
    with pytest.raises(VerificationError) as e:
        world.tam.receive(response_a)  # evidence for a challenge issued 301 s ago
    assert e.value.code == Code.EAT_STALE
    assert world.tam.state(a.ueid) is TamState.NO_SESSION
    assert [o.detail for o in world.tam.expire()] == ["outcome unknown"]
    assert world.tam.state(b.ueid) is TamState.NO_SESSION
    assert world.tam.expire() == []


def test_revoked_device_gets_nothing(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    world.tam.revoke(dev.ueid)
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION
    with pytest.raises(ProtocolError) as e:
        world.tam.receive(_response(dev, token, _claims(dev, challenge)))
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE
    with pytest.raises(ProtocolError) as e:
        world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    assert e.value.code == Code.TAM_DEVICE_REVOKED
    assert ("revoke.device", None) in events(world)
    assert world.devices_db.verify() > 0


def test_class_mismatch_unknown_device_and_package(world: World) -> None:
    b = world.device(CLASS_B)
    world.publish(V1, 1)  # a class A package
    with pytest.raises(ProtocolError) as e:
        world.deploy(b, 1)
    assert e.value.code == Code.TAM_CLASS_MISMATCH
    with pytest.raises(ProtocolError) as e:
        world.tam.begin(b"\x01" + bytes(16), Intent(package=(TA_UUID, 1)))
    assert e.value.code == Code.TAM_UNKNOWN_DEVICE
    with pytest.raises(ProtocolError) as e:
        world.tam.begin(b.ueid, Intent(package=(TA_UUID, 9)))
    assert e.value.code == Code.TAM_NO_SUCH_PACKAGE
    # the class B package under class B's key deploys
    world.author.publish(
        V2,
        ta_uuid=TA_UUID,
        sequence=5,
        vendor_id=world.tam.package(TA_UUID, 1).vendor_id,
        class_id=CLASS_B,
        class_key_id=KEY_B,
        repository="acme/sample-ta-b",
    )
    world.tam.add_package(
        world.registry.pull_envelope(world.registry.resolve("acme/sample-ta-b", "seq-5"))
    )
    assert world.deploy(b, 5)[-1].detail == "installed"


def test_enrol_and_package_authenticity(world: World) -> None:
    dev = world.device(enrol=False)
    rogue_mrk = CoseKey.generate(Curve.P256, SeededRandom("rogue-mrk"))
    with pytest.raises(VerificationError) as e:
        world.tam.enrol(world.endorsement(dev, mrk=rogue_mrk))
    assert e.value.code == Code.EAT_ENDORSEMENT_INVALID
    world.tam.enrol(world.endorsement(dev))
    with pytest.raises(ProtocolError) as e:
        world.tam.enrol(world.endorsement(dev))
    assert e.value.code == Code.TAM_DEVICE_EXISTS
    # an envelope signed by another key is not a package the TAM will deliver
    from edbp.reference.build.author import Author

    rogue = Author(
        world.vault, world.registry, CoseKey.generate(Curve.P256, SeededRandom("rogue-ask"))
    )
    published = rogue.publish(
        V1,
        ta_uuid=TA_UUID,
        sequence=7,
        vendor_id=world.tam.package if False else b"\x00" * 16,
        class_id=CLASS_A,
        class_key_id=KEY_A,
        repository="evil/ta",
    )
    with pytest.raises(VerificationError) as e:
        world.tam.add_package(published.envelope)
    assert e.value.code == Code.SUIT_AUTH_FAILED


def test_rotate_class_key(world: World) -> None:
    a = world.device()
    world.publish(V1, 1)
    assert world.tam.rotate_class_key(KEY_A) == 2
    p2 = world.publish(V2, 2)
    assert p2.package.wrapped_cek.version == 2
    assert world.tam.package(TA_UUID, 1).wrapped_cek.version == 1
    b = world.device()
    assert world.deploy(b, 1)[-1].detail == "installed"  # old packages still deliverable
    assert world.deploy(a, 2)[-1].detail == "installed"
    assert ("rotate.class_key", None) in events(world)
    assert world.tam.retire_class_key_versions(KEY_A) == ()  # package 1 still uses v1
    # spec 8.4 step 2: the Author re-wraps package 1's CEK under v2 (inside the vault), re-signs
    old = world.tam.package(TA_UUID, 1)
    moved = world.author.rewrap(old.envelope)
    assert moved.package.wrapped_cek.version == 2 and moved.package.sequence == 1
    assert moved.package.image_digest == old.image_digest and moved.package.iv == old.iv
    assert moved.package.ciphertext_digest == old.ciphertext_digest
    world.tam.add_package(moved.envelope)
    assert world.tam.retire_class_key_versions(KEY_A) == (1,)  # step 3
    assert world.vault.versions(KEY_A) == (2,)
    c = world.device()
    assert world.deploy(c, 1)[-1].detail == "installed"
    assert c.agent.installed_image(ta_component(TA_UUID)) == V1
    # the envelope that still names v1 can no longer be re-wrapped by the vault
    with pytest.raises(EdbpError) as e:
        world.author.rewrap(old.envelope)
    assert e.value.code == Code.KEYVAULT_NO_SUCH_KEY


def test_device_error_is_recorded_with_its_code(world: World) -> None:
    dev = world.device()
    published = world.publish(V1, 1)
    # the registry (untrusted) serves a corrupted payload
    blob = world.registry._blob_path(published.ref.payload_digest)
    data = bytearray(blob.read_bytes())
    data[10] ^= 1
    blob.write_bytes(bytes(data))
    outs = world.deploy(dev, 1)
    assert outs[-1].state is TamState.NO_SESSION and outs[-1].detail.startswith("device refused")
    event, code = events(world)[-1]
    assert event == "deploy.record" and code is not None and code != 0
    with pytest.raises(EdbpError):
        dev.agent.installed_image(ta_component(TA_UUID))


def test_uninstall_sends_the_unneeded_component(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    world.deploy(dev, 1)
    q = world.tam.begin(dev.ueid, Intent(uninstall=ta_component(TA_UUID)))
    out = world.tam.receive(dev.broker.deliver(q.send)[0])
    assert out.step == "uninstall.component" and out.state is TamState.UPDATE_SENT
    msg = teep.verify(out.send, world.tsk.public())
    assert msg.unneeded_manifest_list == (ta_component(TA_UUID),) and not msg.manifest_list
    (reply,) = dev.broker.deliver(out.send)
    final = world.tam.receive(reply)  # Success or a coded Error: recorded either way
    assert final.state is TamState.NO_SESSION
    assert ("uninstall.component", None) in events(world)
    assert events(world)[-1][0] == "deploy.record"


def test_reprs_hold_no_challenge(world: World) -> None:
    dev = world.device()
    world.publish(V1, 1)
    out = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    challenge = teep.verify(out.send, world.tsk.public()).challenge
    shown = repr(world.tam) + repr(out) + repr(list(world.tam._sessions.values()))
    assert repr(challenge) not in shown and challenge.hex() not in shown


def test_update_sent_session_is_held_for_l_u_from_the_update(  # type: ignore[no-untyped-def]
    tmp_path, vault: KeyVault
) -> None:
    """protocol.md 8.3.1 / T11: a session that sent its Update stays open for UPDATE_HOLD
    (L_u) seconds counted from the Update, not from the QueryRequest. A new deploy request
    meanwhile opens the device's next session but does not end the held one: the Agent's
    report of the held Update is still recorded against it. Revocation ends every session."""
    world = World(tmp_path, vault)
    now = [1000.0]
    world.tam._clock = lambda: now[0]
    dev, other = world.device(), world.device()
    world.publish(V1, 1)
    q = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    response = dev.broker.deliver(q.send)[0]
    now[0] += 200  # the evidence arrives late but within the session lifetime
    update = world.tam.receive(response).send
    assert world.tam.state(dev.ueid) is TamState.UPDATE_SENT and update is not None
    now[0] += teep.UPDATE_HOLD  # 500 s after the QueryRequest, exactly L_u after the Update
    assert world.tam.expire() == []
    world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    assert world.tam.state(dev.ueid) is TamState.CHALLENGED
    (success,) = dev.broker.deliver(update)  # the held Update, delivered late
    assert world.tam.receive(success).detail == "installed"
    assert world.tam.state(dev.ueid) is TamState.CHALLENGED  # the new session is untouched
    # a held session nobody reports on expires L_u after its Update, and only then
    qo = world.tam.begin(other.ueid, Intent(package=(TA_UUID, 1)))
    world.tam.receive(other.broker.deliver(qo.send)[0])
    world.tam.begin(other.ueid, Intent(package=(TA_UUID, 1)))
    now[0] += teep.UPDATE_HOLD
    assert world.tam.expire() == []
    now[0] += 1
    details = sorted(o.detail for o in world.tam.expire())
    assert details == ["expired", "expired", "outcome unknown"]
    world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1)))
    world.tam.revoke(dev.ueid)
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION


def test_replayed_uninstall_never_removes_a_later_install(world: World) -> None:
    """Issue 19 (found by the model): the attacker captures the TAM's QueryRequest and its
    uninstall Update for version 1, lets version 2 be deployed, then replays both. The
    QueryRequest opens an exchange with the old token, so the old Update's token matches;
    what stops it first is the Agent nonce (P-9.7c: the reopened exchange drew a fresh one, the
    old Update echoes the first exchange's), and behind it the install it names (P-9.10c,
    tests/device): version 2 stays."""
    dev = world.device()
    world.publish(V1, 1)
    world.deploy(dev, 1)
    q1 = world.tam.begin(dev.ueid, Intent(uninstall=ta_component(TA_UUID)))
    assert q1.send is not None
    u1 = world.tam.receive(dev.broker.deliver(q1.send)[0])
    assert u1.send is not None
    assert teep.verify(u1.send, world.tsk.public()).unneeded_sequence_numbers == (1,)
    assert world.tam.receive(dev.broker.deliver(u1.send)[0]).detail == "uninstalled"
    assert dev.agent.record().components == {}
    world.publish(V2, 2)
    world.deploy(dev, 2)
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V2
    # the replay: the old QueryRequest (accepted: TSK-signed), then the old Update
    (response,) = dev.broker.deliver(q1.send)
    assert isinstance(teep.decode(Sign1.decode(response).payload), teep.QueryResponse)
    (refused,) = dev.broker.deliver(u1.send)
    error = teep.decode(Sign1.decode(refused).payload)
    assert isinstance(error, teep.Error)
    assert dev.agent.last_error is Code.TEEP_AGENT_NONCE_MISMATCH
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V2


def _withheld_update_after_its_session(world: World, now: list[float]):  # type: ignore[no-untyped-def]
    """The P6(a) residual of protocol.md 8.3.1 before issue 19: the attacker captures the
    QueryRequest Q1 of a deploy session and withholds its Update U1; the TAM's session ends
    (L_u after U1, T11); then the attacker replays Q1 to the device, which reopens an exchange
    with Q1's token, and delivers U1 within that exchange's lifetime. Returns the device, the
    replayed QueryResponse and the device's answer to U1."""
    dev = world.device()
    world.publish(V1, 1)
    q1 = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1))).send
    (r1,) = dev.broker.deliver(q1)
    u1 = world.tam.receive(r1).send
    assert u1 is not None and world.tam.state(dev.ueid) is TamState.UPDATE_SENT
    now[0] += teep.UPDATE_HOLD + 1  # U1 withheld: the TAM's session ends (T11)
    assert [o.detail for o in world.tam.expire()] == ["outcome unknown"]
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION
    (r2,) = dev.broker.deliver(q1)  # attack.replay of Q1: the exchange reopens
    first = teep.verify(r1, dev.agent.keys.dsk_public)
    second = teep.verify(r2, dev.agent.keys.dsk_public)
    assert isinstance(first, teep.QueryResponse) and isinstance(second, teep.QueryResponse)
    assert first.token == second.token and first.agent_nonce != second.agent_nonce
    return dev, dev.broker.deliver(u1)


def test_update_withheld_past_its_session_is_refused_after_a_replayed_query(  # type: ignore[no-untyped-def]
    tmp_path, vault: KeyVault
) -> None:
    """Issue 19, the P6(a) residual closed: U1 echoes the first exchange's Agent nonce, the
    exchange Q1's replay opened drew another, so the Agent refuses U1 with
    TEEP_AGENT_NONCE_MISMATCH and installs nothing; the TAM, whose session is gone, refuses
    the device's Error as matching no session (T8b)."""
    world = World(tmp_path, vault)
    now = [1000.0]
    world.tam._clock = lambda: now[0]
    dev, replies = _withheld_update_after_its_session(world, now)
    (refused,) = replies
    error = teep.verify(refused, dev.agent.keys.dsk_public)
    assert isinstance(error, teep.Error) and error.err_code == int(TeepErr.ERR_PERMANENT_ERROR)
    assert error.err_msg == "edbp:409 TEEP_AGENT_NONCE_MISMATCH"
    assert dev.agent.last_error is Code.TEEP_AGENT_NONCE_MISMATCH
    assert dev.agent.record().components == {} and dev.agent.state is AgentState.IDLE
    with pytest.raises(EdbpError) as e:
        world.tam.receive(refused)
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE


def test_without_the_nonce_check_the_withheld_update_installs(  # type: ignore[no-untyped-def]
    tmp_path, vault: KeyVault, monkeypatch
) -> None:
    """The same attack against an Agent that skips the nonce check installs U1 in an exchange
    the TAM no longer holds: the residual the check closes (so the test above can fail)."""
    from edbp.reference.device import agent as agent_module

    monkeypatch.setattr(agent_module, "_check_nonce", lambda update, session: None)
    world = World(tmp_path, vault)
    now = [1000.0]
    world.tam._clock = lambda: now[0]
    dev, replies = _withheld_update_after_its_session(world, now)
    assert isinstance(teep.verify(replies[-1], dev.agent.keys.dsk_public), teep.Success)
    assert dev.agent.installed_image(ta_component(TA_UUID)) == V1


def test_query_response_without_the_agent_nonce_ends_the_session(world: World) -> None:
    """The edbp profile requires edbp-agent-nonce in the QueryResponse (the Update must echo
    it): a verified QueryResponse without it is TEEP_MALFORMED, recorded, no Update (T4)."""
    dev = world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    response = _response(dev, token, _claims(dev, challenge), nonce=None)
    with pytest.raises(EdbpError) as e:
        world.tam.receive(response)
    assert e.value.code == Code.TEEP_MALFORMED
    assert world.tam.state(dev.ueid) is TamState.NO_SESSION
    assert events(world)[-1] == ("deploy.verify_evidence", int(Code.TEEP_MALFORMED))


def test_every_update_echoes_the_verified_agent_nonce(world: World) -> None:
    """The TAM stores the nonce of the QueryResponse it verified and echoes it in the Update it
    sends in that session, install and uninstall alike."""
    dev = world.device()
    world.publish(V1, 1)
    token, challenge = _open(world, dev)
    nonce = bytes(range(16))
    install = world.tam.receive(_response(dev, token, _claims(dev, challenge), nonce)).send
    assert install is not None
    update = teep.verify(install, world.tsk.public())
    assert isinstance(update, teep.Update) and update.agent_nonce == nonce and update.manifest_list
    world.deploy(dev, 1)
    query = world.tam.begin(dev.ueid, Intent(uninstall=ta_component(TA_UUID))).send
    (response,) = dev.broker.deliver(query)
    heard = teep.verify(response, dev.agent.keys.dsk_public)
    sent = world.tam.receive(response).send
    assert isinstance(heard, teep.QueryResponse) and heard.agent_nonce and sent is not None
    uninstall = teep.verify(sent, world.tsk.public())
    assert isinstance(uninstall, teep.Update) and uninstall.unneeded_manifest_list
    assert uninstall.agent_nonce == heard.agent_nonce


def test_a_replayed_exchanges_query_response_gets_no_second_update(world: World) -> None:
    """protocol.md 8.3.1 (T10): while the session that sent its Update is held, the
    QueryResponse of an exchange its replayed QueryRequest reopened (same token, a new Agent
    nonce) gets no Update echoing that nonce: the held Update's nonce is the only one."""
    dev = world.device()
    world.publish(V1, 1)
    q1 = world.tam.begin(dev.ueid, Intent(package=(TA_UUID, 1))).send
    u1 = world.tam.receive(dev.broker.deliver(q1)[0]).send
    assert u1 is not None and world.tam.state(dev.ueid) is TamState.UPDATE_SENT
    (r2,) = dev.broker.deliver(q1)
    with pytest.raises(EdbpError) as e:
        world.tam.receive(r2)
    assert e.value.code == Code.TAM_UNEXPECTED_MESSAGE
    assert world.tam.state(dev.ueid) is TamState.UPDATE_SENT
    refused = dev.broker.deliver(u1)  # the held Update, in the reopened exchange
    assert dev.agent.last_error is Code.TEEP_AGENT_NONCE_MISMATCH
    assert world.tam.receive(refused[0]).state is TamState.NO_SESSION  # recorded (T7)
