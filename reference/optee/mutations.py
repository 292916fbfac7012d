"""The named negative cases: every way the issue (and OP-TEE's xtest 1008) says an image must
be refused, each a function of a ``MutationContext`` with the code it must be refused with.

``MUTATIONS`` maps a stable name to ``(function, expected Code)``. A function returns a
``Mutated``: the bytes plus the loader inputs (root key, decryption keys, requested UUID,
floors, policy), so that a test, the vector generator or a conformance case can replay it:
``mutated.run()`` calls ``verify_ta`` and must raise ``TAImageError`` (or ``DecryptionFailed``)
carrying the expected code. The unmutated bases (``ctx.bootstrap()``, ``ctx.encrypted()``,
...) are accepted by the same inputs; the tests check that too, so no case passes by accident.

Everything but the RSA keys is drawn from a seeded stream, so the images replay byte for byte
for the same keys.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from collections.abc import Callable
from typing import TypedDict, Unpack

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa
from edbp.reference.optee.constants import (
    BOOTSTRAP_SIZE,
    EHDR_SIZE,
    SHDR_SIZE,
    TEE_ALG_AES_CCM,
    TEE_ALG_AES_GCM,
    TEE_ALG_ECDSA_SHA256,
    TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1,
    TEE_ALG_RSASSA_PKCS1_V1_5_SHA1,
    EncKeyType,
    ImgType,
    SigAlgo,
)
from edbp.reference.optee.floors import VersionFloors
from edbp.reference.optee.huk import ta_enc_key
from edbp.reference.optee.layout import (
    BootstrapHeader,
    EncryptedHeader,
    Shdr,
    subkey_payload,
)
from edbp.reference.optee.rsa_sig import sign_digest, signature_size
from edbp.reference.optee.sign import (
    Encryption,
    SubkeyChain,
    assemble,
    encrypt_payload,
    image_digest,
    sign_subkey,
    sign_ta,
)
from edbp.reference.optee.subkey import parse_subkey_payload
from edbp.reference.optee.verify import DecryptionKeys, LoaderPolicy, VerifiedTA, verify_ta
from edbp.reference.rand import SeededRandom

from edbp.errors import Code

__all__ = ["MUTATIONS", "Mutated", "Mutation", "MutationContext"]


@attrs.frozen
class MutationContext:
    """Keys and fixed inputs every mutation starts from. ``root`` is the key the device
    trusts; ``other`` a second key (wrong signer, subkey); ``small`` a 1024-bit key."""

    root: rsa.RSAPrivateKey = attrs.field(repr=False)
    other: rsa.RSAPrivateKey = attrs.field(repr=False)
    small: rsa.RSAPrivateKey = attrs.field(repr=False)
    huk: bytes = attrs.field(repr=False)
    other_huk: bytes = attrs.field(repr=False)
    uuid: uuidlib.UUID
    ta_version: int
    elf: bytes = attrs.field(repr=False)
    salt: bytes
    iv: bytes

    @classmethod
    def create(
        cls,
        root: rsa.RSAPrivateKey,
        other: rsa.RSAPrivateKey,
        small: rsa.RSAPrivateKey,
        seed: str = "edbp-optee-mutations",
        elf_size: int = 12 * 1024,
    ) -> MutationContext:
        rng = SeededRandom(seed)
        return cls(
            root,
            other,
            small,
            huk=rng.fork("huk").random_bytes(16),
            other_huk=rng.fork("other-huk").random_bytes(16),
            uuid=uuidlib.UUID(bytes=rng.fork("uuid").random_bytes(16), version=4),
            ta_version=7,
            elf=rng.fork("elf").random_bytes(elf_size),
            salt=rng.fork("salt").random_bytes(32),
            iv=rng.fork("iv").random_bytes(12),
        )

    @property
    def enc_key(self) -> bytes:
        """The device-specific TA key of the device with ``huk`` trusting ``root``."""
        return ta_enc_key(self.huk, self.root.public_key())

    def bootstrap(
        self, algo: int = SigAlgo.PSS_MGF1_SHA256, key: rsa.RSAPrivateKey | None = None
    ) -> bytes:
        """The signed, unencrypted base image (img_type 1)."""
        return sign_ta(
            self.elf, key or self.root, self.uuid, self.ta_version, algo=algo, salt=self._salt(algo)
        )

    def encrypted(self, algo: int = SigAlgo.PSS_MGF1_SHA256) -> bytes:
        """The signed and encrypted base image (img_type 2) under the device-specific key."""
        return sign_ta(
            self.elf,
            self.root,
            self.uuid,
            self.ta_version,
            algo=algo,
            salt=self._salt(algo),
            encryption=Encryption(self.enc_key, EncKeyType.DEV_SPECIFIC, self.iv),
        )

    def _salt(self, algo: int) -> bytes | None:
        return self.salt if algo in (SigAlgo.PSS_MGF1_SHA256,) else None

    def case(self, image: bytes, **overrides: Unpack[LoaderInputs]) -> Mutated:
        """``image`` with the default loader inputs, some replaced."""
        base = Mutated(
            image,
            root_key=self.root.public_key(),
            keys=DecryptionKeys(huk=self.huk),
            expected_uuid=self.uuid,
            floors=VersionFloors({self.uuid: self.ta_version}),  # equal version: accepted
            policy=LoaderPolicy(),
        )
        return attrs.evolve(base, **overrides)


class LoaderInputs(TypedDict, total=False):
    """The loader inputs ``MutationContext.case`` may replace (``Mutated``'s fields)."""

    root_key: rsa.RSAPublicKey
    keys: DecryptionKeys
    expected_uuid: uuidlib.UUID | None
    floors: VersionFloors
    policy: LoaderPolicy


@attrs.frozen
class Mutated:
    """A (mutated) image and the loader inputs to check it with."""

    image: bytes = attrs.field(repr=False)
    root_key: rsa.RSAPublicKey = attrs.field(repr=False)
    keys: DecryptionKeys
    expected_uuid: uuidlib.UUID | None
    floors: VersionFloors
    policy: LoaderPolicy

    def run(self) -> VerifiedTA:
        return verify_ta(
            self.image,
            self.root_key,
            keys=self.keys,
            expected_uuid=self.expected_uuid,
            floors=self.floors,
            policy=self.policy,
        )


Mutation = Callable[[MutationContext], Mutated]

# offsets in a base image signed by a 2048-bit key with SHA-256
_HASH = SHDR_SIZE
_SIG = _HASH + 32
_BS = _SIG + 256
_EHDR = _BS + BOOTSTRAP_SIZE
_IV = _EHDR + EHDR_SIZE
_TAG = _IV + 12
_PAYLOAD_ENC = _TAG + 16


def _flip(image: bytes, offs: int, mask: int = 1) -> bytes:
    out = bytearray(image)
    out[offs] ^= mask
    return bytes(out)


def _put(image: bytes, offs: int, fmt: str, value: int) -> bytes:
    out = bytearray(image)
    struct.pack_into(fmt, out, offs, value)
    return bytes(out)


# ---------------------------------------------------------------- xtest 1008 "Load corrupt TA"
# load_corrupt_ta(c, offs, 1): one bit flipped in each shdr field, the hash, the signature and
# two payload bytes; OP-TEE answers each with TEE_ERROR_SECURITY, edbp with the rule's code.


def xtest1008_magic(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 0))


