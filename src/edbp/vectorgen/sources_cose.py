"""COSE vectors per suite: COSE_Sign1 (ESP256, Ed25519) and COSE_Encrypt with one ECDH-ES+A128KW
recipient (P-256, X25519) and AES-128-GCM content, with cose-wg's intermediates (ToBeSigned,
KDF context, shared secret, KEK, CEK, Enc_structure), and their named broken forms.

The structures are the edbp profile's (the SUIT KDF context with ``SuppPubInfo.other`` =
"SUIT Payload Encryption" for the encrypt vectors, RFC 9053 otherwise identical), so the tests
can check every valid one with python-cwt and every cryptographically broken one is refused by
it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from edbp.errors import Code
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_encrypt import RecipientSpec, encrypt
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
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
from edbp.vectorgen.registry import source
from edbp.vectorgen.replay import replay_test

NOTES = {
    "ValidSign1": Note("Functionality", "a COSE_Sign1 as edbp emits it", ("P5",)),
    "ValidEncrypt": Note(
        "Functionality",
        "a COSE_Encrypt with one ECDH-ES+A128KW recipient, fresh CEK and IV",
        ("P1", "P4", "P11"),
    ),
    "ChangeSignature": Note("SignatureMalleability", "one signature bit flipped", ("P5",)),
    "TruncatedSignature": Note("ModifiedInput", "a 63-byte signature", ("P5", "P10")),
    "ChangeTag": Note("ModifiedInput", "another COSE tag on the same array", ("P10",)),
    "NonCanonicalCBOR": Note(
        "Malleability",
        "a non-shortest CBOR head: accepted on receive, the signature covers the bytes as "
        "received (protocol §5)",
        ("P5", "P10"),
    ),
    "ChangeProtected": Note(
        "ModifiedInput",
        "the protected header bytes differ from the signed ones though they decode to the "
        "same map: verifying over a re-encoding would accept it",
        ("P5",),
    ),
    "DuplicateMapKey": Note("Ambiguity", "a header map with a repeated label", ("P5", "P10")),
    "UnknownCriticalHeader": Note(
        "ModifiedInput", "crit names a label the verifier does not understand", ("P10",)
    ),
    "AlgDowngrade": Note("AlgorithmConfusion", "an algorithm outside the profile", ("P5", "P10")),
    "WrongKey": Note("WrongSigner", "verified under another key", ("P5",)),
    "TamperedPayload": Note("ModifiedInput", "one payload/ciphertext bit flipped", ("P5", "P9")),
    "TamperedProtected": Note(
        "ModifiedInput",
        "the protected header changed (covered by the signature / AEAD)",
        ("P5", "P9"),
    ),
    "WrongRecipient": Note(
        "RecipientBinding", "decrypted with another device's agreement key", ("P1", "P4")
    ),
    "ChangeAuthTag": Note("ModifiedInput", "one bit of the AES-GCM tag flipped", ("P9",)),
    "TruncatedCiphertext": Note(
        "ModifiedInput", "ciphertext without its tag's last byte", ("P9", "P10")
    ),
    "IvWrongSize": Note(
        "NonceMisuse",
        "an 8-byte IV where the profile requires 12: shorter "
        "random IVs collide sooner under one CEK",
        ("P11",),
    ),
    "WrappedCekFlipped": Note("ModifiedInput", "one bit of the wrapped CEK flipped", ("P1", "P10")),
}


@attrs.frozen
class CoseSuite:
    name: str
    sig_curve: Curve
    sig_alg: Alg
    kem_curve: Curve


COSE_SUITES = (
    CoseSuite("esp256-p256-a128gcm", Curve.P256, Alg.ESP256, Curve.P256),
    CoseSuite("ed25519-x25519-a128gcm", Curve.ED25519, Alg.ED25519, Curve.X25519),
)


def _parts(data: bytes) -> tuple[int, list[Any]]:
    obj = cbor.loads(data)
    return obj.tag, list(obj.value)


def _retag(tag: int, parts: list[Any]) -> bytes:
    return cbor.dumps(cbor.Tag(tag, parts))


def _flip(b: bytes, at: int = -1) -> bytes:
    x = bytearray(b)
    x[at] ^= 1
    return bytes(x)


def _case(
    suite: CoseSuite,
    kind: str,
    name: str,
    result: str,
    comment: str,
    flag: str,
    step: Step,
    intermediates: dict[str, Any] | None = None,
) -> TestCase:
    return one_step_case(f"cose.{suite.name}.{kind}.{result}.{name}", comment, result, step,
                         flag, NOTES, intermediates)


def _sign_tests(suite: CoseSuite, rng: SeededRandom) -> tuple[TestCase, ...]:
    key = CoseKey.generate(suite.sig_curve, rng.fork("signer"))
    key = attrs.evolve(key, kid=key.thumbprint())
    other = CoseKey.generate(suite.sig_curve, rng.fork("other"))
    payload = b"edbp COSE_Sign1 vector payload " + rng.fork("payload").random_bytes(16)
    trace = Trace()
    msg = sign1(payload, key, suite.sig_alg, unprotected={4: key.kid}, trace=trace).encode()
    pub = key.public().encode().hex()
    rule = "messages.cddl#edbp-eat-signed"
    del rule  # the payload is not a spec message: no rule to name

    def step(data: bytes, expect: dict[str, Any], k: str = pub) -> Step:
        return Step(
            "cose.sign1.verify",
            {"message": message(data), "key": k, "algorithms": [int(suite.sig_alg)]},
            expect,
        )

    tag, parts = _parts(msg)
    prot, unprot, pl, sig = parts
    ok = {"result": "ok", "payload": payload.hex()}
    crit = sign1(
        payload, key, suite.sig_alg, protected={1: int(suite.sig_alg), 2: [99], 99: 1}
    ).encode()
    dup = (
        b"\xd2\x84"
        + cbor.dumps(prot)
        + b"\xa2\x04\x41\x01\x04\x41\x01"
        + cbor.dumps(pl)
        + cbor.dumps(sig)
    )
    prot_changed = cbor.dumps({1: int(suite.sig_alg), 3: 0})
    # protocol §5: the protected header as received is what the signature covers. The alg
    # label's value in a non-shortest head (0x38 nn) is well-formed and accepted; a verifier
    # that re-encoded it deterministically would refuse the first and accept the second.
    prot_loose = b"\xa1\x01\x38" + bytes([-1 - int(suite.sig_alg)])
    loose = sign1(payload, key, suite.sig_alg, protected_raw=prot_loose, unprotected={4: key.kid})
    swapped = sign1(payload, key, suite.sig_alg, unprotected={4: key.kid}).encode()
    swapped_parts = _parts(swapped)[1]
    swapped_msg = _retag(tag, [prot_loose, *swapped_parts[1:]])
    return (
        _case(
            suite,
            "sign1",
            "attached",
            "valid",
            "COSE_Sign1, attached payload, kid unprotected",
            "ValidSign1",
            step(msg, ok),
            {"toBeSigned": (trace.to_be_signed or b"").hex()},
        ),
        _case(
            suite,
            "sign1",
            "signature-flipped",
            "invalid",
            "last signature bit flipped",
            "ChangeSignature",
            step(_retag(tag, [prot, unprot, pl, _flip(sig)]), error(Code.COSE_BAD_SIGNATURE)),
        ),
        _case(
            suite,
            "sign1",
            "signature-63",
            "invalid",
            "signature one byte short",
            "TruncatedSignature",
            step(_retag(tag, [prot, unprot, pl, sig[:-1]]), error(Code.COSE_BAD_SIGNATURE)),
        ),
        _case(
            suite,
            "sign1",
            "payload-flipped",
            "invalid",
            "one payload bit flipped",
            "TamperedPayload",
            step(_retag(tag, [prot, unprot, _flip(pl), sig]), error(Code.COSE_BAD_SIGNATURE)),
        ),
        _case(
            suite,
            "sign1",
            "protected-changed",
            "invalid",
            "content type added to the protected header",
            "TamperedProtected",
            step(_retag(tag, [prot_changed, unprot, pl, sig]), error(Code.COSE_BAD_SIGNATURE)),
        ),
        _case(
            suite,
            "sign1",
            "other-key",
            "invalid",
            "verified under another key of the same curve",
            "WrongKey",
            step(msg, error(Code.COSE_BAD_SIGNATURE), other.public().encode().hex()),
        ),
        _case(
            suite,
            "sign1",
            "tag-encrypt0",
            "invalid",
            "tag 16 (COSE_Encrypt0) on a Sign1 array",
            "ChangeTag",
            step(_retag(16, parts), error(Code.COSE_WRONG_TAG)),
        ),
        _case(
            suite,
            "sign1",
            "tag-non-canonical",
            "acceptable",
            "tag 18 as d8 12: accepted on receive (protocol §5), outside the signed bytes",
            "NonCanonicalCBOR",
            step(b"\xd8\x12" + msg[1:], ok),
        ),
        _case(
            suite,
            "sign1",
            "protected-non-shortest",
            "acceptable",
            "protected header with alg in a non-shortest head, signed as sent: verifies over "
            "the received bytes (a verifier that re-encodes refuses it)",
            "NonCanonicalCBOR",
            step(loose.encode(), ok),
        ),
        _case(
            suite,
            "sign1",
            "protected-reencoded",
            "invalid",
            "signed over the deterministic protected header, sent with a non-shortest "
            "encoding of it: the received bytes were not signed (a verifier that re-encodes "
            "accepts it)",
            "ChangeProtected",
            step(swapped_msg, error(Code.COSE_BAD_SIGNATURE)),
        ),
        _case(
            suite,
            "sign1",
            "unprotected-duplicate",
            "invalid",
            "unprotected map repeats label 4",
            "DuplicateMapKey",
            step(dup, error(Code.CBOR_DUPLICATE_KEY)),
        ),
        _case(
            suite,
            "sign1",
            "crit-unknown",
            "invalid",
            "validly signed, crit [99]",
            "UnknownCriticalHeader",
            step(crit, error(Code.COSE_UNKNOWN_CRITICAL_HEADER)),
        ),
        _case(
            suite,
            "sign1",
            "alg-a128gcm",
            "invalid",
            "protected alg A128GCM (not a signature)",
            "AlgDowngrade",
            step(
                _retag(tag, [cbor.dumps({1: 1}), unprot, pl, sig]), error(Code.COSE_ALG_NOT_ALLOWED)
            ),
        ),
    )


def _encrypt_tests(suite: CoseSuite, rng: SeededRandom) -> tuple[TestCase, ...]:
    recipient = CoseKey.generate(suite.kem_curve, rng.fork("recipient"))
    recipient = attrs.evolve(recipient, kid=recipient.thumbprint())
    other = CoseKey.generate(suite.kem_curve, rng.fork("other-recipient"))
    plaintext = b"edbp COSE_Encrypt vector plaintext " + rng.fork("plaintext").random_bytes(24)
    spec = RecipientSpec(
        Alg.ECDH_ES_A128KW,
        recipient.public(),
        unprotected={4: recipient.kid},
        supp_pub_other=SUIT_KDF_OTHER,
    )
    trace = Trace()
    msg = encrypt(plaintext, [spec], Alg.A128GCM, rng=rng.fork("encrypt"), trace=trace).encode()
    rtrace = trace.recipients[0] if trace.recipients else None
    inter = {
        "cek": (trace.cek or b"").hex(),
        "iv": (trace.iv or b"").hex(),
        "encStructure": (trace.enc_structure or b"").hex(),
    }
    if rtrace is not None:
        inter.update(
            {
                "kdfContext": (rtrace.kdf_context or b"").hex(),
                "sharedSecret": (rtrace.shared_secret or b"").hex(),
                "kek": (rtrace.kek or b"").hex(),
                "wrappedCek": (rtrace.wrapped_cek or b"").hex(),
                "ephemeralKey": rtrace.ephemeral_key.encode().hex() if rtrace.ephemeral_key else "",
            }
        )
    priv = recipient.encode().hex()

    def step(data: bytes, expect: dict[str, Any], k: str = priv) -> Step:
        return Step(
            "cose.encrypt.decrypt",
            {
                "message": message(data),
                "key": k,
                "contentAlgorithms": [1],
                "recipientAlgorithms": [int(Alg.ECDH_ES_A128KW)],
                "suitKdfContext": True,
            },
            expect,
        )

    tag, parts = _parts(msg)
    prot, unprot, ct, recips = parts
    ok = {"result": "ok", "plaintext": plaintext.hex()}
    bad = error(Code.COSE_DECRYPT_FAILED)
    r0 = list(recips[0])
    flipped_wrap = [[r0[0], r0[1], _flip(r0[2])]]
    short_iv = dict(unprot)
    short_iv[5] = unprot[5][:8]
    ctr_prot = cbor.dumps({1: int(Alg.A128CTR)})
    crit_prot = cbor.dumps({1: 1, 2: [99], 99: 1})
    return (
        _case(
            suite,
            "encrypt",
            "ecdh-es-a128kw",
            "valid",
            "one ECDH-ES+A128KW recipient, A128GCM",
            "ValidEncrypt",
            step(msg, ok),
            inter,
        ),
        _case(
            suite,
            "encrypt",
            "auth-tag-flipped",
            "invalid",
            "last bit of the GCM tag flipped",
            "ChangeAuthTag",
            step(_retag(tag, [prot, unprot, _flip(ct), recips]), bad),
        ),
        _case(
            suite,
            "encrypt",
            "ciphertext-flipped",
            "invalid",
            "first ciphertext bit flipped",
            "TamperedPayload",
            step(_retag(tag, [prot, unprot, _flip(ct, 0), recips]), bad),
        ),
        _case(
            suite,
            "encrypt",
            "ciphertext-truncated",
            "invalid",
            "ciphertext one byte short",
            "TruncatedCiphertext",
            step(_retag(tag, [prot, unprot, ct[:-1], recips]), bad),
        ),
        _case(
            suite,
            "encrypt",
            "other-recipient-key",
            "invalid",
            "decrypted with another agreement key",
            "WrongRecipient",
            step(msg, bad, other.encode().hex()),
        ),
        _case(
            suite,
            "encrypt",
            "wrapped-cek-flipped",
            "invalid",
            "one bit of the A128KW output flipped",
            "WrappedCekFlipped",
            step(_retag(tag, [prot, unprot, ct, flipped_wrap]), bad),
        ),
        _case(
            suite,
            "encrypt",
            "iv-8-bytes",
            "invalid",
            "an 8-byte IV",
            "IvWrongSize",
            step(_retag(tag, [prot, short_iv, ct, recips]), error(Code.COSE_BAD_IV)),
        ),
        _case(
            suite,
            "encrypt",
            "content-alg-ctr",
            "invalid",
            "protected alg A128CTR (no integrity) where only AEAD is allowed",
            "AlgDowngrade",
            step(_retag(tag, [ctr_prot, unprot, ct, recips]), error(Code.COSE_ALG_NOT_ALLOWED)),
        ),
        _case(
            suite,
            "encrypt",
            "crit-unknown",
            "invalid",
            "crit [99] in the protected header",
            "UnknownCriticalHeader",
            step(
                _retag(tag, [crit_prot, unprot, ct, recips]),
                error(Code.COSE_UNKNOWN_CRITICAL_HEADER),
            ),
        ),
        _case(
            suite,
            "encrypt",
            "tag-sign1",
            "invalid",
            "tag 18 on an Encrypt array",
            "ChangeTag",
            step(_retag(18, parts), error(Code.COSE_WRONG_TAG)),
        ),
    )


def _file(suite: CoseSuite) -> Callable[[SeededRandom], VectorFile]:
    def make(rng: SeededRandom) -> VectorFile:
        groups = (
            TestGroup("CoseSign1", "wire", suite.name, _sign_tests(suite, rng.fork("sign1"))),
            TestGroup(
                "CoseEncrypt", "wire", suite.name, _encrypt_tests(suite, rng.fork("encrypt"))
            ),
        )
        vf = VectorFile(
            path=f"cose/{suite.name}",
            title=f"COSE_Sign1 and COSE_Encrypt, {suite.name}",
            header=(
                "op cose.sign1.verify: verify `message` under `key` (public COSE_Key) with "
                "`algorithms`; "
                "ok gives the payload.",
                "op cose.encrypt.decrypt: decrypt `message` with `key` (the recipient's "
                "private COSE_Key), "
                "content and recipient algorithm allow-lists as given; the KDF context's "
                'SuppPubInfo.other is "SUIT Payload Encryption" when suitKdfContext is true.',
                "intermediates follow cose-wg/Examples: toBeSigned, kdfContext, sharedSecret, "
                "kek, cek, "
                "encStructure (the AEAD's AAD), iv.",
            ),
            notes=NOTES,
            groups=groups,
        )
        problems = []
        for g in vf.groups:
            gj = g.to_json()
            for t in gj["tests"]:
                o = replay_test(t, gj)
                if not o.passed:
                    problems.append(f"{t['tcId']}: {o.skipped or '; '.join(o.failures)}")
        if problems:
            raise AssertionError(f"{vf.path}: the reference disagrees:\n  " + "\n  ".join(problems))
        return vf

    return make


for _s in COSE_SUITES:
    source(f"cose/{_s.name}")(_file(_s))
