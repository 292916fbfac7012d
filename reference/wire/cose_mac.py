"""COSE_Mac0 (RFC 9052 §6.2) with HMAC 256/256 (RFC 9053 §3.1): verify and create.

Why edbp has it: the SUIT firmware-encryption draft authenticates its AES-KW example manifests
with a COSE_Mac0 under a symmetric key shared by the sender and the recipient. The wire layer
verifies those blocks (``suit_crypto.verify_envelope`` with a symmetric key); the edbp Agent's
trust anchors are signature keys, so an edbp device still requires a COSE_Sign1 block
(spec/protocol.md, SUIT profile). The tag is computed over the MAC_structure built from the
protected bytes and the payload exactly as received (protocol §5) and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from edbp.errors import Code, VerificationError, WireError

from . import cbor
from .cose_algs import Alg, CoseTag, KeyType
from .cose_headers import Headers, Label, require_bytes
from .cose_key import CoseKey, require_key
from .cose_sign import _unwrap_tag

__all__ = ["MAC_ALGS", "Mac0", "mac0", "mac_structure"]

#: MAC algorithms the wire layer verifies (HMAC 256/256 only: the drafts' examples use it).
MAC_ALGS = frozenset({Alg.HMAC_256_256})
_TAG_BYTES = {Alg.HMAC_256_256: 32}


def mac_structure(body_protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """The ToBeMaced bytes: ``["MAC0", body_protected, external_aad, payload]``."""
    return cbor.dumps(["MAC0", body_protected, external_aad, payload])


def _key_bytes(key: CoseKey, alg: Alg) -> bytes:
    """The HMAC key; RFC 9053 §3.1 wants at least the hash's length (32 bytes)."""
    if key.kty != KeyType.SYMMETRIC or key.k is None or len(key.k) < _TAG_BYTES[alg]:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"key does not fit {alg.name}")
    if key.alg is not None and key.alg != alg:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"key is restricted to alg {key.alg!r}")
    return key.k


@attrs.frozen
class Mac0:
    """A COSE_Mac0. ``payload`` is None when detached (nil on the wire)."""

    headers: Headers
    payload: bytes | None
    tag: bytes
    tagged: bool = True

    def encode(self) -> bytes:
        body = [*self.headers.to_items(), self.payload, self.tag]
        return cbor.dumps(cbor.Tag(CoseTag.MAC0, body) if self.tagged else body)

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Mac0:
        """Parse an already-decoded COSE_Mac0 (untrusted)."""
        body, was_tagged = _unwrap_tag(obj, CoseTag.MAC0, tagged, "COSE_Mac0")
        if not isinstance(body, list) or len(body) != 4:
            raise WireError(Code.COSE_MALFORMED, "COSE_Mac0 is not an array of 4")
        prot, unprot, payload, tag = body
        headers = Headers.parse(prot, unprot, lenient=lenient)
        if payload is not None and not isinstance(payload, bytes):
            raise WireError(Code.COSE_MALFORMED, "payload is neither bstr nor nil")
        if not isinstance(tag, bytes):
            raise WireError(Code.COSE_MALFORMED, "tag is not a bstr")
        return cls(headers=headers, payload=payload, tag=tag, tagged=was_tagged)

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True) -> Mac0:
        """Decode untrusted bytes under the receive rule (spec/protocol.md §5)."""
        obj = cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits())
        return cls.from_obj(obj, lenient=lenient, tagged=tagged)

    def verify(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg] = MAC_ALGS,
        external_aad: bytes = b"",
        detached_payload: bytes | None = None,
        understood: Collection[Label] = (),
    ) -> bytes:
        """Check the tag with ``key`` and return the payload. A wrong tag (any length) is
        ``VerificationError(COSE_BAD_MAC)``; header and key problems keep their COSE codes."""
        require_key(key)
        require_bytes(external_aad=external_aad, detached_payload=detached_payload)
        self.headers.check_critical(understood)
        alg = self.headers.alg(frozenset(algorithms) & MAC_ALGS)
        k = _key_bytes(key, alg)
        if self.payload is not None:
            if detached_payload is not None:
                raise WireError(Code.COSE_MALFORMED, "payload both attached and detached")
            payload = self.payload
        elif detached_payload is None:
            raise WireError(Code.COSE_DETACHED_PAYLOAD_MISSING, "detached payload not given")
        else:
            payload = detached_payload
        to_mac = mac_structure(self.headers.protected_for_crypto, external_aad, payload)
        expected = hmac.new(k, to_mac, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, self.tag):
            raise VerificationError(Code.COSE_BAD_MAC)
        return payload


def mac0(
    payload: bytes,
    key: CoseKey,
    alg: Alg = Alg.HMAC_256_256,
    *,
    protected: Mapping[Label, Any] | None = None,
    unprotected: Mapping[Label, Any] | None = None,
    detached: bool = False,
    tagged: bool = True,
) -> Mac0:
    """A COSE_Mac0 over ``payload`` (deterministic: HMAC has no randomness)."""
    require_key(key)
    alg = Alg(alg)
    if alg not in MAC_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"alg {alg.name} is not a MAC algorithm")
    headers = Headers.make({1: int(alg), **(protected or {})}, unprotected)
    to_mac = mac_structure(headers.protected_for_crypto, b"", payload)
    tag = hmac.new(_key_bytes(key, alg), to_mac, hashlib.sha256).digest()
    return Mac0(headers, None if detached else payload, tag, tagged)
