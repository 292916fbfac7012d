"""The per-device SUIT manifest (layer 2): the TAM re-wraps a package's CEK to one device.

Why a second, TAM-signed manifest rather than editing the author's: the author envelope is the
same for every device of the class and stays byte-for-byte as the Author signed it (P5); the
device manifest binds one delivery to one device (P4) and one evidence session (P3, P6):

    manifest-component-id  ['edbp', 'device', ta-uuid, ueid]         binds the UEID
    manifest-sequence      the author manifest's sequence number     binds the version
    components             the author's two (TA, staging)             binds the component id
    dependencies           {2: {}}: the author envelope, integrated under "#author"
    shared-sequence        index 0: override {vendor-id, class-id, image-digest, image-size}
                                    condition-vendor-identifier, condition-class-identifier
    install                index 0: override {encryption-info: CEK → this device's DAK}
                           index 2: override {image-digest: author manifest digest, uri: "#author"}
                                    condition-dependency-integrity, directive-process-dependency

The device encryption info is a COSE_Encrypt with the author's content headers (same alg, same
IV, same protected bytes, so the one ciphertext in the registry decrypts under it) and one
ECDH-ES+A128KW recipient (HKDF-SHA256, COSE KDF context with SuppPubInfo.other = "SUIT Payload
Encryption"), kid = RFC 9679 thumbprint of the DAK, a fresh ephemeral key (the Transport Key,
discarded after use). The Agent takes the CEK from this recipient; the author manifest's
class-key recipient is never usable by a device. A device of the post-quantum suite (an AKP DAK,
spec/protocol.md section 4.1) gets a COSE-HPKE recipient instead (MLKEM768-X25519, kid
protected, ``ek`` unprotected): the suite is the one its endorsement pins, never a fallback.

Plaintext CEK: only inside ``KeyVault.rewrap`` for the duration of building the recipient
(see ``keyvault``).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Protocol

import attrs
from edbp.reference.build.package import (
    STAGING_INDEX,
    TA_INDEX,
    AuthorPackage,
    command,
    device_manifest_id,
    override,
    select,
    staging_component,
    ta_component,
)
from edbp.reference.cloud.keyvault import KeyVault
from edbp.reference.rand import DEFAULT_RANDOM, RandomSource
from edbp.reference.wire.cbor import bstr, dumps
from edbp.reference.wire.cose_algs import Alg, HeaderLabel, KeyType
from edbp.reference.wire.cose_encrypt import Encrypt, RecipientSpec, encryption_info
from edbp.reference.wire.cose_kdf import SUIT_KDF_OTHER
from edbp.reference.wire.cose_key import CoseKey
from edbp.reference.wire.cose_sign import sign1
from edbp.reference.wire.suit_commands import CommandSequence, EncryptionInfo, set_raw
from edbp.reference.wire.suit_core import SuitDigest, wrap
from edbp.reference.wire.suit_crypto import sign_envelope
from edbp.reference.wire.suit_envelope import (
    AuthenticationWrapper,
    Common,
    Dependency,
    Envelope,
    Manifest,
)
from edbp.reference.wire.suit_labels import SuitCommand

from edbp.errors import Code, WireError

__all__ = [
    "AUTHOR_KEY",
    "DEPENDENCY_INDEX",
    "Delivery",
    "DeliveryTemplate",
    "build_delivery",
    "build_delivery_general",
    "delivery_for",
    "general_delivery_for",
]

#: envelope text key of the integrated author envelope (spec/messages.cddl)
AUTHOR_KEY = "#author"
DEPENDENCY_INDEX = 2


@attrs.frozen
class Delivery:
    """A device envelope and the facts it binds (``edbp-delivery-binding``)."""

    envelope: bytes = attrs.field(repr=False)
    manifest_digest: SuitDigest
    ueid: bytes
    sequence: int
    dak_thumbprint: bytes

    def binding(self, package: AuthorPackage, challenge: bytes, token: bytes) -> bytes:
        """``edbp-delivery-binding``, as recorded in the audit log at ``deploy.update``."""
        return dumps(
            {
                1: self.ueid,
                2: list(package.component_id),
                3: self.sequence,
                4: package.image_digest.to_cbor(),
                5: package.manifest_digest.to_cbor(),
                6: self.manifest_digest.to_cbor(),
                7: self.dak_thumbprint,
                8: challenge,
                9: token,
            }
        )


def device_encryption_info(
    package: AuthorPackage, dak: CoseKey, vault: KeyVault, rng: RandomSource = DEFAULT_RANDOM
) -> Encrypt:
    """The CEK re-wrapped from the class key to ``dak`` (ECDH-ES+A128KW, or COSE-HPKE for a PQ
    DAK), content headers kept."""
    if dak.kty == KeyType.AKP:
        pq_dak = CoseKey(kty=dak.kty, x=dak.x, alg=dak.alg, kid=dak.thumbprint())
        spec = RecipientSpec(alg=Alg.EDBP_HPKE_XWING_KE, key=pq_dak)
    else:
        try:
            dak_public, kid = _recipient_key(dak)
        except TypeError:  # an unhashable field (a list where a tuple belongs): no memo
            dak_public, kid = _recipient_key.__wrapped__(dak)
        spec = RecipientSpec(
            alg=Alg.ECDH_ES_A128KW,
            key=dak_public,
            unprotected={HeaderLabel.KID.value: kid},
            supp_pub_other=SUIT_KDF_OTHER,
        )

    def seal(cek: bytearray) -> Encrypt:
        return encryption_info([spec], package.content_alg, cek=bytes(cek), iv=package.iv, rng=rng)

    enc: Encrypt = vault.rewrap(package.wrapped_cek, seal)
    if enc.headers.protected_raw != package.content_protected:
        # the AEAD authenticates the protected bytes: they must be the author's exactly
        raise WireError(Code.SUIT_ENCRYPTION_INFO, "content headers differ from the author's")
    return enc


@functools.lru_cache(maxsize=4096)
def _recipient_key(dak: CoseKey) -> tuple[CoseKey, bytes]:
    """The DAK as the ECDH recipient key (kty, crv, x, y only) and its thumbprint (the kid):
    made once per device key rather than per delivery (one object per DAK, so that its
    ``public_key`` memo is found by identity)."""
    return CoseKey(kty=dak.kty, crv=dak.crv, x=dak.x, y=dak.y), dak.thumbprint()


def device_manifest(
    package: AuthorPackage, ueid: bytes, encryption_info: EncryptionInfo
) -> Manifest:
    """The device manifest (layer 2) for ``ueid`` carrying ``encryption_info``, unsigned.

    Shared by ``build_delivery`` and the vector generator's faulty-TAM forms, so that a broken
    delivery differs from an honest one only where the vector says it does."""
    c = SuitCommand
    install = CommandSequence(
        [
            select(TA_INDEX),
            override(encryption_info=encryption_info),
            select(DEPENDENCY_INDEX),
            override(image_digest=package.manifest_digest, uri=AUTHOR_KEY),
            command(c.CONDITION_DEPENDENCY_INTEGRITY),
            command(c.DIRECTIVE_PROCESS_DEPENDENCY),
        ]
    )
    assert STAGING_INDEX < DEPENDENCY_INDEX  # the dependency index follows the components
    return Manifest(
        sequence_number=package.sequence,
        common=_common(package),
        install=install,
        component_id=device_manifest_id(package.ta_uuid, ueid),
    )


@functools.lru_cache(maxsize=16)
def _common(package: AuthorPackage) -> Common:
    """The device manifest's SUIT_Common: the same for every device a package goes to, so it
    is built and encoded once per package (its bytes kept, as a decoded one keeps them) and
    only the per-device members are encoded per delivery."""
    c = SuitCommand
    shared = CommandSequence(
        [
            select(TA_INDEX),
            override(
                vendor_id=package.vendor_id,
                class_id=package.class_id,
                image_digest=package.image_digest,
                image_size=package.image_size,
            ),
            command(c.CONDITION_VENDOR_IDENTIFIER),
            command(c.CONDITION_CLASS_IDENTIFIER),
        ]
    )
    common = Common(
        components=[ta_component(package.ta_uuid), staging_component(package.ta_uuid)],
        shared_sequence=shared,
        dependencies={DEPENDENCY_INDEX: Dependency()},
    )
    return set_raw(common, common.encode())


#: placeholders the per-package template is cut at: 32 bytes no real field holds (each must
#: occur exactly once in the probe encoding, or the package keeps the general path)
_MARK_UEID = hashlib.sha256(b"edbp delivery template: ueid").digest()
_MARK_INFO = hashlib.sha256(b"edbp delivery template: encryption info").digest()
_MARK_AUTH = hashlib.sha256(b"edbp delivery template: authentication").digest()


@attrs.frozen
class DeliveryTemplate:
    """What the device envelope of ``package`` holds whatever the device, already encoded.

    Why: every device of a package gets the same manifest but for its UEID (in the manifest
    component id), its encryption info (one fresh recipient) and so its digest and signature.
    The template is cut out of the general path's own encoding (``device_manifest``,
    ``Envelope.encode``) of a probe delivery, at placeholders, so its pieces are exactly the
    bytes that path writes; per device only the varying items are encoded and spliced in.
    A delivery the template does not fit (a COSE_Encrypt not of the one-recipient, author-header
    shape) takes the general path."""

    #: the tagged COSE_Encrypt up to its one recipient (author's content headers, nil ciphertext)
    encrypt_head: bytes
    content_unprotected: dict[int | str, Any] = attrs.field(repr=False)
    #: the install sequence around the encryption-info bstr
    install_head: bytes
    install_tail: bytes
    #: the manifest around the UEID bstr and the install member's bstr
    manifest_head: bytes
    manifest_mid: bytes
    #: the envelope around the authentication wrapper's bstr and the manifest's bstr
    envelope_head: bytes
    envelope_mid: bytes
    envelope_tail: bytes

    @classmethod
    def of(cls, package: AuthorPackage) -> DeliveryTemplate | None:
        """The template (its COSE_Encrypt head still to come, see ``_template_for``), or None
        when the probe encoding cannot be cut (general path)."""
        install = device_manifest(package, b"", EncryptionInfo(_MARK_INFO)).install
        if not isinstance(install, CommandSequence):
            return None
        seq = install.encode()
        manifest = device_manifest(package, _MARK_UEID, EncryptionInfo(_MARK_INFO)).encode()
        envelope = Envelope(
            set_raw(AuthenticationWrapper(SuitDigest.of(b""), []), _MARK_AUTH),
            set_raw(device_manifest(package, _MARK_UEID, EncryptionInfo(_MARK_INFO)), manifest),
            integrated={AUTHOR_KEY: package.envelope},
        ).encode()
        seq_cut = _cut(seq, bstr(_MARK_INFO))
        manifest_cut = _cut(manifest, bstr(_MARK_UEID), bstr(seq))
        envelope_cut = _cut(envelope, bstr(_MARK_AUTH), bstr(manifest))
        if seq_cut is None or manifest_cut is None or envelope_cut is None:
            return None
        manifest_head, manifest_mid, manifest_end = manifest_cut
        if manifest_end:
            return None  # the install member is the manifest's last (largest key)
        return cls(
            encrypt_head=b"",
            content_unprotected={},
            install_head=seq_cut[0],
            install_tail=seq_cut[1],
            manifest_head=manifest_head,
            manifest_mid=manifest_mid,
            envelope_head=envelope_cut[0],
            envelope_mid=envelope_cut[1],
            envelope_tail=envelope_cut[2],
        )

    def encryption_info(self, enc: Encrypt) -> bytes | None:
        """``enc``'s tagged encoding from the template, or None when its shape differs."""
        if (
            not self.encrypt_head
            or not enc.tagged
            or enc.ciphertext is not None
            or len(enc.recipients) != 1
            or enc.headers.unprotected != self.content_unprotected
        ):
            return None
        return self.encrypt_head + dumps(enc.recipients[0].to_obj())

    def manifest(self, ueid: bytes, info: bytes) -> bytes:
        install = self.install_head + bstr(info) + self.install_tail
        return self.manifest_head + bstr(ueid) + self.manifest_mid + bstr(install)

    def envelope(self, authentication: bytes, manifest: bytes) -> bytes:
        return (
            self.envelope_head
            + bstr(authentication)
            + self.envelope_mid
            + bstr(manifest)
            + self.envelope_tail
        )


