"""The post-quantum suite `edbp-pq` end to end in the reference roles (spec/protocol.md 4.1,
spec/properties.md P14): enrolment under an ML-DSA MRK, a deploy with ML-DSA signatures and a
COSE-HPKE MLKEM768-X25519 recipient, sealed PQ keys, and every downgrade refused."""

from __future__ import annotations

import uuid

import attrs
import pytest
from edbp.reference.build.package import ta_component
from edbp.reference.cloud.delivery import device_encryption_info
from edbp.reference.cloud.endorsement import Endorsement, sign_endorsement, verify_endorsement
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.cloud.tam import Intent
from edbp.reference.device.keys import DeviceKeys, KeySuite
from edbp.reference.device.world import World, contains
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import pq, teep
from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel, KeyType
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.reference.wire.suit_envelope import Envelope

from edbp.errors import Code, EdbpError, VerificationError

pytestmark = pytest.mark.skipif(not pq.available(), reason=f"{pq.unavailable_reason()}")

TA = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b").bytes
IMAGE = b"\x7fELF pq payload " * 64


@pytest.fixture
def world(tmp_path) -> World:  # type: ignore[no-untyped-def]
    return World(tmp_path, seed="pq-roles", pq=True)


def _publish(world: World, sequence: int = 1, *, pq_signed: bool = True) -> None:
    ta = world.build_ta(IMAGE, TA, sequence)
    world.publish(ta, ta_uuid=TA, sequence=sequence, class_name="gw", pq=pq_signed)


def test_pq_keys_are_akp_and_seal_and_reopen():
    keys = DeviceKeys.generate(KeySuite.PQ, SeededRandom("k"))
    assert keys.dak_public.kty == KeyType.AKP and keys.dsk_public.kty == KeyType.AKP
    assert keys.dak_public.alg == int(Alg.EDBP_HPKE_XWING_KE)
    assert keys.signing_alg == Alg.ML_DSA_65
    again = DeviceKeys.from_sealed_record(keys.seal_record())
    assert again.dak_public == keys.dak_public and again.dsk_public == keys.dsk_public
    assert repr(keys.agreement_key().d) not in repr(keys)
    # a sealed record whose seed was swapped is corrupt, not a different key
    from edbp.reference.wire.cbor import dumps, loads

    rec = loads(keys.seal_record())
    dak = CoseKey.decode(rec["dak"])
    rec["dak"] = attrs.evolve(dak, d=bytes(32)).encode()
    with pytest.raises(VerificationError) as err:
        DeviceKeys.from_sealed_record(dumps(rec))
    assert err.value.code == Code.AGENT_STORAGE_CORRUPT


def test_pq_deploy_on_both_vault_backends(tmp_path, vault: KeyVault):  # type: ignore[no-untyped-def]
    """The PQ recipient is built around ``KeyVault.rewrap`` like the classical one, so the
    PKCS#11 backend (SoftHSM2: no ML-KEM, no HKDF in the token) delivers it too."""
    w = World(tmp_path, seed="pq-vaults", pq=True, vault=vault)
    dev = w.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(w)
    got = w.deploy(dev, TA, 1)
    assert got.ok, got.detail
    assert not contains(w.broker_bytes(dev), w.cek_of(w.tam.package(TA, 1)))


def test_pq_deploy_end_to_end(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)
    attempt = world.deploy(dev, TA, 1)
    assert attempt.ok, attempt.detail
    assert dev.agent.floor(ta_component(TA)) == 1
    query, update = (Sign1.decode(m) for m in attempt.messages)
    assert query.headers.raw_alg == update.headers.raw_alg == int(Alg.ML_DSA_65)
    offer = teep.decode(query.payload or b"")
    assert isinstance(offer, teep.QueryRequest)
    assert offer.supported_cipher_suites == (teep.CIPHER_SUITE_MLDSA65,)
    assert offer.supported_suit_cose_profiles == (teep.SUIT_PROFILE_PQ,)
    msg = teep.decode(update.payload or b"")
    assert isinstance(msg, teep.Update) and msg.manifest_list
    envelope = Envelope.decode(b"\xd8\x6b" + msg.manifest_list[0])
    (block,) = envelope.authentication.blocks
    assert Sign1.decode(block).headers.raw_alg == int(Alg.ML_DSA_65)
    # the CEK is nowhere the attacker can read (P1/P8), with the PQ recipient too
    package = world.tam.package(TA, 1)
    cek = world.cek_of(package)
    assert not contains(world.broker_bytes(dev), cek)
    assert not contains(world.registry_bytes(), cek)


