"""Deploy and lifecycle vectors: the model's honest traces and attacker moves, realised by the
reference roles (Author, KeyVault, TAM) against a test device, for each suite.

Every test is a sequence of ``agent.deliver`` steps from a device starting state (test DAK/DSK,
trust anchors, floors). Messages come from the real TAM after a real exchange with the
reference device (its QueryResponse is what the TAM verified); broken forms are made from them
the way the attacker of the model can (``attack.replay``, ``attack.inject``, ``attack.reorder``,
``attack.control_ree``), or, where only a trusted party could produce the bytes (a TAM that
mis-addresses, an Author key the device does not trust), by the same roles with the fault.

Every test is replayed against the reference device before it is written; generation fails
when the reference disagrees with the expectation stated here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from edbp.errors import Code
from edbp.reference.build.author import UNINSTALL_UNLINK
from edbp.reference.build.package import ta_component, vendor_id_for
from edbp.reference.cloud.delivery import build_delivery
from edbp.reference.cloud.tam import Intent
from edbp.reference.device.update import DeviceIdentity, TrustAnchors, verify_update
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, teep
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_encrypt import enc_structure
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.cose_trace import Trace
from edbp.reference.wire.suit_commands import Command, CommandSequence, Parameters
from edbp.reference.wire.suit_labels import SuitCommand
from edbp.vectorgen.flowkit import (
    AUTO,
    SUITES,
    TA_UUID,
    DeviceHandle,
    Kit,
    PublicDeviceKeys,
    Suite,
    deliver,
    deliver_step,
    image_for,
    live,
    ok,
    open_session,
    refused,
    state_after,
)
from edbp.vectorgen.format import Note, Step, TestCase, TestGroup, VectorFile
from edbp.vectorgen.registry import source
from edbp.vectorgen.replay import ReferenceTarget, replay_test

COMPONENT = ta_component(TA_UUID)

NOTES = {
    "HonestDeploy": Note(
        "Functionality",
        "the model's honest Deploy trace: QueryRequest, evidence, per-device Update, payload, "
        "Success with a signed report; the CEK and plaintext never leave the TEE",
        ("P1", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P11"),
    ),
    "Upgrade": Note(
        "Functionality",
        "a newer sequence number above the installed one; each exchange's "
        "evidence and report carry that exchange's challenge",
        ("P6", "P7"),
    ),
    "RetryAfterError": Note(
        "Functionality",
        "after a refused delivery the device still runs the old version and "
        "accepts the next honest one",
        ("P10",),
    ),
    "TwoDevices": Note(
        "Functionality",
        "each device installs only the delivery addressed to its own DAK",
        ("P4", "P12"),
    ),
    "TamKeyRotation": Note(
        "Functionality",
        "the device re-provisioned with the TAM's new key accepts messages signed by it",
        ("P13",),
    ),
    "Uninstall": Note(
        "Functionality", "uninstall.component: the component goes, its floor stays", ("P7",)
    ),
    "UninstallSequence": Note(
        "Functionality",
        "uninstall.run_sequence: the installed manifest's suit-uninstall (member 24) is run",
        ("P7",),
    ),
    "UninstallSequenceCondition": Note(
        "Functionality",
        "a condition of the manifest's suit-uninstall fails on this device: nothing removed",
        ("P7",),
    ),
    "ChangeSignature": Note(
        "SignatureMalleability", "one bit of the TAM's COSE_Sign1 signature flipped", ("P5", "P6")
    ),
    "ChangeTag": Note("ModifiedInput", "COSE_Sign1 tag 18 replaced by another COSE tag", ("P10",)),
    "NonCanonicalCBOR": Note(
        "Malleability",
        "the same message with a non-shortest CBOR head outside the signed bytes: accepted "
        "on receive (protocol §5)",
        ("P5", "P10"),
    ),
    "DuplicateMapKey": Note(
        "Ambiguity", "an unprotected header map with a repeated label", ("P5", "P10")
    ),
    "UnknownCriticalHeader": Note(
        "ModifiedInput",
        "a validly signed message whose crit header names an unknown label",
        ("P10",),
    ),
    "AlgDowngrade": Note(
        "AlgorithmConfusion",
        "the protected alg replaced by a non-signature algorithm",
        ("P5", "P10"),
    ),
    "UntrustedTam": Note(
        "WrongSigner", "an Update signed by a TAM key the device does not trust", ("P5",)
    ),
    "RevokedTamKey": Note(
        "Revocation",
        "a message signed by a TAM key the device's trust anchors no longer hold",
        ("P13",),
    ),
    "UntrustedAuthor": Note(
        "WrongSigner",
        "an author manifest signed by an Author key the device does not trust "
        "(the TAM signed the device envelope around it)",
        ("P5",),
    ),
    "TamKeyAsAuthor": Note(
        "WrongSigner",
        "an author manifest signed by the TSK: trust anchors are per role",
        ("P5", "P12"),
    ),
    "TamperedAuthorSignature": Note(
        "SignatureMalleability",
        "one bit of the author manifest's signature flipped inside an otherwise valid Update",
        ("P5",),
    ),
    "WrongRecipient": Note(
        "RecipientBinding",
        "another device's Update delivered to this device (its DAK kid and UEID are the other's)",
        ("P4", "P12", "P1"),
    ),
    "AuthorOfAnotherTa": Note(
        "RecipientBinding",
        "a device manifest for one TA carrying the (valid, correctly named) author manifest of "
        "another TA",
        ("P4", "P5"),
    ),
    "BootInDelivery": Note(
        "ModifiedInput",
        "a TSK-signed device manifest with suit-invoke or directive-try-each: the SUIT "
        "processor runs them, an edbp delivery refuses them (protocol.md section 5.1)",
        ("P10",),
    ),
    "TwoRecipients": Note(
        "RecipientBinding",
        "an encryption info with more than one recipient (protocol.md section 14 item 8)",
        ("P4",),
    ),
    "WrongClass": Note(
        "RecipientBinding",
        "a package for another device class, re-wrapped to this device",
        ("P4", "P12"),
    ),
    "WrongVendor": Note(
        "RecipientBinding", "a package for another vendor, re-wrapped to this device", ("P4", "P5")
    ),
    "Rollback": Note("Rollback", "a sequence number below the component's floor", ("P7",)),
    "EqualSequence": Note(
        "Rollback", "a sequence number equal to the floor (must be strictly above)", ("P7",)
    ),
    "RollbackAfterUninstall": Note(
        "Rollback", "an older version after the component was uninstalled (floors kept)", ("P7",)
    ),
    "Replay": Note("Replay", "an Update delivered again after it was installed", ("P6",)),
    "OtherDeviceUninstall": Note(
        "ModifiedInput",
        "the uninstall the TAM made for another device, relayed after that device's QueryRequest "
        "(protocol.md 9 [P-9.10d])",
        ("P4",),
    ),
    "StaleUninstall": Note(
        "Replay",
        "an old uninstall, echoing the nonce of an exchange reopened by its old QueryRequest "
        "after a newer version was installed: it names another install (protocol.md 9 "
        "[P-9.10c])",
        ("P6", "P7"),
    ),
    "MissingAgentNonce": Note(
        "Replay",
        "an Update without edbp-agent-nonce: nothing tells it from an Update of an earlier "
        "exchange of the same token (protocol.md 8.3.1, 9 [P-9.7c])",
        ("P6",),
    ),
    "ReplayedQueryRequest": Note(
        "Replay",
        "an Update withheld from an exchange, delivered after the exchange's QueryRequest was "
        "replayed: it echoes the first exchange's Agent nonce, not the one the reopened "
        "exchange drew (protocol.md 8.3.1, 9 [P-9.7c])",
        ("P6",),
    ),
    "StaleChallenge": Note(
        "Replay", "an Update bound to an earlier challenge than the open one", ("P6", "P3")
    ),
    "NoChallenge": Note(
        "Replay", "an Update with no QueryRequest before it (no fresh evidence)", ("P3", "P6")
    ),
    "TamperedPayload": Note(
        "ModifiedInput",
        "one ciphertext bit flipped by the registry/REE: refused before decryption",
        ("P9", "P10"),
    ),
    "TruncatedPayload": Note(
        "ModifiedInput",
        "the ciphertext without its last byte: refused before decryption",
        ("P9", "P10"),
    ),
    "SwappedPayload": Note(
        "ModifiedInput", "another package's ciphertext at the manifest's URI", ("P9", "P5")
    ),
    "FetchFailed": Note(
        "FailClosed",
        "the REE cannot fetch the payload: error, CEK erased, nothing installed",
        ("P10",),
    ),
    "FailedUpgradeKeepsOld": Note(
        "FailClosed",
        "a refused upgrade leaves the installed version and its floor as they were",
        ("P10",),
    ),
    "ClassKeyRecipient": Note(
        "KeyExposure",
        "a delivery usable only with the class key on the device (the TAM forwarded "
        "the author's A256KW layer)",
        ("P2", "P8", "P12"),
    ),
    "PlaintextPayload": Note(
        "KeyExposure", "plaintext served through the REE where ciphertext belongs", ("P8", "P9")
    ),
    "WeakChallenge": Note(
        "Replay",
        "a QueryRequest whose challenge cannot make evidence fresh (too short, absent, "
        "or another freshness mechanism)",
        ("P3", "P6"),
    ),
    "UnsupportedVersion": Note("FailClosed", "no TEEP version in common", ("P10",)),
    "MalformedMessage": Note("FailClosed", "bytes that are not CBOR at all", ("P10",)),
    "UnexpectedMessage": Note(
        "FailClosed",
        "a well-signed TEEP message the Agent never receives (QueryResponse)",
        ("P10",),
    ),
}


@attrs.define
class Ctx:
    """One suite's kit and the tests made for it."""

    kit: Kit
    tests: list[TestCase] = attrs.field(factory=list)

    @property
    def suite(self) -> Suite:
        return self.kit.suite

    def add(
        self,
        name: str,
        result: str,
        comment: str,
        flags: tuple[str, ...],
        steps: list[Step],
        device: dict[str, Any],
        intermediates: dict[str, Any] | None = None,
    ) -> None:
        props = sorted({p for f in flags for p in NOTES[f].properties}, key=lambda p: int(p[1:]))
        self.tests.append(
            TestCase(
                tc_id=f"deploy.{self.suite.name}.{result}.{name}",
                comment=comment,
                result=result,
                steps=tuple(steps),
                flags=flags,
                properties=tuple(props),
                intermediates=intermediates or {},
                device=device,
            )
        )