def xtest1008_img_type(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 4))  # 1 -> 0: legacy


def xtest1008_img_size(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 8))


def xtest1008_algo(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 12))  # main algo 0x30 -> 0x31 (DSA)


def xtest1008_hash_size(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 16))


def xtest1008_sig_size(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 18))


def xtest1008_hash(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), _HASH))


def xtest1008_sig(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), _SIG))


def xtest1008_payload_3000(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 3000))


def xtest1008_payload_8000(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), 8000))


# ------------------------------------------------------------- the other header fields flipped


def flip_img_type_encrypted(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), 4))  # 2 -> 3: read as a subkey, whose hash fails


def flip_bootstrap_uuid(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), _BS))


def flip_ta_version(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.bootstrap(), _BS + 16))


def flip_enc_algo(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _EHDR))


def flip_enc_flags(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _EHDR + 4))  # device-specific -> class-wide


def flip_iv_size(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _EHDR + 8))


def flip_tag_size(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _EHDR + 10))


def flip_iv(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _IV))


def flip_tag(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _TAG + 15))


def flip_ciphertext(ctx: MutationContext) -> Mutated:
    return ctx.case(_flip(ctx.encrypted(), _PAYLOAD_ENC + 100))


# ------------------------------------------------------------------------- structural cases


def wrong_magic(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 0, "<I", 0x7F454C46))  # an ELF's magic, say


