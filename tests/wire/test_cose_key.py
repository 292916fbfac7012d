"""COSE_Key conversions, validation, and RFC 9679 thumbprints."""

from __future__ import annotations

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from edbp.reference.rand import SeededRandom
from edbp.reference.wire import cbor
from edbp.reference.wire.cose import Alg, CoseKey, Curve, KeyType

from edbp.errors import Code, WireError

# cose-wg KeySet.txt / RFC 9052 Appendix C.7.1 "meriadoc" key (public domain examples)
MERIADOC_JWK = {
    "kty": "EC",
    "kid": "meriadoc.brandybuck@buckland.example",
    "crv": "P-256",
    "x": "Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0",
    "y": "HlLtdXARY_f55A3fnzQbPcm6hgr34Mp8p-nuzQCE0Zw",
    "d": "r_kHyZ-a06rmxM3yESK84r1otSg-aQcVStkRhA-iCM8",
}


def _code(exc: pytest.ExceptionInfo[Exception]) -> Code:
    return exc.value.code  # type: ignore[attr-defined,no-any-return]


def test_rfc9679_thumbprint_example() -> None:
    """RFC 9679 §6 example: the same P-256 key, thumbprint 496bd8af…"""
    key = CoseKey.from_jwk(MERIADOC_JWK)
    expected = "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec"
    assert key.thumbprint().hex() == expected
    # only the required parameters count: kid, alg and the private part do not change it
    assert key.public().thumbprint().hex() == expected
    assert attrs.evolve(key, kid=None, alg=-9).thumbprint().hex() == expected
    assert key.thumbprint_uri().startswith("urn:ietf:params:oauth:ckt:sha-256:SWvYr63zB")
    assert len(key.thumbprint(Alg.SHA512)) == 64


def test_jwk_round_trip_and_hex_spelling() -> None:
    key = CoseKey.from_jwk(MERIADOC_JWK)
    assert key.kid == MERIADOC_JWK["kid"].encode()
    jwk = key.to_jwk()
    assert {k: jwk[k] for k in MERIADOC_JWK} == MERIADOC_JWK
    assert CoseKey.from_jwk(jwk) == key
    okp = CoseKey.from_jwk(
        {
            "kty": "OKP",
            "crv": "X25519",
            "x_hex": "7FFE91F5F932DAE92BE603F55FAC0F4C4C9328906EE550EDCB7F6F7626EBC07E",
            "d_hex": "00a943daa2e38b2edbf0da0434eaaec6016fe25dcd5ecacbc07dc30300567655",
        }
    )
    assert okp.kty == KeyType.OKP and okp.crv == Curve.X25519
    okp.private_key()  # d matches x
    sym = CoseKey.from_jwk({"kty": "oct", "k": "hJtXIZ2uSN5kbQfbtTNWbg", "kid": "our-secret"})
    assert sym.k == bytes.fromhex("849B57219DAE48DE646D07DBB533566E")
    for bad in (
        {"kty": "RSA"},
        {"kty": "EC", "crv": "P-256", "x": 5},
        {"kty": "EC", "crv": "secp256k1", "x": "AA"},
        {"kty": "oct"},
        {"kty": "EC", "crv": "P-256", "x": "!!", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "x_hex": "zz"},
        {"kty": "oct", "k": "AA", "kid": 3},
    ):
        with pytest.raises(WireError) as info:
            CoseKey.from_jwk(bad)
        assert _code(info) == Code.COSE_BAD_KEY


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate,
        x25519.X25519PrivateKey.generate,
    ],
)
def test_cryptography_round_trip(make) -> None:  # type: ignore[no-untyped-def]
    priv = make()
    key = CoseKey.from_cryptography(priv, kid=b"k")
    assert key.has_private
    again = CoseKey.from_cryptography(key.private_key(), kid=b"k")
    assert again == key
    pub = key.public()
    assert not pub.has_private and pub.kid == b"k"
    assert CoseKey.from_cryptography(pub.public_key(), kid=b"k") == pub
    assert CoseKey.decode(key.encode()) == key
    assert cbor.is_deterministic(key.encode())


