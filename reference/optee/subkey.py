"""Subkeys (img_type 3): parsing a ``struct shdr_subkey`` and the namespace UUID rule.

From ``core/crypto/signed_hdr.c`` (``shdr_load_pub_key``, ``check_attrs``, ``load_rsa_key``,
``calc_next_uuid``): the attribute table and every attribute value must lie inside the
subkey's ``img_size``; the public key is RSA (modulus and public exponent attributes, both
required); the next element's UUID is the subkey's own UUID when ``name_size`` is 0, else a
version-5 UUID whose 16 octets are the first 16 of SHA-512(subkey uuid ‖ name), the name cut
at its first NUL (``strnlen``), with the version and RFC 4122 variant bits set.
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib

from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee.constants import (
    SUBKEY,
    SUBKEY_ATTR,
    TEE_ATTR_RSA_MODULUS,
    TEE_ATTR_RSA_PUBLIC_EXPONENT,
    TEE_MAIN_ALGO_RSA,
    main_algo,
)
from edbp.reference.optee.layout import SubkeyAttr, SubkeyHeader

from edbp.errors import Code, TAImageError

__all__ = ["next_uuid", "parse_subkey_payload", "subkey_public_key"]


def next_uuid(subkey_uuid: uuidlib.UUID, name: bytes) -> uuidlib.UUID:
    """The UUID the element after a subkey must carry (``calc_next_uuid``)."""
    if not name:
        return subkey_uuid
    cut = name.split(b"\x00", 1)[0]
    digest = hashlib.sha512(subkey_uuid.bytes + cut).digest()
    return uuidlib.UUID(bytes=digest[:16], version=5)


def parse_subkey_payload(payload: bytes | memoryview) -> SubkeyHeader:
    """Decode the ``img_size`` bytes of a subkey element. Raises ``TAImageError`` with
    ``TA_SUBKEY_INVALID`` when the header or an attribute lies outside them."""
    payload = bytes(payload)
    size = len(payload)
    if size < SUBKEY.size:
        raise TAImageError(Code.TA_SUBKEY_INVALID, "img_size below sizeof(struct shdr_subkey)")
    raw_uuid, name_size, version, max_depth, algo, attr_count = SUBKEY.unpack_from(payload)
    if SUBKEY.size + attr_count * SUBKEY_ATTR.size > size:
        raise TAImageError(Code.TA_SUBKEY_INVALID, "attribute table outside the subkey")
    table = []
    for i in range(attr_count):
        attr_id, offs, attr_size = SUBKEY_ATTR.unpack_from(
            payload, SUBKEY.size + i * SUBKEY_ATTR.size
        )
        if offs + attr_size > size:
            raise TAImageError(Code.TA_SUBKEY_INVALID, "attribute value outside the subkey")
        table.append(SubkeyAttr(attr_id, offs, attr_size))

    def find(attr_id: int) -> bytes:
        for a in table:  # the first match wins, as find_attr's loop does
            if a.id == attr_id:
                return payload[a.offs : a.offs + a.size]
        return b""

    return SubkeyHeader(
        uuidlib.UUID(bytes=raw_uuid),
        name_size,
        version,
        max_depth,
        algo,
        tuple(table),
        find(TEE_ATTR_RSA_MODULUS),
        find(TEE_ATTR_RSA_PUBLIC_EXPONENT),
    )


def subkey_public_key(header: SubkeyHeader) -> rsa.RSAPublicKey:
    """The subkey's RSA public key (``load_rsa_key``); the size floor is the caller's check."""
    if main_algo(header.algo) != TEE_MAIN_ALGO_RSA:
        raise TAImageError(Code.TA_UNSUPPORTED_ALGO, "subkey is not an RSA key")
    if not header.modulus or not header.exponent:
        raise TAImageError(Code.TA_SUBKEY_INVALID, "subkey lacks a modulus or exponent")
    n = int.from_bytes(header.modulus, "big")
    e = int.from_bytes(header.exponent, "big")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise TAImageError(Code.TA_SUBKEY_INVALID, "subkey is not a valid RSA public key") from None