# ------------------------------------------------------------------------------ byte mutations


def _parts(data: bytes) -> tuple[bytes, dict[Any, Any], bytes, bytes]:
    obj = cbor.loads(data)
    prot, unprot, payload, sig = obj.value
    return prot, unprot, payload, sig


def flip_signature(data: bytes) -> bytes:
    prot, unprot, payload, sig = _parts(data)
    return cbor.dumps(cbor.Tag(18, [prot, unprot, payload, sig[:-1] + bytes([sig[-1] ^ 1])]))


def change_tag(data: bytes) -> bytes:
    return cbor.dumps(cbor.Tag(98, list(_parts(data))))


def non_canonical(data: bytes) -> bytes:
    assert data[0] == 0xD2
    return b"\xd8\x12" + data[1:]


def duplicate_key(data: bytes) -> bytes:
    prot, _unprot, payload, sig = _parts(data)
    dup = bytes.fromhex("a20441010441 01".replace(" ", ""))
    return b"\xd2\x84" + cbor.dumps(prot) + dup + cbor.dumps(payload) + cbor.dumps(sig)


def resign(
    data: bytes, key: Any, alg: Alg, protected: dict[int, Any] | None = None, kid: bool = False
) -> bytes:
    """The same payload signed by ``key`` (with its ``kid`` when asked: a verifier selecting
    among trust anchors by kid then knows the signer is none of them)."""
    _, _, payload, _ = _parts(data)
    unprotected = {4: key.thumbprint()} if kid else None
    return sign1(payload, key, alg, protected=protected, unprotected=unprotected).encode()


def alg_downgrade(data: bytes) -> bytes:
    _, unprot, payload, sig = _parts(data)
    return cbor.dumps(cbor.Tag(18, [cbor.dumps({1: int(Alg.A128GCM)}), unprot, payload, sig]))


def flip_author_signature(update: bytes, tsk: Any, alg: Alg) -> bytes:
    """Flip a bit of the author manifest's signature inside the device envelope, keep the
    TAM's signatures valid (the device envelope binds the author manifest's digest only)."""
    msg = teep.peek(update)
    assert isinstance(msg, teep.Update) and msg.manifest_list
    env = cbor.loads(msg.manifest_list[0])
    env_map = env.value if isinstance(env, cbor.Tag) else env
    author = cbor.loads(env_map["#author"])
    author_map = author.value if isinstance(author, cbor.Tag) else author
    auth = cbor.loads(author_map[2])
    auth[1] = flip_signature(auth[1])
    author_map[2] = cbor.dumps(auth)
    env_map["#author"] = cbor.dumps(author)
    new = attrs.evolve(msg, manifest_list=(cbor.dumps(env),))
    return teep.sign(new, tsk, alg)


# ------------------------------------------------------------------------------ scenarios


def _as_listed(envelope: bytes) -> bytes:
    """A device envelope as the TAM lists it in an Update (untagged, as TEEP says)."""
    try:
        from edbp.reference.wire.suit_envelope import untagged_envelope
    except ImportError:  # an older wire layer lists the tagged envelope
        return envelope
    return untagged_envelope(envelope)


def _floors(seq: int | None) -> dict[tuple[bytes, ...], int]:
    return {} if seq is None else {COMPONENT: seq}


def _intermediates(
    kit: Kit, handle: DeviceHandle, update: bytes, published: Any, messages: dict[str, bytes]
) -> dict[str, Any]:
    """cose-wg style intermediates of one delivery: ToBeSigned of each TEEP message, the
    ECDH-ES recipient's KDF context, Z, KEK, the CEK, the content Enc_structure, digests.
    For a live device (its DAK private half stays on it) only what the vault and the messages
    give: the ToBeSigned, the CEK and the plaintext (what the replay scans frames for)."""
    if isinstance(handle.keys, PublicDeviceKeys):
        return {
            **{
                name + "ToBeSigned": Sign1.decode(data).to_be_signed().hex()
                for name, data in messages.items()
            },
            "cek": kit.cek(published).hex(),
            "plaintext": image_for(published.package.sequence).hex(),
        }
    msg = teep.peek(update)
    assert isinstance(msg, teep.Update) and msg.manifest_list
    anchors = TrustAnchors(tam=[kit.tsk.public()], author=[kit.ask.public()])
    plan = verify_update(
        msg.manifest_list, DeviceIdentity(handle.ueid, handle.vendor_id, handle.class_id), anchors
    )
    trace = Trace()
    cek = plan.encryption.unwrap_cek(
        handle.keys.agreement_key(),
        algorithms={Alg.A128GCM, Alg.A128CTR},
        recipient_algorithms={Alg.ECDH_ES_A128KW},
        allow_unauthenticated=True,
        supp_pub_other=SUIT_KDF_OTHER,
        trace=trace,
    )
    rec = trace.recipients[0]
    out: dict[str, Any] = {
        name + "ToBeSigned": Sign1.decode(data).to_be_signed().hex()
        for name, data in messages.items()
    }
    out.update(
        {
            "kdfContext": (rec.kdf_context or b"").hex(),
            "sharedSecret": (rec.shared_secret or b"").hex(),
            "kek": (rec.kek or b"").hex(),
            "wrappedCekDevice": plan.encryption.recipients[0].ciphertext.hex(),
            "cek": cek.hex(),
        }
    )
    out.update(package_intermediates(kit, published, plan))
    return out