def unknown_img_type(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 4, "<I", 4))


def legacy_type0_forbidden(ctx: MutationContext) -> Mutated:
    image = sign_ta(
        ctx.elf, ctx.root, ctx.uuid, algo=SigAlgo.PSS_MGF1_SHA256, salt=ctx.salt, legacy=True
    )
    return ctx.case(image)


def weak_algo_pkcs1_sha1(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 12, "<I", TEE_ALG_RSASSA_PKCS1_V1_5_SHA1))


def weak_algo_pss_sha1(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 12, "<I", TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA1))


def non_rsa_algo_ecdsa(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 12, "<I", TEE_ALG_ECDSA_SHA256))


def algo_outside_policy(ctx: MutationContext) -> Mutated:
    policy = LoaderPolicy(algos=frozenset({int(SigAlgo.PKCS1_V1_5_SHA256)}))
    return ctx.case(ctx.bootstrap(), policy=policy)


def hash_size_sha1_length(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 16, "<H", 20))


def hash_size_sha384_length(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 16, "<H", 48))


def sig_size_short(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 18, "<H", 255))


def sig_size_long(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 18, "<H", 512))


def key_under_2048_bits(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.bootstrap(key=ctx.small), root_key=ctx.small.public_key())


def pss_labelled_pkcs1(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.bootstrap(), 12, "<I", SigAlgo.PKCS1_V1_5_SHA256))


def pkcs1_labelled_pss(ctx: MutationContext) -> Mutated:
    return ctx.case(
        _put(ctx.bootstrap(SigAlgo.PKCS1_V1_5_SHA256), 12, "<I", SigAlgo.PSS_MGF1_SHA256)
    )


def signed_by_other_key(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.bootstrap(key=ctx.other))


def trailing_byte(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.encrypted() + b"\x00")


def img_size_plus_one(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.encrypted(), 8, "<I", len(ctx.elf) + 1))


def img_size_minus_one(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.encrypted(), 8, "<I", len(ctx.elf) - 1))


def unknown_enc_algo_ccm(ctx: MutationContext) -> Mutated:
    return ctx.case(_put(ctx.encrypted(), _EHDR, "<I", TEE_ALG_AES_CCM))


def _iv_size(n: int) -> Mutation:
    def mutation(ctx: MutationContext) -> Mutated:
        return ctx.case(_put(ctx.encrypted(), _EHDR + 8, "<H", n))

    mutation.__name__ = mutation.__qualname__ = f"iv_size_{n}"
    return mutation


def _tag_size(n: int) -> Mutation:
    def mutation(ctx: MutationContext) -> Mutated:
        return ctx.case(_put(ctx.encrypted(), _EHDR + 10, "<H", n))

    mutation.__name__ = mutation.__qualname__ = f"tag_size_{n}"
    return mutation


def another_devices_key(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.encrypted(), keys=DecryptionKeys(huk=ctx.other_huk))


def no_decryption_key(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.encrypted(), keys=DecryptionKeys())


def hash_over_ciphertext(ctx: MutationContext) -> Mutated:
    """A signer that hashed the file's payload (the ciphertext) instead of the plaintext."""
    ciphertext, tag = encrypt_payload(ctx.enc_key, ctx.iv, ctx.elf)
    algo = SigAlgo.PSS_MGF1_SHA256
    shdr = Shdr(ImgType.ENCRYPTED_TA, len(ctx.elf), algo, 32, signature_size(ctx.root))
    bs = BootstrapHeader(ctx.uuid, ctx.ta_version).encode()
    ehdr = EncryptedHeader(TEE_ALG_AES_GCM, 0, ctx.iv, tag).encode()
    digest = image_digest(algo, (shdr.encode(), bs, ehdr, ciphertext))
    sig = sign_digest(ctx.root, algo, digest, salt=ctx.salt)
    return ctx.case(assemble(shdr, digest, sig, bs, ehdr, ciphertext))


def version_below_floor(ctx: MutationContext) -> Mutated:
    return ctx.case(ctx.encrypted(), floors=VersionFloors({ctx.uuid: ctx.ta_version + 1}))


