"""The Author (build pipeline): encrypt an application, have the KeyVault wrap its key,
sign, publish.

Steps (docs/VOCABULARY.md): ``publish.build`` (the image bytes: an OP-TEE TA image or any
application) → ``publish.encrypt`` (a fresh CEK from the injected RandomSource, a fresh IV,
AES-GCM) → ``publish.wrap_cek`` (the KeyVault wraps the CEK A256KW under the class key; the
Author's copy of the CEK is wiped at once, so from here on only the vault can produce it) →
``publish.sign`` (the author SUIT manifest, layout in ``package``, signed by the ASK) →
``publish.push`` (envelope and ciphertext to the registry).

Content encryption. A128GCM is the mandatory profile's content algorithm. The image is read and
encrypted in chunks (``chunk`` bytes, 1 MiB by default) with one AES-GCM operation
(``Cipher(AES, GCM(iv))`` fed chunk by chunk); the result is byte-identical to one-shot AES-GCM
(ciphertext || 16-byte tag) and the Author never holds more than one chunk of plaintext beyond
what the caller passed in. That is the *streaming mode* for images larger than a TEE's memory
budget: the format is unchanged, and the Agent decrypts it chunk by chunk into staging, using
nothing before the tag and the signed plaintext digest have checked (spec step
``deploy.decrypt``). The optional A128CTR profile ([-16,-9,-29,-65534]) is available with
``content_alg=Alg.A128CTR`` for devices whose decryptor cannot hold a GCM state: there the
signed plaintext and ciphertext digests are the only integrity (P9 holds because the
ciphertext digest is checked before decrypting).

One CEK encrypts exactly one payload, under one random 96-bit IV (P11: no IV reuse under a CEK).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TypeAlias

import attrs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from edbp.reference.build.package import (
    CONTENT_ALGS,
    STAGING_INDEX,
    TA_INDEX,
    AuthorPackage,
    author_manifest_id,
    class_recipient_kid,
    command,
    override,
    read_author_envelope,
    select,
    set_defaults,
    staging_component,
    ta_component,
)
from edbp.reference.build.registry import PackageRef, Registry, check_name, digest_of
from edbp.reference.cloud.keyvault import KeyVault, WrappedCek, wipe
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire.cose_algs import Alg, HeaderLabel, alg_info
from edbp.reference.wire.cose_encrypt import Encrypt, Recipient, enc_structure
from edbp.reference.wire.cose_headers import Headers
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.suit_commands import CommandSequence, EncryptionInfo
from edbp.reference.wire.suit_core import SuitDigest
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import Common, Manifest
from edbp.reference.wire.suit_labels import SuitCommand

from edbp.errors import Code, EdbpError, WireError

__all__ = ["DEFAULT_CHUNK", "UNINSTALL_UNLINK", "Author", "ImageSource", "Published", "StepTrace"]

#: What ``Author.publish`` takes: the image whole, a binary file, or its chunks (streaming)
ImageSource: TypeAlias = bytes | bytearray | BinaryIO | Iterable[bytes]

DEFAULT_CHUNK = 1 << 20
#: The usual ``suit-uninstall`` sequence (draft-ietf-suit-trust-domains: it "typically contains
#: an unlink of all its dependencies and components"): select the TA component, unlink it.
UNINSTALL_UNLINK = CommandSequence([select(TA_INDEX), command(SuitCommand.DIRECTIVE_UNLINK)])
_GCM_TAG = 16


@attrs.frozen
class StepTrace:
    """One step of a flow as the demo prints it: who did it and what they saw."""

    step: str
    actor: str
    saw: str


@attrs.frozen
class Published:
    """The outcome of ``Author.publish``: where the package is and what it says."""

    ref: PackageRef
    package: AuthorPackage
    steps: tuple[StepTrace, ...] = ()

    @property
    def envelope(self) -> bytes:
        return self.package.envelope


def _chunks(
    image: bytes | bytearray | memoryview | BinaryIO | Iterable[bytes], size: int
) -> Iterator[bytes]:
    if isinstance(image, bytes | bytearray | memoryview):
        view = memoryview(image)
        for i in range(0, len(view), size):
            yield bytes(view[i : i + size])
        return
    if isinstance(image, io.IOBase) or hasattr(image, "read"):
        while chunk := image.read(size):
            yield chunk
        return
    for chunk in image:
        if not isinstance(chunk, bytes | bytearray):
            raise WireError(Code.SUIT_MALFORMED, "image chunks must be bytes")
        yield bytes(chunk)


def _content_headers(alg: Alg, iv: bytes) -> Headers:
    """The content layer's headers: alg protected for AEAD; for CTR (RFC 9459) alg unprotected
    with an empty protected bucket. Fixed before encrypting: the AEAD authenticates them."""
    if alg == Alg.A128GCM:
        return Headers.make({HeaderLabel.ALG.value: int(alg)}, {HeaderLabel.IV.value: iv})
    return Headers.make({}, {HeaderLabel.ALG.value: int(alg), HeaderLabel.IV.value: iv})


def _class_encryption_info(content_headers: Headers, wrapped: WrappedCek) -> EncryptionInfo:
    """SUIT encryption info with the one class-key recipient (A256KW, kid "<key-id>#<v>")."""
    recipient = Recipient(
        Headers.make(
            {},
            {
                HeaderLabel.ALG.value: int(Alg.A256KW),
                HeaderLabel.KID.value: class_recipient_kid(wrapped),
            },
        ),
        wrapped.wrapped,
    )
    return EncryptionInfo.from_cose(
        Encrypt(headers=content_headers, ciphertext=None, recipients=(recipient,), tagged=True)
    )


def _parse_uri(uri: str) -> tuple[str, str]:
    """``oci://name@sha256:...`` → (repository, digest), as the Author wrote it."""
    if not uri.startswith("oci://") or "@" not in uri:
        raise WireError(Code.SUIT_MALFORMED, "payload uri is not oci://name@digest")
    name, _, digest = uri[len("oci://") :].rpartition("@")
    return check_name(name), digest


