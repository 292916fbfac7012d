"""EAT claims (RFC 9711) for the device's evidence in QueryResponse, signed as a CWT-style
COSE_Sign1 by the Device Signing Key.

Why these claims: the TAM checks freshness (``eat_nonce`` = its QueryRequest challenge), the
device's identity (``ueid``) and class (``oemid``, ``hwmodel``, ``hwversion``), what is installed
(``manifests``) and the key a delivery must be wrapped to (``cnf``: the Device Agreement Key as
a COSE_Key, RFC 8747). Other claims are kept verbatim in ``extra`` (lenient) or refused
(strict), because evidence the verifier does not understand must not be silently accepted.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from edbp.reference.wire.cbor import LENIENT, Tag, dumps, loads, receive_limits
from edbp.reference.wire.cose_algs import Alg, HeaderLabel
from edbp.reference.wire.cose_headers import Label
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import Sign1, sign1
from edbp.reference.wire.eat_labels import Claim, UeidType
from edbp.reference.wire.suit_core import as_dict, as_tuple

from edbp.errors import Code, VerificationError, WireError

__all__ = [
    "CF_SUIT_ENVELOPE",
    "EAT_SIGNATURE_ALGS",
    "Claim",
    "EatClaims",
    "EatManifest",
    "UeidType",
    "sign",
    "verify",
]


#: CoAP Content-Format under which a SUIT envelope is listed in ``manifests``. The drafts have
#: not fixed a registered number for application/suit-envelope+cose; edbp uses 60
#: (application/cbor) with the envelope as the CBOR body. See the project's deviations list.
CF_SUIT_ENVELOPE = 60
CWT_TAG = 61
COSE_KEY_CNF_LABEL = 1  # cnf = {1: COSE_Key}


_CLAIMS = frozenset(Claim)
#: the claim keys ``EatClaims.from_cbor`` reads, as module names (the same members: reading
#: ``Claim.X`` goes through the enum's attribute machinery, once per claim per message)
_UEID, _CNF, _EAT_NONCE, _OEMID, _HWMODEL = (
    Claim.UEID, Claim.CNF, Claim.EAT_NONCE, Claim.OEMID, Claim.HWMODEL
)
_HWVERSION, _EAT_PROFILE, _MANIFESTS, _IAT = (
    Claim.HWVERSION, Claim.EAT_PROFILE, Claim.MANIFESTS, Claim.IAT
)
_REQUIRED_CLAIMS = (Claim.UEID, Claim.CNF)
_UEID_TYPES = frozenset(UeidType)


def _bad(detail: str) -> WireError:
    return WireError(Code.EAT_MALFORMED, detail)


@attrs.frozen
class EatManifest:
    """One entry of the ``manifests`` claim: [content-format, body]."""

    content_format: int
    body: bytes

    def to_cbor(self) -> list[Any]:
        return [self.content_format, self.body]

    def encode(self) -> bytes:
        return dumps(self.to_cbor())

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> EatManifest:
        return cls.from_cbor(loads(data, LENIENT if lenient else receive_limits()))

    @classmethod
    def from_cbor(cls, value: Any) -> EatManifest:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or isinstance(value[0], bool)
            or not isinstance(value[0], int)
            or not 0 <= value[0] <= 0xFFFF
            or not isinstance(value[1], bytes)
        ):
            raise _bad("manifests: each entry is [content-format uint, bstr]")
        return cls(value[0], value[1])


def _check_nonce(value: Any) -> bytes | tuple[bytes, ...]:
    def one(v: Any) -> bytes:
        if not isinstance(v, bytes) or not 8 <= len(v) <= 64:
            raise _bad("eat_nonce: byte string of 8..64 bytes")
        return v

    if isinstance(value, list):
        if not value:
            raise _bad("eat_nonce: empty array")
        return tuple(one(v) for v in value)
    return one(value)


def _public_only(key: CoseKey) -> CoseKey:
    """A confirmation key is public: a private part given by mistake is dropped."""
    return attrs.evolve(key, d=None) if key.d is not None else key


@attrs.frozen
class EatClaims:
    """The claims-set of the device's evidence."""

    ueid: bytes
    cnf: CoseKey = attrs.field(converter=_public_only)
    nonce: bytes | tuple[bytes, ...] | None = None
    oemid: bytes | int | None = None
    hwmodel: bytes | None = None
    hwversion: tuple[str, int | None] | None = None
    profile: str | None = None
    manifests: tuple[EatManifest, ...] = attrs.field(default=(), converter=as_tuple)
    iat: int | None = None
    extra: Mapping[int, Any] = attrs.field(factory=dict, converter=as_dict)

    def to_cbor(self) -> dict[int, Any]:
        out: dict[int, Any] = dict(self.extra)
        out[Claim.UEID] = self.ueid
        out[Claim.CNF] = {COSE_KEY_CNF_LABEL: self.cnf.to_map()}
        if self.nonce is not None:
            out[Claim.EAT_NONCE] = list(self.nonce) if isinstance(self.nonce, tuple) else self.nonce
        if self.oemid is not None:
            out[Claim.OEMID] = self.oemid
        if self.hwmodel is not None:
            out[Claim.HWMODEL] = self.hwmodel
        if self.hwversion is not None:
            version, scheme = self.hwversion
            out[Claim.HWVERSION] = [version] if scheme is None else [version, scheme]
        if self.profile is not None:
            out[Claim.EAT_PROFILE] = self.profile
        if self.manifests:
            out[Claim.MANIFESTS] = [m.to_cbor() for m in self.manifests]
        if self.iat is not None:
            out[Claim.IAT] = self.iat
        return {int(k): v for k, v in out.items()}

    def encode(self) -> bytes:
        """Deterministic CBOR of the claims-set (the COSE_Sign1 payload)."""
        return dumps(self.to_cbor())

    def nonce_matches(self, challenge: bytes) -> bool:
        nonce = self.nonce
        if type(nonce) is bytes:  # the usual single nonce: the loop below, for one
            return hmac.compare_digest(nonce, challenge)
        nonces = nonce if isinstance(nonce, tuple) else (nonce,)
        return any(n is not None and hmac.compare_digest(n, challenge) for n in nonces)

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool = False) -> EatClaims:
        if isinstance(value, Tag) and value.tag == CWT_TAG:
            value = value.value
        if not isinstance(value, dict):
            raise _bad("claims-set: expected a map")
        for claim in _REQUIRED_CLAIMS:
            if claim not in value:
                raise WireError(Code.EAT_MISSING_CLAIM, f"claim {claim.name.lower()} missing")
        known = _CLAIMS
        extra = {k: v for k, v in value.items() if k not in known}
        if extra and not lenient:
            raise _bad(f"claims not in the edbp profile: {sorted(extra, key=repr)}")
        ueid = value[_UEID]
        if not isinstance(ueid, bytes) or not 7 <= len(ueid) <= 33:
            raise _bad("ueid: byte string of 7..33 bytes")
        if ueid[0] not in _UEID_TYPES and not lenient:
            raise _bad(f"ueid: unknown type byte {ueid[0]}")
        cnf = value[_CNF]
        # (one key, equal to 1: ``set(cnf) == {1}``, without building the two sets)
        if not isinstance(cnf, dict) or len(cnf) != 1 or COSE_KEY_CNF_LABEL not in cnf:
            raise _bad("cnf: expected {1: COSE_Key}")
        key = CoseKey.from_map(cnf[COSE_KEY_CNF_LABEL])
        if key.has_private:
            raise _bad("cnf: a confirmation key must not carry a private part")
        kwargs: dict[str, Any] = {}
        if _EAT_NONCE in value:
            kwargs["nonce"] = _check_nonce(value[_EAT_NONCE])
        if _OEMID in value:
            oemid = value[_OEMID]
            if isinstance(oemid, bool) or not (
                (isinstance(oemid, bytes) and len(oemid) in (3, 16))
                or (isinstance(oemid, int) and oemid >= 0)
            ):
                raise _bad("oemid: 3- or 16-byte string, or a PEN")
            kwargs["oemid"] = oemid
        if _HWMODEL in value:
            hw = value[_HWMODEL]
            if not isinstance(hw, bytes) or not 1 <= len(hw) <= 32:
                raise _bad("hwmodel: byte string of 1..32 bytes")
            kwargs["hwmodel"] = hw
        if _HWVERSION in value:
            hv = value[_HWVERSION]
            if (
                not isinstance(hv, list)
                or len(hv) not in (1, 2)
                or not isinstance(hv[0], str)
                or (len(hv) == 2 and (isinstance(hv[1], bool) or not isinstance(hv[1], int)))
            ):
                raise _bad("hwversion: [version text, ? scheme int]")
            kwargs["hwversion"] = (hv[0], hv[1] if len(hv) == 2 else None)
        if _EAT_PROFILE in value:
            prof = value[_EAT_PROFILE]
            if not isinstance(prof, str):
                raise _bad("eat_profile: a URI text (OID profiles are not used by edbp)")
            kwargs["profile"] = prof
        if _MANIFESTS in value:
            ms = value[_MANIFESTS]
            if not isinstance(ms, list) or not ms:
                raise _bad("manifests: non-empty array")
            kwargs["manifests"] = tuple([EatManifest.from_cbor(m) for m in ms])
        if _IAT in value:
            iat = value[_IAT]
            if isinstance(iat, bool) or not isinstance(iat, int):
                raise _bad("iat: integer seconds")
            kwargs["iat"] = iat
        return cls(ueid=ueid, cnf=key, extra=extra, **kwargs)

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> EatClaims:
        return cls.from_cbor(loads(data, LENIENT if lenient else receive_limits()), lenient)


