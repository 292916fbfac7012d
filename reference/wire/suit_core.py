"""Small SUIT building blocks shared by the manifest, the commands and the report.

Why separate: ``SUIT_Digest`` and ``SUIT_Component_Identifier`` appear in the envelope, in
parameters, in dependencies and in SUIT reports; the shape checks that turn untrusted CBOR into
them, with ``SUIT_MALFORMED`` instead of a ``KeyError`` or ``TypeError``, live here once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from edbp.reference.wire.cbor import LENIENT, Limits, Tag, dumps, loads, receive_limits
from edbp.reference.wire.suit_labels import SHA256, SHA384, SHA512

from edbp.errors import Code, WireError

__all__ = [
    "CborItem",
    "ComponentId",
    "SuitDigest",
    "as_dict",
    "as_tuple",
    "bad",
    "check_component_id",
    "expect_bstr",
    "expect_int",
    "expect_uint",
    "limits_for",
    "load_cbor",
    "wrap",
]

#: A SUIT_Component_Identifier: a sequence of byte strings.
ComponentId = tuple[bytes, ...]

_HASHES = {SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
#: their digest sizes (known once, not by making a hash object per digest read)
_DIGEST_SIZES = {alg: hashlib.new(name).digest_size for alg, name in _HASHES.items()}
#: The edbp profile digests with SHA-256 only; the lenient decoder also accepts SHA-384/512.
EDBP_DIGEST_ALGS = frozenset({SHA256})


def as_dict(value: Mapping[Any, Any]) -> dict[Any, Any]:
    """attrs converter: a plain dict copy (typed, unlike ``converter=dict``)."""
    return dict(value)


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """attrs converter: a tuple (typed, unlike ``converter=tuple``)."""
    return tuple(value)


def bad(detail: str, code: Code = Code.SUIT_MALFORMED) -> WireError:
    """The error for SUIT structures of the wrong shape."""
    return WireError(code, detail)


def limits_for(lenient: bool) -> Limits:
    return LENIENT if lenient else receive_limits()


def load_cbor(data: Any, what: str, lenient: bool) -> Any:
    """Decode one CBOR item of a SUIT structure from untrusted bytes."""
    if not isinstance(data, bytes | bytearray):
        raise bad(f"{what}: expected a byte string")
    return loads(bytes(data), limits_for(lenient))


def expect_bstr(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise bad(f"{what}: expected a byte string")
    return bytes(value)


def expect_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{what}: expected an integer")
    return int(value)


def expect_uint(value: Any, what: str) -> int:
    number = expect_int(value, what)
    if number < 0 or number >= 1 << 64:
        raise bad(f"{what}: expected an unsigned integer")
    return number


def wrap(data: bytes) -> bytes:
    """The encoding of ``data`` as a CBOR byte string (what SUIT digests cover)."""
    return dumps(data)


def check_component_id(value: Any, what: str = "component identifier") -> ComponentId:
    """Validate a SUIT_Component_Identifier ([* bstr]); returns it as a tuple."""
    if not isinstance(value, list | tuple):
        raise bad(f"{what}: expected an array of byte strings")
    for part in value:
        expect_bstr(part, what)
    return tuple(value)


@attrs.frozen
class SuitDigest:
    """SUIT_Digest = [algorithm-id, digest-bytes]: what a manifest, a payload or a severed
    member is bound by. ``matches`` compares in constant time."""

    alg: int
    digest: bytes

    @classmethod
    def of(cls, data: bytes, alg: int = SHA256) -> SuitDigest:
        name = _HASHES.get(alg)
        if name is None:
            raise bad(f"unsupported digest algorithm {alg}", Code.SUIT_UNSUPPORTED_PARAMETER)
        return cls(alg, hashlib.new(name, data).digest())

    def matches(self, data: bytes) -> bool:
        """True when ``data`` hashes to this digest (constant-time comparison)."""
        name = _HASHES.get(self.alg)
        if name is None:
            return False
        return hmac.compare_digest(hashlib.new(name, data).digest(), self.digest)

    def to_cbor(self) -> list[Any]:
        return [self.alg, self.digest]

    def encode(self) -> bytes:
        return dumps(self.to_cbor())

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool = False) -> SuitDigest:
        if not isinstance(value, list) or len(value) < 2 or (len(value) > 2 and not lenient):
            raise bad("SUIT_Digest: expected [algorithm-id, digest-bytes]")
        alg = expect_int(value[0], "SUIT_Digest algorithm")
        digest = expect_bstr(value[1], "SUIT_Digest bytes")
        allowed = _HASHES if lenient else EDBP_DIGEST_ALGS
        if alg not in allowed:
            raise bad(f"SUIT_Digest algorithm {alg} not supported", Code.SUIT_UNSUPPORTED_PARAMETER)
        if len(digest) != _DIGEST_SIZES[alg]:
            raise bad("SUIT_Digest: digest length does not fit the algorithm")
        return cls(alg, digest)

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> SuitDigest:
        """A SUIT_Digest from its encoding (untrusted). Remembered by (bytes, lenient, limits):
        the same image digest comes back in every device's SUIT report and manifest, and the
        answer is a function of those three alone. Only digests that decoded are kept (a
        refusal is decided afresh), only exact ``bytes`` of a digest's size, and the memo is
        bounded."""
        if type(data) is bytes and len(data) <= _DIGEST_MEMO_BYTES:
            key = (data, lenient, limits_for(lenient))
            found = _DIGEST_MEMO.get(key)
            if found is None:
                found = cls.from_cbor(load_cbor(data, "SUIT_Digest", lenient), lenient)
                if len(_DIGEST_MEMO) >= _DIGEST_MEMO_ENTRIES:
                    _DIGEST_MEMO.clear()
                _DIGEST_MEMO[key] = found
            return found
        return cls.from_cbor(load_cbor(data, "SUIT_Digest", lenient), lenient)


#: ``SuitDigest.decode``'s digests by (bytes, lenient, limits)
_DIGEST_MEMO: dict[tuple[bytes, bool, Limits], SuitDigest] = {}
_DIGEST_MEMO_ENTRIES = 1024
#: the encoding of the largest digest the lenient decoder reads (SHA-512) with room for its
#: algorithm id and heads
_DIGEST_MEMO_BYTES = 80


class CborItem:
    """``encode()`` / ``decode()`` for structures that are one CBOR item inside a larger one
    (parameters, records, dependency metadata): deterministic encoding of ``to_cbor()``, and the
    strict (or lenient) decoder feeding ``from_cbor``."""

    __slots__ = ()

    def to_cbor(self) -> Any:
        raise NotImplementedError

    def encode(self) -> bytes:
        return dumps(self.to_cbor())

    @classmethod
    def from_cbor(cls, value: Any, lenient: bool) -> Any:
        raise NotImplementedError

    @classmethod
    def decode(cls, data: bytes, lenient: bool = False) -> Any:
        return cls.from_cbor(load_cbor(data, cls.__name__, lenient), lenient)


def untag(value: Any, tag: int, what: str, required: bool) -> Any:
    """Strip CBOR tag ``tag`` from ``value``; a different tag is refused."""
    if isinstance(value, Tag):
        if value.tag != tag:
            raise WireError(Code.CBOR_UNEXPECTED_TAG, f"{what}: tag {value.tag}, expected {tag}")
        return value.value
    if required:
        raise WireError(Code.CBOR_UNEXPECTED_TAG, f"{what}: missing tag {tag}")
    return value
