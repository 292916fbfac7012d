"""The byte layout of an OP-TEE TA image: the headers as frozen values and their encodings.

A signed TA file (``core/include/signed_hdr.h``, written by ``scripts/sign_encrypt.py``)::

    [ subkey_0 ‖ name_0 ] ... [ subkey_k ‖ name_k ]           optional chain (img_type 3)
    shdr (20) ‖ hash[hash_size] ‖ sig[sig_size]
    bootstrap: uuid[16] ‖ ta_version u32                      img_type 1 and 2
    ehdr: enc_algo u32 ‖ flags u32 ‖ iv_size u16 ‖ tag_size u16 ‖ iv ‖ tag    img_type 2
    payload[img_size]                                         the ELF, or its AES-GCM ciphertext

where a subkey element is ``shdr ‖ hash ‖ sig ‖ shdr_subkey ‖ attrs ‖ attribute values`` (the
last three are its ``img_size`` bytes) followed by ``name_size`` bytes of name. Every integer is
little-endian. The UUID is stored in RFC 4122 octet order (``uuid.UUID.bytes``), which is what
``tee_uuid_from_octets`` reads.
"""

from __future__ import annotations

import uuid as uuidlib

import attrs
from edbp.reference.optee.constants import (
    BOOTSTRAP,
    EHDR,
    SHDR,
    SHDR_MAGIC,
    SUBKEY,
    SUBKEY_ATTR,
    TEE_ATTR_RSA_MODULUS,
    TEE_ATTR_RSA_PUBLIC_EXPONENT,
    UINT32_MAX,
)

__all__ = [
    "BootstrapHeader",
    "EncryptedHeader",
    "Shdr",
    "SubkeyAttr",
    "SubkeyHeader",
    "subkey_payload",
]


def _u32(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= UINT32_MAX:
        raise ValueError(f"{attribute.name} must fit in 32 bits")


def _u16(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{attribute.name} must fit in 16 bits")


@attrs.frozen
class Shdr:
    """``struct shdr`` without its variable part (hash and signature follow it)."""

    img_type: int = attrs.field(validator=_u32)
    img_size: int = attrs.field(validator=_u32)
    algo: int = attrs.field(validator=_u32)
    hash_size: int = attrs.field(validator=_u16)
    sig_size: int = attrs.field(validator=_u16)
    magic: int = attrs.field(default=SHDR_MAGIC, validator=_u32)

    def encode(self) -> bytes:
        return SHDR.pack(
            self.magic, self.img_type, self.img_size, self.algo, self.hash_size, self.sig_size
        )

    @classmethod
    def decode(cls, raw: bytes) -> Shdr:
        magic, img_type, img_size, algo, hash_size, sig_size = SHDR.unpack(raw[: SHDR.size])
        return cls(img_type, img_size, algo, hash_size, sig_size, magic)

    @property
    def total_size(self) -> int:
        """``shdr_get_size``: the fixed part, the hash and the signature."""
        return SHDR.size + self.hash_size + self.sig_size


@attrs.frozen
class BootstrapHeader:
    """``struct shdr_bootstrap_ta``: which TA this is, and its rollback version."""

    uuid: uuidlib.UUID
    ta_version: int = attrs.field(validator=_u32)

    def encode(self) -> bytes:
        return BOOTSTRAP.pack(self.uuid.bytes, self.ta_version)

    @classmethod
    def decode(cls, raw: bytes) -> BootstrapHeader:
        uuid_bytes, version = BOOTSTRAP.unpack(raw[: BOOTSTRAP.size])
        return cls(uuidlib.UUID(bytes=uuid_bytes), version)


@attrs.frozen
class EncryptedHeader:
    """``struct shdr_encrypted_ta`` with its IV and tag (the whole of what is hashed)."""

    enc_algo: int = attrs.field(validator=_u32)
    flags: int = attrs.field(validator=_u32)
    iv: bytes
    tag: bytes
    iv_size: int = attrs.field(default=-1)  # -1: len(iv); set explicitly only to forge headers
    tag_size: int = attrs.field(default=-1)

    def __attrs_post_init__(self) -> None:
        if self.iv_size == -1:
            object.__setattr__(self, "iv_size", len(self.iv))
        if self.tag_size == -1:
            object.__setattr__(self, "tag_size", len(self.tag))
        _u16(self, attrs.fields(EncryptedHeader).iv_size, self.iv_size)
        _u16(self, attrs.fields(EncryptedHeader).tag_size, self.tag_size)

    def encode(self) -> bytes:
        return (
            EHDR.pack(self.enc_algo, self.flags, self.iv_size, self.tag_size) + self.iv + self.tag
        )

    @property
    def total_size(self) -> int:
        """``shdr_enc_get_size``."""
        return EHDR.size + self.iv_size + self.tag_size


@attrs.frozen
class SubkeyAttr:
    """One ``struct shdr_subkey_attr``: a public-key attribute and where its value sits."""

    id: int
    offs: int
    size: int


@attrs.frozen
class SubkeyHeader:
    """``struct shdr_subkey`` with its attributes resolved: a delegated signing key.

    ``algo`` is the algorithm the subkey signs with; ``max_depth`` bounds how many further
    subkeys may follow (0: only a TA); ``name_size`` > 0 means the next UUID is
    UUIDv5-SHA-512(this uuid, name), 0 that the next element carries this very UUID.
    """

    uuid: uuidlib.UUID
    name_size: int = attrs.field(validator=_u32)
    subkey_version: int = attrs.field(validator=_u32)
    max_depth: int = attrs.field(validator=_u32)
    algo: int = attrs.field(validator=_u32)
    attrs_table: tuple[SubkeyAttr, ...]
    modulus: bytes
    exponent: bytes


def _int_to_bytes_signed_style(x: int) -> bytes:
    # sign_encrypt.py int_to_bytes: (bit_length + 8) // 8 bytes, i.e. a leading zero byte when
    # the top bit is set (a 2048-bit modulus takes 257 bytes)
    return x.to_bytes((x.bit_length() + 8) // 8, "big")


def subkey_payload(
    subkey_uuid: uuidlib.UUID,
    n: int,
    e: int,
    *,
    algo: int,
    name_size: int,
    subkey_version: int,
    max_depth: int,
) -> bytes:
    """The ``img_size`` bytes of a subkey element, laid out as ``sign_encrypt.py sign-subkey``
    does: header, two attributes (modulus, exponent), then the two values."""
    n_bytes = _int_to_bytes_signed_style(n)
    e_bytes = _int_to_bytes_signed_style(e)
    attrs_end = SUBKEY.size + 2 * SUBKEY_ATTR.size
    return (
        SUBKEY.pack(subkey_uuid.bytes, name_size, subkey_version, max_depth, algo, 2)
        + SUBKEY_ATTR.pack(TEE_ATTR_RSA_MODULUS, attrs_end, len(n_bytes))
        + SUBKEY_ATTR.pack(TEE_ATTR_RSA_PUBLIC_EXPONENT, attrs_end + len(n_bytes), len(e_bytes))
        + n_bytes
        + e_bytes
    )
