"""OP-TEE's HUK-derived keys: ``huk_subkey_derive`` and the default TA encryption key.

``core/kernel/huk_subkey.c``: subkey = HMAC-SHA256(HUK, usage-part ‖ const_data) truncated to
the length asked for. With ``CFG_CORE_HUK_SUBKEY_COMPAT=y`` (the default) two usages keep their
pre-2019 derivations: RPMB hashes no usage word, SSK hashes the die id (``"BEEF"`` repeated
unless the platform reads one from OTP) and the NUL-terminated string ``"ONLY_FOR_tee_fs_ssk"``;
every other usage, and every usage without compat, hashes the usage as a little-endian u32.

``core/kernel/otp_stubs.c``: ``tee_otp_get_ta_enc_key`` (the weak default a platform may
override) derives the *device-specific* TA encryption key as
``huk_subkey_derive(HUK_SUBKEY_TA_ENC, ta_pub_key_modulus, 32)``, where ``ta_pub_key_modulus``
is the big-endian modulus of the root TA signing key without leading zero bytes
(``scripts/pem_to_pub_c.py`` uses ``long_to_bytes``). A class-wide key has no default: the
platform must supply it. On a ``CFG_INSECURE`` build the HUK is 16 zero bytes.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee.constants import TA_ENC_KEY_SIZE

__all__ = [
    "HUK_SIZE",
    "INSECURE_HUK",
    "HukUsage",
    "die_id_compat",
    "huk_subkey_derive",
    "modulus_bytes",
    "ta_enc_key",
]

HUK_SIZE = 16  # HW_UNIQUE_KEY_LENGTH
HUK_SUBKEY_MAX_LEN = 32  # TEE_SHA256_HASH_SIZE
INSECURE_HUK = bytes(HUK_SIZE)  # otp_stubs.c tee_otp_get_hw_unique_key under CFG_INSECURE
_CHIP_ID_LENGTH = 32  # TEE_FS_KM_CHIP_ID_LENGTH
_SSK_STRING = b"ONLY_FOR_tee_fs_ssk\x00"  # sizeof() of the C array: the NUL is hashed


class HukUsage(enum.IntEnum):
    """``enum huk_subkey_usage`` (core/include/kernel/huk_subkey.h); never renumbered upstream."""

    RPMB = 0
    SSK = 1
    DIE_ID = 2
    UNIQUE_TA = 3
    TA_ENC = 4


def die_id_compat() -> bytes:
    """The die id compat mode hashes when the platform has none: ``"BEEF"`` repeated to 32 bytes."""
    return (b"BEEF" * (_CHIP_ID_LENGTH // 4))[:_CHIP_ID_LENGTH]


def huk_subkey_derive(
    huk: bytes,
    usage: int,
    const_data: bytes = b"",
    length: int = HUK_SUBKEY_MAX_LEN,
    *,
    compat: bool = True,
    die_id: bytes | None = None,
) -> bytes:
    """``huk_subkey_derive(usage, const_data, subkey, length)`` computed from ``huk``.

    ``compat`` is ``CFG_CORE_HUK_SUBKEY_COMPAT`` (y by default); ``die_id`` stands for
    ``CFG_CORE_HUK_SUBKEY_COMPAT_USE_OTP_DIE_ID`` (None: the "BEEF" pattern).
    """
    if not 0 < length <= HUK_SUBKEY_MAX_LEN:
        raise ValueError("subkey length must be 1..32 bytes")  # TEE_ERROR_BAD_PARAMETERS
    mac = hmac.new(bytes(huk), digestmod=hashlib.sha256)
    if compat and usage == HukUsage.RPMB:
        pass
    elif compat and usage == HukUsage.SSK:
        chip = die_id_compat() if die_id is None else die_id
        if len(chip) != _CHIP_ID_LENGTH:
            raise ValueError("die id must be 32 bytes")
        mac.update(chip)
        mac.update(_SSK_STRING)
    else:
        mac.update(struct.pack("<I", usage))
    mac.update(const_data)
    return mac.digest()[:length]


def modulus_bytes(key: rsa.RSAPublicKey) -> bytes:
    """The modulus big-endian without leading zeros, as ``ta_pub_key_modulus`` holds it."""
    n = key.public_numbers().n
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def ta_enc_key(huk: bytes, root_key: rsa.RSAPublicKey) -> bytes:
    """The default device-specific TA encryption key (AES-256) of a device with ``huk`` that
    trusts ``root_key``. It is bound to the *root* key OP-TEE is built with, also when a subkey
    signs the TA."""
    return huk_subkey_derive(huk, HukUsage.TA_ENC, modulus_bytes(root_key), TA_ENC_KEY_SIZE)