def package_intermediates(kit: Kit, published: Any, plan: Any) -> dict[str, Any]:
    """What every suite's delivery shares once the CEK is out: the class-key wrap, the content
    layer and the digests, in the order the vector files list them."""
    package = published.package
    return {
        "classKey": kit.vault.class_key(
            package.wrapped_cek.key_id, package.wrapped_cek.version
        ).hex(),
        "wrappedCekClass": package.wrapped_cek.wrapped.hex(),
        "contentAlg": int(package.content_alg),
        "iv": package.iv.hex(),
        "encStructure": enc_structure("Encrypt", package.content_protected, b"").hex(),
        "ciphertextSha256": package.ciphertext_digest.digest.hex(),
        "plaintextSha256": package.image_digest.digest.hex(),
        "plaintext": image_for(package.sequence).hex(),
        "authorManifestSha256": package.manifest_digest.digest.hex(),
        "deviceManifestSha256": plan.tam_digest.digest.hex(),
    }


def honest(c: Ctx) -> None:
    kit = c.kit
    dev = kit.device("device-a")
    pub = kit.publish(3)
    state = dev.state(kit)
    target = kit.target(state)
    qr, resp, upd = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert upd is not None
    uri, payload = kit.payload(pub)
    replies = deliver(target, upd, {uri: payload})
    kit.tam.receive(replies[0])
    inter = _intermediates(
        kit,
        dev,
        upd,
        pub,
        {"queryRequest": qr, "queryResponse": resp, "update": upd, "success": replies[0]},
    )
    c.add(
        "honest-install",
        "valid",
        "the honest Deploy trace: sequence 3 on a factory-fresh device",
        ("HonestDeploy",),
        [
            deliver_step(qr, ok("QueryResponse"), state_after=state_after("QUERIED")),
            deliver_step(upd, ok("Success"), {uri: payload}, state_after("IDLE", {COMPONENT: 3})),
        ],
        state,
        inter,
    )

    # attacker moves on the same delivery
    def one(
        name: str,
        result: str,
        comment: str,
        flags: tuple[str, ...],
        bad: bytes,
        code: Code,
        payloads: dict[str, bytes] | None = None,
        floors: int | None = None,
    ) -> None:
        c.add(
            name,
            result,
            comment,
            flags,
            [
                deliver_step(qr, ok("QueryResponse")),
                deliver_step(
                    bad,
                    refused(code),
                    payloads,
                    state_after("IDLE", floors=_floors(floors)),
                    rule=AUTO if bad == upd else None,
                ),
            ],
            dev.state(kit, _floors(floors)),
            {"cek": inter["cek"], "plaintext": inter["plaintext"]},
        )

    pay = {uri: payload}
    one(
        "update-without-agent-nonce",
        "invalid",
        "the honest Update without edbp-agent-nonce (option 258), re-signed by the TSK",
        ("MissingAgentNonce",),
        teep.sign(attrs.evolve(teep.peek(upd), agent_nonce=None), kit.tsk, c.suite.sig_alg),
        Code.TEEP_MALFORMED,
        pay,
    )
    one(
        "update-signature-flipped",
        "invalid",
        "Update with one bit of the TSK signature flipped",
        ("ChangeSignature",),
        flip_signature(upd),
        Code.TEEP_BAD_SIGNATURE,
        pay,
    )
    one(
        "update-tag-changed",
        "invalid",
        "Update as COSE_Sign (tag 98) instead of COSE_Sign1",
        ("ChangeTag",),
        change_tag(upd),
        Code.COSE_WRONG_TAG,
        pay,
    )
    # protocol §5 (issue 15): a non-shortest head outside the signed bytes is accepted and
    # the Update processed; it replaces the withdrawn invalid.update-non-canonical
    c.add(
        "update-non-canonical",
        "acceptable",
        "Update with its tag encoded in two bytes (d8 12): accepted on receive, installed",
        ("NonCanonicalCBOR",),
        [
            deliver_step(qr, ok("QueryResponse")),
            deliver_step(
                non_canonical(upd), ok("Success"), pay, state_after("IDLE", {COMPONENT: 3})
            ),
        ],
        dev.state(kit, _floors(None)),
        {"cek": inter["cek"], "plaintext": inter["plaintext"]},
    )
    one(
        "update-duplicate-key",
        "invalid",
        "Update whose unprotected map repeats label 4",
        ("DuplicateMapKey",),
        duplicate_key(upd),
        Code.CBOR_DUPLICATE_KEY,
        pay,
    )
    one(
        "update-unknown-critical",
        "invalid",
        "Update re-signed by the TSK with crit [99]",
        ("UnknownCriticalHeader",),
        resign(upd, kit.tsk, c.suite.sig_alg, {1: int(c.suite.sig_alg), 2: [99], 99: 0}),
        Code.COSE_UNKNOWN_CRITICAL_HEADER,
        pay,
    )
    one(
        "update-alg-a128gcm",
        "invalid",
        "Update whose protected alg says A128GCM",
        ("AlgDowngrade",),
        alg_downgrade(upd),
        Code.COSE_ALG_NOT_ALLOWED,
        pay,
    )
    one(
        "update-rogue-tam",
        "invalid",
        "the Update re-signed by a TAM key the device does not trust",
        ("UntrustedTam",),
        resign(upd, kit.rogue_tsk, c.suite.sig_alg),
        Code.TEEP_BAD_SIGNATURE,
        pay,
    )
    one(
        "update-rogue-tam-kid",
        "invalid",
        "the Update re-signed by an untrusted TAM key, naming it by kid",
        ("UntrustedTam",),
        resign(upd, kit.rogue_tsk, c.suite.sig_alg, kid=True),
        Code.AGENT_UNTRUSTED_SIGNER,
        pay,
    )
    one(
        "update-author-signature-flipped",
        "invalid",
        "the author manifest's signature flipped inside a TSK-signed Update",
        ("TamperedAuthorSignature",),
        flip_author_signature(upd, kit.tsk, c.suite.sig_alg),
        Code.SUIT_AUTH_FAILED,
        pay,
    )
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 1
    one(
        "payload-bit-flipped",
        "invalid",
        "one ciphertext bit flipped in the registry",
        ("TamperedPayload",),
        upd,
        Code.AGENT_PAYLOAD_MISMATCH,
        {uri: bytes(flipped)},
    )
    one(
        "payload-truncated",
        "invalid",
        "the ciphertext without its last byte",
        ("TruncatedPayload",),
        upd,
        Code.AGENT_PAYLOAD_MISMATCH,
        {uri: payload[:-1]},
    )
    other = kit.publish(4, label="-other", add_to=())
    _, other_payload = kit.payload(other)
    one(
        "payload-swapped",
        "invalid",
        "another package's ciphertext served at this URI",
        ("SwappedPayload",),
        upd,
        Code.AGENT_PAYLOAD_MISMATCH,
        {uri: other_payload},
    )
    one(
        "payload-fetch-failed",
        "invalid",
        "the Broker cannot fetch the payload",
        ("FetchFailed",),
        upd,
        Code.AGENT_PAYLOAD_FETCH_FAILED,
        None,
    )
    one(
        "update-equal-sequence",
        "invalid",
        "sequence 3 on a device whose floor is 3",
        ("EqualSequence",),
        upd,
        Code.AGENT_ROLLBACK,
        pay,
        floors=3,
    )
    one(
        "update-rollback",
        "invalid",
        "sequence 3 on a device whose floor is 5",
        ("Rollback",),
        upd,
        Code.AGENT_ROLLBACK,
        pay,
        floors=5,
    )
    one(
        "update-query-response-injected",
        "invalid",
        "a QueryResponse (a message only a device sends) where the Update belongs",
        ("UnexpectedMessage",),
        resign(resp, kit.tsk, c.suite.sig_alg),
        Code.AGENT_UNEXPECTED_MESSAGE,
    )
    one(
        "update-not-cbor",
        "invalid",
        "bytes that are not a CBOR data item",
        ("MalformedMessage",),
        b"\xff\x00edbp",
        Code.CBOR_MALFORMED,
    )

    # broken QueryRequests (re-signed by the TSK: only the negotiation is wrong)
    request = teep.peek(qr)
    for name, flag, change, code, comment in (
        (
            "query-challenge-4-bytes",
            "WeakChallenge",
            {"challenge": b"edbp"},
            Code.TEEP_MALFORMED,
            "a 4-byte challenge (8..64 required)",
        ),
        (
            "query-no-challenge",
            "WeakChallenge",
            {"challenge": None},
            Code.TEEP_MALFORMED,
            "no challenge at all",
        ),
        (
            "query-es256-only",
            "AlgDowngrade",
            {"supported_cipher_suites": (((18, -7),),)},
            Code.TEEP_UNSUPPORTED_CIPHER_SUITE,
            "only the cipher suite [[18, -7]] offered",
        ),
        (
            "query-version-5",
            "UnsupportedVersion",
            {"versions": (5,)},
            Code.TEEP_UNSUPPORTED_VERSION,
            "only TEEP version 5 offered",
        ),
        (
            "query-freshness-timestamp-only",
            "WeakChallenge",
            {"freshness_mechanisms": (int(teep.Freshness.TIMESTAMP),)},
            Code.TEEP_UNSUPPORTED_FRESHNESS,
            "only TEEP's TIMESTAMP freshness (1) offered; edbp requires nonces (0)",
        ),
    ):
        bad_qr = teep.sign(attrs.evolve(request, **change), kit.tsk, c.suite.sig_alg)
        c.add(
            name,
            "invalid",
            comment,
            (flag,),
            [
                deliver_step(bad_qr, refused(code), None, state_after("IDLE"), rule=None),
            ],
            dev.state(kit),
        )

    # an offer of nonce and timestamp: the Agent picks nonces (spec/protocol.md section 7)
    both_qr = teep.sign(
        attrs.evolve(request, freshness_mechanisms=(0, int(teep.Freshness.TIMESTAMP))),
        kit.tsk,
        c.suite.sig_alg,
    )
    c.add(
        "query-freshness-nonce-and-timestamp",
        "valid",
        "a QueryRequest offering nonce (0) and TIMESTAMP (1): answered with nonce evidence",
        ("HonestDeploy",),
        [deliver_step(both_qr, ok("QueryResponse"), None, state_after("QUERIED"), rule=None)],
        dev.state(kit),
    )

    # item 1 of issue 13: the Update's SUIT COSE profile must be one the QueryRequest offered
    other_profile = (
        (-16, -9, -29, -65534) if c.suite.profile == (-16, -9, -29, 1) else (-16, -9, -29, 1)
    )
    narrow_qr = teep.sign(
        attrs.evolve(request, supported_suit_cose_profiles=(other_profile,)),
        kit.tsk,
        c.suite.sig_alg,
    )
    c.add(
        "update-profile-not-offered",
        "invalid",
        f"the QueryRequest offered only {list(other_profile)}; the honest Update uses "
        f"{list(c.suite.profile)}",
        ("AlgDowngrade",),
        [
            deliver_step(narrow_qr, ok("QueryResponse")),
            deliver_step(
                upd, refused(Code.SUIT_UNSUPPORTED_PROFILE), pay, state_after("IDLE"), rule=AUTO
            ),
        ],
        dev.state(kit),
        {"cek": inter["cek"], "plaintext": inter["plaintext"]},
    )
    # item 7: one kind of Update per message (spec/protocol.md section 7, section 14 item 17)
    update_msg = teep.peek(upd)
    assert isinstance(update_msg, teep.Update)
    both_lists = teep.sign(
        attrs.evolve(update_msg, unneeded_manifest_list=(COMPONENT,)), kit.tsk, c.suite.sig_alg
    )
    one(
        "update-both-lists",
        "invalid",
        "an Update carrying manifest-list and unneeded-manifest-list (edbp requires one)",
        ("MalformedMessage",),
        both_lists,
        Code.TEEP_MALFORMED,
        pay,
    )

    # replay after install, and an Update with no challenge at all
    c.add(
        "update-replayed-after-install",
        "invalid",
        "the installed Update delivered again (no open challenge any more)",
        ("Replay",),
        [
            deliver_step(qr, ok("QueryResponse")),
            deliver_step(upd, ok("Success"), pay),
            deliver_step(upd, refused(Code.AGENT_REPLAY), pay, state_after("IDLE", {COMPONENT: 3})),
        ],
        state,
        {"cek": inter["cek"]},
    )
    c.add(
        "update-without-query",
        "invalid",
        "an honest Update delivered to a device that never sent evidence for it",
        ("NoChallenge",),
        [
            deliver_step(upd, refused(Code.AGENT_REPLAY), pay, state_after("IDLE")),
        ],
        state,
        {"cek": inter["cek"]},
    )