class Author:
    """The build pipeline of one vendor: its signing key, its KeyVault and its registry."""

    def __init__(
        self,
        vault: KeyVault,
        registry: Registry,
        ask: CoseKey,
        ask_alg: Alg = Alg.ESP256,
        rng: RandomSource = DEFAULT_RANDOM,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        if not ask.has_private:
            raise WireError(Code.COSE_BAD_KEY, "the Author signing key needs its private part")
        self._vault = vault
        self._registry = registry
        self._ask = ask
        self._ask_alg = ask_alg
        self._rng = rng
        self._chunk = chunk

    def __repr__(self) -> str:
        return f"Author(vault={self._vault.backend}, registry={self._registry!r})"

    @property
    def ask_public(self) -> CoseKey:
        return self._ask.public()

    def publish(
        self,
        image: ImageSource,
        *,
        ta_uuid: bytes,
        sequence: int,
        vendor_id: bytes,
        class_id: bytes,
        class_key_id: str,
        repository: str,
        content_alg: Alg = Alg.A128GCM,
        uninstall: CommandSequence | None = None,
    ) -> Published:
        """Run ``publish.build`` … ``publish.push`` for one image; returns where it went.
        ``uninstall``: a ``suit-uninstall`` sequence (member 24) for the manifest, run by the
        Agent when the component is uninstalled (``UNINSTALL_UNLINK`` unlinks the TA)."""
        for what, value in (("TA UUID", ta_uuid), ("vendor id", vendor_id), ("class id", class_id)):
            if not isinstance(value, bytes) or len(value) != 16:
                raise WireError(Code.SUIT_MALFORMED, f"{what} must be a 16-byte UUID")
        if (
            isinstance(sequence, bool)
            or not isinstance(sequence, int)
            or not 0 <= sequence < 1 << 63
        ):
            raise WireError(Code.SUIT_MALFORMED, "sequence number must be an unsigned integer")
        if content_alg not in CONTENT_ALGS:
            raise WireError(
                Code.COSE_ALG_NOT_ALLOWED, f"{content_alg!r} is not an edbp content algorithm"
            )
        check_name(repository)
        rng = self._rng.fork(f"publish/{ta_uuid.hex()}/{sequence}")
        steps = [
            StepTrace(
                "publish.build",
                "Author",
                "plaintext image"
                + (
                    f" ({len(image)} bytes)"
                    if isinstance(image, bytes | bytearray)
                    else " (stream)"
                ),
            )
        ]

        # publish.encrypt: fresh CEK and IV; content headers fixed before encrypting (AAD)
        info = alg_info(content_alg)
        cek = bytearray(rng.fork("cek").random_bytes(info.key_bytes))
        try:
            iv = rng.fork("iv").random_bytes(info.iv_bytes)
            content_headers = _content_headers(content_alg, iv)
            aad = enc_structure("Encrypt", content_headers.protected_raw, b"")
            ciphertext, image_digest, image_size = self._encrypt(content_alg, cek, iv, aad, image)
            steps.append(
                StepTrace("publish.encrypt", "Author", "plaintext image and CEK (fresh, in memory)")
            )

            # publish.wrap_cek: the vault wraps; the Author's copy is wiped right after
            wrapped: WrappedCek = self._vault.wrap_cek(class_key_id, cek)
        finally:
            wipe(cek)
        steps.append(
            StepTrace(
                "publish.wrap_cek",
                f"KeyVault ({self._vault.backend})",
                "CEK, wrapped A256KW under the class key; Author's CEK wiped",
            )
        )

        # publish.sign
        enc_info = _class_encryption_info(content_headers, wrapped)
        ct_digest = SuitDigest.of(bytes(ciphertext))
        uri = f"oci://{repository}@{digest_of(bytes(ciphertext))}"
        manifest = self._manifest(
            sequence,
            ta_uuid,
            vendor_id,
            class_id,
            image_digest,
            image_size,
            ct_digest,
            len(ciphertext),
            uri,
            enc_info,
        )
        if uninstall is not None:
            manifest = attrs.evolve(manifest, uninstall=uninstall)
        envelope = sign_envelope(manifest, self._ask, self._ask_alg).encode()
        steps.append(
            StepTrace(
                "publish.sign", "Author", "author manifest (digests, ids, wrapped CEK): no secret"
            )
        )

        # publish.push
        ref = self._registry.push_package(
            repository, f"seq-{sequence}", envelope, bytes(ciphertext)
        )
        steps.append(StepTrace("publish.push", "Registry", "envelope and ciphertext only"))
        package = read_author_envelope(envelope, self._ask.public())
        return Published(ref=ref, package=package, steps=tuple(steps))

    def rewrap(self, envelope: bytes) -> Published:
        """``rotate.class_key`` step 2 (spec/protocol.md 8.4): the same package (sequence number,
        payload, CEK) with its CEK re-wrapped inside the vault under the current class-key
        version, re-signed and re-pushed under the same tag. Devices that installed it are
        unaffected; the old class-key version can then be destroyed."""
        package = read_author_envelope(envelope, self._ask.public())
        wrapped = self._vault.rewrap_to_current(package.wrapped_cek)
        if wrapped == package.wrapped_cek:
            return Published(ref=self._ref_of(package), package=package)
        manifest = self._manifest(
            package.sequence,
            package.ta_uuid,
            package.vendor_id,
            package.class_id,
            package.image_digest,
            package.image_size,
            package.ciphertext_digest,
            package.ciphertext_size,
            package.uri,
            _class_encryption_info(_content_headers(package.content_alg, package.iv), wrapped),
        )
        new_envelope = sign_envelope(manifest, self._ask, self._ask_alg).encode()
        repository, digest = _parse_uri(package.uri)
        payload = self._registry.get_blob(repository, digest)
        ref = self._registry.push_package(
            repository, f"seq-{package.sequence}", new_envelope, payload
        )
        steps = (
            StepTrace(
                "rotate.class_key",
                f"KeyVault ({self._vault.backend})",
                f"CEK re-wrapped inside the vault under version {wrapped.version}",
            ),
            StepTrace("publish.sign", "Author", "author manifest re-signed (same sequence number)"),
        )
        return Published(ref, read_author_envelope(new_envelope, self._ask.public()), steps)

    def _ref_of(self, package: AuthorPackage) -> PackageRef:
        repository, _ = _parse_uri(package.uri)
        return self._registry.resolve(repository, f"seq-{package.sequence}")

    def _encrypt(
        self,
        alg: Alg,
        cek: bytearray,
        iv: bytes,
        aad: bytes,
        image: ImageSource,
    ) -> tuple[bytearray, SuitDigest, int]:
        """Chunked AES-GCM (or AES-CTR): ciphertext (with the GCM tag), plaintext digest, size."""
        key = bytes(cek)  # cryptography keeps its own copy of the key for the operation
        enc: Any
        if alg == Alg.A128GCM:
            enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
            enc.authenticate_additional_data(aad)
        else:
            enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
        del key
        h = hashlib.sha256()
        size = 0
        out = bytearray()
        try:
            for chunk in _chunks(image, self._chunk):
                h.update(chunk)
                size += len(chunk)
                out += enc.update(chunk)
            out += enc.finalize()
        except OSError as e:
            raise EdbpError(Code.SUIT_MALFORMED, f"cannot read the image: {e.strerror}") from None
        if alg == Alg.A128GCM:
            out += enc.tag
        return out, SuitDigest(-16, h.digest()), size

    @staticmethod
    def _manifest(
        sequence: int,
        ta_uuid: bytes,
        vendor_id: bytes,
        class_id: bytes,
        image_digest: SuitDigest,
        image_size: int,
        ct_digest: SuitDigest,
        ct_size: int,
        uri: str,
        enc_info: EncryptionInfo,
    ) -> Manifest:
        c = SuitCommand
        shared = CommandSequence(
            [
                select(TA_INDEX),
                override(
                    vendor_id=vendor_id,
                    class_id=class_id,
                    image_digest=image_digest,
                    image_size=image_size,
                ),
                command(c.CONDITION_VENDOR_IDENTIFIER),
                command(c.CONDITION_CLASS_IDENTIFIER),
                select(STAGING_INDEX),
                override(image_digest=ct_digest, image_size=ct_size),
            ]
        )
        fetch = CommandSequence(
            [
                select(STAGING_INDEX),
                override(uri=uri),
                command(c.DIRECTIVE_FETCH, 2),
                command(c.CONDITION_IMAGE_MATCH),
            ]
        )
        install = CommandSequence(
            [
                select(TA_INDEX),
                set_defaults(encryption_info=enc_info),
                override(source_component=STAGING_INDEX),
                command(c.DIRECTIVE_COPY),
                command(c.CONDITION_IMAGE_MATCH),
            ]
        )
        validate = CommandSequence([select(TA_INDEX), command(c.CONDITION_IMAGE_MATCH)])
        return Manifest(
            sequence_number=sequence,
            common=Common(
                components=[ta_component(ta_uuid), staging_component(ta_uuid)],
                shared_sequence=shared,
            ),
            validate=validate,
            install=install,
            payload_fetch=fetch,
            component_id=author_manifest_id(ta_uuid),
        )
