"""Hypothesis properties of the COSE layer: round trips, canonical encoding, and fuzzing.

Fuzz properties: arbitrary bytes and mutated valid messages, through decode and
verify/decrypt, raise nothing but ``EdbpError`` subclasses; and a mutated message that still
verifies or decrypts yields exactly the original payload (integrity, not just no crash).
"""

from __future__ import annotations

import itertools
from typing import Any

from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor, cose
from edbp.reference.wire.cose import Alg, CoseKey, Curve, RecipientSpec
from hypothesis import given
from hypothesis import strategies as st

from edbp.errors import EdbpError

P256 = CoseKey.generate(Curve.P256, SeededRandom("prop-p256"), kid=b"p256")
ED = CoseKey.generate(Curve.ED25519, SeededRandom("prop-ed"), kid=b"ed")
DAK = CoseKey.generate(Curve.P256, SeededRandom("prop-dak"), kid=b"dak")
DAK_X = CoseKey.generate(Curve.X25519, SeededRandom("prop-dakx"), kid=b"dakx")
KEK = CoseKey.symmetric(b"k" * 16, kid=b"kek")
CK = CoseKey.symmetric(b"c" * 32, kid=b"ck")

# labels edbp gives no meaning to, with arbitrary CBOR values; plus typed known labels
FREE_LABELS = st.one_of(
    st.integers(min_value=100, max_value=2**32), st.integers(min_value=-(2**32), max_value=-100),
    st.text(min_size=1, max_size=8),
)
CBOR_VALUES = st.recursive(
    st.one_of(st.integers(min_value=-(2**63), max_value=2**63), st.binary(max_size=16),
              st.text(max_size=8), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.integers(-50, 50), inner, max_size=3)),
    max_leaves=8,
)
KNOWN = st.fixed_dictionaries(
    {},
    optional={
        4: st.binary(max_size=16),  # kid
        3: st.one_of(st.integers(min_value=0, max_value=65535), st.text(max_size=10)),
        16: st.text(max_size=8),  # typ
    },
)


@st.composite
def header_buckets(draw: st.DrawFn) -> tuple[dict[Any, Any], dict[Any, Any]]:
    protected = {**draw(st.dictionaries(FREE_LABELS, CBOR_VALUES, max_size=3)), **draw(KNOWN)}
    unprotected = draw(st.dictionaries(FREE_LABELS, CBOR_VALUES, max_size=3))
    for label in list(unprotected):
        if label in protected:
            del unprotected[label]
    return protected, unprotected


@st.composite
def sign1_messages(draw: st.DrawFn) -> cose.Sign1:
    protected, unprotected = draw(header_buckets())
    protected[1] = draw(st.sampled_from([-9, -7, -19, -8]))
    return cose.Sign1(
        headers=cose.Headers.make(protected, unprotected),
        payload=draw(st.one_of(st.none(), st.binary(max_size=64))),
        signature=draw(st.binary(max_size=64)),
        tagged=draw(st.booleans()),
    )


@st.composite
def encrypt_messages(draw: st.DrawFn) -> cose.Encrypt:
    protected, unprotected = draw(header_buckets())
    unprotected.pop(5, None)
    protected[1] = draw(st.sampled_from([1, 3, 24]))
    unprotected[5] = draw(st.binary(min_size=12, max_size=12))
    recipients = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        rp, ru = draw(header_buckets())
        ru[1] = draw(st.sampled_from([-3, -5, -29, -31]))
        rp.pop(1, None)
        recipients.append(cose.Recipient(cose.Headers.make(rp, ru), draw(st.binary(max_size=40))))
    return cose.Encrypt(
        headers=cose.Headers.make(protected, unprotected),
        ciphertext=draw(st.one_of(st.none(), st.binary(max_size=64))),
        recipients=tuple(recipients),
        tagged=draw(st.booleans()),
    )


@given(sign1_messages())
def test_sign1_round_trip(msg: cose.Sign1) -> None:
    data = msg.encode()
    assert cbor.is_deterministic(data)
    assert cose.Sign1.decode(data, tagged=msg.tagged) == msg
    assert cose.Sign1.decode(data, tagged=None).encode() == data


@given(encrypt_messages())
def test_encrypt_round_trip(msg: cose.Encrypt) -> None:
    data = msg.encode()
    assert cbor.is_deterministic(data)
    assert cose.Encrypt.decode(data, tagged=msg.tagged) == msg
    enc0 = cose.Encrypt0(msg.headers, msg.ciphertext, msg.tagged)
    assert cose.Encrypt0.decode(enc0.encode(), tagged=None) == enc0


@given(st.sampled_from([Curve.P256, Curve.X25519, Curve.ED25519]), st.binary(min_size=8))
def test_cose_key_round_trip(crv: Curve, seed: bytes) -> None:
    key = CoseKey.generate(crv, SeededRandom(seed), kid=seed[:4].hex().encode())
    assert CoseKey.decode(key.encode()) == key
    assert CoseKey.from_jwk(key.to_jwk()) == key
    assert CoseKey.decode(key.public().encode()).thumbprint() == key.thumbprint()


@given(st.binary(max_size=256), st.binary(max_size=32), st.binary(max_size=16))
def test_sign_verify_any_payload(payload: bytes, aad: bytes, seed: bytes) -> None:
    for key, alg in ((P256, Alg.ESP256), (ED, Alg.ED25519)):
        msg = cose.sign1(payload, key, alg, external_aad=aad)
        back = cose.Sign1.decode(msg.encode())
        assert back.verify(key.public(), algorithms={alg}, external_aad=aad) == payload


