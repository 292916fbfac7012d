"""`edbp-pq` deploy and publish vectors (spec/protocol.md 4.1): whole flows of the post-quantum
suite, made by the reference roles (Author, KeyVault, TAM with its ML-DSA-65 TSK) against a PQ
test device, with the KEM shared secret, the HPKE key schedule and the wrapped CEK as
intermediates, and the downgrades of P14 as broken forms.

The flows are the classical ones (``flowkit``; the publish file is ``sources_cloud``'s own
generator run on the PQ suite); what differs is that every ML-DSA-65 signature and HPKE
encapsulation is pinned from the committed file (``pins.py``), so the files regenerate byte for
byte although ``cryptography`` takes no randomness for either. Every test is replayed against
the reference device before it is written.
"""

from __future__ import annotations

from typing import Any

import attrs

from edbp.conformance.harness.session import Target
from edbp.errors import Code
from edbp.reference.build.package import ta_component
from edbp.reference.cloud.delivery import build_delivery
from edbp.reference.cloud.tam import Intent
from edbp.reference.device.keys import KeySuite
from edbp.reference.device.update import DeviceIdentity, TrustAnchors, verify_update
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import pq, teep
from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel
from edbp.reference.wire.cose_hpke import recipient_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1
from edbp.vectorgen.flowkit import (
    TA_UUID,
    DeviceHandle,
    Kit,
    Suite,
    deliver,
    deliver_step,
    ok,
    open_session,
    refused,
    state_after,
)
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile
from edbp.vectorgen.pins import PinStore
from edbp.vectorgen.registry import source
from edbp.vectorgen.sources_cloud import _publish
from edbp.vectorgen.sources_deploy import (
    check_against_reference,
    flip_signature,
    package_intermediates,
    resign,
)

PQ_SUITE = Suite("mldsa65-hpke-xwing-a128gcm", KeySuite.PQ, Alg.A128GCM, (-16, -49, -70768, 1))
DEPLOY_PATH = f"pq/deploy-{PQ_SUITE.name}"
PUBLISH_PATH = f"pq/publish-{PQ_SUITE.name}"
COMPONENT = ta_component(TA_UUID)
HPKE = Alg.EDBP_HPKE_XWING_KE

NOTES = {
    "HonestDeploy": Note(
        "Functionality",
        "the honest Deploy trace in edbp-pq: ML-DSA-65 TEEP messages and manifests, the CEK by "
        "COSE-HPKE MLKEM768-X25519, installed with a signed report",
        ("P1", "P3", "P4", "P5", "P6", "P14"),
    ),
    "ClassicalTeepSignature": Note(
        "Downgrade",
        "a TEEP message re-signed ESP256 by a legacy TSK the PQ device still trusts",
        ("P14",),
    ),
    "ClassicalManifestSignature": Note(
        "Downgrade",
        "a device manifest signed ESP256 by a legacy TSK inside an ML-DSA-signed Update",
        ("P14", "P5"),
    ),
    "RecipientDowngrade": Note(
        "Downgrade",
        "the CEK by ECDH-ES+A128KW (to a P-256 key) instead of COSE-HPKE",
        ("P14", "P1"),
    ),
    "ChangeSignature": Note(
        "SignatureMalleability", "one bit of the TSK's ML-DSA-65 signature flipped", ("P5", "P6")
    ),
    "Replay": Note("Replay", "an Update delivered again after it was installed", ("P6",)),
}


def _case(
    name: str, result: str, comment: str, flag: str, steps: list[Step], device: dict[str, Any],
    intermediates: dict[str, Any] | None = None,
) -> TestCase:
    return TestCase(f"deploy.{PQ_SUITE.name}.{result}.{name}", comment, result, tuple(steps),
                    (flag,), NOTES[flag].properties, intermediates or {}, device)


