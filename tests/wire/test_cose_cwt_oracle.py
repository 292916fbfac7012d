"""python-cwt as an independent COSE implementation: what edbp emits, cwt verifies/decrypts,
and what cwt emits, edbp verifies/decrypts, for every suite edbp's profile uses."""

from __future__ import annotations

from typing import Any

import pytest
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cose
from edbp.reference.wire.cose import Alg, CoseKey, Curve

from edbp.errors import Code, DecryptionFailed, VerificationError, WireError

cwt = pytest.importorskip("cwt")

SIGN_SUITES = [
    (Curve.P256, Alg.ESP256),
    (Curve.P256, Alg.ES256),
    (Curve.ED25519, Alg.ED25519),
    (Curve.ED25519, Alg.EDDSA),
]
CONTENT = [Alg.A128GCM, Alg.A256GCM]
KEY_WRAPS = [Alg.A128KW, Alg.A256KW]
ECDH = [Alg.ECDH_ES_A128KW, Alg.ECDH_ES_A256KW, Alg.ECDH_ES_HKDF_256]


def cwt_key(key: CoseKey, alg: Alg | None = None) -> Any:
    """The same key as a python-cwt COSEKey (via the COSE_Key map)."""
    m = key.to_map()
    if alg is not None:
        m[3] = int(alg)
    return cwt.COSEKey.new(m)


def kdf_context_for(alg: Alg, content: Alg, protected: bytes, other: bytes | None) -> list[Any]:
    """The COSE_KDF_Context cwt needs to be told (it cannot know SuppPubInfo.other)."""
    info = cose.alg_info(alg)
    target = int(info.wrap) if info.wrap else int(content)
    bits = (info.key_bytes if info.wrap else cose.alg_info(content).key_bytes) * 8
    supp_pub: list[Any] = [bits, protected]
    if other is not None:
        supp_pub.append(other)
    return [target, [None, None, None], [None, None, None], supp_pub]


@pytest.mark.parametrize(("crv", "alg"), SIGN_SUITES, ids=lambda v: getattr(v, "name", v))
@pytest.mark.parametrize("detached", [False, True])
def test_sign1_edbp_to_cwt(crv: Curve, alg: Alg, detached: bool) -> None:
    key = CoseKey.generate(crv, SeededRandom(f"sign-{crv}-{alg}"), kid=b"signer")
    msg = cose.sign1(
        b"payload", key, alg, unprotected={4: b"signer"}, external_aad=b"ext", detached=detached
    )
    got = cwt.COSE.new().decode(
        msg.encode(),
        cwt_key(key.public(), alg),
        external_aad=b"ext",
        detached_payload=b"payload" if detached else None,
    )
    assert got == b"payload"


@pytest.mark.parametrize(("crv", "alg"), SIGN_SUITES, ids=lambda v: getattr(v, "name", v))
def test_sign1_cwt_to_edbp(crv: Curve, alg: Alg) -> None:
    key = CoseKey.generate(crv, SeededRandom(f"sign-{crv}-{alg}"), kid=b"signer")
    data = cwt.COSE.new().encode_and_sign(
        b"theirs", cwt_key(key, alg), protected={1: int(alg)}, unprotected={4: b"signer"},
        external_aad=b"ext",
    )
    msg = cose.Sign1.decode(data)  # cwt's output is deterministic CBOR: the strict decoder
    assert msg.verify(key.public(), algorithms={alg}, external_aad=b"ext") == b"theirs"
    with pytest.raises(VerificationError):
        msg.verify(key.public(), algorithms={alg}, external_aad=b"other")


@pytest.mark.parametrize("content", CONTENT, ids=lambda a: a.name)
@pytest.mark.parametrize("kw", KEY_WRAPS, ids=lambda a: a.name)
def test_encrypt_kw_both_ways(content: Alg, kw: Alg) -> None:
    rng = SeededRandom(f"kw-{content}-{kw}")
    kek = CoseKey.symmetric(rng.random_bytes(cose.alg_info(kw).key_bytes), kid=b"kek")
    ours = cose.encrypt(
        b"ours", [cose.RecipientSpec(kw, kek, unprotected={4: b"kek"})], content, rng=rng,
        external_aad=b"ext",
    )
    assert cwt.COSE.new().decode(ours.encode(), cwt_key(kek, kw), external_aad=b"ext") == b"ours"

    cek = cwt.COSEKey.from_symmetric_key(alg=int(content))
    recipient = cwt.Recipient.new(unprotected={1: int(kw), 4: b"kek"}, sender_key=cwt_key(kek, kw))
    theirs = cwt.COSE.new().encode_and_encrypt(
        b"theirs", cek, protected={1: int(content)}, recipients=[recipient], external_aad=b"ext"
    )
    msg = cose.Encrypt.decode(theirs)
    got = msg.decrypt(kek, algorithms={content}, recipient_algorithms={kw}, external_aad=b"ext")
    assert got == b"theirs"