@given(
    st.binary(max_size=256),
    st.binary(max_size=16),
    st.sampled_from([Alg.A128KW, Alg.A256KW, Alg.ECDH_ES_A128KW, Alg.ECDH_ES_HKDF_256]),
    st.sampled_from([Alg.A128GCM, Alg.A256GCM, Alg.CHACHA20_POLY1305]),
)
def test_encrypt_decrypt_any_plaintext(
    plaintext: bytes, seed: bytes, alg: Alg, content: Alg
) -> None:
    if alg in cose.ECDH_ALGS:
        sender_side, receiver = DAK.public(), DAK
    else:
        receiver = KEK if alg == Alg.A128KW else CK
        sender_side = receiver
    spec = RecipientSpec(alg, sender_side)
    msg = cose.encrypt(plaintext, [spec], content, rng=SeededRandom(seed))
    back = cose.Encrypt.decode(msg.encode())
    got = back.decrypt(receiver, algorithms={content}, recipient_algorithms={alg})
    assert got == plaintext


DECODERS = [cose.Sign1.decode, cose.Encrypt.decode, cose.Encrypt0.decode, CoseKey.decode]


def _process(data: bytes) -> list[bytes]:
    """Everything a receiver would do with ``data``; returns the payloads that came out."""
    outputs = []
    for lenient in (False, True):
        for decode in DECODERS:
            try:
                msg = decode(data, lenient=lenient)
            except EdbpError:
                continue
            try:
                if isinstance(msg, cose.Sign1):
                    for key in (P256, ED):
                        try:
                            outputs.append(
                                msg.verify(key.public(), algorithms=cose.SIGNATURE_ALGS,
                                           detached_payload=None if msg.payload else b"d")
                            )
                        except EdbpError:
                            pass
                elif isinstance(msg, cose.Encrypt):
                    for key, other in itertools.product(
                        (KEK, CK, DAK, DAK_X), (None, cose.SUIT_KDF_OTHER)
                    ):
                        try:
                            outputs.append(
                                msg.decrypt(
                                    key, algorithms=cose.CONTENT_ALGS,
                                    recipient_algorithms=cose.RECIPIENT_ALGS,
                                    allow_unauthenticated=True,
                                    detached_ciphertext=None if msg.ciphertext else b"d" * 16,
                                    supp_pub_other=other,
                                )
                            )
                        except EdbpError:
                            pass
                elif isinstance(msg, cose.Encrypt0):
                    try:
                        outputs.append(msg.decrypt(KEK, algorithms=cose.CONTENT_ALGS))
                    except EdbpError:
                        pass
                elif isinstance(msg, CoseKey):
                    for fn in (msg.thumbprint, msg.public_key, msg.to_jwk, msg.encode):
                        try:
                            fn()
                        except EdbpError:
                            pass
            except EdbpError:
                pass
    return outputs


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_edbp_errors(data: bytes) -> None:
    _process(data)


def _valid_messages() -> list[tuple[bytes, bytes]]:
    rng = SeededRandom("valid")
    payload = b"the payload bytes"
    return [
        (cose.sign1(payload, P256, Alg.ESP256, unprotected={4: b"p256"}).encode(), payload),
        (cose.sign1(payload, ED, Alg.ED25519, protected={4: b"ed"}).encode(), payload),
        (
            cose.encrypt(payload, [RecipientSpec(Alg.A128KW, KEK, unprotected={4: b"kek"})],
                         Alg.A128GCM, rng=rng).encode(),
            payload,
        ),
        (
            cose.encrypt(
                payload,
                [RecipientSpec(Alg.ECDH_ES_A128KW, DAK.public(),
                               supp_pub_other=cose.SUIT_KDF_OTHER),
                 RecipientSpec(Alg.A256KW, CK)],
                Alg.A256GCM, rng=rng,
            ).encode(),
            payload,
        ),
        (
            cose.encrypt(payload, [RecipientSpec(Alg.ECDH_ES_HKDF_256, DAK_X.public())],
                         Alg.CHACHA20_POLY1305, rng=rng).encode(),
            payload,
        ),
        (cose.encrypt0(payload, KEK, Alg.A128GCM, rng=rng).encode(), payload),
        (DAK.encode(), b""),
    ]


VALID = _valid_messages()


@given(st.sampled_from(VALID), st.data())
def test_mutated_messages_only_edbp_errors_and_never_a_wrong_payload(
    sample: tuple[bytes, bytes], data: st.DataObject
) -> None:
    original, payload = sample
    encoded = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
        if op == "flip":
            encoded[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif op == "set":
            encoded[pos] = data.draw(st.integers(min_value=0, max_value=255))
        elif op == "insert":
            encoded.insert(pos, data.draw(st.integers(min_value=0, max_value=255)))
        elif op == "delete":
            del encoded[pos]
        else:
            del encoded[pos:]
        if not encoded:
            break
    for out in _process(bytes(encoded)):
        assert out == payload, "a mutated message yielded a payload that was never sent"


def test_valid_messages_are_processed() -> None:
    """The fuzz harness does reach verification and decryption (the property is not vacuous)."""
    for data, payload in VALID[:-1]:
        assert payload in _process(data)
