"""COSE_Mac0 and COSE_Mac (RFC 9052 §6) with HMAC (RFC 9053 §3.1: 256/64, 256/256, 384/384,
512/512) and AES-CBC-MAC (RFC 9053 §3.2: 128/64, 256/64, 128/128, 256/128): verify and create.

Why edbp has it: the SUIT firmware-encryption draft authenticates its AES-KW example manifests
with a COSE_Mac0 under a symmetric key shared by the sender and the recipient, and cose-wg's
examples exercise COSE_Mac with every recipient kind edbp's COSE_Encrypt already opens. The wire
layer verifies those (``suit_crypto.verify_envelope`` with a symmetric key; ``Mac.verify`` with
the recipient's key); the edbp Agent's trust anchors are signature keys, so an edbp device still
requires a COSE_Sign1 block (spec/protocol.md, SUIT profile). The tag is computed over the
MAC_structure built from the protected bytes and the payload exactly as received (protocol §5)
and compared in constant time; a COSE_Mac's MAC key comes from its recipients through the same
code as a COSE_Encrypt's CEK (``cose_encrypt.open_recipients``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from typing import Any

import attrs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from edbp.errors import Code, VerificationError, WireError

from . import cbor
from .cose_algs import Alg, CoseTag, alg_info
from .cose_headers import Headers, Label, require_bytes
from .cose_key import CoseKey, require_key
from .cose_sign import _parse_head, _unwrap_tag
from .cose_trace import Trace

__all__ = ["MAC_ALGS", "Mac", "Mac0", "mac0", "mac_structure", "mac_tag"]

#: MAC algorithms the wire layer computes; every verify call still passes its own allow-list.
MAC_ALGS = frozenset(
    {
        Alg.HMAC_256_64,
        Alg.HMAC_256_256,
        Alg.HMAC_384_384,
        Alg.HMAC_512_512,
        Alg.AES_MAC_128_64,
        Alg.AES_MAC_256_64,
        Alg.AES_MAC_128_128,
        Alg.AES_MAC_256_128,
    }
)
_HASHES = {
    Alg.HMAC_256_64: hashlib.sha256,
    Alg.HMAC_256_256: hashlib.sha256,
    Alg.HMAC_384_384: hashlib.sha384,
    Alg.HMAC_512_512: hashlib.sha512,
}


def mac_structure(
    body_protected: bytes, external_aad: bytes, payload: bytes, context: str = "MAC0"
) -> bytes:
    """The ToBeMaced bytes: ``[context, body_protected, external_aad, payload]`` (RFC 9052
    §6.3; context "MAC0" for COSE_Mac0, "MAC" for COSE_Mac)."""
    return cbor.dumps([context, body_protected, external_aad, payload])


def mac_tag(alg: Alg, key: bytes, to_mac: bytes) -> bytes:
    """The tag of ``to_mac``. HMAC: the digest truncated to the tag length (RFC 9053 §3.1).
    AES-MAC: CBC-MAC with a zero IV over the input padded with zero bytes to a whole block,
    the last block truncated to the tag length (RFC 9053 §3.2)."""
    info = alg_info(alg)
    if alg in _HASHES:
        return hmac.new(key, to_mac, _HASHES[alg]).digest()[: info.tag_bytes]
    padded = to_mac + bytes(-len(to_mac) % 16)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    last = (encryptor.update(padded) + encryptor.finalize())[-16:]
    return last[: info.tag_bytes]


def _key_bytes(key: CoseKey, alg: Alg) -> bytes:
    """The MAC key: RFC 9053 sizes (HMAC at least 256 bits; AES-MAC exactly its key size)."""
    key.check_alg(alg)
    if key.alg is not None and key.alg != alg:
        raise WireError(Code.COSE_ALG_KEY_MISMATCH, f"key is restricted to alg {key.alg!r}")
    assert key.k is not None  # check_alg: a symmetric key of the right size
    return key.k


def _raw_key(alg: Alg, k: bytes) -> bytes:
    """A MAC key a recipient layer delivered: same size rules as a COSE_Key's."""
    return _key_bytes(CoseKey.symmetric(k), alg)


def _check(alg: Alg, key: bytes, to_mac: bytes, tag: bytes) -> None:
    expected = mac_tag(alg, key, to_mac)
    if not hmac.compare_digest(expected, tag):
        raise VerificationError(Code.COSE_BAD_MAC)


def _payload(attached: bytes | None, detached: bytes | None) -> bytes:
    if attached is not None:
        if detached is not None:
            raise WireError(Code.COSE_MALFORMED, "payload both attached and detached")
        return attached
    if detached is None:
        raise WireError(Code.COSE_DETACHED_PAYLOAD_MISSING, "detached payload not given")
    return detached


