"""RSA signatures over a prehashed image digest, as OP-TEE signs and checks them.

Signing uses ``cryptography`` throughout, except PSS with a caller-chosen salt (or a salt drawn
from a seeded ``RandomSource``, for vectors), which ``cryptography`` does not offer (it always
draws the salt itself from the OS). For that case the
EMSA-PSS encoding (RFC 8017 §9.1.1) is computed here and exponentiated with the key's CRT
parameters; the result is then checked with ``cryptography``'s own PSS verification before it
is returned, so a wrong encoding (or a faulty exponentiation) can never leave this module.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from edbp.reference.optee.constants import (
    DIGEST_SHA256,
    DIGEST_SHA384,
    DIGEST_SHA512,
    SigAlgo,
    chain_mode,
    digest_id,
)
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource, SystemRandom

from edbp.errors import Code, ConfigError, TAImageError

__all__ = ["hash_for", "is_pss", "new_hash", "sign_digest", "signature_size", "verify_digest"]

_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    DIGEST_SHA256: hashes.SHA256,
    DIGEST_SHA384: hashes.SHA384,
    DIGEST_SHA512: hashes.SHA512,
}
_HASHLIB = {DIGEST_SHA256: "sha256", DIGEST_SHA384: "sha384", DIGEST_SHA512: "sha512"}


def hash_for(algo: int) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash of a (supported) algorithm id."""
    return _HASHES[digest_id(algo)]()


def new_hash(algo: int) -> hashlib._Hash:
    """A fresh hashlib object for the image digest of ``algo`` (TEE_DIGEST_HASH_TO_ALGO)."""
    return hashlib.new(_HASHLIB[digest_id(algo)])


def is_pss(algo: int) -> bool:
    return chain_mode(algo) == 9


def signature_size(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> int:
    """sig_size: the modulus length in bytes (``math.ceil(key_size / 8)`` in sign_encrypt.py)."""
    return (key.key_size + 7) // 8


def _padding(algo: int) -> padding.AsymmetricPadding:
    h = hash_for(algo)
    if is_pss(algo):
        # the loader passes salt_len = hash_size; libtomcrypt's PSS decode wants it exactly
        return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    return padding.PKCS1v15()


def verify_digest(key: rsa.RSAPublicKey, algo: int, digest: bytes, sig: bytes) -> bool:
    """True if ``sig`` is a valid ``algo`` signature of the prehashed ``digest``."""
    try:
        key.verify(sig, digest, _padding(algo), utils.Prehashed(hash_for(algo)))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _mgf1(seed: bytes, length: int, hname: str) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(hname, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _pss_with_salt(key: rsa.RSAPrivateKey, algo: int, digest: bytes, salt: bytes) -> bytes:
    hname = _HASHLIB[digest_id(algo)]
    hlen = hashlib.new(hname).digest_size
    priv = key.private_numbers()
    n = priv.public_numbers.n
    mod_bits = n.bit_length()
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    if em_len < hlen + len(salt) + 2:
        raise ConfigError(Code.TA_KEY_TOO_SMALL, "key too small for PSS with this salt")
    m_hash = hashlib.new(hname, b"\x00" * 8 + digest + salt).digest()
    db = b"\x00" * (em_len - len(salt) - hlen - 2) + b"\x01" + salt
    masked = bytearray(
        a ^ b for a, b in zip(db, _mgf1(m_hash, em_len - hlen - 1, hname), strict=True)
    )
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = int.from_bytes(bytes(masked) + m_hash + b"\xbc", "big")
    # RSASP1 with CRT
    m1 = pow(em, priv.dmp1, priv.p)
    m2 = pow(em, priv.dmq1, priv.q)
    h = (priv.iqmp * (m1 - m2)) % priv.p
    s = m2 + h * priv.q
    return s.to_bytes(signature_size(key), "big")


def sign_digest(
    key: rsa.RSAPrivateKey,
    algo: int,
    digest: bytes,
    *,
    salt: bytes | None = None,
    rng: RandomSource = DEFAULT_RANDOM,
) -> bytes:
    """Sign the image digest. PSS draws its salt from ``rng`` unless ``salt`` is given (vectors);
    PKCS#1 v1.5 is deterministic and takes no salt."""
    if algo not in SigAlgo.__members__.values():
        raise ConfigError(Code.TA_UNSUPPORTED_ALGO, f"cannot sign with algo {algo:#010x}")
    hlen = hash_for(algo).digest_size
    if len(digest) != hlen:
        raise ConfigError(Code.TA_HASH_SIZE, "digest length does not match the algorithm")
    if not is_pss(algo):
        if salt is not None:
            raise ConfigError(Code.TA_UNSUPPORTED_ALGO, "PKCS#1 v1.5 takes no salt")
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hash_for(algo)))
    if salt is None:
        if isinstance(rng, SystemRandom):
            # OS randomness either way: let cryptography draw the salt (and do the RSA fast)
            return key.sign(digest, _padding(algo), utils.Prehashed(hash_for(algo)))
        salt = rng.random_bytes(hlen)
    if len(salt) != hlen:
        raise ConfigError(
            Code.TA_UNSUPPORTED_ALGO, f"PSS salt must be {hlen} bytes (the loader's salt length)"
        )
    sig = _pss_with_salt(key, algo, digest, salt)
    if not verify_digest(key.public_key(), algo, digest, sig):
        raise TAImageError(Code.TA_BAD_SIGNATURE, "PSS signature failed its own check")
    return sig
