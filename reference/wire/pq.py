"""Post-quantum primitives of the `edbp-pq` suite: ML-DSA-65 and the MLKEM768-X25519 HPKE KEM.

Why a module of its own: the classical kit must keep working on ``cryptography`` < 50, which has
neither ``hazmat.primitives.asymmetric.mldsa`` nor ``hazmat.primitives.hpke``. Every PQ use in
edbp goes through here; the imports are guarded, ``available()`` says whether this build can run
the suite, and everything else raises ``WireError(COSE_PQ_UNAVAILABLE)`` (220) when it cannot,
so a device or TAM without the primitives simply does not offer the suite.

Key formats (spec/protocol.md section 4.1):

- ML-DSA-65: the 32-byte FIPS 204 seed is the private key (RFC 9964 AKP ``priv``), the raw
  1952-byte encoding the public key (``pub``). Signing is FIPS 204 "hedged" (randomised) with an
  empty context: ``cryptography`` offers no deterministic variant, so signatures do not replay
  byte for byte (spec/vectors.md says how vectors cope).
- MLKEM768-X25519 (draft-ietf-hpke-pq, KEM id 0x647a, the X-Wing construction): the private key
  is a 32-byte seed expanded with SHAKE256 into the ML-KEM-768 seed ``d‖z`` (64 bytes) and the
  X25519 scalar (32 bytes); the public key is ``pk_M‖pk_X`` (1184 + 32 bytes); ``enc`` is
  ``ct_M‖ct_X`` (1088 + 32 bytes).

``hpke_intermediates`` recomputes, on the recipient's side, the KEM shared secret (X-Wing
combiner) and the RFC 9180 key schedule (key, base_nonce) from the private key and ``enc``; the
vector generator records them, and the test suite checks that the recomputed key opens what
``cryptography`` sealed, so the recorded intermediates are the ones the library used.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edbp.errors import Code, DecryptionFailed, VerificationError, WireError

try:  # cryptography >= 50
    from cryptography.hazmat.primitives import hpke as _hpke
    from cryptography.hazmat.primitives.asymmetric import mldsa as _mldsa
    from cryptography.hazmat.primitives.asymmetric import mlkem as _mlkem

    _IMPORTED = True
except ImportError:  # pragma: no cover - exercised only on cryptography < 50
    _IMPORTED = False

__all__ = [
    "HPKE_AEAD_ID",
    "HPKE_KDF_ID",
    "HPKE_KEM_ID",
    "MLDSA65_PUBLIC_BYTES",
    "MLDSA65_SIGNATURE_BYTES",
    "XWING_ENC_BYTES",
    "XWING_PUBLIC_BYTES",
    "HpkeIntermediates",
    "available",
    "hpke_intermediates",
    "hpke_open",
    "hpke_seal",
    "mldsa65_public",
    "mldsa65_sign",
    "mldsa65_verify",
    "pinned",
    "require",
    "unavailable_reason",
    "xwing_public",
]

MLDSA65_PUBLIC_BYTES = 1952
MLDSA65_SIGNATURE_BYTES = 3309
MLDSA_SEED_BYTES = 32
XWING_SEED_BYTES = 32
_MLKEM768_PUBLIC_BYTES = 1184
_MLKEM768_CT_BYTES = 1088
XWING_PUBLIC_BYTES = _MLKEM768_PUBLIC_BYTES + 32
XWING_ENC_BYTES = _MLKEM768_CT_BYTES + 32
#: RFC 9180 / draft-ietf-hpke-pq identifiers of the suite edbp uses
HPKE_KEM_ID = 0x647A  # MLKEM768-X25519
HPKE_KDF_ID = 0x0001  # HKDF-SHA256
HPKE_AEAD_ID = 0x0001  # AES-128-GCM
#: the X-Wing combiner's domain separator (draft-connolly-cfrg-xwing-kem), the ASCII "\.//^\"
_XWING_LABEL = b"\\.//^\\"


def _probe() -> str | None:
    if not _IMPORTED:
        return "cryptography < 50: no hazmat.primitives.hpke / asymmetric.mldsa"
    try:
        _mldsa.MLDSA65PrivateKey.from_seed_bytes(bytes(32))
        _mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(64))
    except Exception as exc:  # UnsupportedAlgorithm from a backend without ML-DSA / ML-KEM
        return f"backend lacks ML-DSA/ML-KEM ({type(exc).__name__})"
    return None


_REASON = _probe()


def available() -> bool:
    """True when this build can run the PQ suite (the ``suite`` capability ``edbp-pq``)."""
    return _REASON is None


def unavailable_reason() -> str | None:
    """Why the PQ suite is unavailable (None when it is available)."""
    return _REASON


def require() -> None:
    """Refuse (COSE_PQ_UNAVAILABLE) when the primitives are missing."""
    if _REASON is not None:
        raise WireError(Code.COSE_PQ_UNAVAILABLE, _REASON)


# ------------------------------------------------------------------ ML-DSA-65


def _mldsa_private(seed: bytes) -> Any:
    require()
    if not isinstance(seed, bytes) or len(seed) != MLDSA_SEED_BYTES:
        raise WireError(Code.COSE_BAD_KEY, "ML-DSA-65 private key is a 32-byte seed")
    return _mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)


def mldsa65_public(seed: bytes) -> bytes:
    """The raw public key of the ML-DSA-65 key made from ``seed`` (FIPS 204 KeyGen)."""
    return bytes(_mldsa_private(seed).public_key().public_bytes_raw())


@attrs.frozen
class Pins:
    """Values an earlier run drew, offered again so that vectors regenerate byte for byte.

    ``cryptography`` takes no randomness for ML-DSA signing (hedged) or HPKE encapsulation, so
    the vector generator cannot seed them (spec/vectors.md, "Randomness that cannot be
    injected"). Instead it offers what its committed files hold: ``signature(public, tbs)``
    a signature over ``tbs``, ``encapsulation(public, info, plaintext)`` an ``(enc, ct)`` it
    has opened to ``plaintext`` with the recipient's test key; ``None`` when it has none. A
    pinned signature is verified here before use. Nothing outside vector generation sets pins.
    """

    signature: Callable[[bytes, bytes], bytes | None]
    encapsulation: Callable[[bytes, bytes, bytes], tuple[bytes, bytes] | None]


_PINS: contextvars.ContextVar[Pins | None] = contextvars.ContextVar("edbp_pq_pins", default=None)


@contextlib.contextmanager
def pinned(pins: Pins) -> Iterator[None]:
    """Use ``pins`` for every ML-DSA-65 signature and HPKE Seal inside the ``with`` block."""
    token = _PINS.set(pins)
    try:
        yield
    finally:
        _PINS.reset(token)


def mldsa65_sign(seed: bytes, tbs: bytes) -> bytes:
    """A pure ML-DSA-65 signature over ``tbs`` with an empty context (RFC 9964 §4)."""
    key = _mldsa_private(seed)
    pins = _PINS.get()
    if pins is not None:
        public = bytes(key.public_key().public_bytes_raw())
        found = pins.signature(public, tbs)
        if found is not None:
            mldsa65_verify(public, tbs, found)
            return found
    return bytes(key.sign(tbs))


def mldsa65_verify(public: bytes, tbs: bytes, signature: bytes) -> None:
    """Verify; any failure (wrong size, bad key, bad signature) is COSE_BAD_SIGNATURE."""
    require()
    try:
        if len(public) != MLDSA65_PUBLIC_BYTES or len(signature) != MLDSA65_SIGNATURE_BYTES:
            raise InvalidSignature
        _mldsa.MLDSA65PublicKey.from_public_bytes(public).verify(signature, tbs)
    except (InvalidSignature, ValueError):
        raise VerificationError(Code.COSE_BAD_SIGNATURE) from None


def check_mldsa65_public(public: bytes) -> None:
    """Refuse (COSE_BAD_KEY) bytes that are not an ML-DSA-65 public key."""
    require()
    try:
        if len(public) != MLDSA65_PUBLIC_BYTES:
            raise ValueError
        _mldsa.MLDSA65PublicKey.from_public_bytes(public)
    except ValueError:
        raise WireError(Code.COSE_BAD_KEY, "not an ML-DSA-65 public key") from None


# ------------------------------------------------------------------ MLKEM768-X25519 (X-Wing)


def _xwing_parts(seed: bytes) -> tuple[Any, x25519.X25519PrivateKey]:
    require()
    if not isinstance(seed, bytes) or len(seed) != XWING_SEED_BYTES:
        raise WireError(Code.COSE_BAD_KEY, "MLKEM768-X25519 private key is a 32-byte seed")
    expanded = hashlib.shake_256(seed).digest(96)
    mlkem_key = _mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    x_key = x25519.X25519PrivateKey.from_private_bytes(expanded[64:96])
    return mlkem_key, x_key


def xwing_public(seed: bytes) -> bytes:
    """``pk_M‖pk_X`` of the hybrid key made from ``seed``."""
    mlkem_key, x_key = _xwing_parts(seed)
    return bytes(mlkem_key.public_key().public_bytes_raw()) + x_key.public_key().public_bytes_raw()


def _xwing_public_key(public: bytes) -> Any:
    require()
    try:
        if len(public) != XWING_PUBLIC_BYTES:
            raise ValueError
        pk_m = _mlkem.MLKEM768PublicKey.from_public_bytes(public[:_MLKEM768_PUBLIC_BYTES])
        pk_x = x25519.X25519PublicKey.from_public_bytes(public[_MLKEM768_PUBLIC_BYTES:])
    except ValueError:
        raise WireError(Code.COSE_BAD_KEY, "not an MLKEM768-X25519 public key") from None
    return _hpke.MLKEM768X25519PublicKey(pk_m, pk_x)


def check_xwing_public(public: bytes) -> None:
    """Refuse (COSE_BAD_KEY) bytes that are not an MLKEM768-X25519 public key."""
    _xwing_public_key(public)


def _suite() -> Any:
    return _hpke.Suite(_hpke.KEM.MLKEM768_X25519, _hpke.KDF.HKDF_SHA256, _hpke.AEAD.AES_128_GCM)


def hpke_seal(public: bytes, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """HPKE base-mode single-shot Seal (aad empty, as COSE-HPKE key encryption says):
    returns ``(enc, ct)``. The encapsulation randomness is the library's own (not injectable;
    vector generation offers earlier values through ``pinned``)."""
    pins = _PINS.get()
    if pins is not None:
        found = pins.encapsulation(public, info, plaintext)
        if found is not None:
            return found
    out = bytes(_suite().encrypt(plaintext, _xwing_public_key(public), info=info))
    return out[:XWING_ENC_BYTES], out[XWING_ENC_BYTES:]


def hpke_open(seed: bytes, enc: bytes, info: bytes, ct: bytes) -> bytes:
    """HPKE base-mode single-shot Open; every failure is ``DecryptionFailed`` (no detail)."""
    mlkem_key, x_key = _xwing_parts(seed)
    if len(enc) != XWING_ENC_BYTES:
        raise DecryptionFailed()
    try:
        sk = _hpke.MLKEM768X25519PrivateKey(mlkem_key, x_key)
        return bytes(_suite().decrypt(enc + ct, sk, info=info))
    except (InvalidTag, ValueError):
        raise DecryptionFailed() from None


# ------------------------------------------------------------------ intermediates (vectors)


@attrs.frozen
class HpkeIntermediates:
    """The values between ``enc`` and the AEAD, recomputed on the recipient's side."""

    shared_secret: bytes = attrs.field(repr=False)
    key_schedule_context: bytes
    key: bytes = attrs.field(repr=False)
    base_nonce: bytes


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm, "sha256").digest()


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    labeled = n.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, block, i = b"", b"", 1
    while len(out) < n:
        block = hmac.new(prk, block + labeled + bytes([i]), "sha256").digest()
        out += block
        i += 1
    return out[:n]