def test_pq_recipient_is_hpke_with_the_dak_kid(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)
    package = world.tam.package(TA, 1)
    dak = dev.agent.keys.dak_public
    enc = device_encryption_info(package, dak, world.vault, SeededRandom("r"))
    (rcpt,) = enc.recipients
    assert rcpt.headers.protected[HeaderLabel.ALG] == int(Alg.EDBP_HPKE_XWING_KE)
    assert rcpt.headers.protected[HeaderLabel.KID] == dak.thumbprint()
    assert len(rcpt.headers.unprotected[HeaderLabel.EK]) == pq.XWING_ENC_BYTES
    assert enc.headers.protected_raw == package.content_protected
    cek = dev.agent.keys.unwrap_cek(enc, content_algs={Alg.A128GCM})
    assert bytes(cek) == world.cek_of(package)
    # a classical device's DAK still gets ECDH-ES+A128KW from the same TAM code
    classic = world.enrol("c1", "gw", suite=KeySuite.P256)
    enc2 = device_encryption_info(package, classic.agent.keys.dak_public, world.vault)
    assert enc2.recipients[0].headers.raw_alg == int(Alg.ECDH_ES_A128KW)


def test_classical_and_pq_devices_share_one_tam(world: World):
    classic = world.enrol("c1", "gw", suite=KeySuite.P256)
    quantum = world.enrol("q1", "gw", suite=KeySuite.PQ)
    ta = world.build_ta(IMAGE, TA, 1)
    world.publish(ta, ta_uuid=TA, sequence=1, class_name="gw", pq=True)
    assert world.deploy(quantum, TA, 1).ok
    # the classical device refuses the ML-DSA-signed package: it does not offer ML-DSA
    got = world.deploy(classic, TA, 1)
    assert not got.ok and got.code == Code.SUIT_UNSUPPORTED_PROFILE


# ------------------------------------------------------------------ downgrade (P14)


def test_agent_refuses_a_classically_signed_package(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world, pq_signed=False)  # ESP256 author envelope
    got = world.deploy(dev, TA, 1)
    assert not got.ok and got.code == Code.COSE_SUITE_DOWNGRADE
    assert dev.agent.floor(ta_component(TA)) is None


def test_agent_refuses_a_classically_signed_teep_message(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)

    def resign_classically(message: bytes) -> bytes:
        payload = Sign1.decode(message).payload or b""
        return teep.sign(teep.decode(payload), world.tsk, -9)

    got = world.deploy(dev, TA, 1, intercept=resign_classically)
    assert not got.ok and got.code == Code.COSE_SUITE_DOWNGRADE


def test_agent_refuses_an_offer_without_the_pq_suite(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)
    assert world.pq_tsk is not None
    pq_tsk = world.pq_tsk

    def strip_offer(message: bytes) -> bytes | None:
        msg = teep.decode(Sign1.decode(message).payload or b"")
        if not isinstance(msg, teep.QueryRequest):
            return None
        classic = attrs.evolve(
            msg,
            supported_cipher_suites=teep.EDBP_CIPHER_SUITES,
            supported_suit_cose_profiles=((-16, -9, -29, 1),),
        )
        # even signed with the real ML-DSA TSK (an insider or a bug), the Agent refuses
        return teep.sign(classic, pq_tsk, -49)

    got = world.deploy(dev, TA, 1, intercept=strip_offer)
    assert not got.ok and got.code == Code.COSE_SUITE_DOWNGRADE