# --------------------------------------------------------------------------- COSE_Sign1

#: Algorithms the Device Signing Key may use (ESP256 / Ed25519; older ids accepted on verify)
EAT_SIGNATURE_ALGS = frozenset({-9, -7, -19, -8, -49})
#: the default's ``Alg`` members, made once (``verify`` runs for every device's evidence)
_DEFAULT_ALLOWED = frozenset(Alg(a) for a in EAT_SIGNATURE_ALGS)


def sign(claims: EatClaims, key: CoseKey, alg: int = -9, *, kid: bytes | None = None) -> bytes:
    """The claims-set as a tagged COSE_Sign1 (a CWT-style EAT), signed by the device key."""

    if alg not in EAT_SIGNATURE_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"algorithm {alg} not allowed for evidence")
    unprotected: dict[Label, Any] | None = None
    if kid is not None:
        unprotected = {HeaderLabel.KID.value: kid}
    return sign1(claims.encode(), key, Alg(alg), unprotected=unprotected).encode()


def verify(
    data: bytes,
    key: CoseKey,
    *,
    challenge: bytes | None = None,
    algorithms: Any = EAT_SIGNATURE_ALGS,
    lenient: bool = False,
) -> EatClaims:
    """Verify signed evidence (COSE_Sign1, tagged or not, optionally inside the CWT tag 61) and
    decode it.
    With ``challenge``, ``eat_nonce`` must carry it (EAT_NONCE_MISMATCH)."""

    # the usual layout (a COSE_Sign1, tagged or not, no CWT tag) read directly; else decoded
    cose = Sign1.decode_usual(data, lenient=lenient, tagged=None)
    if cose is None:
        obj = loads(data, LENIENT if lenient else receive_limits())
        if isinstance(obj, Tag) and obj.tag == CWT_TAG:
            obj = obj.value
        cose = Sign1.from_obj(obj, lenient=lenient, tagged=None)
    if cose.payload is None:
        raise _bad("evidence is signed with an attached payload")
    if algorithms is EAT_SIGNATURE_ALGS:
        allowed: Collection[Alg] = _DEFAULT_ALLOWED
    else:
        allowed = {Alg(a) for a in algorithms if a in EAT_SIGNATURE_ALGS}
    try:
        payload = cose.verify(key, algorithms=allowed)
    except VerificationError:
        raise VerificationError(Code.EAT_BAD_SIGNATURE) from None
    claims = EatClaims.decode(payload, lenient)
    if challenge is not None and not claims.nonce_matches(challenge):
        raise VerificationError(Code.EAT_NONCE_MISMATCH, "eat_nonce is not the challenge")
    return claims
