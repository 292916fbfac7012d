"""Build signed (and optionally encrypted) TA images and subkeys, byte for byte as
``scripts/sign_encrypt.py`` lays them out.

The image digest is ``H(shdr ‖ bootstrap ‖ ehdr ‖ iv ‖ tag ‖ plaintext)`` — over the
*plaintext* even when the file carries ciphertext, because the loader hashes what it decrypts —
and the signature is RSA over that digest (PSS-MGF1 with salt = digest length, or PKCS#1 v1.5).
The IV and the PSS salt come from an injectable ``RandomSource`` unless given, so vectors replay.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.optee.constants import (
    GCM_IV_SIZE,
    GCM_TAG_SIZE,
    TA_ENC_KEY_SIZE,
    TEE_ALG_AES_GCM,
    UINT32_MAX,
    EncKeyType,
    ImgType,
    SigAlgo,
)
from edbp.reference.optee.layout import (
    BootstrapHeader,
    EncryptedHeader,
    Shdr,
    SubkeyHeader,
    subkey_payload,
)
from edbp.reference.optee.rsa_sig import hash_for, new_hash, sign_digest, signature_size
from edbp.reference.optee.subkey import next_uuid, parse_subkey_payload
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource

from edbp.errors import Code, ConfigError

__all__ = [
    "Encryption",
    "SubkeyChain",
    "assemble",
    "encrypt_payload",
    "image_digest",
    "sign_subkey",
    "sign_ta",
]


@attrs.frozen
class Encryption:
    """How to encrypt the TA: the AES-256 key, the key type written to ``flags`` and, for
    reproducible vectors only, a fixed IV (never reuse one under a key)."""

    key: bytes = attrs.field(repr=False)
    key_type: EncKeyType = EncKeyType.DEV_SPECIFIC
    iv: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.key) != TA_ENC_KEY_SIZE:
            raise ConfigError(
                Code.TA_ENC_KEY_UNAVAILABLE, "the TA encryption key is 32 bytes (AES-256)"
            )
        if self.iv is not None and len(self.iv) != GCM_IV_SIZE:
            raise ConfigError(Code.TA_BAD_IV_SIZE, "the IV is 12 bytes")


@attrs.frozen
class SubkeyChain:
    """A signed subkey chain (``sign_encrypt.py sign-subkey`` output): the bytes, ending with
    the last subkey element *without* its name, and that last subkey's header."""

    data: bytes = attrs.field(repr=False)
    last: SubkeyHeader

    def name_bytes(self, name: str) -> bytes:
        """The name element that follows the last subkey, padded to its ``name_size``."""
        raw = name.encode()
        if len(raw) > self.last.name_size:
            raise ConfigError(Code.TA_SUBKEY_INVALID, "name longer than the subkey's name_size")
        return raw.ljust(self.last.name_size, b"\x00")

    def next_uuid(self, name: str) -> uuidlib.UUID:
        return next_uuid(self.last.uuid, self.name_bytes(name))


def image_digest(algo: int, parts: Iterable[bytes | memoryview]) -> bytes:
    """The digest the signature covers: the hash of ``algo`` over ``parts`` in order."""
    h = new_hash(algo)
    for part in parts:
        h.update(part)
    return h.digest()


def encrypt_payload(
    key: bytes, iv: bytes, plaintext: bytes | memoryview
) -> tuple[memoryview, bytes]:
    """AES-256-GCM without AAD: (ciphertext, 16-byte tag). The ciphertext is a view into the
    AEAD output, so a large payload is not copied once more before the file is laid out."""
    sealed = memoryview(AESGCM(key).encrypt(iv, plaintext, None))
    return sealed[:-GCM_TAG_SIZE], bytes(sealed[-GCM_TAG_SIZE:])


def assemble(shdr: Shdr, digest: bytes, sig: bytes, *parts: bytes | memoryview) -> bytes:
    """shdr ‖ hash ‖ sig ‖ parts: one element of a TA file."""
    return b"".join((shdr.encode(), digest, sig, *parts))


@attrs.frozen
class _Plan:
    """Everything about a TA image that is known before its payload is read: the headers up to
    the encryption header, the IV (drawn before the signature's salt, so vectors replay) and
    the subkey-chain prefix. Shared by ``sign_ta`` and the streaming ``sign_ta_file``."""

    algo: int
    shdr: Shdr
    bootstrap: bytes  # encoded bootstrap header, b"" for a legacy image
    encryption: Encryption | None
    iv: bytes
    prefix: bytes = attrs.field(repr=False)

    def ehdr(self, tag: bytes) -> bytes:
        """The encoded encryption header once the tag is known (b"" when not encrypted)."""
        if self.encryption is None:
            return b""
        return EncryptedHeader(
            TEE_ALG_AES_GCM, int(self.encryption.key_type), self.iv, tag
        ).encode()

    @property
    def header_size(self) -> int:
        """Bytes before the payload: chain prefix, shdr with hash and signature, sub-headers."""
        enc = EncryptedHeader(0, 0, bytes(GCM_IV_SIZE), bytes(GCM_TAG_SIZE)).total_size
        return (
            len(self.prefix)
            + self.shdr.total_size
            + len(self.bootstrap)
            + (enc if self.encryption is not None else 0)
        )

    def header(self, digest: bytes, sig: bytes, tag: bytes) -> bytes:
        """prefix ‖ shdr ‖ hash ‖ sig ‖ bootstrap ‖ ehdr: everything before the payload."""
        return self.prefix + assemble(self.shdr, digest, sig, self.bootstrap, self.ehdr(tag))