def hpke_intermediates(seed: bytes, enc: bytes, info: bytes) -> HpkeIntermediates:
    """X-Wing decapsulation and the RFC 9180 base-mode key schedule, by hand.

    ``ss = SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ label)``; then ``key`` (16 bytes) and
    ``base_nonce`` (12 bytes) with HKDF-SHA256 labelled ``HPKE-v1`` under suite id
    ``"HPKE" ‖ kem ‖ kdf ‖ aead``."""
    mlkem_key, x_key = _xwing_parts(seed)
    if len(enc) != XWING_ENC_BYTES:
        raise WireError(Code.COSE_HPKE_BAD_EK, "ek is not an MLKEM768-X25519 encapsulation")
    ct_m, ct_x = enc[:_MLKEM768_CT_BYTES], enc[_MLKEM768_CT_BYTES:]
    try:
        ss_m = bytes(mlkem_key.decapsulate(ct_m))
        ss_x = x_key.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    except ValueError:  # e.g. a low-order X25519 point: a cryptographic miss like any other
        raise DecryptionFailed() from None
    pk_x = x_key.public_key().public_bytes_raw()
    shared = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + _XWING_LABEL).digest()
    suite_id = (
        b"HPKE"
        + HPKE_KEM_ID.to_bytes(2, "big")
        + HPKE_KDF_ID.to_bytes(2, "big")
        + HPKE_AEAD_ID.to_bytes(2, "big")
    )
    psk_id_hash = _labeled_extract(suite_id, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite_id, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite_id, shared, b"secret", b"")
    key = _labeled_expand(suite_id, secret, b"key", context, 16)
    nonce = _labeled_expand(suite_id, secret, b"base_nonce", context, 12)
    return HpkeIntermediates(shared, context, key, nonce)


def open_with_intermediates(inter: HpkeIntermediates, ct: bytes) -> bytes:
    """Open the first (sequence 0) HPKE message with recomputed intermediates (checks them)."""
    try:
        return AESGCM(inter.key).decrypt(inter.base_nonce, ct, b"")
    except InvalidTag:
        raise DecryptionFailed() from None
