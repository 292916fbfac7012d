"""Numbers of OP-TEE's signed TA format, each as OP-TEE's sources define it.

Sources (optee_os): ``core/include/signed_hdr.h`` (magic, image types, header structs, key-type
flag), ``scripts/sign_encrypt.py`` (algorithm ids, 12-byte nonce, 16-byte tag, subkey attribute
ids), ``lib/libutee/include/utee_defines.h`` / the GlobalPlatform TEE Internal Core API (the
``TEE_ALG_*`` bit layout used to pull the main algorithm and the digest out of an id).
"""

from __future__ import annotations

import enum
import struct

SHDR_MAGIC = 0x4F545348  # "HSTO" little-endian: signed_hdr.h SHDR_MAGIC


class ImgType(enum.IntEnum):
    """``enum shdr_img_type``."""

    TA = 0  # legacy: shdr, then the ELF; no UUID/version subheader
    BOOTSTRAP_TA = 1
    ENCRYPTED_TA = 2
    SUBKEY = 3


class SigAlgo(enum.IntEnum):
    """RSA signature algorithm ids (GlobalPlatform ``TEE_ALG_RSASSA_*``) the loader accepts.

    OP-TEE's ``shdr_verify_signature`` takes any RSA algorithm whose digest is not weak (MD5,
    SHA-1, SHA-224 are refused), so SHA-384 and SHA-512 load too; ``sign_encrypt.py`` only
    produces the two SHA-256 ones.
    """

    PKCS1_V1_5_SHA256 = 0x70004830
    PKCS1_V1_5_SHA384 = 0x70005830
    PKCS1_V1_5_SHA512 = 0x70006830
    PSS_MGF1_SHA256 = 0x70414930
    PSS_MGF1_SHA384 = 0x70515930
    PSS_MGF1_SHA512 = 0x70616930


#: Ids of weak or foreign algorithms, named for tests and vectors (all refused).
TEE_ALG_RSASSA_PKCS1_V1_5_MD5 = 0x70001830
TEE_ALG_RSASSA_PKCS1_V1_5_SHA1 = 0x70002830
TEE_ALG_RSASSA_PKCS1_V1_5_SHA224 = 0x70003830
TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1 = 0x70212930
TEE_ALG_ECDSA_SHA256 = 0x70004041
TEE_ALG_AES_CCM = 0x40000710

TEE_MAIN_ALGO_RSA = 0x30
TEE_ALG_AES_GCM = 0x40000810  # the only enc_algo an image may name

#: TEE_ALG_GET_DIGEST_HASH(algo) = (algo >> 12) & 0xF -> TEE_MAIN_ALGO_* of the digest
DIGEST_MD5, DIGEST_SHA1, DIGEST_SHA224, DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512 = (
    1,
    2,
    3,
    4,
    5,
    6,
)
WEAK_DIGESTS = frozenset({DIGEST_MD5, DIGEST_SHA1, DIGEST_SHA224})
DIGEST_SIZES = {DIGEST_SHA256: 32, DIGEST_SHA384: 48, DIGEST_SHA512: 64}


def main_algo(algo: int) -> int:
    """``TEE_ALG_GET_MAIN_ALG``: the low byte (0x30 = RSA)."""
    return algo & 0xFF


def digest_id(algo: int) -> int:
    """``TEE_ALG_GET_DIGEST_HASH``: bits 12..15."""
    return (algo >> 12) & 0xF


def chain_mode(algo: int) -> int:
    """``TEE_ALG_GET_CHAIN_MODE``: bits 8..11 (8 = PKCS#1 v1.5, 9 = PSS for RSASSA)."""
    return (algo >> 8) & 0xF


class EncKeyType(enum.IntEnum):
    """``enum shdr_enc_key_type``: bit 0 of ``shdr_encrypted_ta.flags`` (SHDR_ENC_KEY_TYPE_MASK)."""

    DEV_SPECIFIC = 0
    CLASS_WIDE = 1


SHDR_ENC_KEY_TYPE_MASK = 0x1

# struct layouts, all little-endian (the structs are native-endian on little-endian Arm)
SHDR = struct.Struct("<IIIIHH")  # magic, img_type, img_size, algo, hash_size, sig_size
BOOTSTRAP = struct.Struct("<16sI")  # uuid (RFC 4122 octet order), ta_version
EHDR = struct.Struct("<IIHH")  # enc_algo, flags, iv_size, tag_size
SUBKEY = struct.Struct("<16sIIIII")  # uuid, name_size, subkey_version, max_depth, algo, attr_count
SUBKEY_ATTR = struct.Struct("<III")  # id, offs (from the start of struct shdr_subkey), size

SHDR_SIZE = SHDR.size  # 20
BOOTSTRAP_SIZE = BOOTSTRAP.size  # 20
EHDR_SIZE = EHDR.size  # 12
SUBKEY_SIZE = SUBKEY.size  # 36

GCM_IV_SIZE = 12  # sign_encrypt.py: "Use 12 bytes for nonce per recommendation"
GCM_TAG_SIZE = 16
TA_ENC_KEY_SIZE = 32  # TEE_TA_ENC_KEY_SIZE = TEE_SHA256_HASH_SIZE: AES-256

TEE_ATTR_RSA_MODULUS = 0xD0000130
TEE_ATTR_RSA_PUBLIC_EXPONENT = 0xD0000230

MIN_RSA_BITS = 2048  # signed_hdr.c is_weak_key_size
ROOT_MAX_DEPTH = 0xFFFFFFFF  # ree_fs_ta.c starts the chain walk with max_depth = UINT32_MAX
UINT32_MAX = 0xFFFFFFFF
