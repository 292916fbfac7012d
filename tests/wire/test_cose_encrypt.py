"""COSE_Encrypt0 / COSE_Encrypt: recipients, KDF context, detached content, refusals."""

from __future__ import annotations

import attrs
import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose
from edbp.reference.wire.cose import Alg, CoseKey, Curve, RecipientSpec

from edbp.errors import Code, DecryptionFailed, WireError

DAK = CoseKey.generate(Curve.P256, SeededRandom("dak"), kid=b"dak")
DAK_X = CoseKey.generate(Curve.X25519, SeededRandom("dak-x"), kid=b"dak-x")
SENDER = CoseKey.generate(Curve.P256, SeededRandom("sender"), kid=b"sender")
CK = CoseKey.symmetric(bytes(range(32)), kid=b"class-key")
KEK = CoseKey.symmetric(b"a" * 16, kid=b"kid-1")
GCM = {Alg.A128GCM, Alg.A256GCM}
ANY_RECIPIENT = cose.RECIPIENT_ALGS


def _code(exc: pytest.ExceptionInfo[Exception]) -> Code:
    return exc.value.code  # type: ignore[attr-defined,no-any-return]


def _roundtrip(msg: cose.Encrypt) -> cose.Encrypt:
    data = msg.encode()
    assert cbor.is_deterministic(data)
    back = cose.Encrypt.decode(data)
    assert back == msg
    return back


@pytest.mark.parametrize(
    ("alg", "key", "receiver"),
    [
        (Alg.A128KW, KEK, KEK),
        (Alg.A192KW, CoseKey.symmetric(b"b" * 24), CoseKey.symmetric(b"b" * 24)),
        (Alg.A256KW, CK, CK),
        (Alg.ECDH_ES_A128KW, DAK.public(), DAK),
        (Alg.ECDH_ES_A192KW, DAK.public(), DAK),
        (Alg.ECDH_ES_A256KW, DAK.public(), DAK),
        (Alg.ECDH_ES_HKDF_256, DAK.public(), DAK),
        (Alg.ECDH_ES_A128KW, DAK_X.public(), DAK_X),
        (Alg.ECDH_ES_HKDF_256, DAK_X.public(), DAK_X),
    ],
    ids=lambda v: getattr(v, "name", None),
)
@pytest.mark.parametrize("content", [Alg.A128GCM, Alg.A256GCM, Alg.CHACHA20_POLY1305])
def test_recipient_kinds(alg: Alg, key: CoseKey, receiver: CoseKey, content: Alg) -> None:
    spec = RecipientSpec(alg, key, supp_pub_other=cose.SUIT_KDF_OTHER)
    msg = cose.encrypt(b"image", [spec], content, rng=SeededRandom("r"), external_aad=b"ea")
    back = _roundtrip(msg)
    got = back.decrypt(
        receiver,
        algorithms={content},
        recipient_algorithms={alg},
        external_aad=b"ea",
        supp_pub_other=cose.SUIT_KDF_OTHER,
    )
    assert got == b"image"
    # placement as cose-wg and the SUIT examples do it
    rec = back.recipients[0]
    if alg in cose.ECDH_ALGS:
        assert rec.headers.protected == {1: int(alg)}
        assert -1 in rec.headers.unprotected
    else:
        assert rec.headers.protected_raw == b"" and rec.headers.unprotected[1] == int(alg)


def test_ecdh_ss_with_static_key_and_key_id() -> None:
    for key_id in (None, b"sender"):
        spec = RecipientSpec(
            Alg.ECDH_SS_A128KW, DAK.public(), sender_key=SENDER, sender_key_id=key_id,
            party_u_nonce=16,
        )
        msg = _roundtrip(cose.encrypt(b"pt", [spec], Alg.A128GCM, rng=SeededRandom("ss")))
        h = msg.recipients[0].headers
        assert len(h.get(cose.HeaderLabel.PARTY_U_NONCE)) == 16
        opts = {"algorithms": GCM, "recipient_algorithms": ANY_RECIPIENT}
        if key_id is None:
            assert cose.CoseKey.from_map(h.get(-2)) == attrs.evolve(SENDER.public(), kid=None)
            assert msg.decrypt(DAK, **opts) == b"pt"
        else:
            assert h.get(-3) == b"sender"
            with pytest.raises(WireError) as info:
                msg.decrypt(DAK, **opts)
            assert _code(info) == Code.COSE_BAD_KEY
            assert msg.decrypt(DAK, sender_key=SENDER.public(), **opts) == b"pt"
            stranger = CoseKey.generate(Curve.P256, SeededRandom("x"), kid=b"other")
            with pytest.raises(WireError) as info:
                msg.decrypt(DAK, sender_key=stranger.public(), **opts)
            assert _code(info) == Code.COSE_KID_MISMATCH


