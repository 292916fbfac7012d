"""Signature algorithms outside the edbp profile, as a generic COSE library offers them.

Why a module of its own: the reference (``edbp.reference.wire.cose_sign``) signs and verifies
only what protocol.md §4 allows, on purpose. The conformance suite needs the others to test
that a device refuses them on every layer it verifies (``sig.*-algorithms`` cases), and the
seeded faults need the generic verifier a vendor port might use (the ECDSA hash taken from
the ``alg`` header: ES384 over a P-256 key verifies there). Both sides live here, apart from
the reference, so that nothing in the reference can reach them.

Where the key allows it the signature is real: ES384 / ES512 are ECDSA over the P-256 key with
SHA-384 / SHA-512 (RFC 9053 §2.1 lets a generic library pair them with any curve); HMAC 256/256
is keyed with the verifier's *public* key bytes (the classic alg-confusion attack on a
verifier that looks up "the key" for whatever algorithm the header names); Ed25519/EdDSA and a
private-use id carry a valid ESP256 signature (a verifier that picks the algorithm from the key
accepts them); the other way round, ESP256 / ES256 over a trusted Ed25519 key carry a valid
Ed25519 signature. PS256 / RS256 have no RSA key to sign with: their signature has the shape a
2048-bit RSA signature has (256 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from edbp.reference.wire import cbor
from edbp.reference.wire.cose_algs import Alg, Curve
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sig_structure, sign_bytes

__all__ = [
    "FOREIGN_ALGS",
    "GENERIC_ECDSA_HASHES",
    "ON_ED25519_KEY",
    "foreign_sign1",
    "foreign_signature",
    "generic_ecdsa_verify",
]

#: name (a case parameter) -> COSE alg id a device must refuse on a layer verified with a
#: P-256 key. IANA ids edbp does not know (ES384 -35, ES512 -36, PS256 -37, RS256 -257), the
#: first private-use id (-65537), a MAC edbp knows (HMAC 256/256, 5), and the EdDSA ids edbp
#: accepts only with an Ed25519 key.
FOREIGN_ALGS: dict[str, int] = {
    "es384": -35,
    "es512": -36,
    "ps256": -37,
    "rs256": -257,
    "private-use": -65537,
    "hmac-256": int(Alg.HMAC_256_256),
    "eddsa": int(Alg.EDDSA),
    "ed25519": int(Alg.ED25519),
}

#: name -> an ECDSA alg id a device must refuse over a trusted *Ed25519* key (the other way
#: round: the label of the P-256 suite, a valid Ed25519 signature under it)
ON_ED25519_KEY: dict[str, int] = {
    "esp256-ed25519-key": int(Alg.ESP256),
    "es256-ed25519-key": int(Alg.ES256),
}

#: a generic ECDSA verifier's table: the hash it takes from the alg header (RFC 9053 §2.1)
GENERIC_ECDSA_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    int(Alg.ES256): hashes.SHA256,
    int(Alg.ESP256): hashes.SHA256,
    -35: hashes.SHA384,
    -36: hashes.SHA512,
}


def _public_bytes(key: CoseKey) -> bytes:
    pub = key.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    return pub.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def foreign_signature(alg: int, key: CoseKey, tbs: bytes) -> bytes:
    """The signature a generic COSE library would make with ``alg`` and ``key``: with an
    Ed25519 key always an Ed25519 signature (whatever ``alg`` says)."""
    if key.crv == Curve.ED25519:
        return sign_bytes(key, Alg.ED25519, tbs)
    if alg in (-35, -36):
        priv = key.private_key()
        assert isinstance(priv, ec.EllipticCurvePrivateKey)
        hash_alg = GENERIC_ECDSA_HASHES[alg]()
        r, s = decode_dss_signature(priv.sign(tbs, ec.ECDSA(hash_alg, deterministic_signing=True)))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == int(Alg.HMAC_256_256):
        return hmac.new(_public_bytes(key), tbs, hashlib.sha256).digest()
    if alg in (-37, -257):
        return hashlib.shake_256(b"rsa-2048-shaped" + tbs).digest(256)
    return sign_bytes(key, Alg.ESP256, tbs)  # EdDSA, Ed25519, private use: a P-256 signature


def foreign_sign1(
    payload: bytes, key: CoseKey, alg: int, *, detached: bool = False, kid: bytes | None = None
) -> bytes:
    """A tagged COSE_Sign1 over ``payload`` with ``alg`` in the protected header and ``kid``
    (default: ``key``'s thumbprint), signed as ``foreign_signature`` says (deterministic)."""
    protected = cbor.dumps({1: alg})
    signature = foreign_signature(alg, key, sig_structure(protected, b"", payload))
    kid = kid if kid is not None else key.thumbprint()
    body: list[Any] = [protected, {4: kid}, None if detached else payload, signature]
    return cbor.dumps(cbor.Tag(18, body))


def generic_ecdsa_verify(key: CoseKey, alg: int, tbs: bytes, signature: bytes) -> bool:
    """A generic library's ECDSA check: the hash from the ``alg`` header, the curve from the
    key, raw ``r‖s``. Not what edbp allows (ES384 over P-256 verifies here): faults only."""
    hash_type = GENERIC_ECDSA_HASHES.get(alg)
    pub = key.public_key()
    if hash_type is None or not isinstance(pub, ec.EllipticCurvePublicKey) or len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        pub.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hash_type()))
    except (InvalidSignature, ValueError):
        return False
    return True