def _intermediates(
    kit: Kit, handle: DeviceHandle, update: bytes, published: Any, messages: dict[str, bytes]
) -> dict[str, Any]:
    """The delivery as the Agent opens it: ToBeSigned of each TEEP message, the COSE-HPKE
    recipient's ``info`` and ``enc``, the X-Wing shared secret and the RFC 9180 key schedule
    recomputed from the test DAK, the wrapped CEK, the CEK, the content layer, digests."""
    msg = teep.peek(update)
    assert isinstance(msg, teep.Update) and msg.manifest_list
    anchors = TrustAnchors(tam=[kit.tsk.public()], author=[kit.ask.public()])
    identity = DeviceIdentity(handle.ueid, handle.vendor_id, handle.class_id, pq=True)
    plan = verify_update(msg.manifest_list, identity, anchors)
    (recipient,) = plan.encryption.recipients
    dak = handle.keys.agreement_key()
    assert dak.d is not None
    info = recipient_structure(1, recipient.headers.protected_for_crypto)
    enc = recipient.headers.unprotected[HeaderLabel.EK]
    hpke = pq.hpke_intermediates(dak.d, enc, info)
    out: dict[str, Any] = {
        name + "ToBeSigned": Sign1.decode(data).to_be_signed().hex()
        for name, data in messages.items()
    }
    out.update({
        "hpkeInfo": info.hex(),
        "hpkeEnc": enc.hex(),
        "sharedSecret": hpke.shared_secret.hex(),
        "hpkeKeyScheduleContext": hpke.key_schedule_context.hex(),
        "hpkeKey": hpke.key.hex(),
        "hpkeBaseNonce": hpke.base_nonce.hex(),
        "wrappedCekDevice": recipient.ciphertext.hex(),
        "cek": pq.hpke_open(dak.d, enc, info, recipient.ciphertext).hex(),
    })
    out.update(package_intermediates(kit, published, plan))
    return out


def _with_envelope(update: bytes, envelope: bytes, tsk: CoseKey) -> bytes:
    """The same Update (token) carrying ``envelope``, signed again by the TAM's ML-DSA TSK."""
    msg = teep.peek(update)
    assert isinstance(msg, teep.Update)
    return teep.sign(attrs.evolve(msg, manifest_list=(envelope,)), tsk, Alg.ML_DSA_65)


def _deploy_tests(kit: Kit, store: PinStore) -> list[TestCase]:
    dev = kit.device("device-a")
    store.add_key(dev.keys.agreement_key())
    pub = kit.publish(3)
    state = dev.state(kit)
    target = kit.target(state)
    qr, resp, upd = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert upd is not None
    uri, payload = kit.payload(pub)
    pay = {uri: payload}
    replies = deliver(target, upd, pay)
    kit.tam.receive(replies[0])
    inter = _intermediates(kit, dev, upd, pub, {"queryRequest": qr, "queryResponse": resp,
                                                "update": upd, "success": replies[0]})
    secrets = {"cek": inter["cek"], "plaintext": inter["plaintext"]}
    honest_steps = [
        deliver_step(qr, ok("QueryResponse"), state_after=state_after("QUERIED")),
        deliver_step(upd, ok("Success"), pay, state_after("IDLE", {COMPONENT: 3})),
    ]
    # a device migrated to edbp-pq that kept its old classical TSK anchor (P14: still nothing
    # classical is accepted)
    legacy = CoseKey.generate(Curve.P256, kit.rng.fork("legacy-tsk"))
    legacy_state = dev.state(kit, tam_keys=[kit.tsk.public(), legacy.public()])
    record = kit.tam.registry.get(dev.ueid)
    p256 = CoseKey.generate(Curve.P256, kit.rng.fork("p256-dak")).public()
    ecdh_env = build_delivery(pub.package, Target(dev.ueid, p256), kit.vault, kit.tsk,
                              Alg.ML_DSA_65, kit.rng.fork("ecdh-delivery")).envelope
    classical_env = build_delivery(pub.package, record, kit.vault, legacy, Alg.ESP256,
                                   kit.rng.fork("classical-delivery")).envelope

    def refused_update(name: str, comment: str, flag: str, bad: bytes, code: Code,
                       device: dict[str, Any] = state) -> TestCase:
        steps = [deliver_step(qr, ok("QueryResponse")),
                 deliver_step(bad, refused(code), pay, state_after("IDLE"), rule=None)]
        return _case(name, "invalid", comment, flag, steps, device, secrets)

    return [
        _case("honest-install", "valid",
              "the honest Deploy trace in edbp-pq: sequence 3 on a factory-fresh PQ device",
              "HonestDeploy", honest_steps, state, inter),
        _case("query-request-esp256", "invalid",
              "the QueryRequest (its offer names edbp-pq) re-signed ESP256 by a legacy TSK the "
              "device still trusts: refused before any key is tried, no evidence given",
              "ClassicalTeepSignature",
              [deliver_step(resign(qr, legacy, Alg.ESP256), refused(Code.COSE_SUITE_DOWNGRADE),
                            state_after=state_after("IDLE"), rule=None)],
              legacy_state),
        refused_update("update-esp256", "the Update re-signed ESP256 by the legacy TSK",
                       "ClassicalTeepSignature", resign(upd, legacy, Alg.ESP256),
                       Code.COSE_SUITE_DOWNGRADE, legacy_state),
        refused_update("device-manifest-esp256",
                       "an ML-DSA-signed Update whose device manifest is signed ESP256 by the "
                       "legacy TSK", "ClassicalManifestSignature",
                       _with_envelope(upd, classical_env, kit.tsk), Code.COSE_SUITE_DOWNGRADE,
                       legacy_state),
        refused_update("recipient-ecdh-es",
                       "an all-ML-DSA delivery whose CEK travels by ECDH-ES+A128KW to a P-256 "
                       "key (what a harvest-now attacker wants)", "RecipientDowngrade",
                       _with_envelope(upd, ecdh_env, kit.tsk), Code.COSE_SUITE_DOWNGRADE),
        refused_update("update-signature-flipped",
                       "one bit of the Update's ML-DSA-65 signature flipped", "ChangeSignature",
                       flip_signature(upd), Code.TEEP_BAD_SIGNATURE),
        _case("update-replayed", "invalid",
              "the installed Update delivered again (no open challenge any more)", "Replay",
              [*honest_steps,
               deliver_step(upd, refused(Code.AGENT_REPLAY), pay,
                            state_after("IDLE", {COMPONENT: 3}))],
              state, secrets),
    ]