def test_several_recipients_and_kid_selection() -> None:
    other = CoseKey.generate(Curve.P256, SeededRandom("other"), kid=b"other")
    specs = [
        RecipientSpec(Alg.A256KW, CK, unprotected={4: CK.kid}),
        RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public(), unprotected={4: DAK.kid}),
        RecipientSpec(Alg.ECDH_ES_A128KW, other.public(), unprotected={4: other.kid}),
    ]
    trace = cose.Trace()
    msg = _roundtrip(cose.encrypt(b"pt", specs, Alg.A128GCM, rng=SeededRandom("m"), trace=trace))
    assert len(trace.recipients) == 3
    opts = {"algorithms": GCM, "recipient_algorithms": ANY_RECIPIENT}
    for key in (CK, DAK, other):
        assert msg.decrypt(key, **opts) == b"pt"
    # no recipient for this kid
    stranger = CoseKey.generate(Curve.P256, SeededRandom("s"), kid=b"stranger")
    with pytest.raises(WireError) as info:
        msg.decrypt(stranger, **opts)
    assert _code(info) == Code.COSE_NO_RECIPIENT
    # right kid, wrong key material: a decryption failure, no detail
    impostor = attrs.evolve(stranger, kid=b"dak")
    with pytest.raises(DecryptionFailed) as failed:
        msg.decrypt(impostor, **opts)
    assert str(failed.value) == "COSE_DECRYPT_FAILED (207)"
    # the allow-list applies to recipients too
    with pytest.raises(WireError) as info:
        msg.decrypt(DAK, algorithms=GCM, recipient_algorithms={Alg.A256KW})
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED


def test_wrong_keys_and_tampering_fail_alike() -> None:
    msg = cose.encrypt(
        b"pt", [RecipientSpec(Alg.A128KW, KEK)], Alg.A128GCM, rng=SeededRandom("t")
    )
    opts = {"algorithms": GCM, "recipient_algorithms": ANY_RECIPIENT}
    wrong_kek = CoseKey.symmetric(b"b" * 16, kid=b"kid-1")
    ct = msg.ciphertext
    assert ct is not None
    rec = msg.recipients[0]
    variants = [
        (msg, wrong_kek),
        (attrs.evolve(msg, ciphertext=bytes([ct[0] ^ 1]) + ct[1:]), KEK),
        (attrs.evolve(msg, ciphertext=ct[:-1]), KEK),
        (attrs.evolve(msg, headers=cose.Headers.make({1: 1, 3: 0}, msg.headers.unprotected)), KEK),
        (attrs.evolve(msg, recipients=(attrs.evolve(rec, ciphertext=rec.ciphertext[:-8]),)), KEK),
        (attrs.evolve(msg, recipients=(attrs.evolve(rec, ciphertext=b"\x00" * 24),)), KEK),
    ]
    for variant, key in variants:
        with pytest.raises(DecryptionFailed) as failed:
            cose.Encrypt.decode(variant.encode()).decrypt(key, **opts)
        assert failed.value.code == Code.COSE_DECRYPT_FAILED and not failed.value.detail
    with pytest.raises(DecryptionFailed):
        msg.decrypt(KEK, external_aad=b"x", **opts)


