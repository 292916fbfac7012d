"""COSE_Key (RFC 9052 §7, RFC 9053 §7) and RFC 9679 COSE Key Thumbprints.

Why one key class for the wire, the roles and the tests: a key travels as a COSE_Key map
(ephemeral and static keys in recipient headers, `cnf` in EAT, device endorsements), as a
``cryptography`` object (the operations), and as a JWK (the published cose-wg examples). The
conversions live here once, with the validation an untrusted key needs (lengths, curve points,
private part matching its public part), so every refusal is ``WireError(Code.COSE_BAD_KEY)``.

Private parts (``d``, ``k``) never show in ``repr``.

AKP keys (RFC 9964; the post-quantum suite's ML-DSA-65 signing keys and MLKEM768-X25519 HPKE
KEM keys) keep ``pub`` (label -1) in ``x`` and ``priv`` (label -2, a 32-byte seed) in ``d``;
their ``alg`` is required and decides what the bytes are (``edbp.reference.wire.pq``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x448, x25519
from edbp.reference import rand

from edbp.errors import Code, WireError

from . import cbor
from .cose_algs import Alg, Curve, KeyParam, KeyType, alg_info

__all__ = ["CoseKey", "require_key"]

_EC_CURVES: dict[Curve, tuple[type[ec.EllipticCurve], int]] = {
    Curve.P256: (ec.SECP256R1, 32),
    Curve.P384: (ec.SECP384R1, 48),
    Curve.P521: (ec.SECP521R1, 66),
}
_OKP_SIZES: dict[Curve, int] = {
    Curve.X25519: 32,
    Curve.ED25519: 32,
    Curve.X448: 56,
    Curve.ED448: 57,
}
_JWK_CRV: dict[str, Curve] = {
    "P-256": Curve.P256,
    "P-384": Curve.P384,
    "P-521": Curve.P521,
    "X25519": Curve.X25519,
    "X448": Curve.X448,
    "Ed25519": Curve.ED25519,
    "Ed448": Curve.ED448,
}
_CRV_JWK = {v: k for k, v in _JWK_CRV.items()}

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | x25519.X25519PrivateKey
    | ed448.Ed448PrivateKey
    | x448.X448PrivateKey
)
PublicKey = (
    ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | x25519.X25519PublicKey
    | ed448.Ed448PublicKey
    | x448.X448PublicKey
)


_KEY_TYPES = frozenset(KeyType)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(detail: str) -> WireError:
    return WireError(Code.COSE_BAD_KEY, detail)


def _b64url_decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _bad(f"JWK {what} is not a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _bad(f"JWK {what} is not base64url") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


#: COSE_Key labels ``from_map`` reads, as module names (the same members, without the enum's
#: attribute lookup per read)
_KP_ALG = KeyParam.ALG
_KP_BASE_IV = KeyParam.BASE_IV
_KP_CRV = KeyParam.CRV
_KP_D = KeyParam.D
_KP_KEY_OPS = KeyParam.KEY_OPS
_KP_KID = KeyParam.KID
_KP_KTY = KeyParam.KTY
_KP_X = KeyParam.X
_KP_Y = KeyParam.Y
_KT_AKP, _KT_SYMMETRIC, _KT_EC2 = KeyType.AKP, KeyType.SYMMETRIC, KeyType.EC2
_KEY_TYPE_BY_VALUE = {int(t): t for t in KeyType}
_CURVE_BY_VALUE = {int(c): c for c in Curve}


@attrs.frozen(cache_hash=True)  # the key of the public-key, private-key and thumbprint memos
class CoseKey:
    """One COSE_Key. Construct with ``from_map``/``decode``/``from_cryptography``/``from_jwk``
    or ``symmetric``/``generate``; fields follow the COSE_Key labels.

    ``y`` is bytes, or a bool for a point in compressed form (RFC 9053 §7.1.1).
    """

    kty: KeyType
    crv: Curve | None = None
    x: bytes | None = None
    y: bytes | bool | None = None
    d: bytes | None = attrs.field(default=None, repr=False)
    k: bytes | None = attrs.field(default=None, repr=False)
    kid: bytes | None = None
    alg: int | str | None = None
    key_ops: tuple[int | str, ...] | None = None
    base_iv: bytes | None = attrs.field(default=None, repr=False)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def generate_akp(
        cls, alg: Alg, rng: rand.RandomSource = rand.DEFAULT_RANDOM, *, kid: bytes | None = None
    ) -> CoseKey:
        """A fresh AKP key (ML-DSA-65 or MLKEM768-X25519) from a 32-byte seed drawn from
        ``rng``: FIPS 203/204 key generation from a seed is deterministic, so keys replay."""
        seed = rng.random_bytes(32)
        return cls(kty=KeyType.AKP, x=_akp_public(alg, seed), d=seed, kid=kid, alg=int(alg))

    @classmethod
    def symmetric(cls, k: bytes, *, kid: bytes | None = None, alg: int | None = None) -> CoseKey:
        """A Symmetric key (KEK, CEK for ``direct``, class key)."""
        if not isinstance(k, bytes) or not k:
            raise _bad("symmetric key value must be non-empty bytes")
        return cls(kty=KeyType.SYMMETRIC, k=k, kid=kid, alg=alg)

    @classmethod
    def generate(
        cls,
        crv: Curve,
        rng: rand.RandomSource = rand.DEFAULT_RANDOM,
        *,
        kid: bytes | None = None,
        alg: int | None = None,
    ) -> CoseKey:
        """A fresh P-256, X25519 or Ed25519 key drawn from ``rng`` (reproducible with a seed)."""
        key: PrivateKey
        if crv == Curve.P256:
            key = rand.p256_private_key(rng)
        elif crv == Curve.X25519:
            key = rand.x25519_private_key(rng)
        elif crv == Curve.ED25519:
            key = rand.ed25519_private_key(rng)
        else:
            raise _bad(f"cannot generate keys on curve {crv!r}")
        generated = cls.from_cryptography(key, kid=kid, alg=alg)
        # its ``private_key()`` is this object: no second scalar multiplication (and match
        # check) for a key made from it a moment ago (an ECDH-ES ephemeral key is used once)
        _GENERATED[generated] = key
        return generated

    @classmethod
    def from_cryptography(
        cls, key: PrivateKey | PublicKey, *, kid: bytes | None = None, alg: int | None = None
    ) -> CoseKey:
        """Wrap a ``cryptography`` key object (private or public)."""
        if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            crv = next((c for c, (t, _) in _EC_CURVES.items() if isinstance(key.curve, t)), None)
            if crv is None:
                raise _bad(f"unsupported curve {key.curve.name}")
            size = _EC_CURVES[crv][1]
            pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
            nums = pub.public_numbers()
            d = None
            if isinstance(key, ec.EllipticCurvePrivateKey):
                d = key.private_numbers().private_value.to_bytes(size, "big")
            return cls(
                kty=KeyType.EC2,
                crv=crv,
                x=nums.x.to_bytes(size, "big"),
                y=nums.y.to_bytes(size, "big"),
                d=d,
                kid=kid,
                alg=alg,
            )
        for crv, priv_t, pub_t in (
            (Curve.ED25519, ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey),
            (Curve.X25519, x25519.X25519PrivateKey, x25519.X25519PublicKey),
            (Curve.ED448, ed448.Ed448PrivateKey, ed448.Ed448PublicKey),
            (Curve.X448, x448.X448PrivateKey, x448.X448PublicKey),
        ):
            if isinstance(key, priv_t):
                return cls(
                    kty=KeyType.OKP,
                    crv=crv,
                    x=key.public_key().public_bytes_raw(),
                    d=key.private_bytes_raw(),
                    kid=kid,
                    alg=alg,
                )
            if isinstance(key, pub_t):
                return cls(kty=KeyType.OKP, crv=crv, x=key.public_bytes_raw(), kid=kid, alg=alg)
        raise _bad(f"unsupported key object {type(key).__name__}")

    @classmethod
    def from_map(cls, m: Any, *, check_point: bool = True) -> CoseKey:
        """Parse a decoded COSE_Key map (untrusted). Unknown labels are ignored.

        An EC2 point is checked to lie on its curve here, so that a key off its curve is
        refused where it enters (a provisioned trust anchor), not at its first use.
        ``check_point=False`` is for an ECDH peer key inside a COSE recipient: there a bad
        point must fail like any other decryption (DecryptionFailed), not as a distinct error.

        A public EC2 or OKP key read with the point check is remembered by its entries
        (``_public_entries``): a device's confirmation key arrives in every evidence it sends,
        and parsing it (the point check included) is a pure function of those entries. Only
        keys that parsed are kept, never a private part, and the memo is bounded.
        """
        if check_point and type(m) is dict:
            entries = _public_entries(m)
            if entries is not None:
                found = _FROM_MAP_MEMO.get(entries)
                if found is None:
                    found = cls._from_map(m, check_point=True)
                    if len(_FROM_MAP_MEMO) >= _FROM_MAP_MEMO_ENTRIES:
                        _FROM_MAP_MEMO.clear()
                    _FROM_MAP_MEMO[entries] = found
                return found
        return cls._from_map(m, check_point=check_point)

    @classmethod
    def _from_map(cls, m: Any, *, check_point: bool) -> CoseKey:
        """``from_map`` with nothing remembered."""
        if type(m) is not dict and not isinstance(m, Mapping):  # (a dict: no ABC check)
            raise _bad("COSE_Key is not a map")
        kty = m.get(_KP_KTY)
        if not _is_int(kty) or kty not in _KEY_TYPES:
            raise _bad(f"unsupported kty {kty!r}")
        kty = _KEY_TYPE_BY_VALUE[kty]
        kid = m.get(_KP_KID)
        if kid is not None and not isinstance(kid, bytes):
            raise _bad("kid is not a byte string")
        alg = m.get(_KP_ALG)
        if alg is not None and (isinstance(alg, bool) or not isinstance(alg, int | str)):
            raise _bad("alg is not an int or text")
        ops = m.get(_KP_KEY_OPS)
        if ops is not None:
            if not isinstance(ops, list) or not all(
                isinstance(o, int | str) and not isinstance(o, bool) for o in ops
            ):
                raise _bad("key_ops is not an array of int/text")
            ops = tuple(ops)
        base_iv = m.get(_KP_BASE_IV)
        if base_iv is not None and not isinstance(base_iv, bytes):
            raise _bad("Base IV is not a byte string")
        common: dict[str, Any] = {"kid": kid, "alg": alg, "key_ops": ops, "base_iv": base_iv}
        if kty is _KT_AKP:
            return cls._akp_from_map(m, common)
        if kty is _KT_SYMMETRIC:
            k = m.get(-1)
            if not isinstance(k, bytes) or not k:
                raise _bad("symmetric key without k")
            return cls(kty=kty, k=k, **common)
        crv = m.get(_KP_CRV)
        d = m.get(_KP_D)
        x = m.get(_KP_X)
        if d is not None and not isinstance(d, bytes):
            raise _bad("d is not a byte string")
        if not isinstance(x, bytes):
            raise _bad("x missing or not a byte string")
        if kty is _KT_EC2:
            if not _is_int(crv) or crv not in _EC_CURVES:
                raise _bad(f"unsupported EC2 curve {crv!r}")
            size = _EC_CURVES[crv][1]
            y = m.get(_KP_Y)
            if not (isinstance(y, bool) or (isinstance(y, bytes) and len(y) == size)):
                raise _bad("y missing or of the wrong size")
            if len(x) != size or (d is not None and len(d) != size):
                raise _bad("coordinate or private key of the wrong size")
            key = cls(kty=kty, crv=_CURVE_BY_VALUE[crv], x=x, y=y, d=d, **common)
            if check_point:
                key.public_key()  # COSE_BAD_KEY when (x, y) is not a point of the curve
            return key
        if not _is_int(crv) or crv not in _OKP_SIZES:
            raise _bad(f"unsupported OKP curve {crv!r}")
        size = _OKP_SIZES[Curve(crv)]
        if len(x) != size or (d is not None and len(d) != size):
            raise _bad("OKP key of the wrong size")
        if _KP_Y in m:
            raise _bad("OKP key with y")
        return cls(kty=kty, crv=Curve(crv), x=x, d=d, **common)

    @classmethod
    def _akp_from_map(cls, m: Mapping[Any, Any], common: dict[str, Any]) -> CoseKey:
        alg = common["alg"]
        if not _is_int(alg) or alg not in _AKP_ALGS:
            raise _bad(f"AKP key with alg {alg!r} outside edbp's profile")
        pub, priv = m.get(-1), m.get(-2)
        if not isinstance(pub, bytes):
            raise _bad("AKP key without pub")
        if priv is not None and not isinstance(priv, bytes):
            raise _bad("AKP priv is not a byte string")
        _akp_check_public(Alg(alg), pub)
        return cls(kty=KeyType.AKP, x=pub, d=priv, **common)

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False) -> CoseKey:
        """Decode COSE_Key bytes (untrusted) under the receive rule (protocol §5)."""
        return cls.from_map(cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits()))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> CoseKey:
        """Parse a JWK dict (RFC 7517/8037). Also accepts the cose-wg examples' ``x_hex``,
        ``y_hex``, ``d_hex``, ``k_hex`` spellings. ``kid`` is encoded as UTF-8 bytes."""
        if not isinstance(jwk, Mapping):
            raise _bad("JWK is not an object")

        def field(name: str) -> bytes | None:
            if name + "_hex" in jwk:
                try:
                    return bytes.fromhex(jwk[name + "_hex"])
                except (TypeError, ValueError):
                    raise _bad(f"JWK {name}_hex is not hex") from None
            if name in jwk:
                return _b64url_decode(jwk[name], name)
            return None

        kid_text = jwk.get("kid")
        if kid_text is not None and not isinstance(kid_text, str):
            raise _bad("JWK kid is not a string")
        kid = kid_text.encode() if kid_text is not None else None
        kty = jwk.get("kty")
        if kty == "oct":
            k = field("k")
            if not k:
                raise _bad("oct JWK without k")
            return cls.symmetric(k, kid=kid)
        crv_name = jwk.get("crv")
        if crv_name not in _JWK_CRV:
            raise _bad(f"unsupported JWK crv {crv_name!r}")
        m: dict[int, Any] = {KeyParam.CRV: int(_JWK_CRV[crv_name]), KeyParam.X: field("x")}
        if kty == "EC":
            m[KeyParam.KTY] = int(KeyType.EC2)
            m[KeyParam.Y] = field("y")
        elif kty == "OKP":
            m[KeyParam.KTY] = int(KeyType.OKP)
        else:
            raise _bad(f"unsupported JWK kty {kty!r}")
        d = field("d")
        if d is not None:
            m[KeyParam.D] = d
        if kid is not None:
            m[KeyParam.KID] = kid
        return cls.from_map(m)

    # ------------------------------------------------------------------ serialisation

    def to_map(self) -> dict[int, Any]:
        """The COSE_Key map (private parts included when present)."""
        m: dict[int, Any] = {KeyParam.KTY: int(self.kty)}
        if self.kid is not None:
            m[KeyParam.KID] = self.kid
        if self.alg is not None:
            m[KeyParam.ALG] = self.alg if isinstance(self.alg, str) else int(self.alg)
        if self.key_ops is not None:
            m[KeyParam.KEY_OPS] = list(self.key_ops)
        if self.base_iv is not None:
            m[KeyParam.BASE_IV] = self.base_iv
        if self.kty == KeyType.SYMMETRIC:
            m[-1] = self.k
            return {int(k): v for k, v in m.items()}
        if self.kty == KeyType.AKP:
            m[-1] = self.x
            if self.d is not None:
                m[-2] = self.d
            return {int(k): v for k, v in m.items()}
        assert self.crv is not None
        m[KeyParam.CRV] = int(self.crv)
        m[KeyParam.X] = self.x
        if self.kty == KeyType.EC2:
            m[KeyParam.Y] = self.y
        if self.d is not None:
            m[KeyParam.D] = self.d
        return {int(k): v for k, v in m.items()}

    def encode(self) -> bytes:
        """Deterministic CBOR of ``to_map()``."""
        return cbor.dumps(self.to_map())

    def to_jwk(self) -> dict[str, str]:
        """A JWK dict (base64url, no padding). ``kid`` must be UTF-8 to appear."""
        jwk: dict[str, str] = {}
        if self.kty == KeyType.SYMMETRIC:
            assert self.k is not None
            jwk = {"kty": "oct", "k": _b64url(self.k)}
        else:
            assert self.crv is not None and self.x is not None
            jwk = {"kty": "EC" if self.kty == KeyType.EC2 else "OKP", "crv": _CRV_JWK[self.crv]}
            jwk["x"] = _b64url(self.x)
            if self.kty == KeyType.EC2:
                jwk["y"] = _b64url(self._y_bytes())
            if self.d is not None:
                jwk["d"] = _b64url(self.d)
        if self.kid is not None:
            try:
                jwk["kid"] = self.kid.decode()
            except UnicodeDecodeError:
                raise _bad("kid is not UTF-8; cannot express it in a JWK") from None
        return jwk

    # ------------------------------------------------------------------ views

    @property
    def has_private(self) -> bool:
        """True when the key holds a private (or symmetric) part."""
        return self.d is not None or self.k is not None

    def public(self) -> CoseKey:
        """The public half (kid, alg and key_ops kept; ``d`` dropped)."""
        if self.kty == KeyType.SYMMETRIC:
            raise _bad("a symmetric key has no public half")
        return attrs.evolve(self, d=None)

    def _y_bytes(self) -> bytes:
        if isinstance(self.y, bytes):
            return self.y
        pub = self.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey) and self.crv is not None
        size = _EC_CURVES[Curve(self.crv)][1]
        return pub.public_numbers().y.to_bytes(size, "big")

    def thumbprint(self, hash_alg: Alg = Alg.SHA256) -> bytes:
        """RFC 9679 COSE Key Thumbprint: hash of the deterministic CBOR of the required
        parameters only (EC2: kty, crv, x, y; OKP: kty, crv, x; Symmetric: kty, k).
        Memoized per key value (keys are compared by thumbprint at every message)."""
        if self.has_private:  # secrets stay out of the memo
            return self._thumbprint(hash_alg)
        try:
            return _thumbprint_of(self, hash_alg)
        except TypeError:  # an unhashable field: no memo
            return self._thumbprint(hash_alg)

    def _thumbprint(self, hash_alg: Alg) -> bytes:
        if self.kty == KeyType.SYMMETRIC:
            m: dict[int, Any] = {1: int(self.kty), -1: self.k}
        elif self.kty == KeyType.AKP:  # RFC 9964: kty, alg, pub
            assert self.alg is not None
            m = {1: int(self.kty), 3: self.alg, -1: self.x}
        else:
            assert self.crv is not None  # every EC2/OKP key has one (from_map, generate)
            m = {1: int(self.kty), -1: int(self.crv), -2: self.x}
            if self.kty == KeyType.EC2:
                m[-3] = self._y_bytes()
        names = {Alg.SHA256: "sha256", Alg.SHA384: "sha384", Alg.SHA512: "sha512"}
        if hash_alg not in names:
            raise WireError(Code.COSE_UNKNOWN_ALG, f"no thumbprint hash {hash_alg!r}")
        return hashlib.new(names[hash_alg], cbor.dumps(m)).digest()

    def thumbprint_uri(self) -> str:
        """RFC 9679 §6 COSE Key Thumbprint URI with SHA-256."""
        return "urn:ietf:params:oauth:ckt:sha-256:" + _b64url(self.thumbprint())

    # ------------------------------------------------------------------ cryptography objects

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key. Refuses points not on the curve.

        Memoized per key value: building it checks the point (an EC scalar operation), which
        costs more than a signature verification and would otherwise be paid on every use."""
        try:
            return _public_key_of(self)
        except TypeError:  # an unhashable field (a list where a tuple belongs): no memo
            return self._public_key()

    def _public_key(self) -> PublicKey:
        if self.kty in (KeyType.SYMMETRIC, KeyType.AKP):
            raise _bad(f"{self.kty.name} key has no classical public key object")
        assert self.crv is not None and self.x is not None
        try:
            if self.kty == KeyType.EC2:
                curve_t, _ = _EC_CURVES[self.crv]
                if isinstance(self.y, bool):
                    point = bytes([3 if self.y else 2]) + self.x
                    return ec.EllipticCurvePublicKey.from_encoded_point(curve_t(), point)
                assert self.y is not None
                return ec.EllipticCurvePublicNumbers(
                    int.from_bytes(self.x, "big"), int.from_bytes(self.y, "big"), curve_t()
                ).public_key()
            okp: dict[Curve, Callable[[bytes], PublicKey]] = {
                Curve.ED25519: ed25519.Ed25519PublicKey.from_public_bytes,
                Curve.X25519: x25519.X25519PublicKey.from_public_bytes,
                Curve.ED448: ed448.Ed448PublicKey.from_public_bytes,
                Curve.X448: x448.X448PublicKey.from_public_bytes,
            }
            return okp[self.crv](self.x)
        except (ValueError, TypeError, KeyError):
            raise _bad("public key is not a valid point") from None

    def private_key(self) -> PrivateKey:
        """The ``cryptography`` private key; refuses a ``d`` that does not match x/y.

        Memoized per key value (a few recent keys): deriving it is an EC scalar multiplication
        plus the match check, paid otherwise on every signature."""
        try:
            found = _GENERATED.get(self)
            return found if found is not None else _private_key_of(self)
        except TypeError:
            return self._private_key()

    def _private_key(self) -> PrivateKey:
        if self.d is None:
            raise _bad("key has no private part")
        if self.kty == KeyType.AKP:
            raise _bad("AKP keys are used through edbp.reference.wire.pq, not as objects")
        assert self.crv is not None
        try:
            key: PrivateKey
            if self.kty == KeyType.EC2:
                curve_t, _ = _EC_CURVES[self.crv]
                key = ec.derive_private_key(int.from_bytes(self.d, "big"), curve_t())
            else:
                okp: dict[Curve, Any] = {
                    Curve.ED25519: ed25519.Ed25519PrivateKey,
                    Curve.X25519: x25519.X25519PrivateKey,
                    Curve.ED448: ed448.Ed448PrivateKey,
                    Curve.X448: x448.X448PrivateKey,
                }
                key = okp[self.crv].from_private_bytes(self.d)
        except (ValueError, TypeError, KeyError):
            raise _bad("private key is not valid") from None
        derived = CoseKey.from_cryptography(key)
        if derived.x != self.x or (
            self.kty == KeyType.EC2
            and (derived.y != self.y if isinstance(self.y, bytes) else False)
        ):
            raise _bad("private key does not match its public key")
        return key

    def check_private(self) -> None:
        """Refuse (COSE_BAD_KEY) a private part that does not match the public part."""
        if self.kty == KeyType.AKP:
            akp_check_private(self)
        else:
            self.private_key()

    def check_alg(self, alg: Alg) -> None:
        """Refuse (COSE_ALG_KEY_MISMATCH) a key that does not fit ``alg`` in edbp's profile:
        ESP256/ES256 need EC2 P-256, Ed25519/EdDSA need OKP Ed25519, ECDH needs P-256, P-384,
        P-521 or X25519, MACs a symmetric key of their size (HMAC: 256 bits at least),
        key wraps, content algorithms and direct+HKDF-AES need a symmetric key of the exact
        size.

        The answer depends on the key's type, curve, ``alg`` parameter and symmetric key
        length only (never on a key value), so the combinations that fit are remembered by
        those; a refusal is decided afresh every time."""
        shape = (self.kty, self.crv, self.alg, None if self.k is None else len(self.k), alg)
        try:
            if shape in _FITS:
                return
        except TypeError:  # an unhashable ``alg`` parameter: no memo
            self._check_alg(alg)
            return
        self._check_alg(alg)
        if len(_FITS) >= 256:
            _FITS.clear()
        _FITS.add(shape)

    def _check_alg(self, alg: Alg) -> None:
        info = alg_info(alg)
        ok = False
        if info.family in ("mldsa", "hpke"):
            ok = self.kty == KeyType.AKP and self.alg == int(alg)
        elif info.family == "ecdsa":
            # ES384 / ES512 (receive side only) on their own curve, as RFC 9053 §2.1 advises
            curve = {Alg.ES384: Curve.P384, Alg.ES512: Curve.P521}.get(alg, Curve.P256)
            ok = self.kty == KeyType.EC2 and self.crv == curve
        elif info.family == "eddsa":
            curve = Curve.ED448 if alg == Alg.ED448 else Curve.ED25519
            ok = self.kty == KeyType.OKP and self.crv == curve
        elif info.family == "ecdh":
            # RFC 9053 §6.3: ECDH on the NIST curves and X25519 (P-384 / P-521 for receiving
            # published messages; edbp's own keys are P-256 / X25519)
            ok = (
                self.kty == KeyType.EC2 and self.crv in (Curve.P256, Curve.P384, Curve.P521)
            ) or (
                self.kty == KeyType.OKP and self.crv == Curve.X25519
            )
        elif info.family == "mac" and int(alg) in (4, 5, 6, 7):  # HMAC: 256 bits at least
            ok = self.kty == KeyType.SYMMETRIC and self.k is not None and len(self.k) >= 32
        elif info.family in ("kw", "aead", "ctr", "ccm", "mac", "hkdf-aes"):
            ok = (
                self.kty == KeyType.SYMMETRIC
                and self.k is not None
                and (len(self.k) == info.key_bytes)
            )
        elif info.family == "direct":
            ok = self.kty == KeyType.SYMMETRIC
        if not ok:
            raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"key does not fit {alg.name}")
        if self.alg is not None and self.alg != alg and not _same_family(self.alg, alg):
            raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"key is restricted to alg {self.alg!r}")