def uuid_mismatch(ctx: MutationContext) -> Mutated:
    other = uuidlib.UUID(int=ctx.uuid.int ^ (1 << 70))
    return ctx.case(ctx.encrypted(), expected_uuid=other)


# --------------------------------------------------------------------------- truncations

_BOUNDARIES = {
    "empty": 0,
    "in_shdr": SHDR_SIZE - 1,
    "after_shdr": SHDR_SIZE,
    "in_hash": _HASH + 16,
    "after_hash": _SIG,
    "in_sig": _SIG + 128,
    "after_sig": _BS,
    "in_bootstrap": _BS + 16,
    "after_bootstrap": _EHDR,
    "in_ehdr": _EHDR + 6,
    "after_ehdr": _IV,
    "in_iv": _IV + 6,
    "after_iv": _TAG,
    "in_tag": _TAG + 8,
    "after_tag": _PAYLOAD_ENC,  # every header whole, the payload gone: a size mismatch
    "before_last_byte": -1,
}


def _truncate(where: str, at: int) -> Mutation:
    def mutation(ctx: MutationContext) -> Mutated:
        image = ctx.encrypted()
        return ctx.case(image[:at])

    mutation.__name__ = mutation.__qualname__ = f"truncate_{where}"
    return mutation


# ------------------------------------------------------------------------------ subkeys

_SK_UUID = uuidlib.UUID("5c206987-16a3-59cc-ab0f-64b9cfc9e758")
_TA_NAME = "edbp-ta"


def _subkey(
    ctx: MutationContext, *, max_depth: int | None = None, subkey_version: int = 0
) -> SubkeyChain:
    return sign_subkey(
        ctx.root,
        ctx.other.public_key(),
        _SK_UUID,
        name_size=32,
        max_depth=max_depth,
        subkey_version=subkey_version,
        salt=ctx.salt,
    )


def _ta_under(
    ctx: MutationContext, chain: SubkeyChain, signer: rsa.RSAPrivateKey
) -> tuple[bytes, uuidlib.UUID]:
    ta_uuid = chain.next_uuid(_TA_NAME)
    image = sign_ta(
        ctx.elf, signer, ta_uuid, ctx.ta_version, chain=chain, name=_TA_NAME, salt=ctx.salt
    )
    return image, ta_uuid


def subkey_chain_base(ctx: MutationContext) -> tuple[bytes, uuidlib.UUID]:
    """root -> subkey (max_depth 1) -> subkey (max_depth 0) -> TA: accepted as is."""
    first = _subkey(ctx, max_depth=1, subkey_version=2)
    second = sign_subkey(
        ctx.other, ctx.root.public_key(), parent=first, name="level2", name_size=16, salt=ctx.salt
    )
    return _ta_under(ctx, second, ctx.root)


def subkey_depth_not_decreasing(ctx: MutationContext) -> Mutated:
    first = _subkey(ctx, max_depth=1)
    second = sign_subkey(
        ctx.other,
        ctx.root.public_key(),
        parent=first,
        name="level2",
        name_size=16,
        max_depth=1,
        salt=ctx.salt,
        check_depth=False,
    )
    image, ta_uuid = _ta_under(ctx, second, ctx.root)
    return ctx.case(image, expected_uuid=ta_uuid, floors=VersionFloors())


def subkey_ta_outside_namespace(ctx: MutationContext) -> Mutated:
    chain = _subkey(ctx)
    image = (
        chain.data
        + chain.name_bytes(_TA_NAME)
        + sign_ta(ctx.elf, ctx.other, ctx.uuid, ctx.ta_version, salt=ctx.salt)
    )
    return ctx.case(image)


def subkey_signed_by_other_key(ctx: MutationContext) -> Mutated:
    chain = sign_subkey(ctx.other, ctx.other.public_key(), _SK_UUID, name_size=32, salt=ctx.salt)
    image, ta_uuid = _ta_under(ctx, chain, ctx.other)
    return ctx.case(image, expected_uuid=ta_uuid)


def ta_signed_by_root_not_subkey(ctx: MutationContext) -> Mutated:
    image, ta_uuid = _ta_under(ctx, _subkey(ctx), ctx.root)
    return ctx.case(image, expected_uuid=ta_uuid)


def subkey_under_2048_bits(ctx: MutationContext) -> Mutated:
    chain = sign_subkey(ctx.root, ctx.small.public_key(), _SK_UUID, name_size=32, salt=ctx.salt)
    image, ta_uuid = _ta_under(ctx, chain, ctx.small)
    return ctx.case(image, expected_uuid=ta_uuid)


