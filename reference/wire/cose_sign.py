"""COSE_Sign1 (RFC 9052 §4.2, §4.4) with ESP256/ES256, Ed25519/EdDSA and ML-DSA-65 (RFC 9964).

Why built on ``cryptography`` directly: the vector generator needs every intermediate
(``Sig_structure``) and byte-level control over the headers, and verification must be exact:
an explicit allow-list of algorithms per call (no negotiation, no fallback), the key checked
against the algorithm, unknown critical headers and duplicated labels refused, and the protected
header verified as the bytes received. ECDSA signatures are raw ``r‖s`` (RFC 9053 §2.1), made
deterministically (RFC 6979) so vectors replay byte for byte.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from edbp.errors import Code, VerificationError, WireError

from . import cbor
from .cose_algs import (
    RECEIVE_ONLY_ALGS,
    SIGNATURE_ALGS,
    Alg,
    CoseTag,
    Curve,
    HeaderLabel,
    as_alg,
)
from .cose_headers import Headers, Label, alg_only_protected, require_bytes
from .cose_key import CoseKey, require_key
from .cose_trace import Trace

__all__ = ["Sign", "Sign1", "Signature", "sig_structure", "sign1"]

#: the signature algorithm objects, made once (immutable; one per call showed in profiles)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: ECDSA: the hash and the size of r and s per alg (RFC 9053 §2.1; ES384/ES512 receive only)
_ECDSA: dict[Alg, tuple[ec.ECDSA, int]] = {
    Alg.ESP256: (_ECDSA_SHA256, 32),
    Alg.ES256: (_ECDSA_SHA256, 32),
    Alg.ES384: (ec.ECDSA(hashes.SHA384()), 48),
    Alg.ES512: (ec.ECDSA(hashes.SHA512()), 66),
}
_ECDSA_SHA256_RFC6979 = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def sig_structure(
    body_protected: bytes, external_aad: bytes, payload: bytes, *, context: str = "Signature1"
) -> bytes:
    """The ToBeSigned bytes: ``["Signature1", body_protected, external_aad, payload]``."""
    if type(body_protected) is bytes and type(external_aad) is bytes and type(payload) is bytes:
        # the same bytes as ``dumps`` of the array, assembled from its four parts
        return b"".join(
            (_SIG_CONTEXTS.get(context) or _array4_text(context), cbor.bstr(body_protected),
             cbor.bstr(external_aad), cbor.bstr(payload))
        )
    return cbor.dumps([context, body_protected, external_aad, payload])


def _array4_text(text: str) -> bytes:
    """The head of a four-item array followed by ``text``, encoded."""
    return b"\x84" + cbor.dumps(text)


#: that prefix for the Sig_structure contexts (RFC 9052 section 4.4)
_SIG_CONTEXTS = {c: _array4_text(c) for c in ("Signature1", "Signature", "CounterSignature")}


def _unwrap_tag(obj: Any, tag: int, tagged: bool | None, what: str) -> tuple[Any, bool]:
    """Strip and check the COSE tag. ``tagged``: True requires it, False forbids it,
    None accepts both. Any other tag is COSE_WRONG_TAG."""
    if isinstance(obj, cbor.Tag):
        if obj.tag != tag:
            raise WireError(Code.COSE_WRONG_TAG, f"tag {obj.tag} where {what} ({tag}) expected")
        if tagged is False:
            raise WireError(Code.COSE_WRONG_TAG, f"tagged {what} where untagged expected")
        return obj.value, True
    if tagged is True:
        raise WireError(Code.COSE_WRONG_TAG, f"untagged {what} where tag {tag} expected")
    return obj, False


def _bstr_at(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """The definite-length byte string at ``pos`` with its head in the shortest form, and the
    offset after it; (None, pos) for anything else."""
    size = len(data)
    if pos >= size:
        return None, pos
    ib = data[pos]
    if 0x40 <= ib <= 0x57:
        start, length = pos + 1, ib - 0x40
    elif ib == 0x58 and pos + 2 <= size and data[pos + 1] >= 24:
        start, length = pos + 2, data[pos + 1]
    elif ib == 0x59 and pos + 3 <= size:
        start, length = pos + 3, int.from_bytes(data[pos + 1 : pos + 3], "big")
        if length < 0x100:
            return None, pos
    elif ib == 0x5A and pos + 5 <= size:
        start, length = pos + 5, int.from_bytes(data[pos + 1 : pos + 5], "big")
        if length < 0x10000:
            return None, pos
    else:
        return None, pos
    end = start + length
    if end > size:
        return None, pos
    return data[start:end], end


def _sign1_parts(
    data: Any, limits: cbor.Limits, tagged: bool | None
) -> tuple[bool, bytes, dict[Label, Any], bytes, bytes] | None:
    """A COSE_Sign1 encoded as edbp's parties write it, read directly: tag 18 (where
    ``tagged`` admits it, absent where it admits that), a definite array of four, a byte
    string protected bucket, an unprotected map that is empty or holds only a kid, an attached
    payload and the signature, every head in its shortest form, nothing after. The result is
    the values ``cbor.loads`` gives for those bytes (any limits that admit them: the size, the
    depth and the work of nine items are checked). None for any other encoding: the general
    decoder reads it, and refuses what it refuses, as before."""
    if (
        type(data) is not bytes
        or not data
        or len(data) > limits.max_size
        or limits.max_depth < 4
        or limits.max_work < 16
        or limits.max_items < 4
    ):
        return None
    pos = 0
    was_tagged = data[0] == 0xD2  # tag 18, shortest head
    if was_tagged:
        if tagged is False:
            return None
        pos = 1
    elif tagged is True:
        return None
    if pos >= len(data) or data[pos] != 0x84:
        return None
    protected, pos = _bstr_at(data, pos + 1)
    if protected is None or pos >= len(data):
        return None
    unprotected: dict[Label, Any]
    if data[pos] == 0xA0:
        unprotected, pos = {}, pos + 1
    elif data[pos] == 0xA1 and pos + 1 < len(data) and data[pos + 1] == 0x04:
        kid, pos = _bstr_at(data, pos + 2)
        if kid is None:
            return None
        unprotected = {_KID: kid}
    else:
        return None
    payload, pos = _bstr_at(data, pos)
    if payload is None:
        return None
    signature, pos = _bstr_at(data, pos)
    if signature is None or pos != len(data):
        return None
    return was_tagged, protected, unprotected, payload, signature


_KID = HeaderLabel.KID.value
_ALG = HeaderLabel.ALG.value


def _parse_head(body: Any, size: int, what: str, lenient: bool) -> tuple[Headers, bytes | None]:
    """The part every COSE message body shares: an array of ``size``, the two header buckets,
    a bstr or nil payload. The caller checks what follows (signature, tag, signatures,
    recipients)."""
    if not isinstance(body, list) or len(body) != size:
        raise WireError(Code.COSE_MALFORMED, f"{what} is not an array of {size}")
    headers = Headers.parse(body[0], body[1], lenient=lenient)
    payload = body[2]
    if payload is not None and not isinstance(payload, bytes):
        raise WireError(Code.COSE_MALFORMED, "payload is neither bstr nor nil")
    return headers, payload


@attrs.frozen
class Sign1:
    """A COSE_Sign1. ``payload`` is None when detached (nil on the wire)."""

    headers: Headers
    payload: bytes | None
    signature: bytes
    tagged: bool = True

    # ------------------------------------------------------------------ wire

    def to_obj(self) -> Any:
        """The CBOR data model value (for embedding in a larger structure)."""
        body = [*self.headers.to_items(), self.payload, self.signature]
        return cbor.Tag(CoseTag.SIGN1, body) if self.tagged else body

    def encode(self) -> bytes:
        """Deterministic CBOR (the protected bytes are kept as they are)."""
        h = self.headers
        if (
            type(h.protected_raw) is bytes
            and type(self.signature) is bytes
            and (self.payload is None or type(self.payload) is bytes)
        ):
            # ``dumps(self.to_obj())``'s bytes, assembled from the parts
            return b"".join(
                (
                    b"\xd2\x84" if self.tagged else b"\x84",  # tag 18, array of 4
                    cbor.bstr(h.protected_raw),
                    cbor.dumps(dict(h.unprotected)) if h.unprotected else b"\xa0",
                    b"\xf6" if self.payload is None else cbor.bstr(self.payload),
                    cbor.bstr(self.signature),
                )
            )
        return cbor.dumps(self.to_obj())

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Sign1:
        """Parse an already-decoded COSE_Sign1 (untrusted)."""
        body, was_tagged = _unwrap_tag(obj, CoseTag.SIGN1, tagged, "COSE_Sign1")
        headers, payload = _parse_head(body, 4, "COSE_Sign1", lenient)
        signature = body[3]
        if not isinstance(signature, bytes):
            raise WireError(Code.COSE_MALFORMED, "signature is not a bstr")
        return cls(headers=headers, payload=payload, signature=signature, tagged=was_tagged)

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True) -> Sign1:
        """Decode untrusted bytes under the receive rule (spec/protocol.md §5: any well-formed
        encoding; the signature is checked over the protected and payload bytes as received).
        ``lenient`` also admits what only published interop data needs (deeper nesting)."""
        found = cls.decode_usual(data, lenient=lenient, tagged=tagged)
        if found is not None:
            return found
        limits = cbor.LENIENT if lenient else cbor.receive_limits()
        return cls.from_obj(cbor.loads(data, limits), lenient=lenient, tagged=tagged)

    @classmethod
    def decode_usual(
        cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True
    ) -> Sign1 | None:
        """``decode``'s answer for bytes in the usual layout (``_sign1_parts``), read directly;
        None for any other bytes (the caller decodes them its general way)."""
        limits = cbor.LENIENT if lenient else cbor.receive_limits()
        parts = _sign1_parts(data, limits, tagged)
        if parts is None:
            return None
        # ``from_obj`` of what ``loads`` gives for these bytes
        was_tagged, protected, unprotected, payload, signature = parts
        headers = Headers.parse(protected, unprotected, lenient=lenient)
        return cls(headers=headers, payload=payload, signature=signature, tagged=was_tagged)

    # ------------------------------------------------------------------ verification

    def to_be_signed(
        self, external_aad: bytes = b"", detached_payload: bytes | None = None
    ) -> bytes:
        """The Sig_structure this message's signature covers."""
        return sig_structure(
            self.headers.protected_for_crypto, external_aad, self._payload(detached_payload)
        )

    def _payload(self, detached_payload: bytes | None) -> bytes:
        if self.payload is not None:
            if detached_payload is not None:
                raise WireError(Code.COSE_MALFORMED, "payload both attached and detached")
            return self.payload
        if detached_payload is None:
            raise WireError(Code.COSE_DETACHED_PAYLOAD_MISSING, "detached payload not supplied")
        return detached_payload

    def verify(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_payload: bytes | None = None,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Verify with ``key`` and return the payload.

        ``algorithms`` is the allow-list for this call (e.g. ``{Alg.ESP256, Alg.ES256}``);
        -9/-7 both mean ECDSA P-256 + SHA-256, -19/-8 both Ed25519. Raises WireError for a
        header/key problem and ``VerificationError(COSE_BAD_SIGNATURE)`` for a bad signature.
        """
        require_key(key)
        if type(external_aad) is not bytes or (
            detached_payload is not None and type(detached_payload) is not bytes
        ):  # (the usual arguments need no call)
            require_bytes(external_aad=external_aad, detached_payload=detached_payload)
        self.headers.check_critical(understood)
        self.headers.check_alg_protected()
        allowed = _signature_allow_list(algorithms)
        alg = self.headers.alg(allowed)
        if alg == Alg.EDDSA and key.crv == Curve.ED448 and Alg.ED448 in allowed:
            alg = Alg.ED448  # EdDSA on Ed448 only for a caller that allows Ed448 (receive side)
        key.check_alg(alg)
        payload = self._payload(detached_payload)
        tbs = sig_structure(self.headers.protected_for_crypto, external_aad, payload)
        if trace is not None:
            trace.to_be_signed = tbs
        _verify_raw(key, alg, tbs, self.signature)
        return payload


def _signature_allow_list(algorithms: Collection[Alg]) -> frozenset[Alg]:
    """The caller's allow-list restricted to signature algorithms (the same set as
    ``frozenset(algorithms) & SIGNATURE_ALGS``; a frozenset already inside it is that set)."""
    if isinstance(algorithms, frozenset) and algorithms <= SIGNATURE_ALGS:
        return algorithms
    return frozenset(algorithms) & SIGNATURE_ALGS


def _signature_alg(headers: Headers, key: CoseKey, algorithms: Collection[Alg]) -> Alg:
    """The checked alg of one signature layer: protected, in the caller's allow-list, fitting
    the key (EdDSA on Ed448 only where the list names Ed448: the receive side)."""
    headers.check_alg_protected()
    allowed = _signature_allow_list(algorithms)
    alg = headers.alg(allowed)
    if alg == Alg.EDDSA and key.crv == Curve.ED448 and Alg.ED448 in allowed:
        alg = Alg.ED448
    key.check_alg(alg)
    return alg


@attrs.frozen
class Signature:
    """One COSE_Signature of a COSE_Sign: the signer's own headers and signature."""

    headers: Headers
    signature: bytes

    def to_obj(self) -> Any:
        return [*self.headers.to_items(), self.signature]