def stale_challenge(c: Ctx) -> None:
    kit = c.kit
    dev = kit.device("device-a")
    state = dev.state(kit)
    target = kit.target(state)
    qr1, _, upd1 = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    qr2 = kit.tam.begin(dev.ueid, Intent(package=(TA_UUID, 3))).send
    assert upd1 is not None and qr2 is not None
    c.add(
        "update-stale-challenge",
        "invalid",
        "a second QueryRequest replaced the challenge; the Update bound to the first arrives",
        ("StaleChallenge",),
        [
            deliver_step(qr1, ok("QueryResponse")),
            deliver_step(qr2, ok("QueryResponse")),
            deliver_step(upd1, refused(Code.AGENT_REPLAY), None, state_after("IDLE")),
        ],
        state,
    )


def upgrade_and_failure(c: Ctx) -> None:
    kit = c.kit
    dev = kit.device("device-b")
    p5 = kit.publish(5)
    state = dev.state(kit, _floors(None))
    target = kit.target(state)
    # install 3 first
    qr_a, _, upd_a = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert upd_a is not None
    pub3 = _published(kit, 3)
    uri3, pay3 = kit.payload(pub3)
    kit.tam.receive(deliver(target, upd_a, {uri3: pay3})[0])
    qr_b, _, upd_b = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 5)))
    assert upd_b is not None
    uri5, pay5 = kit.payload(p5)
    bad5 = bytearray(pay5)
    bad5[0] ^= 0x80
    c.add(
        "upgrade-3-to-5",
        "valid",
        "sequence 3 installed, then sequence 5",
        ("Upgrade",),
        [
            deliver_step(qr_a, ok("QueryResponse")),
            deliver_step(upd_a, ok("Success"), {uri3: pay3}, state_after("IDLE", {COMPONENT: 3})),
            deliver_step(qr_b, ok("QueryResponse")),
            deliver_step(upd_b, ok("Success"), {uri5: pay5}, state_after("IDLE", {COMPONENT: 5})),
        ],
        state,
    )
    c.add(
        "upgrade-tampered-keeps-old",
        "invalid",
        "sequence 3 installed; the upgrade to 5 arrives with a tampered payload",
        ("FailedUpgradeKeepsOld",),
        [
            deliver_step(qr_a, ok("QueryResponse")),
            deliver_step(upd_a, ok("Success"), {uri3: pay3}),
            deliver_step(qr_b, ok("QueryResponse")),
            deliver_step(
                upd_b,
                refused(Code.AGENT_PAYLOAD_MISMATCH),
                {uri5: bytes(bad5)},
                state_after("IDLE", {COMPONENT: 3}),
            ),
        ],
        state,
    )
    # retry: after the refusal, a fresh exchange for 5 installs it
    target2 = kit.target(state)
    deliver(target2, qr_a)
    deliver(target2, upd_a, {uri3: pay3})
    deliver(target2, qr_b)
    deliver(target2, upd_b, {uri5: bytes(bad5)})
    qr_c, _, upd_c = open_session(kit, kit.tam, dev, target2, Intent(package=(TA_UUID, 5)))
    assert upd_c is not None
    c.add(
        "retry-after-error",
        "valid",
        "a refused upgrade, then a fresh exchange for the same version installs it",
        ("RetryAfterError",),
        [
            deliver_step(qr_a, ok("QueryResponse")),
            deliver_step(upd_a, ok("Success"), {uri3: pay3}),
            deliver_step(qr_b, ok("QueryResponse")),
            deliver_step(upd_b, refused(Code.AGENT_PAYLOAD_MISMATCH), {uri5: bytes(bad5)}),
            deliver_step(qr_c, ok("QueryResponse")),
            deliver_step(upd_c, ok("Success"), {uri5: pay5}, state_after("IDLE", {COMPONENT: 5})),
        ],
        state,
    )


