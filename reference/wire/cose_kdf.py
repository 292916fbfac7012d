"""ECDH key agreement and the COSE KDF context (RFC 9053 §5.2, §6.3) with HKDF-SHA-256.

Why separate: the KDF context is where SUIT differs from plain COSE (``SuppPubInfo.other`` =
"SUIT Payload Encryption", draft-ietf-suit-firmware-encryption), and it is an intermediate the
vectors publish. Keeping its encoding in one small place makes both visible and testable against
cose-wg's ``Context_hex``.
"""

from __future__ import annotations

from typing import Any, cast

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edbp.errors import Code, WireError

from . import cbor
from .cose_key import CoseKey, PrivateKey

__all__ = [
    "SUIT_KDF_OTHER",
    "KdfContext",
    "PartyInfo",
    "ecdh_exchange",
    "ecdh_shared_secret",
    "hkdf_aes_expand",
    "hkdf_sha256",
]

#: ``SuppPubInfo.other`` of every SUIT payload-encryption KDF context
SUIT_KDF_OTHER = b"SUIT Payload Encryption"


@attrs.frozen
class PartyInfo:
    """PartyUInfo / PartyVInfo: ``[identity, nonce, other]``, each nil when absent."""

    identity: bytes | None = None
    nonce: bytes | int | None = None
    other: bytes | None = None

    def to_obj(self) -> list[Any]:
        return [self.identity, self.nonce, self.other]


@attrs.frozen
class KdfContext:
    """COSE_KDF_Context = [AlgorithmID, PartyUInfo, PartyVInfo, SuppPubInfo, ? SuppPrivInfo].

    ``alg`` is the algorithm the derived key is for (the key wrap for ECDH+KW, the content
    algorithm for direct ECDH); ``key_data_length`` is in bits; ``protected`` is the recipient
    layer's protected header bytes as sent.
    """

    alg: int
    key_data_length: int
    protected: bytes
    party_u: PartyInfo = PartyInfo()
    party_v: PartyInfo = PartyInfo()
    supp_pub_other: bytes | None = None
    supp_priv_info: bytes | None = attrs.field(default=None, repr=False)

    def encode(self) -> bytes:
        supp_pub: list[Any] = [self.key_data_length, self.protected]
        if self.supp_pub_other is not None:
            supp_pub.append(self.supp_pub_other)
        ctx: list[Any] = [self.alg, self.party_u.to_obj(), self.party_v.to_obj(), supp_pub]
        if self.supp_priv_info is not None:
            ctx.append(self.supp_priv_info)
        return cbor.dumps(ctx)


def hkdf_sha256(
    secret: bytes,
    context: bytes,
    length: int,
    salt: bytes | None = None,
    *,
    sha512: bool = False,
) -> bytes:
    """HKDF-SHA-256 (RFC 5869) as COSE uses it: no salt means a string of zeros."""
    algorithm = hashes.SHA512() if sha512 else hashes.SHA256()
    return HKDF(algorithm=algorithm, length=length, salt=salt, info=context).derive(secret)


def hkdf_aes_expand(prk: bytes, context: bytes, length: int) -> bytes:
    """HKDF-Expand with AES-CBC-MAC as the PRF (RFC 9053 §5.1, direct+HKDF-AES §6.1.2).

    There is no extract step for the AES versions: the shared secret is the PRK (so a salt
    header changes nothing). T(i) = AES-CBC-MAC(PRK, T(i-1) | info | i) with the full 128-bit
    MAC, the key size being the PRK's (AES-MAC 128/128 or 256/128, the one CBC-MAC in
    ``cose_mac.mac_tag``); the output is T(1) | T(2) | ... cut to ``length`` bytes.
    """
    from .cose_algs import Alg
    from .cose_mac import mac_tag

    prf = {16: Alg.AES_MAC_128_128, 32: Alg.AES_MAC_256_128}.get(len(prk))
    if prf is None or not 0 < length <= 255 * 16:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, "HKDF-AES needs a 128- or 256-bit secret")
    out = b""
    block = b""
    for counter in range(1, -(-length // 16) + 1):
        block = mac_tag(prf, prk, block + context + bytes([counter]))
        out += block
    return out[:length]


def ecdh_shared_secret(private: CoseKey, public: CoseKey) -> bytes:
    """ECDH Z between ``private`` and ``public``, which must be on the same curve.

    Raises COSE_BAD_KEY for mismatched curves, invalid points or an all-zero X25519 result.
    """
    if private.kty != public.kty or private.crv != public.crv:
        raise WireError(Code.COSE_BAD_KEY, "ECDH keys on different curves")
    return ecdh_exchange(private.private_key(), public)


#: the (private, public) concrete classes found to be EC keys (an ABC's isinstance walks its
#: registry on every call); the ECDH algorithm object, made once (immutable)
_EC_PAIRS: set[tuple[type, type]] = set()
_ECDH = ec.ECDH()


def ecdh_exchange(priv: PrivateKey, public: CoseKey) -> bytes:
    """``ecdh_shared_secret`` with the private side already a ``cryptography`` key object
    (an ephemeral key made for one exchange); the caller has checked that both keys are on
    the same curve. The same refusals."""
    pub = public.public_key()
    try:
        if (type(priv), type(pub)) in _EC_PAIRS or (
            isinstance(priv, ec.EllipticCurvePrivateKey)
            and isinstance(pub, ec.EllipticCurvePublicKey)
        ):
            _EC_PAIRS.add((type(priv), type(pub)))
            return cast(ec.EllipticCurvePrivateKey, priv).exchange(
                _ECDH, cast(ec.EllipticCurvePublicKey, pub)
            )
        if isinstance(priv, x25519.X25519PrivateKey) and isinstance(pub, x25519.X25519PublicKey):
            return priv.exchange(pub)
    except ValueError:
        raise WireError(Code.COSE_BAD_KEY, "ECDH failed") from None
    raise WireError(Code.COSE_BAD_KEY, "ECDH is defined for P-256 and X25519 here")