def _parse_body(body: Any, size: int, what: str, lenient: bool) -> tuple[Headers, Any, bytes]:
    headers, payload = _parse_head(body, size, what, lenient)
    tag = body[3]
    if not isinstance(tag, bytes):
        raise WireError(Code.COSE_MALFORMED, "tag is not a bstr")
    return headers, payload, tag


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
        headers, payload, tag = _parse_body(body, 4, "COSE_Mac0", lenient)
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
        payload = _payload(self.payload, detached_payload)
        to_mac = mac_structure(self.headers.protected_for_crypto, external_aad, payload)
        _check(alg, k, to_mac, self.tag)
        return payload


@attrs.frozen
class Mac:
    """A COSE_Mac (tag 97): the MAC key comes from one of the recipients (RFC 9052 §6.1)."""

    headers: Headers
    payload: bytes | None
    tag: bytes
    recipients: tuple[Any, ...]  # cose_encrypt.Recipient
    tagged: bool = True

    def encode(self) -> bytes:
        body = [
            *self.headers.to_items(),
            self.payload,
            self.tag,
            [r.to_obj() for r in self.recipients],
        ]
        return cbor.dumps(cbor.Tag(CoseTag.MAC, body) if self.tagged else body)

    @classmethod
    def from_obj(cls, obj: Any, *, lenient: bool = False, tagged: bool | None = True) -> Mac:
        """Parse an already-decoded COSE_Mac (untrusted)."""
        from .cose_encrypt import Recipient

        body, was_tagged = _unwrap_tag(obj, CoseTag.MAC, tagged, "COSE_Mac")
        headers, payload, tag = _parse_body(body, 5, "COSE_Mac", lenient)
        if not isinstance(body[4], list) or not body[4]:
            raise WireError(Code.COSE_MALFORMED, "recipients is not a non-empty array")
        recipients = tuple(Recipient.from_obj(r, lenient=lenient) for r in body[4])
        return cls(headers, payload, tag, recipients, was_tagged)

    @classmethod
    def decode(cls, data: bytes, *, lenient: bool = False, tagged: bool | None = True) -> Mac:
        """Decode untrusted bytes under the receive rule (spec/protocol.md §5)."""
        obj = cbor.loads(data, cbor.LENIENT if lenient else cbor.receive_limits())
        return cls.from_obj(obj, lenient=lenient, tagged=tagged)

    def verify(
        self,
        key: CoseKey,
        *,
        algorithms: Collection[Alg] = MAC_ALGS,
        recipient_algorithms: Collection[Alg],
        external_aad: bytes = b"",
        detached_payload: bytes | None = None,
        sender_key: CoseKey | None = None,
        understood: Collection[Label] = (),
        trace: Trace | None = None,
    ) -> bytes:
        """Open the recipient ``key`` fits (as ``Encrypt.unwrap_cek`` does), check the tag with
        the key it delivers and return the payload. A wrong tag is ``COSE_BAD_MAC``; a recipient
        that does not open is ``DecryptionFailed``, as for COSE_Encrypt."""
        from .cose_encrypt import open_recipients

        require_key(key)
        require_bytes(external_aad=external_aad, detached_payload=detached_payload)
        self.headers.check_critical(understood)
        alg = self.headers.alg(frozenset(algorithms) & MAC_ALGS)
        payload = _payload(self.payload, detached_payload)
        mac_key = open_recipients(
            self.recipients,
            key,
            alg,
            recipient_algorithms=recipient_algorithms,
            sender_key=sender_key,
            understood=understood,
            trace=trace,
        )
        to_mac = mac_structure(self.headers.protected_for_crypto, external_aad, payload, "MAC")
        if trace is not None:
            trace.to_be_maced = to_mac
        _check(alg, _raw_key(alg, mac_key), to_mac, self.tag)
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
    """A COSE_Mac0 over ``payload`` (deterministic: HMAC and CBC-MAC have no randomness)."""
    require_key(key)
    alg = Alg(alg)
    if alg not in MAC_ALGS:
        raise WireError(Code.COSE_ALG_NOT_ALLOWED, f"alg {alg.name} is not a MAC algorithm")
    headers = Headers.make({1: int(alg), **(protected or {})}, unprotected)
    to_mac = mac_structure(headers.protected_for_crypto, b"", payload)
    tag = mac_tag(alg, _key_bytes(key, alg), to_mac)
    return Mac0(headers, None if detached else payload, tag, tagged)