def _published(kit: Kit, seq: int) -> Any:
    return kit.honest_package(seq)


def recipients(c: Ctx) -> None:
    """P4/P12: two devices; each one's Update is useless to the other."""
    kit = c.kit
    a, b = kit.device("device-a"), kit.device("device-c")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    sa, sb = a.state(kit), b.state(kit)
    ta, tb = kit.target(sa), kit.target(sb)
    qa, _, ua = open_session(kit, kit.tam, a, ta, Intent(package=(TA_UUID, 3)))
    qb, _, ub = open_session(kit, kit.tam, b, tb, Intent(package=(TA_UUID, 3)))
    assert ua is not None and ub is not None
    c.add(
        "device-c-own-delivery",
        "valid",
        "a second device installs the delivery made for it",
        ("TwoDevices",),
        [
            deliver_step(qb, ok("QueryResponse")),
            deliver_step(ub, ok("Success"), {uri: pay}, state_after("IDLE", {COMPONENT: 3})),
        ],
        sb,
    )
    c.add(
        "update-for-other-device",
        "invalid",
        "device A's Update (its DAK, its UEID, its token) delivered to device C in C's session",
        ("WrongRecipient",),
        [
            deliver_step(qb, ok("QueryResponse")),
            deliver_step(
                ua, refused(Code.AGENT_NOT_FOR_THIS_DEVICE), {uri: pay}, state_after("IDLE")
            ),
        ],
        sb,
        {"cek": kit.cek(pub).hex()},
    )
    del qa
    # a package of another class / vendor, re-wrapped to this device by a faulty TAM
    for name, flag, pkg, code, comment in (
        (
            "package-other-class",
            "WrongClass",
            kit.publish(3, class_id=bytes(16), label="-class", add_to=()),
            Code.SUIT_CONDITION_CLASS,
            "a package published for another device class",
        ),
        (
            "package-other-vendor",
            "WrongVendor",
            kit.publish(3, vendor_id=vendor_id_for("other.example"), label="-vendor", add_to=()),
            Code.SUIT_CONDITION_VENDOR,
            "a package published for another vendor",
        ),
        (
            "package-rogue-author",
            "UntrustedAuthor",
            kit.publish(3, rogue=True, label="-rogue"),
            Code.SUIT_AUTH_FAILED,
            "an author manifest signed by an Author key the device does not trust",
        ),
        (
            "package-tam-as-author",
            "TamKeyAsAuthor",
            kit.publish(3, rogue="tam", label="-tam"),
            Code.SUIT_AUTH_FAILED,
            "an author manifest signed by the TAM's key (trusted for the other role)",
        ),
    ):
        qr = kit.tam.begin(b.ueid, Intent(package=(TA_UUID, 3))).send
        assert qr is not None
        token = teep.peek(qr).token
        record = kit.tam.registry.get(b.ueid)
        from edbp.reference.build.package import read_author_envelope

        package = read_author_envelope(
            pkg.envelope, [kit.ask.public(), kit.rogue_ask.public(), kit.tsk.public()]
        )
        delivery = build_delivery(
            package, record, kit.vault, kit.tsk, c.suite.sig_alg, kit.rng.fork(f"faulty/{name}")
        )
        upd = teep.sign(
            teep.Update(
                token=token,
                manifest_list=(_as_listed(delivery.envelope),),
                agent_nonce=kit.nonce_for(b, qr),
            ),
            kit.tsk,
            c.suite.sig_alg,
        )
        puri, ppay = kit.payload(pkg)
        c.add(
            name,
            "invalid",
            comment + ", re-wrapped to this device and signed by its TAM",
            (flag,),
            [
                deliver_step(qr, ok("QueryResponse")),
                deliver_step(upd, refused(code), {puri: ppay}, state_after("IDLE")),
            ],
            sb,
        )