def test_ecdh_refusals() -> None:
    msg = cose.encrypt(b"pt", [RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public())], Alg.A128GCM)
    opts = {"algorithms": GCM, "recipient_algorithms": ANY_RECIPIENT}
    with pytest.raises(WireError) as info:  # the public key cannot decrypt
        msg.decrypt(DAK.public(), **opts)
    assert _code(info) == Code.COSE_BAD_KEY
    with pytest.raises(WireError) as info:  # curve does not fit
        msg.decrypt(DAK_X, **opts)
    assert _code(info) == Code.COSE_BAD_KEY
    rec = msg.recipients[0]
    epk = dict(rec.headers.unprotected[-1])
    # an ephemeral point not on the curve: a failed decryption
    off_curve = {**epk, -3: bytes(32)}
    bad = attrs.evolve(rec, headers=cose.Headers.make(rec.headers.protected, {-1: off_curve}))
    with pytest.raises(DecryptionFailed):
        attrs.evolve(msg, recipients=(bad,)).decrypt(DAK, **opts)
    for broken in ({**epk, 1: 4}, {1: 2, -1: 1}, {**epk, -2: b"short"}):
        bad = attrs.evolve(rec, headers=cose.Headers.make(rec.headers.protected, {-1: broken}))
        with pytest.raises(WireError) as info:
            attrs.evolve(msg, recipients=(bad,)).decrypt(DAK, **opts)
        assert _code(info) == Code.COSE_BAD_KEY
    missing = attrs.evolve(rec, headers=cose.Headers.make(rec.headers.protected, {}))
    with pytest.raises(WireError) as info:
        attrs.evolve(msg, recipients=(missing,)).decrypt(DAK, **opts)
    assert _code(info) == Code.COSE_BAD_KEY
    # the wrong KDF context (SUIT's "other" missing on one side) cannot decrypt
    suit = cose.encrypt(
        b"pt",
        [RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public(), supp_pub_other=cose.SUIT_KDF_OTHER)],
        Alg.A128GCM,
    )
    with pytest.raises(DecryptionFailed):
        suit.decrypt(DAK, **opts)


def test_detached_ciphertext_and_encryption_info() -> None:
    """The edbp flow: author encrypts under a CEK wrapped to the class key; the TAM unwraps
    the CEK and re-wraps it to one device (nil ciphertext); the device decrypts the payload."""
    rng = SeededRandom("flow")
    author = cose.encrypt(
        b"package", [RecipientSpec(Alg.A256KW, CK, unprotected={4: CK.kid})], Alg.A128GCM,
        rng=rng.fork("author"),
    )
    info, payload = author.detach()
    assert info.ciphertext is None
    info = cose.Encrypt.decode(info.encode())
    opts = {"algorithms": GCM, "recipient_algorithms": ANY_RECIPIENT}
    with pytest.raises(WireError) as missing:
        info.decrypt(CK, **opts)
    assert _code(missing) == Code.COSE_DETACHED_PAYLOAD_MISSING
    cek = info.unwrap_cek(CK, **opts)
    iv = info.headers.get(cose.HeaderLabel.IV)
    device_info = cose.encryption_info(
        [RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public(), supp_pub_other=cose.SUIT_KDF_OTHER)],
        Alg.A128GCM,
        cek=cek,
        iv=iv,
        protected=info.headers.protected,
        rng=rng.fork("tam"),
    )
    assert device_info.ciphertext is None
    back = cose.Encrypt.decode(device_info.encode())
    got = back.decrypt(
        DAK, detached_ciphertext=payload, supp_pub_other=cose.SUIT_KDF_OTHER, **opts
    )
    assert got == b"package"
    with pytest.raises(WireError):
        author.decrypt(CK, detached_ciphertext=payload, **opts)  # both attached and detached