def _plan(
    size: int,
    key: rsa.RSAPrivateKey,
    uuid: uuidlib.UUID,
    ta_version: int,
    algo: int,
    encryption: Encryption | None,
    rng: RandomSource,
    chain: SubkeyChain | None,
    name: str,
    legacy: bool,
) -> _Plan:
    if not 0 <= ta_version <= UINT32_MAX:
        raise ConfigError(Code.TA_MALFORMED, "ta_version is a u32")
    if size > UINT32_MAX:
        raise ConfigError(Code.TA_MALFORMED, "img_size is a u32: the ELF is too large")
    if chain is not None and chain.next_uuid(name) != uuid:
        raise ConfigError(Code.TA_UUID_MISMATCH, "the UUID is outside the subkey's namespace")
    hash_size = hash_for(algo).digest_size
    sig_size = signature_size(key)
    prefix = chain.data + chain.name_bytes(name) if chain is not None else b""
    if legacy:
        if encryption is not None:
            raise ConfigError(Code.TA_LEGACY_FORBIDDEN, "a legacy image cannot be encrypted")
        shdr = Shdr(ImgType.TA, size, algo, hash_size, sig_size)
        return _Plan(algo, shdr, b"", None, b"", prefix)
    bootstrap = BootstrapHeader(uuid, ta_version).encode()
    if encryption is None:
        shdr = Shdr(ImgType.BOOTSTRAP_TA, size, algo, hash_size, sig_size)
        return _Plan(algo, shdr, bootstrap, None, b"", prefix)
    iv = encryption.iv if encryption.iv is not None else rng.random_bytes(GCM_IV_SIZE)
    shdr = Shdr(ImgType.ENCRYPTED_TA, size, algo, hash_size, sig_size)
    return _Plan(algo, shdr, bootstrap, encryption, iv, prefix)


def sign_ta(
    elf: bytes,
    key: rsa.RSAPrivateKey,
    uuid: uuidlib.UUID,
    ta_version: int = 0,
    *,
    algo: int = SigAlgo.PSS_MGF1_SHA256,
    encryption: Encryption | None = None,
    salt: bytes | None = None,
    rng: RandomSource = DEFAULT_RANDOM,
    chain: SubkeyChain | None = None,
    name: str = "",
    legacy: bool = False,
) -> bytes:
    """A loadable TA file: bootstrap (img_type 1), encrypted (2) when ``encryption`` is given,
    or legacy (0, no UUID/version; only when ``legacy``). With ``chain`` the TA is signed by
    the chain's last subkey (``key``), and its UUID must lie in that subkey's namespace.

    In memory; ``edbp.reference.optee.stream.sign_ta_file`` writes the same bytes from a file
    to a file without holding the image."""
    plan = _plan(len(elf), key, uuid, ta_version, algo, encryption, rng, chain, name, legacy)
    body: bytes | memoryview = elf
    tag = b""
    if plan.encryption is not None:
        body, tag = encrypt_payload(plan.encryption.key, plan.iv, elf)
    digest = image_digest(algo, (plan.shdr.encode(), plan.bootstrap, plan.ehdr(tag), elf))
    sig = sign_digest(key, algo, digest, salt=salt, rng=rng)
    return b"".join((plan.header(digest, sig, tag), body))


def sign_subkey(
    key: rsa.RSAPrivateKey,
    subkey: rsa.RSAPublicKey,
    uuid: uuidlib.UUID | None = None,
    *,
    name_size: int = 0,
    max_depth: int | None = None,
    subkey_version: int = 0,
    algo: int = SigAlgo.PSS_MGF1_SHA256,
    parent: SubkeyChain | None = None,
    name: str = "",
    salt: bytes | None = None,
    rng: RandomSource = DEFAULT_RANDOM,
    check_depth: bool = True,
) -> SubkeyChain:
    """Delegate signing to ``subkey`` (``sign_encrypt.py sign-subkey``), signed by ``key``
    (the root key, or ``parent``'s last subkey). ``max_depth`` defaults to one below the
    parent's (0 at the root); ``check_depth=False`` forges a non-decreasing depth for tests."""
    if parent is not None:
        derived = parent.next_uuid(name)
        if uuid is None:
            uuid = derived
        elif uuid != derived:
            raise ConfigError(
                Code.TA_UUID_MISMATCH, "the subkey UUID is outside its parent's namespace"
            )
        if max_depth is None:
            if parent.last.max_depth == 0:
                raise ConfigError(
                    Code.TA_SUBKEY_DEPTH, "the parent subkey allows no further subkey"
                )
            max_depth = parent.last.max_depth - 1
        elif check_depth and max_depth >= parent.last.max_depth:
            raise ConfigError(Code.TA_SUBKEY_DEPTH, "max_depth must be below the parent's")
    elif max_depth is None:
        max_depth = 0
    if uuid is None:
        raise ConfigError(Code.TA_UUID_MISMATCH, "a root subkey needs a UUID")
    numbers = subkey.public_numbers()
    payload = subkey_payload(
        uuid,
        numbers.n,
        numbers.e,
        algo=algo,
        name_size=name_size,
        subkey_version=subkey_version,
        max_depth=max_depth,
    )
    shdr = Shdr(ImgType.SUBKEY, len(payload), algo, hash_for(algo).digest_size, signature_size(key))
    digest = image_digest(algo, (shdr.encode(), payload))
    sig = sign_digest(key, algo, digest, salt=salt, rng=rng)
    prefix = parent.data + parent.name_bytes(name) if parent is not None else b""
    header = parse_subkey_payload(payload)
    return SubkeyChain(prefix + assemble(shdr, digest, sig, payload), header)