def lifecycle(c: Ctx) -> None:
    """uninstall (floors kept, rollback after it refused) and TAM key rotation (P13)."""
    kit = c.kit
    dev = kit.device("device-d")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    state = dev.state(kit)
    target = kit.target(state)
    qr1, _, up1 = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert up1 is not None
    kit.tam.receive(deliver(target, up1, {uri: pay})[0])
    qr2, _, un = open_session(kit, kit.tam, dev, target, Intent(uninstall=COMPONENT))
    assert un is not None
    kit.tam.receive(deliver(target, un)[0])
    # the TAM then offers sequence 3 again (an attacker replaying the old Update cannot, it has
    # no session; a confused TAM can): the device's floor refuses it
    qr3, _, up3 = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert up3 is not None
    install = [deliver_step(qr1, ok("QueryResponse")), deliver_step(up1, ok("Success"), {uri: pay})]
    c.add(
        "uninstall-keeps-floor",
        "valid",
        "install 3, then uninstall: component gone, floor 3 kept",
        ("Uninstall",),
        [
            *install,
            deliver_step(qr2, ok("QueryResponse")),
            deliver_step(un, ok("Success"), None, state_after("IDLE", floors={COMPONENT: 3})),
        ],
        state,
    )
    c.add(
        "reinstall-after-uninstall",
        "invalid",
        "after uninstall, sequence 3 again: refused by the kept floor",
        ("RollbackAfterUninstall",),
        [
            *install,
            deliver_step(qr2, ok("QueryResponse")),
            deliver_step(un, ok("Success")),
            deliver_step(qr3, ok("QueryResponse")),
            deliver_step(
                up3,
                refused(Code.AGENT_ROLLBACK),
                {uri: pay},
                state_after("IDLE", floors={COMPONENT: 3}),
            ),
        ],
        state,
    )

    c.add(
        "uninstall-replayed",
        "invalid",
        "the uninstall Update delivered again after it was carried out (no open challenge)",
        ("Replay",),
        [
            *install,
            deliver_step(qr2, ok("QueryResponse")),
            deliver_step(un, ok("Success")),
            deliver_step(
                un, refused(Code.AGENT_REPLAY), None, state_after("IDLE", floors={COMPONENT: 3})
            ),
        ],
        state,
    )

    # issue 19: the TAM's QueryRequest and uninstall of sequence 3 captured, replayed after
    # sequence 5 was deployed (own TAM and device: the other vectors' sessions keep their bytes)
    tam_s = kit.new_tam(kit.tsk, "tam-stale-uninstall")
    dev_s = kit.device("device-f", tams=(tam_s,))
    pub5 = _published(kit, 5)
    uri5, pay5 = kit.payload(pub5)
    for p in (pub, pub5):
        tam_s.add_package(p.envelope)
    s_stale = dev_s.state(kit)
    t_stale = kit.target(s_stale)
    qs1, _, us1 = open_session(kit, tam_s, dev_s, t_stale, Intent(package=(TA_UUID, 3)))
    assert us1 is not None
    tam_s.receive(deliver(t_stale, us1, {uri: pay})[0])
    qs2, _, un_old = open_session(kit, tam_s, dev_s, t_stale, Intent(uninstall=COMPONENT))
    assert un_old is not None
    tam_s.receive(deliver(t_stale, un_old)[0])
    qs3, _, us3 = open_session(kit, tam_s, dev_s, t_stale, Intent(package=(TA_UUID, 5)))
    assert us3 is not None
    tam_s.receive(deliver(t_stale, us3, {uri5: pay5})[0])
    history = [
        deliver_step(qs1, ok("QueryResponse")),
        deliver_step(us1, ok("Success"), {uri: pay}),
        deliver_step(qs2, ok("QueryResponse")),
        deliver_step(un_old, ok("Success")),
        deliver_step(qs3, ok("QueryResponse")),
        deliver_step(us3, ok("Success"), {uri5: pay5}),
        deliver_step(qs2, ok("QueryResponse")),
    ]
    kept = state_after("IDLE", {COMPONENT: 5}, floors={COMPONENT: 5})
    # issue 19 (Agent nonce): the replayed QueryRequest drew a fresh nonce, the old uninstall
    # echoes the one of its own exchange (P-9.7c refuses it before P-9.10c is reached)
    c.add(
        "uninstall-stale-replayed",
        "invalid",
        "install 3, uninstall it, install 5; then the old QueryRequest and uninstall replayed: "
        "the uninstall echoes the first exchange's Agent nonce (TEEP_AGENT_NONCE_MISMATCH)",
        ("ReplayedQueryRequest",),
        [*history, deliver_step(un_old, refused(Code.TEEP_AGENT_NONCE_MISMATCH), None, kept)],
        s_stale,
    )
    # defence in depth: the same removal echoing the reopened exchange's nonce (a TSK-signed
    # uninstall no honest TAM sends) still names sequence 3, not the installed 5
    reopened = teep.peek(deliver(t_stale, qs2)[0]).agent_nonce
    stale = teep.sign(
        attrs.evolve(teep.peek(un_old), agent_nonce=reopened), kit.tsk, c.suite.sig_alg
    )
    c.add(
        "uninstall-stale",
        "invalid",
        "install 3, uninstall it, install 5; then the old QueryRequest replayed and an uninstall "
        "echoing the reopened exchange's nonce but naming sequence 3, not the installed 5 "
        "(SUIT_UNINSTALL_STALE)",
        ("StaleUninstall",),
        [*history, deliver_step(stale, refused(Code.SUIT_UNINSTALL_STALE), None, kept)],
        s_stale,
    )

    # issue 19: device g's QueryRequest relayed to device h, then the uninstall the TAM made
    # for g handed to h, which holds the same sequence (own TAM and devices, as above)
    tam_o = kit.new_tam(kit.tsk, "tam-other-device-uninstall")
    dev_g = kit.device("device-g", tams=(tam_o,))
    dev_h = kit.device("device-h", tams=(tam_o,))
    tam_o.add_package(pub.envelope)
    s_g, s_h = dev_g.state(kit), dev_h.state(kit)
    t_g, t_h = kit.target(s_g), kit.target(s_h)
    for handle, tgt in ((dev_g, t_g), (dev_h, t_h)):
        _, _, up = open_session(kit, tam_o, handle, tgt, Intent(package=(TA_UUID, 3)))
        assert up is not None
        tam_o.receive(deliver(tgt, up, {uri: pay})[0])
    t_h2 = kit.target(s_h)
    qh, _, uh = open_session(kit, tam_o, dev_h, t_h2, Intent(package=(TA_UUID, 3)))
    qg, _, un_g = open_session(kit, tam_o, dev_g, t_g, Intent(uninstall=COMPONENT))
    assert uh is not None and un_g is not None
    tam_o.receive(deliver(t_h2, uh, {uri: pay})[0])
    relayed = [
        deliver_step(qh, ok("QueryResponse")),
        deliver_step(uh, ok("Success"), {uri: pay}),
        deliver_step(qg, ok("QueryResponse")),
    ]
    held = state_after("IDLE", {COMPONENT: 3}, floors={COMPONENT: 3})
    c.add(
        "uninstall-other-device",
        "invalid",
        "install 3; then another device's QueryRequest relayed here and the uninstall the TAM "
        "made for that device, same component and sequence: it echoes the other device's Agent "
        "nonce, not the one this device drew (TEEP_AGENT_NONCE_MISMATCH)",
        ("ReplayedQueryRequest",),
        [*relayed, deliver_step(un_g, refused(Code.TEEP_AGENT_NONCE_MISMATCH), None, held)],
        s_h,
    )
    # defence in depth: the other device's uninstall echoing this device's nonce (no honest
    # TAM sends it) still names the other UEID
    own = teep.peek(deliver(t_h2, qg)[0]).agent_nonce
    foreign = teep.sign(attrs.evolve(teep.peek(un_g), agent_nonce=own), kit.tsk, c.suite.sig_alg)
    c.add(
        "uninstall-other-device-own-nonce",
        "invalid",
        "install 3; then another device's QueryRequest relayed here and the uninstall the TAM "
        "made for that device, echoing this device's nonce: it names the other UEID "
        "(AGENT_NOT_FOR_THIS_DEVICE)",
        ("OtherDeviceUninstall",),
        [*relayed, deliver_step(foreign, refused(Code.AGENT_NOT_FOR_THIS_DEVICE), None, held)],
        s_h,
    )

    # issue 19 (P6(a)): session 1's QueryRequest captured and its Update withheld; the
    # QueryRequest replayed reopens an exchange with its token, and the withheld Update,
    # delivered in it, echoes the first exchange's Agent nonce (own TAM and device, as above)
    tam_r = kit.new_tam(kit.tsk, "tam-replayed-query")
    dev_r = kit.device("device-r", tams=(tam_r,))
    tam_r.add_package(pub.envelope)
    s_r = dev_r.state(kit)
    t_r = kit.target(s_r)
    q1, _, u1 = open_session(kit, tam_r, dev_r, t_r, Intent(package=(TA_UUID, 3)))
    assert u1 is not None
    c.add(
        "update-from-replayed-query",
        "invalid",
        "exchange 1's Update withheld, its QueryRequest replayed (exchange 2, a fresh Agent "
        "nonce), then the withheld Update delivered: TEEP_AGENT_NONCE_MISMATCH, nothing "
        "installed",
        ("ReplayedQueryRequest",),
        [
            deliver_step(q1, ok("QueryResponse")),
            deliver_step(q1, ok("QueryResponse")),
            deliver_step(
                u1, refused(Code.TEEP_AGENT_NONCE_MISMATCH), {uri: pay}, state_after("IDLE")
            ),
        ],
        s_r,
    )

    # TAM key rotation: the device now trusts only the rotated key
    tam2 = kit.new_tam(kit.tsk_rotated, "tam-rotated")
    dev2 = kit.device("device-e", tams=(kit.tam, tam2))
    tam2.add_package(pub.envelope)
    s_new = dev2.state(kit, tam_keys=[kit.tsk_rotated.public()])
    t_new = kit.target(s_new)
    qn, _, un2 = open_session(kit, tam2, dev2, t_new, Intent(package=(TA_UUID, 3)))
    assert un2 is not None
    old_qr = kit.tam.begin(dev2.ueid, Intent(package=(TA_UUID, 3))).send
    assert old_qr is not None
    c.add(
        "rotated-tam-key",
        "valid",
        "the device trusts only the TAM's rotated key; the new TAM deploys",
        ("TamKeyRotation",),
        [
            deliver_step(qn, ok("QueryResponse")),
            deliver_step(un2, ok("Success"), {uri: pay}, state_after("IDLE", {COMPONENT: 3})),
        ],
        s_new,
    )
    s_old = dev2.state(kit)
    rotate = Step("agent.provision", {"trustAnchors": s_new["trustAnchors"]}, {"result": "ok"})
    c.add(
        "revoked-tam-key",
        "invalid",
        "the TAM key rotated (anchors re-provisioned); a QueryRequest signed by the old key",
        ("RevokedTamKey",),
        [
            rotate,
            deliver_step(old_qr, refused(Code.TEEP_BAD_SIGNATURE), None, state_after("IDLE")),
        ],
        s_old,
    )
    c.add(
        "revoked-tam-key-kid",
        "invalid",
        "the same, the old TAM key named by kid",
        ("RevokedTamKey",),
        [
            rotate,
            deliver_step(
                resign(old_qr, kit.tsk, c.suite.sig_alg, kid=True),
                refused(Code.AGENT_UNTRUSTED_SIGNER),
                None,
                state_after("IDLE"),
                rule=None,
            ),
        ],
        s_old,
    )


