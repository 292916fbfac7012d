"""Post-quantum suite vectors (`edbp-pq`, spec/protocol.md 4.1): ML-DSA-65 COSE_Sign1, a
COSE_Encrypt whose CEK reaches an MLKEM768-X25519 DAK by COSE-HPKE (with the KEM shared secret,
the HPKE key schedule and the wrapped CEK as intermediates), and PQ device endorsements; each
with its named broken forms, downgrades included (P14).

Reproducibility (spec/vectors.md, "Randomness that cannot be injected"): every key is made from
a seed (FIPS 203/204 key generation from a seed is deterministic), but ML-DSA-65 signing is
hedged and HPKE draws its encapsulation randomness inside ``cryptography``, with no way to pass
either in. So each file is generated under ``pq.pinned`` with the values its committed version
holds (``pins.PinStore``, re-verified on use); what is byte-exact by construction is the
decrypt side (shared secret, key schedule, CEK, plaintext, all recomputed from ``enc``). The
deploy and publish flows of the suite are in ``sources_pq_flows``.
"""

from __future__ import annotations

from typing import Any

import attrs

from edbp.errors import Code
from edbp.reference.cloud.endorsement import Endorsement
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, pq
from edbp.reference.wire.cose_algs import Alg, Curve, HeaderLabel
from edbp.reference.wire.cose_encrypt import RecipientSpec, encrypt
from edbp.reference.wire.cose_hpke import recipient_structure
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sign1
from edbp.reference.wire.cose_trace import Trace
from edbp.vectorgen.format import (
    Note,
    Step,
    TestCase,
    TestGroup,
    VectorFile,
    error,
    message,
    one_step_case,
)
from edbp.vectorgen.pins import PinStore
from edbp.vectorgen.registry import source
from edbp.vectorgen.sources_cose import _flip, _parts, _retag
from edbp.vectorgen.sources_deploy import check_against_reference as _checked

SUITE = "mldsa65-hpke-xwing-a128gcm"
COSE_PATH = f"pq/cose-{SUITE}"
ENROL_PATH = f"pq/enrol-{SUITE}"
HPKE = Alg.EDBP_HPKE_XWING_KE

NOTES = {
    "ValidSign1": Note("Functionality", "an ML-DSA-65 COSE_Sign1 as edbp emits it", ("P5",)),
    "ValidEncrypt": Note(
        "Functionality",
        "a COSE_Encrypt with one COSE-HPKE MLKEM768-X25519 recipient, A128GCM content",
        ("P1", "P4"),
    ),
    "ValidEndorsement": Note(
        "Functionality", "a PQ DAK and DSK endorsed by an ML-DSA-65 MRK", ("P3", "P14")
    ),
    "ChangeSignature": Note("SignatureMalleability", "one signature bit flipped", ("P5",)),
    "TruncatedSignature": Note("ModifiedInput", "a 3308-byte signature", ("P5", "P10")),
    "TamperedPayload": Note("ModifiedInput", "one payload/ciphertext bit flipped", ("P5", "P9")),
    "WrongKey": Note("WrongSigner", "verified under another ML-DSA-65 key", ("P5",)),
    "ClassicalAlgOnPqKey": Note(
        "AlgorithmConfusion", "alg ESP256 on a message for an ML-DSA key", ("P5", "P14")
    ),
    "ChangeEk": Note("ModifiedInput", "one bit of the HPKE encapsulated key flipped", ("P1",)),
    "BadEk": Note("ModifiedInput", "ek missing, short or protected", ("P10",)),
    "WrappedCekFlipped": Note("ModifiedInput", "one bit of the HPKE ciphertext flipped", ("P1",)),
    "WrongRecipient": Note(
        "RecipientBinding", "decrypted with another device's DAK", ("P1", "P4")
    ),
    "ChangeAuthTag": Note("ModifiedInput", "one bit of the AES-GCM tag flipped", ("P9",)),
    "RecipientDowngrade": Note(
        "AlgorithmConfusion",
        "the recipient's alg read as ECDH-ES+A128KW where only COSE-HPKE is allowed",
        ("P14",),
    ),
    "ClassicalEndorsement": Note(
        "Downgrade", "PQ device keys endorsed by a classical (ESP256) MRK signature", ("P14",)
    ),
    "MixedSuiteKeys": Note(
        "Downgrade", "a PQ DAK endorsed together with a classical DSK", ("P3", "P14")
    ),
}