def _cut(data: bytes, *marks: bytes) -> list[bytes] | None:
    """``data`` split at each of ``marks`` in turn, each occurring exactly once; else None."""
    pieces: list[bytes] = []
    rest = data
    for mark in marks:
        if data.count(mark) != 1 or rest.count(mark) != 1:
            return None
        head, rest = rest.split(mark)
        pieces.append(head)
    return [*pieces, rest]


def _with_encrypt_head(template: DeliveryTemplate, enc: Encrypt) -> DeliveryTemplate | None:
    """The template with the COSE_Encrypt head cut from ``enc``'s general encoding (the
    author's content headers, which every device's encryption info repeats)."""
    if not enc.tagged or enc.ciphertext is not None or len(enc.recipients) != 1:
        return None
    full = enc.encode()
    recipient = dumps(enc.recipients[0].to_obj())
    if not full.endswith(recipient):
        return None
    return attrs.evolve(
        template,
        encrypt_head=full[: -len(recipient)],
        content_unprotected=dict(enc.headers.unprotected),
    )


class DeliveryTarget(Protocol):
    """What a delivery needs of the device it is for: its UEID (the device binding) and its
    DAK (the recipient). The TAM's ``DeviceRecord`` has both; so does a conformance harness
    playing the TAM for a device it never enrolled."""

    @property
    def ueid(self) -> bytes: ...

    @property
    def dak(self) -> CoseKey: ...