#: ``from_map``'s public keys by their entries (``_public_entries``)
_FROM_MAP_MEMO: dict[tuple[tuple[int, int | bytes], ...], CoseKey] = {}
_FROM_MAP_MEMO_ENTRIES = 4096  # as many as the public-key memo: a fleet of devices
_KTY_OKP_EC2 = (int(KeyType.OKP), int(KeyType.EC2))
_D_LABEL = int(KeyParam.D)


def _public_entries(m: dict[Any, Any]) -> tuple[tuple[int, int | bytes], ...] | None:
    """The entries of a COSE_Key map as a memo key, when they decide ``from_map``'s answer by
    value alone: an OKP or EC2 key without ``d``, every label an ``int`` and every value an
    ``int`` or ``bytes``, exactly (so that equal keys are equal maps: ``True`` never stands in
    for ``1``, nor a list for anything). None for any other map."""
    kty = m.get(1)
    if type(kty) is not int or kty not in _KTY_OKP_EC2 or _D_LABEL in m:
        return None
    for label, value in m.items():
        if type(label) is not int or (type(value) is not bytes and type(value) is not int):
            return None
    return tuple(m.items())


#: (kty, crv, alg parameter, symmetric key length, alg) combinations ``check_alg`` accepted
_FITS: set[tuple[Any, ...]] = set()