# ------------------------------------------------------------------ helpers


def _akp(alg: Alg, rng: SeededRandom) -> CoseKey:
    key = CoseKey.generate_akp(alg, rng)
    return attrs.evolve(key, kid=key.thumbprint())


def _case(
    area: str, kind: str, name: str, result: str, comment: str, flag: str, step: Step,
    intermediates: dict[str, Any] | None = None,
) -> TestCase:
    return one_step_case(f"pq.{area}.{SUITE}.{kind}.{result}.{name}", comment, result, step,
                         flag, NOTES, intermediates)


# ------------------------------------------------------------------ COSE


def _sign_tests(rng: SeededRandom) -> tuple[TestCase, ...]:
    key = _akp(Alg.ML_DSA_65, rng.fork("signer"))
    other = _akp(Alg.ML_DSA_65, rng.fork("other"))
    payload = b"edbp ML-DSA-65 COSE_Sign1 vector " + rng.fork("payload").random_bytes(16)
    trace = Trace()
    msg = sign1(payload, key, Alg.ML_DSA_65, unprotected={4: key.kid}, trace=trace).encode()
    pub = key.public().encode().hex()

    def step(data: bytes, expect: dict[str, Any], k: str = pub) -> Step:
        return Step(
            "cose.sign1.verify",
            {"message": message(data), "key": k, "algorithms": [int(Alg.ML_DSA_65)]},
            expect,
        )

    tag, (prot, unprot, pl, sig) = _parts(msg)
    bad = error(Code.COSE_BAD_SIGNATURE)
    esp = cbor.dumps({1: int(Alg.ESP256)})
    return (
        _case("cose", "sign1", "attached", "valid", "ML-DSA-65, pure, empty context",
              "ValidSign1", step(msg, {"result": "ok", "payload": payload.hex()}),
              {"toBeSigned": (trace.to_be_signed or b"").hex()}),
        _case("cose", "sign1", "signature-flipped", "invalid", "last signature bit flipped",
              "ChangeSignature", step(_retag(tag, [prot, unprot, pl, _flip(sig)]), bad)),
        _case("cose", "sign1", "signature-3308", "invalid", "signature one byte short",
              "TruncatedSignature", step(_retag(tag, [prot, unprot, pl, sig[:-1]]), bad)),
        _case("cose", "sign1", "payload-flipped", "invalid", "one payload bit flipped",
              "TamperedPayload", step(_retag(tag, [prot, unprot, _flip(pl), sig]), bad)),
        _case("cose", "sign1", "other-key", "invalid", "verified under another ML-DSA-65 key",
              "WrongKey", step(msg, bad, other.public().encode().hex())),
        _case("cose", "sign1", "alg-esp256", "invalid",
              "protected alg ESP256 with the ML-DSA-65 key (a classical downgrade of the alg)",
              "ClassicalAlgOnPqKey",
              Step("cose.sign1.verify",
                   {"message": message(_retag(tag, [esp, unprot, pl, sig])), "key": pub,
                    "algorithms": [int(Alg.ML_DSA_65), int(Alg.ESP256)]},
                   error(Code.COSE_ALG_KEY_MISMATCH))),
    )