def test_aes_ctr_is_gated() -> None:
    rng = SeededRandom("ctr")
    msg = cose.encrypt(b"fw", [RecipientSpec(Alg.A128KW, KEK)], Alg.A128CTR, rng=rng)
    assert msg.headers.protected_raw == b"" and msg.headers.unprotected[1] == int(Alg.A128CTR)
    assert len(msg.headers.unprotected[5]) == 16
    opts = {"algorithms": {Alg.A128CTR}, "recipient_algorithms": ANY_RECIPIENT}
    with pytest.raises(WireError) as info:
        msg.decrypt(KEK, **opts)
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED
    assert msg.decrypt(KEK, allow_unauthenticated=True, **opts) == b"fw"
    with pytest.raises(WireError) as info:  # not in this call's allow-list at all
        msg.decrypt(KEK, algorithms=GCM, recipient_algorithms=ANY_RECIPIENT,
                    allow_unauthenticated=True)
    assert _code(info) == Code.COSE_ALG_NOT_ALLOWED
    with pytest.raises(WireError):
        cose.encrypt(b"fw", [RecipientSpec(Alg.A128KW, KEK)], Alg.A128CTR, external_aad=b"x")
    with pytest.raises(WireError):
        cose.encrypt(b"fw", [RecipientSpec(Alg.A128KW, KEK)], Alg.A128CTR, protected={3: 0})
    nonempty = attrs.evolve(msg, headers=cose.Headers.make({3: 0}, msg.headers.unprotected))
    with pytest.raises(WireError) as info:
        nonempty.decrypt(KEK, allow_unauthenticated=True, **opts)
    assert _code(info) == Code.COSE_MALFORMED


def test_encrypt0() -> None:
    key = CoseKey.symmetric(bytes(16), kid=b"k")
    trace = cose.Trace()
    msg = cose.encrypt0(
        b"pt", key, Alg.A128GCM, rng=SeededRandom("e0"), unprotected={4: b"k"}, trace=trace
    )
    data = msg.encode()
    assert data[0] == 0xD0 and cbor.is_deterministic(data)
    back = cose.Encrypt0.decode(data)
    assert back.decrypt(key, algorithms=GCM) == b"pt"
    assert trace.enc_structure == cose.enc_structure("Encrypt0", msg.headers.protected_raw, b"")
    det, ct = back.detach()
    assert cose.Encrypt0.decode(det.encode()).decrypt(key, algorithms=GCM, detached_ciphertext=ct)
    with pytest.raises(WireError) as info:
        back.decrypt(CoseKey.symmetric(bytes(16), kid=b"k2"), algorithms=GCM)
    assert _code(info) == Code.COSE_KID_MISMATCH
    with pytest.raises(DecryptionFailed):
        back.decrypt(CoseKey.symmetric(bytes(32)), algorithms=GCM)
    with pytest.raises(WireError) as info:
        back.decrypt(DAK, algorithms=GCM)
    assert _code(info) == Code.COSE_ALG_KEY_MISMATCH


def test_iv_checks() -> None:
    key = CoseKey.symmetric(bytes(16))
    msg = cose.encrypt0(b"pt", key, Alg.A128GCM, iv=bytes(12))
    for unprotected in ({5: bytes(11)}, {}, {6: b"\x01"}):
        bad = attrs.evolve(msg, headers=cose.Headers.make(msg.headers.protected, unprotected))
        with pytest.raises(WireError) as info:
            cose.Encrypt0.decode(bad.encode()).decrypt(key, algorithms=GCM)
        assert _code(info) == Code.COSE_BAD_IV
    with pytest.raises(WireError) as info:
        cose.encrypt0(b"pt", key, Alg.A128GCM, iv=bytes(16))
    assert _code(info) == Code.COSE_BAD_IV


def test_structure_refusals() -> None:
    msg = cose.encrypt(b"pt", [RecipientSpec(Alg.A128KW, KEK)], Alg.A128GCM)
    body = msg.to_obj().value
    nested = [*body[3][0], []]
    for value, code in (
        ([*body[:3], []], Code.COSE_MALFORMED),  # no recipients
        ([*body[:3], [nested]], Code.COSE_MALFORMED),  # nested recipients: out of profile
        ([*body[:3], [[b"", {}, None]]], Code.COSE_MALFORMED),
        (body[:3], Code.COSE_MALFORMED),
    ):
        with pytest.raises(WireError) as info:
            cose.Encrypt.decode(cbor.dumps(cbor.Tag(96, value)))
        assert _code(info) == code
    with pytest.raises(WireError) as info:
        cose.Encrypt.decode(cbor.dumps(cbor.Tag(16, body)))
    assert _code(info) == Code.COSE_WRONG_TAG
    # a direct recipient must be alone, on both sides
    with pytest.raises(WireError):
        cose.encrypt(
            b"pt", [RecipientSpec(Alg.DIRECT, KEK), RecipientSpec(Alg.A128KW, KEK)], Alg.A128GCM
        )
    with pytest.raises(WireError):
        cose.encrypt(b"pt", [], Alg.A128GCM)
    with pytest.raises(WireError):
        cose.encrypt(b"pt", [RecipientSpec(Alg.A128KW, KEK)], Alg.ESP256)
    with pytest.raises(WireError):
        cose.encrypt(b"pt", [RecipientSpec(Alg.A128KW, CK)], Alg.A128GCM)  # KEK size