def test_private_parts_never_in_repr() -> None:
    key = CoseKey.generate(Curve.P256, SeededRandom("repr"))
    assert key.d is not None and key.d.hex() not in repr(key) and repr(key.d) not in repr(key)
    sym = CoseKey.symmetric(b"\x01secret-key-bytes", kid=b"kek")
    assert "secret-key-bytes" not in repr(sym)


def test_point_and_private_validation() -> None:
    key = CoseKey.from_jwk(MERIADOC_JWK)
    off_curve = attrs.evolve(key.public(), y=bytes(32))
    with pytest.raises(WireError) as info:
        off_curve.public_key()
    assert _code(info) == Code.COSE_BAD_KEY
    other_d = CoseKey.generate(Curve.P256, SeededRandom("d")).d
    with pytest.raises(WireError) as info:
        attrs.evolve(key, d=other_d).private_key()
    assert _code(info) == Code.COSE_BAD_KEY
    with pytest.raises(WireError):
        key.public().private_key()
    with pytest.raises(WireError):
        CoseKey.symmetric(b"k" * 16).public()
    with pytest.raises(WireError):
        attrs.evolve(key, d=b"\xff" * 32).private_key()  # d >= n


def test_compressed_point() -> None:
    key = CoseKey.from_jwk(MERIADOC_JWK).public()
    assert isinstance(key.y, bytes)
    sign_bit = bool(key.y[-1] & 1)
    compressed = CoseKey.from_map({1: 2, -1: 1, -2: key.x, -3: sign_bit})
    assert compressed.public_key().public_numbers() == key.public_key().public_numbers()
    assert compressed.thumbprint() == key.thumbprint()
    wrong = CoseKey.from_map({1: 2, -1: 1, -2: key.x, -3: not sign_bit})
    assert wrong.public_key().public_numbers() != key.public_key().public_numbers()


@pytest.mark.parametrize(
    "m",
    [
        "not a map",
        {},
        {1: 3},  # RSA
        {1: [2]},
        {1: True},
        {1: 4},  # symmetric without k
        {1: 4, -1: b""},
        {1: 2, -1: 1, -2: b"\x00" * 32},  # no y
        {1: 2, -1: 1, -2: b"\x00" * 31, -3: b"\x00" * 32},
        {1: 2, -1: 1, -2: b"\x00" * 32, -3: b"\x00" * 32, -4: b"\x00"},
        {1: 2, -1: 4, -2: b"\x00" * 32, -3: b"\x00" * 32},  # EC2 with an OKP curve
        {1: 2, -1: [1], -2: b"\x00" * 32, -3: b"\x00" * 32},
        {1: 1, -1: 1, -2: b"\x00" * 32},  # OKP with an EC2 curve
        {1: 1, -1: 4, -2: b"\x00" * 31},
        {1: 1, -1: 4, -2: b"\x00" * 32, -3: b"\x00" * 32},  # OKP with y
        {1: 1, -1: 4, -2: "text"},
        {1: 4, -1: b"k", 2: "kid"},
        {1: 4, -1: b"k", 3: 1.5},
        {1: 4, -1: b"k", 4: 1},
        {1: 4, -1: b"k", 5: 1},
    ],
)
def test_from_map_refusals(m: object) -> None:
    with pytest.raises(WireError) as info:
        CoseKey.from_map(m)
    assert _code(info) == Code.COSE_BAD_KEY


def test_check_alg_table() -> None:
    p256 = CoseKey.generate(Curve.P256, SeededRandom("a"))
    ed = CoseKey.generate(Curve.ED25519, SeededRandom("b"))
    xk = CoseKey.generate(Curve.X25519, SeededRandom("c"))
    fits = {
        Alg.ESP256: [p256],
        Alg.ES256: [p256],
        Alg.ED25519: [ed],
        Alg.EDDSA: [ed],
        Alg.ECDH_ES_A128KW: [p256, xk],
        Alg.A128KW: [CoseKey.symmetric(b"k" * 16)],
        Alg.A256KW: [CoseKey.symmetric(b"k" * 32)],
    }
    everyone = [p256, ed, xk, CoseKey.symmetric(b"k" * 16), CoseKey.symmetric(b"k" * 32)]
    for alg, good in fits.items():
        for key in everyone:
            if key in good:
                key.check_alg(alg)
            else:
                with pytest.raises(WireError) as info:
                    key.check_alg(alg)
                assert _code(info) == Code.COSE_ALG_KEY_MISMATCH