def _encrypt_tests(rng: SeededRandom, store: PinStore) -> tuple[TestCase, ...]:
    dak = _akp(HPKE, rng.fork("dak"))
    store.add_key(dak)
    other = attrs.evolve(_akp(HPKE, rng.fork("other-dak")), kid=dak.kid)
    plaintext = b"edbp COSE-HPKE vector plaintext " + rng.fork("plaintext").random_bytes(24)
    trace = Trace()
    fresh = encrypt(
        plaintext, [RecipientSpec(HPKE, dak.public())], Alg.A128GCM,
        rng=rng.fork("encrypt"), trace=trace,
    )
    cek = trace.cek or b""
    (r,) = fresh.recipients
    info = recipient_structure(1, r.headers.protected_for_crypto)
    msg = fresh.encode()
    enc_bytes = r.headers.unprotected[HeaderLabel.EK]
    assert dak.d is not None
    inter_obj = pq.hpke_intermediates(dak.d, enc_bytes, info)
    inter = {
        "cek": cek.hex(),
        "iv": (trace.iv or b"").hex(),
        "encStructure": (trace.enc_structure or b"").hex(),
        "hpkeInfo": info.hex(),
        "hpkeEnc": enc_bytes.hex(),
        "sharedSecret": inter_obj.shared_secret.hex(),
        "hpkeKeyScheduleContext": inter_obj.key_schedule_context.hex(),
        "hpkeKey": inter_obj.key.hex(),
        "hpkeBaseNonce": inter_obj.base_nonce.hex(),
        "wrappedCek": r.ciphertext.hex(),
    }
    priv = dak.encode().hex()

    def step(data: bytes, expect: dict[str, Any], k: str = priv, ralgs: int = int(HPKE)) -> Step:
        return Step(
            "cose.encrypt.decrypt",
            {"message": message(data), "key": k, "contentAlgorithms": [1],
             "recipientAlgorithms": [ralgs], "suitKdfContext": False},
            expect,
        )

    tag, (prot, unprot, ct_body, recips) = _parts(msg)
    r0 = list(recips[0])
    ek = r0[1][int(HeaderLabel.EK)]
    bad = error(Code.COSE_DECRYPT_FAILED)
    ecdh_prot = cbor.dumps({1: int(Alg.ECDH_ES_A128KW), 4: dak.kid})

    def with_recipient(p: bytes, u: dict[int, Any], c: bytes) -> bytes:
        return _retag(tag, [prot, unprot, ct_body, [[p, u, c]]])

    return (
        _case("cose", "encrypt", "hpke-xwing", "valid",
              "one COSE-HPKE MLKEM768-X25519 recipient (kid protected, ek unprotected), A128GCM",
              "ValidEncrypt", step(msg, {"result": "ok", "plaintext": plaintext.hex()}), inter),
        _case("cose", "encrypt", "ek-flipped", "invalid", "one bit of ek (the X25519 part)",
              "ChangeEk", step(with_recipient(r0[0], {-4: _flip(ek)}, r0[2]), bad)),
        _case("cose", "encrypt", "ek-mlkem-flipped", "invalid", "one bit of ek (the ML-KEM part)",
              "ChangeEk", step(with_recipient(r0[0], {-4: _flip(ek, 0)}, r0[2]), bad)),
        _case("cose", "encrypt", "ek-short", "invalid", "ek one byte short",
              "BadEk", step(with_recipient(r0[0], {-4: ek[:-1]}, r0[2]),
                            error(Code.COSE_HPKE_BAD_EK))),
        _case("cose", "encrypt", "ek-missing", "invalid", "no ek header",
              "BadEk", step(with_recipient(r0[0], {}, r0[2]), error(Code.COSE_HPKE_BAD_EK))),
        _case("cose", "encrypt", "wrapped-cek-flipped", "invalid", "one bit of the HPKE ct",
              "WrappedCekFlipped", step(with_recipient(r0[0], r0[1], _flip(r0[2])), bad)),
        _case("cose", "encrypt", "other-dak", "invalid", "opened with another device's DAK",
              "WrongRecipient", step(msg, bad, other.encode().hex())),
        _case("cose", "encrypt", "auth-tag-flipped", "invalid", "last bit of the GCM tag",
              "ChangeAuthTag", step(_retag(tag, [prot, unprot, _flip(ct_body), recips]), bad)),
        _case("cose", "encrypt", "recipient-ecdh", "invalid",
              "the recipient relabelled ECDH-ES+A128KW; only COSE-HPKE is allowed",
              "RecipientDowngrade",
              step(with_recipient(ecdh_prot, r0[1], r0[2]), error(Code.COSE_ALG_NOT_ALLOWED))),
    )


@source(COSE_PATH)
def cose_file(rng: SeededRandom) -> VectorFile:
    pq.require()
    store = PinStore(COSE_PATH)
    with pq.pinned(store.pins()):
        groups = (
            TestGroup("CoseSign1", "wire", "edbp-pq", _sign_tests(rng.fork("sign1"))),
            TestGroup("CoseEncrypt", "wire", "edbp-pq", _encrypt_tests(rng.fork("encrypt"), store)),
        )
    return _checked(VectorFile(
        path=COSE_PATH,
        title=f"edbp-pq COSE: ML-DSA-65 COSE_Sign1 and COSE-HPKE MLKEM768-X25519, {SUITE}",
        header=(
            "op cose.sign1.verify: verify `message` under `key` (public AKP COSE_Key, RFC 9964) "
            "with `algorithms`; ok gives the payload.",
            "op cose.encrypt.decrypt: decrypt `message` with `key` (the DAK: AKP COSE_Key, alg "
            "-70768 (private use), priv = 32-byte X-Wing seed); recipient: COSE-HPKE key "
            "encryption, info = Recipient_structure, aad empty (draft-ietf-cose-hpke).",
            "intermediates: toBeSigned; hpkeInfo, hpkeEnc, sharedSecret (X-Wing combiner), "
            "hpkeKeyScheduleContext, hpkeKey, hpkeBaseNonce (RFC 9180 base mode), wrappedCek, "
            "cek, encStructure, iv. ML-DSA signatures and HPKE enc are pinned (spec/vectors.md).",
        ),
        notes=NOTES,
        groups=groups,
    ))