def build_delivery(
    package: AuthorPackage,
    device: DeliveryTarget,
    vault: KeyVault,
    tsk: CoseKey,
    tsk_alg: Alg = Alg.ESP256,
    rng: RandomSource = DEFAULT_RANDOM,
) -> Delivery:
    """``deploy.update`` (manifest part): the TSK-signed device envelope for ``device``.

    The per-package template (``DeliveryTemplate``) gives the same bytes as the general path
    (``build_delivery_general``) at a fraction of the encoding work; a delivery it does not fit
    takes the general path."""
    enc = device_encryption_info(package, device.dak, vault, rng)
    return delivery_for(package, device, enc, tsk, tsk_alg)


def delivery_for(
    package: AuthorPackage, device: DeliveryTarget, enc: Encrypt, tsk: CoseKey, tsk_alg: Alg
) -> Delivery:
    """The signed device envelope around ``enc`` (the device's encryption info): spliced from
    the package's template when ``enc`` fits it, else built by the general path."""
    template = _template_for(package, enc)
    info = template.encryption_info(enc) if template is not None else None
    if template is None or info is None:
        return general_delivery_for(package, device, enc, tsk, tsk_alg)
    manifest = template.manifest(device.ueid, info)
    digest = SuitDigest.of(wrap(manifest))
    block = sign1(digest.encode(), tsk, tsk_alg, detached=True).encode()
    authentication = AuthenticationWrapper(digest, [block]).encode()
    return Delivery(
        envelope=template.envelope(authentication, manifest),
        manifest_digest=digest,
        ueid=device.ueid,
        sequence=package.sequence,
        dak_thumbprint=device.dak.thumbprint(),
    )