def test_kdf_context_matches_suit_draft() -> None:
    """draft-ietf-suit-firmware-encryption, a128kw_kdf_context.diag."""
    ctx = cose.KdfContext(
        alg=int(Alg.A128KW),
        key_data_length=128,
        protected=bytes.fromhex("a101381c"),
        supp_pub_other=cose.SUIT_KDF_OTHER,
    )
    expected = "842283f6f6f683f6f6f683188044a101381c57" + b"SUIT Payload Encryption".hex()
    assert ctx.encode().hex() == expected


def test_rng_order_and_replay() -> None:
    """The draw order is part of the API: CEK, IV, then each recipient's ephemeral key."""
    spec = RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public())
    a = cose.encrypt(b"pt", [spec], Alg.A128GCM, rng=SeededRandom("same"))
    b = cose.encrypt(b"pt", [spec], Alg.A128GCM, rng=SeededRandom("same"))
    assert a.encode() == b.encode()
    rng = SeededRandom("same")
    cek, iv = rng.random_bytes(16), rng.random_bytes(12)
    eph = CoseKey.generate(Curve.P256, rng)
    trace = cose.Trace()
    c = cose.encrypt(
        b"pt", [attrs.evolve(spec, ephemeral_key=eph)], Alg.A128GCM, cek=cek, iv=iv, trace=trace
    )
    assert c.encode() == a.encode()
    assert trace.cek == cek and trace.iv == iv and trace.recipients[0].ephemeral_key == eph
    assert cek.hex() not in repr(trace) and repr(cek) not in repr(trace)


def test_wrong_argument_types_are_edbp_errors() -> None:
    """Caller mistakes surface as WireError, never as a TypeError from cryptography."""
    spec = RecipientSpec(Alg.A128KW, KEK)
    calls = [
        lambda: cose.encrypt("text", [spec], Alg.A128GCM),  # type: ignore[arg-type]
        lambda: cose.encrypt(b"pt", [spec], Alg.A128GCM, external_aad="x"),  # type: ignore[arg-type]
        lambda: cose.encrypt(b"pt", [spec], Alg.A128GCM, cek="k" * 16),  # type: ignore[arg-type]
        lambda: cose.encrypt(b"pt", ["spec"], Alg.A128GCM),  # type: ignore[list-item]
        lambda: cose.encrypt(b"pt", [RecipientSpec(Alg.A128KW, b"k" * 16)], Alg.A128GCM),  # type: ignore[arg-type]
        lambda: cose.encrypt0(b"pt", b"k" * 16, Alg.A128GCM),  # type: ignore[arg-type]
        lambda: cose.encrypt0(None, KEK, Alg.A128GCM),  # type: ignore[arg-type]
        lambda: cose.sign1("payload", DAK, Alg.ESP256),  # type: ignore[arg-type]
        lambda: cose.sign1(b"payload", "key", Alg.ESP256),  # type: ignore[arg-type]
        lambda: cose.encrypt(b"pt", [spec], Alg.A128GCM).decrypt(
            KEK, algorithms=GCM, recipient_algorithms=ANY_RECIPIENT, external_aad=1  # type: ignore[arg-type]
        ),
        lambda: cose.sign1(b"p", DAK, Alg.ESP256).verify(
            DAK, algorithms=[Alg.ESP256], external_aad="x"  # type: ignore[arg-type]
        ),
    ]
    for call in calls:
        with pytest.raises(WireError):
            call()