def uninstall_sequence(c: Ctx) -> None:
    """SUIT uninstall (member 24): the installed manifest's suit-uninstall is run when the
    component is listed as unneeded (spec/protocol.md section 8.4 step 4); a variant whose
    class condition fails is refused with 307 and removes nothing."""
    kit = c.kit
    wrong_class = CommandSequence(
        [
            Command(int(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX), 0),
            Command(
                int(SuitCommand.DIRECTIVE_OVERRIDE_PARAMETERS), Parameters.of(class_id=bytes(16))
            ),
            Command(int(SuitCommand.CONDITION_CLASS_IDENTIFIER), 15),
            Command(int(SuitCommand.DIRECTIVE_UNLINK), 15),
        ]
    )
    for name, seq, sequence, expect, note, comment in (
        (
            "uninstall-sequence",
            6,
            UNINSTALL_UNLINK,
            ok("Success"),
            "UninstallSequence",
            "install 6 (its manifest unlinks the TA on uninstall), then uninstall: the "
            "sequence runs, the component goes, floor 6 kept",
        ),
        (
            "uninstall-sequence-condition",
            7,
            wrong_class,
            refused(Code.SUIT_CONDITION_CLASS),
            "UninstallSequenceCondition",
            "install 7 (its suit-uninstall checks another class id), then uninstall: refused "
            "with 307, the component stays",
        ),
    ):
        dev = kit.device(f"device-{name}")
        pub = kit.publish(seq, label=f"-{name}", uninstall=sequence)
        uri, pay = kit.payload(pub)
        state = dev.state(kit)
        target = kit.target(state)
        qr1, _, up1 = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, seq)))
        assert up1 is not None
        kit.tam.receive(deliver(target, up1, {uri: pay})[0])
        qr2, _, un = open_session(kit, kit.tam, dev, target, Intent(uninstall=COMPONENT))
        assert un is not None
        kept = {} if name == "uninstall-sequence" else {COMPONENT: seq}
        c.add(
            name,
            "valid" if name == "uninstall-sequence" else "invalid",
            comment,
            (note,),
            [
                deliver_step(qr1, ok("QueryResponse")),
                deliver_step(up1, ok("Success"), {uri: pay}),
                deliver_step(qr2, ok("QueryResponse")),
                deliver_step(un, expect, None, state_after("IDLE", kept, {COMPONENT: seq})),
            ],
            state,
        )


def class_layer_delivery(package: Any, device: Any, tsk: Any, alg: Alg) -> bytes:
    """A faulty TAM's device envelope: the author's class-key encryption info forwarded as is
    (A256KW under the class key) instead of the CEK re-wrapped to the device's DAK. Same
    layout as ``build_delivery`` otherwise; a device could use it only by holding the class key
    (P2) or by the CEK travelling another way (P8)."""
    from edbp.reference.build.author import _class_encryption_info, _content_headers
    from edbp.reference.cloud.delivery import AUTHOR_KEY, device_manifest
    from edbp.reference.wire.suit_crypto import sign_envelope

    enc_info = _class_encryption_info(
        _content_headers(package.content_alg, package.iv), package.wrapped_cek
    )
    manifest = device_manifest(package, device.ueid, enc_info)
    return sign_envelope(manifest, tsk, alg, integrated={AUTHOR_KEY: package.envelope}).encode()


def exposure(c: Ctx) -> None:
    """P2/P8: deliveries that would put the CEK where it must not be are refused."""
    kit = c.kit
    dev = kit.device("device-c")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    state = dev.state(kit)
    target = kit.target(state)
    qr = kit.tam.begin(dev.ueid, Intent(package=(TA_UUID, 3))).send
    assert qr is not None
    deliver(target, qr)
    token = teep.peek(qr).token
    record = kit.tam.registry.get(dev.ueid)
    env = class_layer_delivery(pub.package, record, kit.tsk, c.suite.sig_alg)
    upd = teep.sign(
        teep.Update(
            token=token, manifest_list=(_as_listed(env),), agent_nonce=kit.nonce_for(dev, qr)
        ),
        kit.tsk,
        c.suite.sig_alg,
    )
    c.add(
        "class-key-layer-forwarded",
        "invalid",
        "the device envelope carries the class-key (A256KW) recipient instead of one for the DAK",
        ("ClassKeyRecipient",),
        [
            deliver_step(qr, ok("QueryResponse")),
            deliver_step(
                upd,
                refused(Code.SUIT_UNSUPPORTED_PROFILE),
                {uri: pay},
                state_after("IDLE"),
                rule=None,
            ),
        ],
        state,
        {"cek": kit.cek(pub).hex()},
    )
    qr3, _, up3 = open_session(kit, kit.tam, dev, target, Intent(package=(TA_UUID, 3)))
    assert up3 is not None
    c.add(
        "plaintext-at-uri",
        "invalid",
        "the REE serves the plaintext image at the payload URI (an unencrypted package)",
        ("PlaintextPayload",),
        [
            deliver_step(qr3, ok("QueryResponse")),
            deliver_step(
                up3, refused(Code.AGENT_PAYLOAD_MISMATCH), {uri: image_for(3)}, state_after("IDLE")
            ),
        ],
        state,
    )


#: the TA UUID of the other TA in ``author_of_another_ta``
OTHER_TA_UUID = bytes.fromhex("6f746865722d74612d757569642d3031")


def author_of_another_ta(c: Ctx) -> None:
    """Issue 13 item 7, "same TA UUID" (protocol.md section 9 step 5): an author manifest
    correctly named for its own TA, inside a TSK-signed device manifest for another TA, is
    SUIT_CONDITION_COMPONENT (309), not SUIT_DEPENDENCY_FAILED (313)."""
    from edbp.reference.cloud.delivery import AUTHOR_KEY, device_encryption_info, device_manifest
    from edbp.reference.wire.suit_commands import EncryptionInfo
    from edbp.reference.wire.suit_crypto import sign_envelope

    kit = c.kit
    dev = kit.device("device-a")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    other = kit.author.publish(
        image_for(3, label="other-ta"),
        ta_uuid=OTHER_TA_UUID,
        sequence=3,
        vendor_id=kit.vendor_id,
        class_id=kit.class_id,
        class_key_id=kit.class_key_id(kit.class_id),
        repository="vectors/other-ta",
        content_alg=c.suite.content_alg,
    )
    qr = kit.tam.begin(dev.ueid, Intent(package=(TA_UUID, 3))).send
    assert qr is not None
    token = teep.peek(qr).token
    record = kit.tam.registry.get(dev.ueid)
    mixed = attrs.evolve(
        pub.package,
        envelope=other.package.envelope,
        manifest_digest=other.package.manifest_digest,
    )
    enc = device_encryption_info(mixed, record.dak, kit.vault, kit.rng.fork("author-mixup"))
    manifest = device_manifest(mixed, dev.ueid, EncryptionInfo.from_cose(enc))
    env = sign_envelope(
        manifest, kit.tsk, c.suite.sig_alg, integrated={AUTHOR_KEY: other.package.envelope}
    ).encode()
    upd = teep.sign(
        teep.Update(
            token=token, manifest_list=(_as_listed(env),), agent_nonce=kit.nonce_for(dev, qr)
        ),
        kit.tsk,
        c.suite.sig_alg,
    )
    c.add(
        "update-author-of-another-ta",
        "invalid",
        "the device manifest names this TA; its author manifest is another TA's, signed by the "
        "trusted ASK and named for its own TA",
        ("AuthorOfAnotherTa",),
        [
            deliver_step(qr, ok("QueryResponse")),
            deliver_step(
                upd,
                refused(Code.SUIT_CONDITION_COMPONENT),
                {uri: pay},
                state_after("IDLE"),
                rule=None,
            ),
        ],
        dev.state(kit),
    )


