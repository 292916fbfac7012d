"""Byte-identical layout for fixed inputs, checked against an independent construction.

The expected bytes are written out here from signed_hdr.h's layout (literal hex for the fixed
headers), the digest is recomputed by hand over shdr ‖ bootstrap ‖ ehdr ‖ iv ‖ tag ‖ plaintext,
the ciphertext and tag come from cryptography's AESGCM, and every signature is checked with
cryptography's own verify. PKCS#1 v1.5 is deterministic, so that image is compared whole; for
PSS the salt is recovered from the signature (RSA public operation, MGF1 unmasking).
"""

from __future__ import annotations

import hashlib
import struct
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.optee import EncKeyType, Encryption, SigAlgo, sign_ta, verify_ta
from edbp.reference.optee.verify import DecryptionKeys
from edbp.reference.rand import SeededRandom

UUID = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b")
ELF = bytes((i * 7 + 3) & 0xFF for i in range(4096))
ENC_KEY = bytes(range(32))
IV = bytes.fromhex("000102030405060708090a0b")
SALT = bytes.fromhex("a5" * 16 + "5a" * 16)
VERSION = 0x01020304

# struct shdr for img_size 4096 (0x1000), hash_size 32, sig_size 256, little-endian
SHDR_PSS_BOOTSTRAP = "4853544f01000000001000003049417020000001"
SHDR_PSS_ENCRYPTED = "4853544f02000000001000003049417020000001"
SHDR_PKCS1_BOOTSTRAP = "4853544f01000000001000003048007020000001"
SHDR_PKCS1_ENCRYPTED = "4853544f02000000001000003048007020000001"
# struct shdr_bootstrap_ta: the UUID's RFC 4122 octets, then ta_version LE
BOOTSTRAP = "8aaaf200245011e4abe20002a5d5c51b04030201"
# struct shdr_encrypted_ta: TEE_ALG_AES_GCM, device-specific, iv 12, tag 16
EHDR = "10080040000000000c001000"