@attrs.frozen
class Sign:
    """A COSE_Sign (tag 98, RFC 9052 §4.1): one payload, one or more signatures. Receive side
    only (inspect, interop): edbp's own messages are COSE_Sign1, and no delivery accepts a
    COSE_Sign (SUIT and TEEP refuse it where they expect a COSE_Sign1)."""

    headers: Headers
    payload: bytes | None
    signatures: tuple[Signature, ...]
    tagged: bool = True

    def to_obj(self) -> Any:
        body = [
            *self.headers.to_items(),
            self.payload,
            [s.to_obj() for s in self.signatures],
        ]
        return cbor.Tag(CoseTag.SIGN, body) if self.tagged else body

    def encode(self) -> bytes:
        return cbor.dumps(self.to_obj())

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Sign:
        """Parse an already-decoded COSE_Sign (untrusted)."""
        body, was_tagged = _unwrap_tag(obj, CoseTag.SIGN, tagged, "COSE_Sign")
        headers, payload = _parse_head(body, 4, "COSE_Sign", lenient)
        signatures = body[3]
        if not isinstance(signatures, list) or not signatures:
            raise WireError(Code.COSE_MALFORMED, "signatures is not a non-empty array")
        parsed = []
        for item in signatures:
            if not isinstance(item, list) or len(item) != 3:
                raise WireError(Code.COSE_MALFORMED, "COSE_Signature is not an array of 3")
            if not isinstance(item[2], bytes):
                raise WireError(Code.COSE_MALFORMED, "signature is not a bstr")
            parsed.append(Signature(Headers.parse(item[0], item[1], lenient=lenient), item[2]))
        return cls(headers, payload, tuple(parsed), was_tagged)

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True) -> Sign:
        """Decode untrusted bytes under the receive rule (spec/protocol.md §5)."""
        obj = cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits())
        return cls.from_obj(obj, lenient=lenient, tagged=tagged)

    def to_be_signed(
        self, index: int, external_aad: bytes = b"", detached_payload: bytes | None = None
    ) -> bytes:
        """The Sig_structure of signature ``index``: ``["Signature", body_protected,
        sign_protected, external_aad, payload]`` (RFC 9052 §4.4), over the bytes received."""
        return cbor.dumps(
            [
                "Signature",
                self.headers.protected_for_crypto,
                self.signatures[index].headers.protected_for_crypto,
                external_aad,
                _payload_of(self.payload, detached_payload),
            ]
        )

    def verify(
        self,
        keys: Sequence[CoseKey],
        *,
        algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_payload: bytes | None = None,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Verify every signature, ``keys[i]`` for signature ``i``, and return the payload.

        All of them must verify (RFC 9052 §4.1 leaves the policy to the application; edbp's is
        the strict one: a message with one bad signature is refused whole). ``trace`` keeps the
        first signature's ToBeSign; ``to_be_signed(i)`` gives any other."""
        require_bytes(external_aad=external_aad, detached_payload=detached_payload)
        if len(keys) != len(self.signatures):
            raise WireError(
                Code.COSE_MALFORMED, f"{len(self.signatures)} signatures, {len(keys)} keys"
            )
        self.headers.check_critical(understood)
        payload = _payload_of(self.payload, detached_payload)
        for index, (key, sig) in enumerate(zip(keys, self.signatures, strict=True)):
            require_key(key)
            sig.headers.check_critical(understood)
            alg = _signature_alg(sig.headers, key, algorithms)
            tbs = self.to_be_signed(index, external_aad, detached_payload)
            if trace is not None and index == 0:
                trace.to_be_signed = tbs
            _verify_raw(key, alg, tbs, sig.signature)
        return payload


def _payload_of(payload: bytes | None, detached_payload: bytes | None) -> bytes:
    if payload is not None:
        if detached_payload is not None:
            raise WireError(Code.COSE_MALFORMED, "payload both attached and detached")
        return payload
    if detached_payload is None:
        raise WireError(Code.COSE_DETACHED_PAYLOAD_MISSING, "detached payload not supplied")
    return detached_payload


def _verify_raw(key: CoseKey, alg: Alg, tbs: bytes, signature: bytes) -> None:
    if alg == Alg.ML_DSA_65:
        from . import pq  # guarded: the classical kit runs without the PQ primitives

        assert key.x is not None
        pq.mldsa65_verify(key.x, tbs, signature)
        return
    pub = key.public_key()
    try:
        if alg in _ECDSA:
            if type(pub) not in _EC_PUBLIC_TYPES:
                assert isinstance(pub, ec.EllipticCurvePublicKey)
                _EC_PUBLIC_TYPES.add(type(pub))
            ecdsa, size = _ECDSA[alg]
            if len(signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            cast(ec.EllipticCurvePublicKey, pub).verify(encode_dss_signature(r, s), tbs, ecdsa)
        else:
            assert isinstance(pub, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
            pub.verify(signature, tbs)
    except (InvalidSignature, ValueError):
        raise VerificationError(Code.COSE_BAD_SIGNATURE) from None


#: the concrete classes of the EC public and private keys the type assertions above and below
#: passed (an ABC's isinstance walks its registry on every call: a measurable share of a
#: verification)
_EC_PUBLIC_TYPES: set[type] = set()
_EC_PRIVATE_TYPES: set[type] = set()


def sign_bytes(key: CoseKey, alg: Alg, tbs: bytes) -> bytes:
    """The raw COSE signature over ``tbs`` (ECDSA ``r‖s`` with RFC 6979 nonces, or Ed25519)."""
    if alg in RECEIVE_ONLY_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"{alg.name} is verified, never made, here")
    key.check_alg(alg)
    if alg == Alg.ML_DSA_65:
        from . import pq

        if key.d is None:
            raise WireError(Code.COSE_BAD_KEY, "key has no private part")
        return pq.mldsa65_sign(key.d, tbs)
    priv = key.private_key()
    if alg in _ECDSA:
        if type(priv) not in _EC_PRIVATE_TYPES:
            assert isinstance(priv, ec.EllipticCurvePrivateKey)
            _EC_PRIVATE_TYPES.add(type(priv))
        der = cast(ec.EllipticCurvePrivateKey, priv).sign(tbs, _ECDSA_SHA256_RFC6979)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert isinstance(priv, ed25519.Ed25519PrivateKey)
    return priv.sign(tbs)


def sign1(
    payload: bytes,
    key: CoseKey,
    alg: Alg,
    *,
    protected: Mapping[Label, Any] | None = None,
    unprotected: Mapping[Label, Any] | None = None,
    protected_raw: bytes | None = None,
    external_aad: bytes = b"",
    detached: bool = False,
    tagged: bool = True,
    trace: Trace | None = None,
) -> Sign1:
    """Sign ``payload`` into a COSE_Sign1.

    ``alg`` goes into the protected bucket unless the caller already placed label 1 (in either
    bucket, with the same value). ``detached`` leaves the payload out (nil) while still signing
    it. ``protected_raw`` sets the protected bytes verbatim (vectors).
    """
    require_key(key)
    if type(payload) is not bytes or type(external_aad) is not bytes or protected_raw is not None:
        require_bytes(payload=payload, external_aad=external_aad, protected_raw=protected_raw)
    if payload is None:
        raise WireError(Code.COSE_MALFORMED, "payload must be bytes")
    alg = as_alg(alg)
    if alg not in SIGNATURE_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"{alg!r} is not a signature algorithm")
    if protected is None and unprotected is None and protected_raw is None and trace is None:
        # what edbp signs (TEEP messages, SUIT authentication blocks): the protected bucket is
        # {1: alg} and nothing else, so the headers are the ones ``Headers.make`` gives for
        # it (``alg_only_protected``'s bytes, their map), made without re-checking them
        raw = alg_only_protected(int(alg))
        headers = Headers(protected_raw=raw, protected={_ALG: int(alg)}, unprotected={})
        signature = sign_bytes(key, alg, sig_structure(raw, external_aad, payload))
        return Sign1(
            headers=headers,
            payload=None if detached else payload,
            signature=signature,
            tagged=tagged,
        )
    prot = dict(protected or {})
    unprot = dict(unprotected or {})
    if protected_raw is None and HeaderLabel.ALG not in prot and HeaderLabel.ALG not in unprot:
        prot = {HeaderLabel.ALG.value: int(alg), **prot}
    headers = Headers.make(
        prot if protected_raw is None else None, unprot, protected_raw=protected_raw
    )
    if headers.raw_alg != int(alg):
        raise WireError(Code.COSE_MALFORMED, "alg header disagrees with the signing alg")
    tbs = sig_structure(headers.protected_for_crypto, external_aad, payload)
    if trace is not None:
        trace.to_be_signed = tbs
    signature = sign_bytes(key, alg, tbs)
    return Sign1(
        headers=headers, payload=None if detached else payload, signature=signature, tagged=tagged
    )