def two_recipients(c: Ctx) -> None:
    """A faulty TAM's encryption info with two recipients (both to this device's DAK), in a
    TSK-signed device manifest: SUIT_ENCRYPTION_INFO (312), protocol.md section 9 step 4."""
    from edbp.reference.cloud.delivery import AUTHOR_KEY, device_encryption_info, device_manifest
    from edbp.reference.wire.suit_commands import EncryptionInfo
    from edbp.reference.wire.suit_crypto import sign_envelope

    kit = c.kit
    dev = kit.device("device-a")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    qr = kit.tam.begin(dev.ueid, Intent(package=(TA_UUID, 3))).send
    assert qr is not None
    token = teep.peek(qr).token
    record = kit.tam.registry.get(dev.ueid)
    enc = device_encryption_info(pub.package, record.dak, kit.vault, kit.rng.fork("two-recips"))
    doubled = attrs.evolve(enc, recipients=(*enc.recipients, *enc.recipients))
    manifest = device_manifest(pub.package, dev.ueid, EncryptionInfo.from_cose(doubled))
    env = sign_envelope(
        manifest, kit.tsk, c.suite.sig_alg, integrated={AUTHOR_KEY: pub.package.envelope}
    ).encode()
    upd = teep.sign(
        teep.Update(
            token=token, manifest_list=(_as_listed(env),), agent_nonce=kit.nonce_for(dev, qr)
        ),
        kit.tsk,
        c.suite.sig_alg,
    )
    c.add(
        "update-two-recipients",
        "invalid",
        "the device's encryption info carries two recipients (edbp requires exactly one)",
        ("TwoRecipients",),
        [
            deliver_step(qr, ok("QueryResponse")),
            deliver_step(
                upd,
                refused(Code.SUIT_ENCRYPTION_INFO),
                {uri: pay},
                state_after("IDLE"),
                rule=None,
            ),
        ],
        dev.state(kit),
    )


def boot_in_delivery(c: Ctx) -> None:
    """A device manifest carrying what the SUIT processor runs but a delivery refuses:
    suit-invoke (member 9, directive-invoke), or directive-try-each in suit-install; both
    TSK-signed over an honest delivery. SUIT_UNSUPPORTED_COMMAND (304), nothing fetched."""
    from edbp.reference.cloud.delivery import AUTHOR_KEY, device_encryption_info, device_manifest
    from edbp.reference.wire.suit_commands import Command, CommandSequence, EncryptionInfo
    from edbp.reference.wire.suit_crypto import sign_envelope
    from edbp.reference.wire.suit_labels import SuitCommand

    kit = c.kit
    dev = kit.device("device-a")
    pub = _published(kit, 3)
    uri, pay = kit.payload(pub)
    record = kit.tam.registry.get(dev.ueid)
    enc = device_encryption_info(pub.package, record.dak, kit.vault, kit.rng.fork("boot"))
    honest = device_manifest(pub.package, dev.ueid, EncryptionInfo.from_cose(enc))
    install = honest.install
    assert isinstance(install, CommandSequence)
    nothing = CommandSequence([Command(SuitCommand.DIRECTIVE_SET_COMPONENT_INDEX, 0)])
    try_each = Command(SuitCommand.DIRECTIVE_TRY_EACH, [nothing.encode(), nothing.encode()])
    variants = (
        (
            "update-device-manifest-invoke",
            "the device manifest adds suit-invoke with directive-invoke on the TA",
            attrs.evolve(
                honest, invoke=CommandSequence([Command(SuitCommand.DIRECTIVE_INVOKE, 15)])
            ),
        ),
        (
            "update-device-manifest-try-each",
            "the device manifest's suit-install starts with a directive-try-each",
            attrs.evolve(honest, install=CommandSequence([try_each, *install.commands])),
        ),
    )
    for name, comment, manifest in variants:
        qr = kit.tam.begin(dev.ueid, Intent(package=(TA_UUID, 3))).send
        assert qr is not None
        token = teep.peek(qr).token
        env = sign_envelope(
            manifest, kit.tsk, c.suite.sig_alg, integrated={AUTHOR_KEY: pub.package.envelope}
        ).encode()
        upd = teep.sign(
            teep.Update(
                token=token, manifest_list=(_as_listed(env),), agent_nonce=kit.nonce_for(dev, qr)
            ),
            kit.tsk,
            c.suite.sig_alg,
        )
        c.add(
            name,
            "invalid",
            comment,
            ("BootInDelivery",),
            [
                deliver_step(qr, ok("QueryResponse")),
                deliver_step(
                    upd,
                    refused(Code.SUIT_UNSUPPORTED_COMMAND),
                    {uri: pay},
                    state_after("IDLE"),
                    rule=None,
                ),
            ],
            dev.state(kit),
        )


SCENARIOS: tuple[Callable[[Ctx], None], ...] = (
    honest,
    stale_challenge,
    upgrade_and_failure,
    recipients,
    lifecycle,
    exposure,
    author_of_another_ta,
    two_recipients,
    uninstall_sequence,
    boot_in_delivery,
)


def check_against_reference(vf: VectorFile) -> VectorFile:
    """Replay every test on a fresh reference device; any disagreement stops generation.
    Not while a live device plays a test device (``flowkit.LiveDevice``): the reference holds
    none of its keys, and the conformance replay of each re-derived test is the check."""
    if live() is not None:
        return vf
    problems = []
    for group in vf.groups:
        gjson = group.to_json()
        for test in gjson["tests"]:
            outcome = replay_test(test, gjson, ReferenceTarget())
            if not outcome.passed:
                problems.append(f"{test['tcId']}: {outcome.skipped or '; '.join(outcome.failures)}")
    if problems:
        raise AssertionError(f"{vf.path}: the reference disagrees:\n  " + "\n  ".join(problems))
    return vf


def _suite_file(suite: Suite) -> Callable[[SeededRandom], VectorFile]:
    def make(rng: SeededRandom) -> VectorFile:
        kit = Kit(rng, suite)
        c = Ctx(kit)
        for scenario in SCENARIOS:
            scenario(c)
        tests = kit.with_agent_nonces(c.tests)
        valid = tuple(t for t in tests if t.result == "valid")
        invalid = tuple(t for t in tests if t.result != "valid")
        keys = {
            "tsk": kit.tsk.public().encode().hex(),
            "tskRotated": kit.tsk_rotated.public().encode().hex(),
            "ask": kit.ask.public().encode().hex(),
            "mrk": kit.mrk.public().encode().hex(),
            "rogueTsk": kit.rogue_tsk.public().encode().hex(),
            "rogueAsk": kit.rogue_ask.public().encode().hex(),
            "suitCoseProfile": list(suite.profile),
        }
        vf = VectorFile(
            path=f"deploy/{suite.name}",
            title=f"Deploy and lifecycle flows, suite {suite.name} {list(suite.profile)}",
            header=(
                "Each test starts from `device` (reset, then provision: trust anchors, test "
                "DAK/DSK, floors).",
                "op agent.deliver: hand `message` to the Agent; answer its payload fetch from "
                "`payloads` "
                "(uri -> ciphertext hex; a uri not listed fails the fetch).",
                "expect.replies: the TEEP message types the Agent sends back; an error names "
                "the edbp code "
                "of its Error (err-msg 'edbp:<code>'). checks 'ok': every reply is signed by "
                "the test DSK, "
                "evidence carries the challenge, UEID and DAK, reports carry the open "
                "challenge, no ECDSA "
                "nonce repeats, neither the CEK nor the plaintext appears outside the TEE.",
                "stateAfter: the adapter's state view (components installed, per-component "
                "floors).",
            ),
            notes=NOTES,
            groups=(
                TestGroup("AgentDeploy", "deploy", suite.name, valid, keys=keys),
                TestGroup("AgentDeploy", "deploy", suite.name, invalid, keys=keys),
            ),
        )
        return check_against_reference(vf)

    return make


for _suite in SUITES:
    source(f"deploy/{_suite.name}")(_suite_file(_suite))
