"""The loader: OP-TEE's checks on a TA image, in OP-TEE's order, each refusal with its code.

The order follows ``core/kernel/ree_fs_ta.c`` (``ree_fs_ta_open`` then ``ree_fs_ta_read``)
and ``core/crypto/signed_hdr.c``; spec/ta-image.md lists it step by step. In short: the signed
header's signature is verified over the *stored* hash first (nothing else is trusted before),
subkeys are walked, the type, UUID and encryption header are checked, the file length must be
exactly header + img_size, then the payload is decrypted and hashed in one pass (the AES-GCM
tag is checked before the digest, as ``tee_ta_decrypt_final`` runs before ``check_digest``),
and last the version floor.

Sans-I/O: the floors come in as a value and the versions to record go out in the result; the
caller stores them (atomically with the install, for the Agent).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid as uuidlib
from typing import Protocol

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from edbp.reference.optee.constants import (
    BOOTSTRAP,
    DIGEST_SIZES,
    EHDR,
    GCM_IV_SIZE,
    GCM_TAG_SIZE,
    MIN_RSA_BITS,
    ROOT_MAX_DEPTH,
    SHDR,
    SHDR_ENC_KEY_TYPE_MASK,
    SHDR_MAGIC,
    SUBKEY,
    TA_ENC_KEY_SIZE,
    TEE_ALG_AES_GCM,
    TEE_MAIN_ALGO_RSA,
    WEAK_DIGESTS,
    EncKeyType,
    ImgType,
    SigAlgo,
    digest_id,
    main_algo,
)
from edbp.reference.optee.floors import VersionFloors, check_floor
from edbp.reference.optee.huk import ta_enc_key
from edbp.reference.optee.layout import BootstrapHeader, EncryptedHeader, Shdr, SubkeyHeader
from edbp.reference.optee.rsa_sig import new_hash, verify_digest
from edbp.reference.optee.subkey import next_uuid, parse_subkey_payload, subkey_public_key

from edbp.errors import Code, DecryptionFailed, TAImageError

__all__ = ["DecryptionKeys", "LoaderPolicy", "VerifiedTA", "verify_ta"]


@attrs.frozen
class LoaderPolicy:
    """What the loader accepts beyond OP-TEE's fixed rules.

    ``allow_legacy``: img_type 0 (no UUID, no version, so no rollback floor) is accepted by
    OP-TEE; edbp refuses it unless a profile says otherwise. ``algos``: the signature
    algorithms accepted (OP-TEE: every RSA one with SHA-256/384/512). ``iv_size`` and
    ``tag_size``: OP-TEE's GCM would take other nonce sizes and tags down to 0 bytes; edbp holds
    images to what sign_encrypt.py writes (12 and 16).
    """

    allow_legacy: bool = False
    min_rsa_bits: int = MIN_RSA_BITS
    algos: frozenset[int] = frozenset(int(a) for a in SigAlgo)
    iv_size: int = GCM_IV_SIZE
    tag_size: int = GCM_TAG_SIZE


@attrs.frozen
class DecryptionKeys:
    """Keys for encrypted images. ``enc_key`` is used whatever key type the flags name (it is
    *the* key the caller was given); ``huk`` derives the device-specific key only (OP-TEE has
    no default class-wide key)."""

    enc_key: bytes | None = attrs.field(default=None, repr=False)
    huk: bytes | None = attrs.field(default=None, repr=False)

    def key_for(self, flags: int, root_key: rsa.RSAPublicKey) -> bytes:
        if self.enc_key is not None:
            if len(self.enc_key) != TA_ENC_KEY_SIZE:
                raise TAImageError(Code.TA_ENC_KEY_UNAVAILABLE, "the TA encryption key is 32 bytes")
            return self.enc_key
        if self.huk is not None and flags & SHDR_ENC_KEY_TYPE_MASK == EncKeyType.DEV_SPECIFIC:
            return ta_enc_key(self.huk, root_key)
        raise TAImageError(Code.TA_ENC_KEY_UNAVAILABLE, "no key of the type the image's flags name")


@attrs.frozen
class VerifiedTA:
    """A TA image that passed every check, with its plaintext and the versions to record."""

    shdr: Shdr
    digest: bytes
    bootstrap: BootstrapHeader | None
    ehdr: EncryptedHeader | None
    chain: tuple[SubkeyHeader, ...]
    plaintext: bytes = attrs.field(repr=False)
    payload_offset: int
    ta_floor: tuple[uuidlib.UUID, int] | None
    subkey_floors: tuple[tuple[uuidlib.UUID, int], ...]

    @property
    def uuid(self) -> uuidlib.UUID | None:
        return self.bootstrap.uuid if self.bootstrap is not None else None

    @property
    def ta_version(self) -> int | None:
        return self.bootstrap.ta_version if self.bootstrap is not None else None


def _fail(code: Code, detail: str) -> TAImageError:
    return TAImageError(code, detail)


def _read_shdr(data: ImageSource, offs: int) -> tuple[Shdr, bytes, bytes]:
    """``shdr_alloc_and_copy``: the fixed part, then hash and signature, all inside the file."""
    if offs + SHDR.size > len(data):
        raise _fail(Code.TA_TRUNCATED, f"signed header at {offs} cut short")
    shdr = Shdr.decode(bytes(data[offs : offs + SHDR.size]))
    end = offs + shdr.total_size
    if end > len(data):
        raise _fail(Code.TA_TRUNCATED, "hash or signature cut short")
    h0 = offs + SHDR.size
    return shdr, bytes(data[h0 : h0 + shdr.hash_size]), bytes(data[h0 + shdr.hash_size : end])


def _check_signature(
    shdr: Shdr, digest: bytes, sig: bytes, key: rsa.RSAPublicKey, policy: LoaderPolicy
) -> None:
    """``shdr_verify_signature`` / ``shdr_verify_signature2``, one code per rule."""
    if shdr.magic != SHDR_MAGIC:
        raise _fail(Code.TA_BAD_MAGIC, f"magic {shdr.magic:#010x}")
    if main_algo(shdr.algo) != TEE_MAIN_ALGO_RSA:
        raise _fail(Code.TA_UNSUPPORTED_ALGO, f"algo {shdr.algo:#010x} is not RSA")
    if digest_id(shdr.algo) in WEAK_DIGESTS or digest_id(shdr.algo) not in DIGEST_SIZES:
        raise _fail(
            Code.TA_UNSUPPORTED_ALGO, f"algo {shdr.algo:#010x} has a weak or unknown digest"
        )
    if shdr.algo not in policy.algos:
        raise _fail(Code.TA_UNSUPPORTED_ALGO, f"algo {shdr.algo:#010x} not allowed by the policy")
    if key.key_size < max(policy.min_rsa_bits, MIN_RSA_BITS):
        raise _fail(Code.TA_KEY_TOO_SMALL, f"{key.key_size}-bit RSA key")
    if shdr.hash_size != DIGEST_SIZES[digest_id(shdr.algo)]:
        raise _fail(Code.TA_HASH_SIZE, f"hash_size {shdr.hash_size}")
    if shdr.sig_size != (key.key_size + 7) // 8:
        raise _fail(Code.TA_SIG_SIZE, f"sig_size {shdr.sig_size} is not the modulus length")
    if not verify_digest(key, shdr.algo, digest, sig):
        raise _fail(Code.TA_BAD_SIGNATURE, "signature does not verify")


def _walk_subkeys(
    data: ImageSource,
    shdr: Shdr,
    stored_hash: bytes,
    offs: int,
    key: rsa.RSAPublicKey,
    policy: LoaderPolicy,
    floors: VersionFloors,
) -> tuple[
    Shdr,
    bytes,
    int,
    rsa.RSAPublicKey,
    tuple[SubkeyHeader, ...],
    uuidlib.UUID | None,
    tuple[tuple[uuidlib.UUID, int], ...],
]:
    """The ``while (shdr->img_type == SHDR_SUBKEY)`` loop of ``ree_fs_ta_open``."""
    chain: list[SubkeyHeader] = []
    records: list[tuple[uuidlib.UUID, int]] = []
    max_depth = ROOT_MAX_DEPTH
    want_uuid: uuidlib.UUID | None = None
    shdr_raw = shdr.encode()
    while shdr.img_type == ImgType.SUBKEY:
        if shdr.img_size < SUBKEY.size:  # sizeof(struct shdr_subkey)
            raise _fail(Code.TA_SUBKEY_INVALID, "subkey img_size below its header")
        end = offs + shdr.img_size
        if end > len(data):
            raise _fail(Code.TA_TRUNCATED, "subkey cut short")
        payload = data[offs:end]
        h = new_hash(shdr.algo)
        h.update(shdr_raw)
        h.update(payload)
        if not hmac.compare_digest(h.digest(), stored_hash):
            raise _fail(Code.TA_HASH_MISMATCH, "subkey hash")
        sub = parse_subkey_payload(payload)
        if sub.max_depth >= max_depth:
            raise _fail(Code.TA_SUBKEY_DEPTH, f"max_depth {sub.max_depth} not below {max_depth}")
        if want_uuid is not None and sub.uuid != want_uuid:
            raise _fail(Code.TA_UUID_MISMATCH, "subkey UUID outside its parent's namespace")
        if end + sub.name_size > len(data):
            raise _fail(Code.TA_TRUNCATED, "subkey name cut short")
        want_uuid = next_uuid(sub.uuid, bytes(data[end : end + sub.name_size]))
        key = subkey_public_key(sub)
        check_floor(floors.subkeys, sub.uuid, sub.subkey_version, "subkey")
        chain.append(sub)
        records.append((sub.uuid, sub.subkey_version))
        max_depth = sub.max_depth
        offs = end + sub.name_size
        shdr, stored_hash, sig = _read_shdr(data, offs)
        shdr_raw = shdr.encode()
        _check_signature(shdr, stored_hash, sig, key, policy)
        offs += shdr.total_size
    return shdr, stored_hash, offs, key, tuple(chain), want_uuid, tuple(records)


class ImageSource(Protocol):
    """What the header checks read: the file's length and byte ranges of it. A ``memoryview``
    of the whole image is one; ``edbp.reference.optee.stream`` reads ranges from a file."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> bytes | memoryview: ...