def _pss_salt(key: rsa.RSAPublicKey, sig: bytes) -> bytes:
    """Recover the salt of an EMSA-PSS (SHA-256, MGF1-SHA-256) signature."""
    n, e = key.public_numbers().n, key.public_numbers().e
    em_bits = n.bit_length() - 1
    em_len = (em_bits + 7) // 8
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(em_len, "big")
    assert em[-1] == 0xBC
    masked, h = em[: em_len - 33], em[em_len - 33 : em_len - 1]
    mask = b"".join(
        hashlib.sha256(h + i.to_bytes(4, "big")).digest() for i in range(len(masked) // 32 + 1)
    )
    db = bytearray(a ^ b for a, b in zip(masked, mask, strict=False))
    db[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(db[-32:])


@pytest.mark.parametrize(
    ("algo", "encrypted", "shdr_hex"),
    [
        (SigAlgo.PSS_MGF1_SHA256, False, SHDR_PSS_BOOTSTRAP),
        (SigAlgo.PSS_MGF1_SHA256, True, SHDR_PSS_ENCRYPTED),
        (SigAlgo.PKCS1_V1_5_SHA256, False, SHDR_PKCS1_BOOTSTRAP),
        (SigAlgo.PKCS1_V1_5_SHA256, True, SHDR_PKCS1_ENCRYPTED),
    ],
    ids=["pss", "pss-encrypted", "pkcs1v15", "pkcs1v15-encrypted"],
)
def test_layout_is_byte_identical(
    root_key: rsa.RSAPrivateKey, algo: int, encrypted: bool, shdr_hex: str
) -> None:
    pss = algo == SigAlgo.PSS_MGF1_SHA256
    image = sign_ta(
        ELF,
        root_key,
        UUID,
        VERSION,
        algo=algo,
        salt=SALT if pss else None,
        encryption=Encryption(ENC_KEY, EncKeyType.DEV_SPECIFIC, IV) if encrypted else None,
    )
    shdr = bytes.fromhex(shdr_hex)
    bootstrap = bytes.fromhex(BOOTSTRAP)
    if encrypted:
        sealed = AESGCM(ENC_KEY).encrypt(IV, ELF, None)
        ciphertext, tag = sealed[:-16], sealed[-16:]
        sub = bootstrap + bytes.fromhex(EHDR) + IV + tag
        body = ciphertext
    else:
        sub = bootstrap
        body = ELF
    digest = hashlib.sha256(shdr + sub + ELF).digest()  # over the plaintext, always
    sig = image[20 + 32 : 20 + 32 + 256]

    # exact bytes everywhere but the signature
    assert image[:20] == shdr
    assert image[20:52] == digest
    assert image[308:] == sub + body
    assert len(image) == 20 + 32 + 256 + len(sub) + len(ELF)
    # the signature: cryptography's own verify over the prehashed digest
    pad = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        if pss
        else padding.PKCS1v15()
    )
    root_key.public_key().verify(sig, digest, pad, utils.Prehashed(hashes.SHA256()))
    if pss:
        assert _pss_salt(root_key.public_key(), sig) == SALT
    else:  # deterministic: the whole file is fixed by its inputs
        assert sig == root_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    # and it loads
    result = verify_ta(
        image, root_key.public_key(), keys=DecryptionKeys(enc_key=ENC_KEY), expected_uuid=UUID
    )
    assert result.plaintext == ELF
    assert result.ta_version == VERSION


def test_seeded_random_replays(root_key: rsa.RSAPrivateKey) -> None:
    enc = Encryption(ENC_KEY)
    one = sign_ta(ELF, root_key, UUID, 1, encryption=enc, rng=SeededRandom("x"))
    two = sign_ta(ELF, root_key, UUID, 1, encryption=enc, rng=SeededRandom("x"))
    three = sign_ta(ELF, root_key, UUID, 1, encryption=enc, rng=SeededRandom("y"))
    assert one == two != three


def test_random_iv_and_salt_differ(root_key: rsa.RSAPrivateKey) -> None:
    enc = Encryption(ENC_KEY)
    a = sign_ta(ELF, root_key, UUID, 1, encryption=enc)
    b = sign_ta(ELF, root_key, UUID, 1, encryption=enc)
    assert a[340:352] != b[340:352]  # IV
    assert a[52:308] != b[52:308]  # PSS salt
    for image in (a, b):
        assert (
            verify_ta(image, root_key.public_key(), keys=DecryptionKeys(enc_key=ENC_KEY)).plaintext
            == ELF
        )


def test_class_wide_flag(root_key: rsa.RSAPrivateKey) -> None:
    image = sign_ta(
        ELF, root_key, UUID, 1, encryption=Encryption(ENC_KEY, EncKeyType.CLASS_WIDE, IV)
    )
    assert struct.unpack_from("<I", image, 328 + 4)[0] == 1
    assert (
        verify_ta(image, root_key.public_key(), keys=DecryptionKeys(enc_key=ENC_KEY)).ehdr.flags
        == 1
    )  # type: ignore[union-attr]


def test_sig_size_follows_the_modulus(key_3072: rsa.RSAPrivateKey) -> None:
    image = sign_ta(ELF, key_3072, UUID, 1)
    assert struct.unpack_from("<H", image, 18)[0] == 384
    assert verify_ta(image, key_3072.public_key()).plaintext == ELF


@pytest.mark.parametrize(
    "algo", [SigAlgo.PSS_MGF1_SHA384, SigAlgo.PKCS1_V1_5_SHA512], ids=["pss-sha384", "pkcs1-sha512"]
)
def test_other_strong_digests_load_as_in_optee(root_key: rsa.RSAPrivateKey, algo: int) -> None:
    image = sign_ta(ELF, root_key, UUID, 1, algo=algo)
    digest_size = 48 if algo == SigAlgo.PSS_MGF1_SHA384 else 64
    assert struct.unpack_from("<H", image, 16)[0] == digest_size
    assert verify_ta(image, root_key.public_key()).plaintext == ELF


def test_legacy_image_layout_and_policy(root_key: rsa.RSAPrivateKey) -> None:
    from edbp.reference.optee import LoaderPolicy

    image = sign_ta(ELF, root_key, UUID, algo=SigAlgo.PKCS1_V1_5_SHA256, legacy=True)
    shdr = image[:20]
    assert struct.unpack("<IIIIHH", shdr)[:3] == (0x4F545348, 0, len(ELF))
    assert image[20:52] == hashlib.sha256(shdr + ELF).digest()
    assert image[308:] == ELF
    result = verify_ta(image, root_key.public_key(), policy=LoaderPolicy(allow_legacy=True))
    assert result.bootstrap is None and result.ta_floor is None and result.plaintext == ELF