def subkey_version_below_floor(ctx: MutationContext) -> Mutated:
    image, ta_uuid = _ta_under(ctx, _subkey(ctx, subkey_version=3), ctx.other)
    return ctx.case(image, expected_uuid=ta_uuid, floors=VersionFloors(subkeys={_SK_UUID: 4}))


def subkey_payload_flipped(ctx: MutationContext) -> Mutated:
    image, ta_uuid = _ta_under(ctx, _subkey(ctx), ctx.other)
    return ctx.case(_flip(image, _BS + 16 + 8), expected_uuid=ta_uuid)  # its max_depth


def subkey_attr_out_of_range(ctx: MutationContext) -> Mutated:
    numbers = ctx.other.public_key().public_numbers()
    payload = bytearray(
        subkey_payload(
            _SK_UUID,
            numbers.n,
            numbers.e,
            algo=SigAlgo.PSS_MGF1_SHA256,
            name_size=32,
            subkey_version=0,
            max_depth=0,
        )
    )
    struct.pack_into("<I", payload, 36 + 12 + 4, len(payload))  # exponent offs past the end
    algo = SigAlgo.PSS_MGF1_SHA256
    shdr = Shdr(ImgType.SUBKEY, len(payload), algo, 32, signature_size(ctx.root))
    digest = image_digest(algo, (shdr.encode(), bytes(payload)))
    sig = sign_digest(ctx.root, algo, digest, salt=ctx.salt)
    good = parse_subkey_payload(
        subkey_payload(
            _SK_UUID,
            numbers.n,
            numbers.e,
            algo=algo,
            name_size=32,
            subkey_version=0,
            max_depth=0,
        )
    )
    chain = SubkeyChain(assemble(shdr, digest, sig, bytes(payload)), good)
    image, ta_uuid = _ta_under(ctx, chain, ctx.other)
    return ctx.case(image, expected_uuid=ta_uuid)


def subkey_name_truncated(ctx: MutationContext) -> Mutated:
    chain = _subkey(ctx)
    return ctx.case(chain.data + b"\x00" * 8)