#: each package's template (None: the package keeps the general path). Keyed on the frozen
#: package record, so a template never goes stale against it; bounded like ``_common``.
_TEMPLATES: dict[AuthorPackage, DeliveryTemplate | None] = {}
_TEMPLATES_MAX = 16


def _template_for(package: AuthorPackage, enc: Encrypt) -> DeliveryTemplate | None:
    """The package's template, made at its first delivery (whose general COSE_Encrypt encoding
    gives the head every later one shares: the author's content headers, nil ciphertext)."""
    try:
        return _TEMPLATES[package]
    except KeyError:
        pass
    base = DeliveryTemplate.of(package)
    template = _with_encrypt_head(base, enc) if base is not None else None
    if len(_TEMPLATES) >= _TEMPLATES_MAX:
        _TEMPLATES.clear()
    _TEMPLATES[package] = template
    return template


def build_delivery_general(
    package: AuthorPackage,
    device: DeliveryTarget,
    vault: KeyVault,
    tsk: CoseKey,
    tsk_alg: Alg = Alg.ESP256,
    rng: RandomSource = DEFAULT_RANDOM,
) -> Delivery:
    """The general path: every structure built and encoded (the template's reference)."""
    enc = device_encryption_info(package, device.dak, vault, rng)
    return general_delivery_for(package, device, enc, tsk, tsk_alg)


def general_delivery_for(
    package: AuthorPackage, device: DeliveryTarget, enc: Encrypt, tsk: CoseKey, tsk_alg: Alg
) -> Delivery:
    """``delivery_for`` by the general path: every structure built and encoded."""
    manifest = device_manifest(package, device.ueid, EncryptionInfo.from_cose(enc))
    manifest = set_raw(manifest, manifest.encode())  # encoded once: digest, signature, envelope
    envelope = sign_envelope(manifest, tsk, tsk_alg, integrated={AUTHOR_KEY: package.envelope})
    return Delivery(
        envelope=envelope.encode(),
        manifest_digest=envelope.authentication.digest,
        ueid=device.ueid,
        sequence=package.sequence,
        dak_thumbprint=device.dak.thumbprint(),
    )
