"""OP-TEE TA image benchmarks: sign+encrypt and verify+decrypt against raw ``cryptography``.

Each pipeline is timed against a baseline of the raw operations it cannot avoid, measured in
the same run: AES-256-GCM over the payload plus one RSA-2048 PSS signature (or verification).
The ratio therefore shows edbp's overhead, which includes the SHA-256 pass over the plaintext
that the TA format requires (the signature covers the plaintext digest), the copies that lay
the file out, and the header checks. Sizes: 64 KiB and 1 MiB (quick), 64 MiB (full runs only).
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edbp.bench import benchmark
from edbp.reference.optee import DecryptionKeys, Encryption, sign_ta, verify_ta

_SIZES = {"64KiB": 64 << 10, "1MiB": 1 << 20, "64MiB": 64 << 20}
_UUID = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_PREHASHED = utils.Prehashed(hashes.SHA256())


@functools.lru_cache(maxsize=1)
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@attrs.frozen
class _State:
    """Inputs shared by a pipeline and its baseline (built once per size, untimed)."""

    key: rsa.RSAPrivateKey = attrs.field(repr=False)
    enc_key: bytes = attrs.field(repr=False)
    elf: bytes = attrs.field(repr=False)
    image: bytes = attrs.field(repr=False)
    sealed: bytes = attrs.field(repr=False)  # raw AESGCM output (ciphertext ‖ tag)
    iv: bytes
    digest: bytes
    signature: bytes


@functools.lru_cache(maxsize=1)
def _state(size: int) -> _State:
    key = _key()
    enc_key = os.urandom(32)
    elf = os.urandom(size)
    iv = os.urandom(12)
    image = sign_ta(elf, key, _UUID, 1, encryption=Encryption(enc_key))
    digest = hashlib.sha256(elf).digest()
    sealed = AESGCM(enc_key).encrypt(iv, elf, None)
    signature = key.sign(digest, _PSS, _PREHASHED)
    return _State(key, enc_key, elf, image, sealed, iv, digest, signature)


def _register(label: str, size: int) -> None:
    setup = functools.partial(_state, size)
    quick = size <= 1 << 20
    raw_enc = f"crypto.aes256gcm_encrypt+rsa2048_pss_sign[{label}]"
    raw_dec = f"crypto.aes256gcm_decrypt+rsa2048_pss_verify[{label}]"

    @benchmark(raw_enc, setup=setup, nbytes=size, quick=quick)
    def raw_encrypt_sign(s: _State) -> None:
        AESGCM(s.enc_key).encrypt(os.urandom(12), s.elf, None)
        s.key.sign(s.digest, _PSS, _PREHASHED)

    @benchmark(raw_dec, setup=setup, nbytes=size, quick=quick)
    def raw_decrypt_verify(s: _State) -> None:
        AESGCM(s.enc_key).decrypt(s.iv, s.sealed, None)
        s.key.public_key().verify(s.signature, s.digest, _PSS, _PREHASHED)

    @benchmark(
        f"optee.sign_encrypt[{label}]", baseline=raw_enc, setup=setup, nbytes=size, quick=quick
    )
    def sign_encrypt(s: _State) -> None:
        sign_ta(s.elf, s.key, _UUID, 1, encryption=Encryption(s.enc_key))

    @benchmark(
        f"optee.verify_decrypt[{label}]", baseline=raw_dec, setup=setup, nbytes=size, quick=quick
    )
    def verify_decrypt(s: _State) -> None:
        keys = DecryptionKeys(enc_key=s.enc_key)
        verify_ta(s.image, s.key.public_key(), keys=keys, expected_uuid=_UUID)


for _label, _size in _SIZES.items():
    _register(_label, _size)