@functools.lru_cache(maxsize=4096)
def _public_key_of(key: CoseKey) -> PublicKey:
    return key._public_key()


@functools.lru_cache(maxsize=4096)
def _thumbprint_of(key: CoseKey, hash_alg: Alg) -> bytes:
    return key._thumbprint(hash_alg)


@functools.lru_cache(maxsize=1024)
def _private_key_of(key: CoseKey) -> PrivateKey:
    return key._private_key()


#: the ``cryptography`` object of each key ``generate`` made, for as long as that CoseKey lives
#: (weak keys: an ephemeral key's object goes with it, unlike the bounded memo above)
_GENERATED: weakref.WeakKeyDictionary[CoseKey, PrivateKey] = weakref.WeakKeyDictionary()


def require_key(key: Any) -> CoseKey:
    """Refuse (COSE_BAD_KEY) anything that is not a ``CoseKey``."""
    if not isinstance(key, CoseKey):
        raise WireError(Code.COSE_BAD_KEY, f"expected a CoseKey, got {type(key).__name__}")
    return key


def _same_family(key_alg: int | str, alg: Alg) -> bool:
    """ESP256/ES256 and Ed25519/EdDSA name the same operation on edbp's curves."""
    pairs = ({Alg.ESP256, Alg.ES256}, {Alg.ED25519, Alg.EDDSA})
    return any(key_alg in p and alg in p for p in pairs)


#: AKP algorithms edbp knows (the post-quantum suite, spec/protocol.md section 4.1)
_AKP_ALGS = frozenset({int(Alg.ML_DSA_65), int(Alg.EDBP_HPKE_XWING_KE)})


def _akp_public(alg: Alg, seed: bytes) -> bytes:
    from . import pq  # guarded imports: the classical kit works without the PQ primitives

    if alg == Alg.ML_DSA_65:
        return pq.mldsa65_public(seed)
    if alg == Alg.EDBP_HPKE_XWING_KE:
        return pq.xwing_public(seed)
    raise _bad(f"no AKP key for {alg!r}")


def _akp_check_public(alg: Alg, pub: bytes) -> None:
    from . import pq

    if alg == Alg.ML_DSA_65:
        pq.check_mldsa65_public(pub)
    else:
        pq.check_xwing_public(pub)


def akp_check_private(key: CoseKey) -> None:
    """Refuse (COSE_BAD_KEY) an AKP key whose ``priv`` seed does not make its ``pub``."""
    if key.kty != KeyType.AKP or key.d is None or not isinstance(key.alg, int):
        raise _bad("not an AKP private key")
    if _akp_public(Alg(key.alg), key.d) != key.x:
        raise _bad("private key does not match its public key")