@pytest.mark.parametrize("content", CONTENT, ids=lambda a: a.name)
@pytest.mark.parametrize("alg", ECDH, ids=lambda a: a.name)
@pytest.mark.parametrize("other", [None, cose.SUIT_KDF_OTHER], ids=["plain", "suit"])
def test_encrypt_ecdh_both_ways(content: Alg, alg: Alg, other: bytes | None) -> None:
    rng = SeededRandom(f"ecdh-{content}-{alg}-{other!r}")
    dak = CoseKey.generate(Curve.P256, rng, kid=b"dak")
    spec = cose.RecipientSpec(alg, dak.public(), supp_pub_other=other)
    ours = cose.encrypt(b"ours", [spec], content, rng=rng)
    ctx = kdf_context_for(alg, content, ours.recipients[0].headers.protected_raw, other)
    assert cwt.COSE.new().decode(ours.encode(), cwt_key(dak, alg), context=ctx) == b"ours"

    recipient = cwt.Recipient.new(
        protected={1: int(alg)}, recipient_key=cwt_key(dak.public(), alg), context=ctx
    )
    key = cwt.COSEKey.from_symmetric_key(alg=int(content)) if cose.alg_info(alg).wrap else None
    theirs = cwt.COSE.new().encode_and_encrypt(
        b"theirs", key, protected={1: int(content)}, recipients=[recipient]
    )
    msg = cose.Encrypt.decode(theirs)
    opts: dict[str, Any] = {"algorithms": {content}, "recipient_algorithms": {alg}}
    assert msg.decrypt(dak, supp_pub_other=other, **opts) == b"theirs"
    # the KDF context binds SuppPubInfo.other: the wrong one cannot decrypt
    wrong = b"other" if other is None else None
    with pytest.raises(DecryptionFailed):
        msg.decrypt(dak, supp_pub_other=wrong, **opts)


def test_encrypt_direct_both_ways() -> None:
    rng = SeededRandom("direct")
    cek = CoseKey.symmetric(rng.random_bytes(16), kid=b"cek")
    ours = cose.encrypt(
        b"ours", [cose.RecipientSpec(Alg.DIRECT, cek, unprotected={4: b"cek"})], Alg.A128GCM,
        rng=rng,
    )
    assert cwt.COSE.new().decode(ours.encode(), cwt_key(cek, Alg.A128GCM)) == b"ours"
    recipient = cwt.Recipient.new(unprotected={1: -6, 4: b"cek"})
    theirs = cwt.COSE.new().encode_and_encrypt(
        b"theirs", cwt_key(cek, Alg.A128GCM), protected={1: 1}, recipients=[recipient]
    )
    got = cose.Encrypt.decode(theirs).decrypt(
        cek, algorithms={Alg.A128GCM}, recipient_algorithms={Alg.DIRECT}
    )
    assert got == b"theirs"


@pytest.mark.parametrize("content", [*CONTENT, Alg.CHACHA20_POLY1305], ids=lambda a: a.name)
def test_encrypt0_both_ways(content: Alg) -> None:
    rng = SeededRandom(f"enc0-{content}")
    key = CoseKey.symmetric(rng.random_bytes(cose.alg_info(content).key_bytes), kid=b"k")
    ours = cose.encrypt0(b"ours", key, content, rng=rng, external_aad=b"ext")
    assert cwt.COSE.new().decode(ours.encode(), cwt_key(key, content), external_aad=b"ext") == (
        b"ours"
    )
    theirs = cwt.COSE.new().encode_and_encrypt(
        b"theirs", cwt_key(key, content), protected={1: int(content)}, external_aad=b"ext"
    )
    got = cose.Encrypt0.decode(theirs).decrypt(key, algorithms={content}, external_aad=b"ext")
    assert got == b"theirs"


def test_a128ctr_with_a128kw_both_ways() -> None:
    """AES-CTR (no integrity) as SUIT uses it: edbp refuses it unless told a digest covers it."""
    rng = SeededRandom("ctr")
    kek = CoseKey.symmetric(rng.random_bytes(16), kid=b"kid-1")
    ours = cose.encrypt(
        b"ours", [cose.RecipientSpec(Alg.A128KW, kek, unprotected={4: b"kid-1"})], Alg.A128CTR,
        rng=rng,
    )
    assert ours.headers.protected_raw == b""
    got = cwt.COSE.new().decode(ours.encode(), cwt_key(kek, Alg.A128KW), enable_non_aead=True)
    assert got == b"ours"

    cek = cwt.COSEKey.from_symmetric_key(alg=int(Alg.A128CTR))
    recipient = cwt.Recipient.new(
        unprotected={1: -3, 4: b"kid-1"}, sender_key=cwt_key(kek, Alg.A128KW)
    )
    theirs = cwt.COSE.new().encode_and_encrypt(
        b"theirs", cek, unprotected={1: int(Alg.A128CTR)}, recipients=[recipient],
        enable_non_aead=True,
    )
    msg = cose.Encrypt.decode(theirs)
    opts: dict[str, Any] = {"algorithms": {Alg.A128CTR}, "recipient_algorithms": {Alg.A128KW}}
    assert msg.decrypt(kek, allow_unauthenticated=True, **opts) == b"theirs"
    with pytest.raises(WireError) as refused:
        msg.decrypt(kek, **opts)
    assert refused.value.code == Code.COSE_ALG_NOT_ALLOWED