@attrs.frozen
class _Headers:
    """The loader's state once every header is checked (steps 1-7): the payload starts at
    ``offs`` and ``h`` has hashed everything signed before it."""

    shdr: Shdr
    stored_hash: bytes
    bootstrap: BootstrapHeader | None
    ehdr: EncryptedHeader | None
    chain: tuple[SubkeyHeader, ...]
    sk_records: tuple[tuple[uuidlib.UUID, int], ...]
    offs: int
    h: hashlib._Hash


def _check_headers(
    data: ImageSource,
    root_key: rsa.RSAPublicKey,
    expected_uuid: uuidlib.UUID | None,
    floors: VersionFloors,
    policy: LoaderPolicy,
) -> _Headers:
    """Steps 1-7 of the loader, shared by ``verify_ta`` and the streaming verifier."""
    # 1. signed header of the first element, verified with the root key
    shdr, stored_hash, sig = _read_shdr(data, 0)
    _check_signature(shdr, stored_hash, sig, root_key, policy)
    offs = shdr.total_size
    # 2. subkey chain
    shdr, stored_hash, offs, _key, chain, ns_uuid, sk_records = _walk_subkeys(
        data, shdr, stored_hash, offs, root_key, policy, floors
    )
    shdr_raw = shdr.encode()
    # 3. image type
    if shdr.img_type not in (ImgType.TA, ImgType.BOOTSTRAP_TA, ImgType.ENCRYPTED_TA):
        raise _fail(Code.TA_UNKNOWN_IMG_TYPE, f"img_type {shdr.img_type}")
    if shdr.img_type == ImgType.TA and not policy.allow_legacy:
        raise _fail(Code.TA_LEGACY_FORBIDDEN, "legacy img_type 0 (no UUID, no version)")
    # 4. namespace of the last subkey
    if ns_uuid is not None and expected_uuid is not None and ns_uuid != expected_uuid:
        raise _fail(Code.TA_UUID_MISMATCH, "requested UUID outside the subkey's namespace")
    h = new_hash(shdr.algo)
    h.update(shdr_raw)
    bootstrap: BootstrapHeader | None = None
    ehdr: EncryptedHeader | None = None
    # 5. bootstrap header
    if shdr.img_type in (ImgType.BOOTSTRAP_TA, ImgType.ENCRYPTED_TA):
        if offs + BOOTSTRAP.size > len(data):
            raise _fail(Code.TA_TRUNCATED, "bootstrap header cut short")
        bs_raw = bytes(data[offs : offs + BOOTSTRAP.size])
        bootstrap = BootstrapHeader.decode(bs_raw)
        if expected_uuid is not None and bootstrap.uuid != expected_uuid:
            raise _fail(Code.TA_UUID_MISMATCH, f"image is TA {bootstrap.uuid}")
        if ns_uuid is not None and bootstrap.uuid != ns_uuid:
            raise _fail(Code.TA_UUID_MISMATCH, "TA UUID outside the subkey's namespace")
        h.update(bs_raw)
        offs += BOOTSTRAP.size
    # 6. encryption header
    if shdr.img_type == ImgType.ENCRYPTED_TA:
        if offs + EHDR.size > len(data):
            raise _fail(Code.TA_TRUNCATED, "encryption header cut short")
        enc_algo, flags, iv_size, tag_size = EHDR.unpack(bytes(data[offs : offs + EHDR.size]))
        if enc_algo != TEE_ALG_AES_GCM:
            raise _fail(Code.TA_UNKNOWN_ENC_ALGO, f"enc_algo {enc_algo:#010x}")
        if iv_size != policy.iv_size:
            raise _fail(Code.TA_BAD_IV_SIZE, f"iv_size {iv_size}")
        if tag_size != policy.tag_size:
            raise _fail(Code.TA_BAD_TAG_SIZE, f"tag_size {tag_size}")
        total = EHDR.size + iv_size + tag_size
        if offs + total > len(data):
            raise _fail(Code.TA_TRUNCATED, "IV or tag cut short")
        raw = bytes(data[offs : offs + total])
        iv, tag = raw[EHDR.size : EHDR.size + iv_size], raw[EHDR.size + iv_size :]
        ehdr = EncryptedHeader(enc_algo, flags, iv, tag)
        h.update(raw)
        offs += total
    # 7. exact length
    if len(data) != offs + shdr.img_size:
        raise _fail(
            Code.TA_SIZE_MISMATCH, f"file is {len(data)} bytes, header says {offs + shdr.img_size}"
        )
    return _Headers(shdr, stored_hash, bootstrap, ehdr, chain, sk_records, offs, h)