# ------------------------------------------------------------------ enrol


@source(ENROL_PATH)
def enrol_file(rng: SeededRandom) -> VectorFile:
    pq.require()
    with pq.pinned(PinStore(ENROL_PATH).pins()):
        return _enrol_file(rng)


def _enrol_file(rng: SeededRandom) -> VectorFile:
    mrk = _akp(Alg.ML_DSA_65, rng.fork("mrk"))
    classical_mrk = CoseKey.generate(Curve.P256, rng.fork("classical-mrk"))
    dak = _akp(HPKE, rng.fork("dak"))
    dsk = _akp(Alg.ML_DSA_65, rng.fork("dsk"))
    ueid = b"\x01" + rng.fork("ueid").random_bytes(16)
    class_id, vendor_id = rng.fork("class").random_bytes(16), rng.fork("vendor").random_bytes(16)
    body = Endorsement(ueid, class_id, vendor_id, dak.public(), dsk.public(), 1_700_000_000)
    good = sign1(body.encode(), mrk, Alg.ML_DSA_65, unprotected={4: mrk.kid}).encode()
    downgraded = sign1(body.encode(), classical_mrk, Alg.ESP256).encode()
    mixed_dsk = CoseKey.generate(Curve.P256, rng.fork("classical-dsk")).public()
    mixed_body = attrs.evolve(body, dsk=mixed_dsk).encode()
    mixed = sign1(mixed_body, mrk, Alg.ML_DSA_65, unprotected={4: mrk.kid}).encode()

    def step(data: bytes, expect: dict[str, Any], key: CoseKey = mrk) -> Step:
        return Step(
            "enrol.verify_endorsement",
            {"endorsement": message(data, "messages.cddl#edbp-device-endorsement"),
             "mrk": key.public().encode().hex()},
            expect,
        )

    ok = {
        "result": "ok",
        "ueid": ueid.hex(),
        "classId": class_id.hex(),
        "vendorId": vendor_id.hex(),
        "dakThumbprint": dak.thumbprint().hex(),
        "dskThumbprint": dsk.thumbprint().hex(),
    }
    tests = (
        _case("enrol", "endorsement", "pq-keys", "valid",
              "AKP DAK (MLKEM768-X25519) and ML-DSA-65 DSK, signed by the ML-DSA-65 MRK",
              "ValidEndorsement", step(good, ok)),
        _case("enrol", "endorsement", "classical-mrk", "invalid",
              "the same PQ keys endorsed by an ESP256 MRK signature (valid, but a downgrade)",
              "ClassicalEndorsement",
              step(downgraded, error(Code.COSE_SUITE_DOWNGRADE), classical_mrk)),
        _case("enrol", "endorsement", "mixed-suite", "invalid",
              "a PQ DAK with a P-256 DSK", "MixedSuiteKeys",
              step(mixed, error(Code.EAT_ENDORSEMENT_INVALID))),
        _case("enrol", "endorsement", "signature-flipped", "invalid",
              "one bit of the MRK's ML-DSA-65 signature flipped", "ChangeSignature",
              step(_flip(good), error(Code.EAT_ENDORSEMENT_INVALID))),
    )
    return _checked(VectorFile(
        path=ENROL_PATH,
        title="edbp-pq device endorsements (ML-DSA-65 MRK; the downgrade rule of P14)",
        header=(
            "op enrol.verify_endorsement: verify `endorsement` under `mrk` (public COSE_Key); ok "
            "gives the endorsed ids and the RFC 9679 thumbprints of the DAK and DSK.",
            "a PQ endorsement must be signed ML-DSA-65 (COSE_SUITE_DOWNGRADE otherwise); "
            "signatures are pinned (spec/vectors.md).",
        ),
        notes=NOTES,
        groups=(TestGroup("Endorsement", "enrol", "edbp-pq", tests),),
    ))