def test_tam_refuses_classical_evidence_from_a_pq_device(world: World):
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)
    classical = CoseKey.generate(Curve.P256, SeededRandom("forger"))
    out = world.tam.begin(dev.ueid, Intent(package=(TA, 1)))
    (reply,) = dev.broker.deliver(out.send or b"")
    sign1 = Sign1.decode(reply)
    response = teep.decode(sign1.payload or b"")
    assert isinstance(response, teep.QueryResponse)
    evidence = Sign1.decode(response.attestation_payload or b"")
    from edbp.reference.wire.cose_sign import sign1 as make_sign1

    forged_evidence = make_sign1(
        evidence.payload or b"", classical, Alg.ESP256, unprotected={4: b"x"}
    ).encode()
    forged = attrs.evolve(response, attestation_payload=forged_evidence)
    # the outer signature is the real DSK's (the attacker changed only the evidence)
    resigned = dev.agent.keys.sign(forged.encode()).encode()
    with pytest.raises(EdbpError) as err:
        world.tam.receive(resigned)
    assert err.value.code == Code.EAT_SUITE_DOWNGRADE


def test_pq_endorsement_needs_an_mldsa_mrk(world: World):
    keys = DeviceKeys.generate(KeySuite.PQ, SeededRandom("e"))
    body = Endorsement(
        keys.ueid, bytes(16), bytes(16), keys.dak_public, keys.dsk_public, 1_700_000_000
    )
    assert world.pq_mrk is not None
    ok = verify_endorsement(sign_endorsement(body, world.pq_mrk, Alg.ML_DSA_65), world.pq_mrk)
    assert ok.is_pq and ok.dak.thumbprint() == keys.dak_public.thumbprint()
    with pytest.raises(VerificationError) as err:
        verify_endorsement(sign_endorsement(body, world.mrk), world.mrk.public())
    assert err.value.code == Code.COSE_SUITE_DOWNGRADE
    with pytest.raises(EdbpError) as err2:
        world.tam.enrol(sign_endorsement(body, world.mrk))
    assert err2.value.code == Code.COSE_SUITE_DOWNGRADE
    # a PQ DAK with a classical DSK is no suite at all
    mixed = attrs.evolve(body, dsk=DeviceKeys.generate(KeySuite.P256, SeededRandom("m")).dsk_public)
    with pytest.raises(VerificationError) as err3:
        verify_endorsement(sign_endorsement(mixed, world.pq_mrk, Alg.ML_DSA_65), world.pq_mrk)
    assert err3.value.code == Code.EAT_ENDORSEMENT_INVALID


def test_tam_without_a_pq_tsk_does_not_fall_back(tmp_path):
    w = World(tmp_path, seed="pq-no-tsk", pq=True)
    dev = w.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(w)
    w.tam._pq_tsk = None  # a TAM deployed without its ML-DSA key
    got = w.deploy(dev, TA, 1)
    assert not got.ok and got.code == Code.COSE_SUITE_DOWNGRADE


def test_pq_messages_fit_the_protocol_limits(world: World):
    """protocol.md 4.1 sizes: every PQ message stays within section 6's limits."""
    dev = world.enrol("d1", "gw", suite=KeySuite.PQ)
    _publish(world)
    attempt = world.deploy(dev, TA, 1)
    assert attempt.ok
    update = teep.decode(Sign1.decode(attempt.messages[1]).payload or b"")
    assert isinstance(update, teep.Update) and update.manifest_list
    envelope = update.manifest_list[0]
    assert len(envelope) <= 32 * 1024  # SUIT envelope limit
    for message in (*attempt.messages, *attempt.replies):
        assert len(message) <= 64 * 1024  # TEEP message limit
    # and the growth is what the spec says it is made of: three ML-DSA-65 signatures in the
    # Update (TEEP, device manifest, author manifest) and the 1120-byte ek
    assert len(attempt.messages[1]) > 3 * pq.MLDSA65_SIGNATURE_BYTES + pq.XWING_ENC_BYTES