def _finish(hd: _Headers, floors: VersionFloors, plaintext: bytes) -> VerifiedTA:
    """Steps 8 (the digest, after the tag) and 9 (the version floor), once ``hd.h`` has hashed
    the whole plaintext."""
    if not hmac.compare_digest(hd.h.digest(), hd.stored_hash):
        raise _fail(Code.TA_HASH_MISMATCH, "image digest")
    # 9. version floor (check_update_version after the last read)
    ta_floor = None
    if hd.bootstrap is not None:
        check_floor(floors.ta, hd.bootstrap.uuid, hd.bootstrap.ta_version, "TA")
        ta_floor = (hd.bootstrap.uuid, hd.bootstrap.ta_version)
    return VerifiedTA(
        hd.shdr,
        hd.stored_hash,
        hd.bootstrap,
        hd.ehdr,
        hd.chain,
        plaintext,
        hd.offs,
        ta_floor,
        hd.sk_records,
    )


def verify_ta(
    image: bytes | bytearray | memoryview,
    root_key: rsa.RSAPublicKey,
    *,
    keys: DecryptionKeys = DecryptionKeys(),
    expected_uuid: uuidlib.UUID | None = None,
    floors: VersionFloors = VersionFloors(),
    policy: LoaderPolicy = LoaderPolicy(),
) -> VerifiedTA:
    """Check ``image`` as OP-TEE's loader does, trusting ``root_key``; return the plaintext.

    ``expected_uuid`` is the UUID the TA was requested by (OP-TEE always has one; the CLI may
    not). Raises ``TAImageError`` (or ``DecryptionFailed`` with ``TA_DECRYPT_FAILED``).
    In memory; ``edbp.reference.optee.stream.verify_ta_file`` runs the same checks on a file.
    """
    data = memoryview(image).cast("B")
    hd = _check_headers(data, root_key, expected_uuid, floors, policy)
    payload = data[hd.offs :]
    # 8. decrypt (tag first) and hash the plaintext
    if hd.ehdr is not None:
        key = keys.key_for(hd.ehdr.flags, root_key)
        sealed = bytearray(len(payload) + len(hd.ehdr.tag))  # AESGCM wants ciphertext ‖ tag
        sealed[: len(payload)] = payload
        sealed[len(payload) :] = hd.ehdr.tag
        try:
            plaintext = AESGCM(key).decrypt(hd.ehdr.iv, sealed, None)
        except (InvalidTag, ValueError):
            raise DecryptionFailed(Code.TA_DECRYPT_FAILED) from None
    else:
        plaintext = bytes(payload)
    hd.h.update(plaintext)
    return _finish(hd, floors, plaintext)