@source(DEPLOY_PATH)
def deploy_file(rng: SeededRandom) -> VectorFile:
    pq.require()
    store = PinStore(DEPLOY_PATH)
    with pq.pinned(store.pins()):
        kit = Kit(rng, PQ_SUITE)
        tests = kit.with_agent_nonces(_deploy_tests(kit, store))
    keys = {"tsk": kit.tsk.public().encode().hex(), "ask": kit.ask.public().encode().hex(),
            "mrk": kit.mrk.public().encode().hex(), "suitCoseProfile": list(PQ_SUITE.profile)}
    valid = tuple(t for t in tests if t.result == "valid")
    invalid = tuple(t for t in tests if t.result != "valid")
    return check_against_reference(VectorFile(
        path=DEPLOY_PATH,
        title=f"edbp-pq Deploy flows, suite {PQ_SUITE.name} {list(PQ_SUITE.profile)}",
        header=(
            "As deploy/*: each test starts from `device` (PQ test DAK/DSK: AKP COSE_Keys), op "
            "agent.deliver hands `message` to the Agent, expect.replies and stateAfter as there.",
            "intermediates: ToBeSigned of every TEEP message; the COSE-HPKE recipient's hpkeInfo "
            "(Recipient_structure) and hpkeEnc, the X-Wing sharedSecret, the RFC 9180 "
            "hpkeKeyScheduleContext, hpkeKey and hpkeBaseNonce, wrappedCekDevice, the CEK; the "
            "class-key layer and content as in deploy/*.",
            "ML-DSA-65 signatures and HPKE encapsulations are pinned from this file "
            "(spec/vectors.md).",
        ),
        notes=NOTES,
        groups=(TestGroup("AgentDeploy", "deploy", PQ_SUITE.name, valid, keys=keys),
                TestGroup("AgentDeploy", "deploy", PQ_SUITE.name, invalid, keys=keys)),
    ))


@source(PUBLISH_PATH)
def publish_file(rng: SeededRandom) -> VectorFile:
    """``sources_cloud``'s publish vectors (author envelope, class-key wrap) on `edbp-pq`: the
    ASK signs ML-DSA-65; kept under ``pq/`` with the other files of the optional suite."""
    pq.require()
    with pq.pinned(PinStore(PUBLISH_PATH).pins()):
        return attrs.evolve(_publish(PQ_SUITE)(rng), path=PUBLISH_PATH)