#: name -> (mutation, the code it must be refused with)
MUTATIONS: dict[str, tuple[Mutation, Code]] = {
    "xtest1008_magic": (xtest1008_magic, Code.TA_BAD_MAGIC),
    "xtest1008_img_type": (xtest1008_img_type, Code.TA_LEGACY_FORBIDDEN),
    "xtest1008_img_size": (xtest1008_img_size, Code.TA_SIZE_MISMATCH),
    "xtest1008_algo": (xtest1008_algo, Code.TA_UNSUPPORTED_ALGO),
    "xtest1008_hash_size": (xtest1008_hash_size, Code.TA_HASH_SIZE),
    "xtest1008_sig_size": (xtest1008_sig_size, Code.TA_SIG_SIZE),
    "xtest1008_hash": (xtest1008_hash, Code.TA_BAD_SIGNATURE),
    "xtest1008_sig": (xtest1008_sig, Code.TA_BAD_SIGNATURE),
    "xtest1008_payload_3000": (xtest1008_payload_3000, Code.TA_HASH_MISMATCH),
    "xtest1008_payload_8000": (xtest1008_payload_8000, Code.TA_HASH_MISMATCH),
    "flip_img_type_encrypted": (flip_img_type_encrypted, Code.TA_HASH_MISMATCH),
    "flip_bootstrap_uuid": (flip_bootstrap_uuid, Code.TA_UUID_MISMATCH),
    "flip_ta_version": (flip_ta_version, Code.TA_HASH_MISMATCH),
    "flip_enc_algo": (flip_enc_algo, Code.TA_UNKNOWN_ENC_ALGO),
    "flip_enc_flags": (flip_enc_flags, Code.TA_ENC_KEY_UNAVAILABLE),
    "flip_iv_size": (flip_iv_size, Code.TA_BAD_IV_SIZE),
    "flip_tag_size": (flip_tag_size, Code.TA_BAD_TAG_SIZE),
    "flip_iv": (flip_iv, Code.TA_DECRYPT_FAILED),
    "flip_tag": (flip_tag, Code.TA_DECRYPT_FAILED),
    "flip_ciphertext": (flip_ciphertext, Code.TA_DECRYPT_FAILED),
    "wrong_magic": (wrong_magic, Code.TA_BAD_MAGIC),
    "unknown_img_type": (unknown_img_type, Code.TA_UNKNOWN_IMG_TYPE),
    "legacy_type0_forbidden": (legacy_type0_forbidden, Code.TA_LEGACY_FORBIDDEN),
    "weak_algo_pkcs1_sha1": (weak_algo_pkcs1_sha1, Code.TA_UNSUPPORTED_ALGO),
    "weak_algo_pss_sha1": (weak_algo_pss_sha1, Code.TA_UNSUPPORTED_ALGO),
    "non_rsa_algo_ecdsa": (non_rsa_algo_ecdsa, Code.TA_UNSUPPORTED_ALGO),
    "algo_outside_policy": (algo_outside_policy, Code.TA_UNSUPPORTED_ALGO),
    "hash_size_sha1_length": (hash_size_sha1_length, Code.TA_HASH_SIZE),
    "hash_size_sha384_length": (hash_size_sha384_length, Code.TA_HASH_SIZE),
    "sig_size_short": (sig_size_short, Code.TA_SIG_SIZE),
    "sig_size_long": (sig_size_long, Code.TA_SIG_SIZE),
    "key_under_2048_bits": (key_under_2048_bits, Code.TA_KEY_TOO_SMALL),
    "pss_labelled_pkcs1": (pss_labelled_pkcs1, Code.TA_BAD_SIGNATURE),
    "pkcs1_labelled_pss": (pkcs1_labelled_pss, Code.TA_BAD_SIGNATURE),
    "signed_by_other_key": (signed_by_other_key, Code.TA_BAD_SIGNATURE),
    "trailing_byte": (trailing_byte, Code.TA_SIZE_MISMATCH),
    "img_size_plus_one": (img_size_plus_one, Code.TA_SIZE_MISMATCH),
    "img_size_minus_one": (img_size_minus_one, Code.TA_SIZE_MISMATCH),
    "unknown_enc_algo_ccm": (unknown_enc_algo_ccm, Code.TA_UNKNOWN_ENC_ALGO),
    **{f"iv_size_{n}": (_iv_size(n), Code.TA_BAD_IV_SIZE) for n in (0, 8, 16, 17)},
    **{f"tag_size_{n}": (_tag_size(n), Code.TA_BAD_TAG_SIZE) for n in (0, 8, 12, 17)},
    "another_devices_key": (another_devices_key, Code.TA_DECRYPT_FAILED),
    "no_decryption_key": (no_decryption_key, Code.TA_ENC_KEY_UNAVAILABLE),
    "hash_over_ciphertext": (hash_over_ciphertext, Code.TA_HASH_MISMATCH),
    "version_below_floor": (version_below_floor, Code.TA_VERSION_ROLLBACK),
    "uuid_mismatch": (uuid_mismatch, Code.TA_UUID_MISMATCH),
    **{
        f"truncate_{where}": (
            _truncate(where, at),
            Code.TA_SIZE_MISMATCH
            if where in ("after_tag", "before_last_byte")
            else Code.TA_TRUNCATED,
        )
        for where, at in _BOUNDARIES.items()
    },
    "subkey_depth_not_decreasing": (subkey_depth_not_decreasing, Code.TA_SUBKEY_DEPTH),
    "subkey_ta_outside_namespace": (subkey_ta_outside_namespace, Code.TA_UUID_MISMATCH),
    "subkey_signed_by_other_key": (subkey_signed_by_other_key, Code.TA_BAD_SIGNATURE),
    "ta_signed_by_root_not_subkey": (ta_signed_by_root_not_subkey, Code.TA_BAD_SIGNATURE),
    "subkey_under_2048_bits": (subkey_under_2048_bits, Code.TA_KEY_TOO_SMALL),
    "subkey_version_below_floor": (subkey_version_below_floor, Code.TA_VERSION_ROLLBACK),
    "subkey_payload_flipped": (subkey_payload_flipped, Code.TA_HASH_MISMATCH),
    "subkey_attr_out_of_range": (subkey_attr_out_of_range, Code.TA_SUBKEY_INVALID),
    "subkey_name_truncated": (subkey_name_truncated, Code.TA_TRUNCATED),
}
